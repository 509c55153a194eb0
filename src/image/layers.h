/* The unpacked layers every image and sandbox share: <dir>/sha256/<hex>,
 * one directory per layer, made once. A layer is unpacked from its blob into
 * a private temporary directory, its diff-id checked, and only then renamed
 * into place, so a present layer is always whole and the one its name says;
 * two callers making the same layer at once both succeed with one copy.
 *
 * A layer is named by its diff-id, so any image may stack it, unless it
 * implies directories (has entries beneath a directory it has no entry
 * for): what those directories are depends on the layers beneath, so such a
 * layer is named by its chain id (the OCI hash of the diff-ids from the
 * bottom up to it) and shared only by images with the same layers below. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "image/blob.h"
#include "image/layer.h"

/* True when the layer is present under its diff-id. */
bool layers_has(const char *dir, const char *diff_id);
/* The chain ids of a stack of diff-ids (bottom first), "sha256:<hex>";
 * NULL-terminated, caller frees each and the array. EINVAL: a diff-id that
 * is not sha256. */
int layers_chain_ids(char *const *diff_ids, size_t n, char ***ret);
/* The name (64 hex) of the directory the layer has: its diff-id's, else
 * its chain id's. ENOENT when it is not unpacked. */
int layers_present(const char *dir, const char *diff_id, const char *chain_id,
                   char ret_name[65]);

/* Unpacks the blob, checked against diff_id, into a new temporary directory
 * of the store (*ret_tmp, caller frees); *ret_st says what it implies
 * (layer_stats_done). EBADMSG: the blob's stream is not diff_id. */
int layers_unpack_tmp(const char *dir, struct blob_store *blobs, const char *blob_digest,
                      const char *diff_id, const struct layer_limits *lim, char **ret_tmp,
                      struct layer_stats *ret_st, struct runra_err **err);
/* Gives the directories st says tmp implies the owner and mode the lower
 * layers (directory fds, nearest first) give them. */
int layers_fix_implied(const char *tmp, const struct layer_stats *st, const int *lowers,
                       size_t nlowers, struct runra_err **err);
/* Renames tmp to <dir>/sha256/<hex of name_digest> (another's copy there
 * already stands; tmp then goes). */
int layers_place(const char *dir, const char *tmp, const char *name_digest,
                 struct runra_err **err);

/* Unpacks and places a layer under its diff-id unless it is there (the
 * simple case: implied directories keep their defaults). */
int layers_ensure(const char *dir, struct blob_store *blobs, const char *blob_digest,
                  const char *diff_id, const struct layer_limits *lim, struct runra_err **err);
int layers_remove(const char *dir, const char *digest, struct runra_err **err);
