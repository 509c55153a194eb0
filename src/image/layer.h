/* Unpacking one image layer (a tar stream: plain, gzip or zstd) into a
 * directory of its own, ready to be an overlayfs lower layer: OCI whiteouts
 * (".wh.NAME") become overlay whiteouts (a 0:0 character device NAME),
 * opaque markers (".wh..wh..opq") the parent's trusted.overlay.opaque and
 * user.overlay.opaque (for an overlay mounted with userxattr).
 *
 * The layer is hostile. Runs as root in the daemon, so nothing it names may
 * reach outside the directory: names are cleaned and ".." refused, every
 * parent is resolved beneath the directory (symlinks followed only within
 * it), the last component is never followed, hard links may only name
 * earlier entries by a symlink-free path, device nodes are not made, ids
 * beyond 65535 and sizes and counts past the limits are refused. A failure
 * leaves a partly filled directory that the caller removes. */
#pragma once

#include <stdint.h>

#include "base/err.h"

struct layer_limits {
    uint64_t max_bytes;   /* file content, summed */
    uint64_t max_entries;
};

struct layer_stats {
    uint64_t entries;
    uint64_t bytes;
    uint64_t skipped_devices; /* device nodes in the layer, not made */
    /* Directories the layer has entries beneath but no entry for, made
     * 0755 root here: a lower layer may say what they really are (the
     * caller frees with layer_stats_done). */
    char **implied;
    size_t nimplied;
};
void layer_stats_done(struct layer_stats *st);

/* Unpacks the stream read from fd into dirfd (an empty directory). */
int layer_unpack(int fd, int dirfd, const struct layer_limits *lim, struct layer_stats *ret,
                 struct runra_err **err);

#define LAYER_DIFF_ID_LEN 72 /* "sha256:" + 64 hex + NUL */
/* The layer's diff-id: the sha256 of its decompressed stream read from fd,
 * as "sha256:<hex>", reading at most max_bytes of it (a decompression bomb
 * stops there). */
int layer_diff_id(int fd, uint64_t max_bytes, char out[LAYER_DIFF_ID_LEN],
                  struct runra_err **err);
