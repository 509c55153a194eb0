/* Tar packing and confined unpacking with libarchive, shared by runra-init
 * (inside a sandbox) and the CLI (on the host). Both directions work in
 * bounded steps so runra-init's event loop can interleave them with other
 * calls. Everything read from an archive is hostile: see tarx.c. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/tarmsg.h"

/* Receives the archive's bytes while packing; 0 or -errno. */
typedef int (*tarx_sink)(void *userdata, const void *p, size_t len);

struct tarx_pack;
/* Packs the tree beneath root_fd (taken over) with names relative to it. */
int tarx_pack_new(int root_fd, tarx_sink sink, void *userdata, struct tarx_pack **ret,
                  struct runra_err **err);
/* One bounded piece of work: 1 when the archive is complete (every byte was
 * handed to the sink), 0 when there is more, or -errno with err set. */
int tarx_pack_step(struct tarx_pack *p, struct runra_err **err);
void tarx_pack_stats(const struct tarx_pack *p, struct tar_result *ret);
void tarx_pack_free(struct tarx_pack *p);

struct tarx_unpack;
/* Unpacks the archive in archive_fd (a seekable file, taken over; plain or
 * gzip) beneath root_fd (taken over). The archive is read twice: first every
 * header is checked and nothing is written, so a hostile or corrupt archive
 * changes nothing; then it is extracted. */
int tarx_unpack_new(int archive_fd, int root_fd, struct tarx_unpack **ret,
                    struct runra_err **err);
/* Same contract as tarx_pack_step. A failure during extraction names the
 * entry and what was written before it. */
int tarx_unpack_step(struct tarx_unpack *u, struct runra_err **err);
void tarx_unpack_stats(const struct tarx_unpack *u, struct tar_result *ret);
void tarx_unpack_free(struct tarx_unpack *u);

/* Pure checks, exposed for unit tests and the fuzzer. */
/* An entry name made relative and canonical ("./a//b/" -> "a/b", "." for
 * the root itself); -EINVAL for absolute names or "..", -ENAMETOOLONG. */
int tarx_name_clean(const char *name, char **ret, struct runra_err **err);
/* True when a symlink at (clean) entry name with this target resolves
 * beneath the root: relative, ".." only as leading components and no more
 * of them than the entry's depth. */
bool tarx_symlink_inside(const char *name, const char *target);
