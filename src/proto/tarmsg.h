/* Guest messages and named limits of tar transfer (TAR_GET, TAR_PUT). The
 * request is {"path"}; the result {"entries","bytes","skipped"}. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"
#include "limits.h"

#define RUNRA_TAR_MAX RUNRA_FILE_MAX        /* bytes of one uploaded archive stream */
#define RUNRA_TAR_ENTRIES_MAX 100000u       /* entries in one archive, either way */
#define RUNRA_TAR_ENTRY_MAX RUNRA_FILE_MAX  /* bytes of one entry */
#define RUNRA_TAR_NAME_MAX RUNRA_PATH_MAX   /* an entry's name and link target */
#define RUNRA_TAR_DEPTH_MAX 256             /* directory depth while packing */
#define RUNRA_TAR_LINK_NAMES_MAX (16u << 20) /* bytes of symlink names remembered while checking */

struct tar_result {
    uint64_t entries; /* entries packed or extracted */
    uint64_t bytes;   /* file content bytes */
    uint64_t skipped; /* devices, fifos and sockets left out */
};

int msg_tar_req_encode(const char *path, char **ret);
int msg_tar_req_decode(const void *buf, size_t len, char **ret_path, struct runra_err **err);
int msg_tar_result_encode(const struct tar_result *t, char **ret);
int msg_tar_result_decode(const void *buf, size_t len, struct tar_result *ret,
                          struct runra_err **err);
