/* Tar transfer through the guest: the daemon relays the archive's bytes as
 * DATA frames and never parses or opens anything in it; runra-init packs
 * and unpacks inside the sandbox. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"
#include "proto/tarmsg.h"

struct manager;

/* A download, read with file_rstream_read/close (manager.h) like a file.
 * Opening waits for the guest's first answer, so a missing directory is an
 * error here and not halfway through a response. */
struct file_rstream;
int manager_tar_get_open(struct manager *m, const char *id, const char *path,
                         struct file_rstream **ret, struct runra_err **err);

/* An upload, streamed as it arrives; finish waits for the extraction. */
struct tar_wstream;
int manager_tar_put_open(struct manager *m, const char *id, const char *path,
                         struct tar_wstream **ret, struct runra_err **err);
int tar_wstream_write(struct tar_wstream *s, const void *buf, size_t len,
                      struct runra_err **err);
int tar_wstream_finish(struct tar_wstream *s, struct tar_result *ret, struct runra_err **err);
void tar_wstream_close(struct tar_wstream *s);
