/* The unpacked layers every image and sandbox share: <dir>/sha256/<hex of
 * the diff-id>, one directory per layer, made once. A layer is unpacked
 * from its blob into a private temporary directory, its diff-id checked,
 * and only then renamed into place, so a present layer is always whole and
 * the one its name says; two callers making the same layer at once both
 * succeed with one copy. */
#pragma once

#include <stdbool.h>

#include "base/err.h"
#include "image/blob.h"
#include "image/layer.h"

/* Makes <dir>/sha256/<diff_id hex> from blob_digest in blobs unless it is
 * there. EBADMSG: the blob's decompressed stream is not diff_id. */
int layers_ensure(const char *dir, struct blob_store *blobs, const char *blob_digest,
                  const char *diff_id, const struct layer_limits *lim, struct runra_err **err);
bool layers_has(const char *dir, const char *diff_id);
int layers_remove(const char *dir, const char *diff_id, struct runra_err **err);
