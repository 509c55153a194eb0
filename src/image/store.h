/* The images a daemon has: names ("docker.io/library/node:22") pointing at
 * image manifests in the blob store, each image's layers unpacked once into
 * the shared layer directories, and garbage collection of whatever no image
 * and no sandbox uses. The index is one small JSON file, replaced
 * atomically; one mutex orders every change, and a collection never runs
 * while an image is being stored. Thread-safe. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "image/blob.h"
#include "image/layer.h"
#include "image/manifest.h"

#define IMAGE_NAMES_MAX 4096

struct image_store;

struct image_info {
    char *digest;        /* the image manifest's */
    char *config_digest;
    char **names;        /* NULL-terminated, maybe empty */
    uint64_t size;       /* the layers' blob sizes, summed */
    size_t nlayers;
    char **layer_dirs;   /* each layer's directory name in the store ("": not unpacked),
                            bottom first, as config.diff_ids; NULL-terminated */
    struct image_config config;
    int64_t stored_ms;   /* wall clock, when first stored */
};

/* dir: <state>/images; holds blobs/, layers/ and images.json. */
int image_store_open(const char *dir, const struct layer_limits *lim, struct image_store **ret,
                     struct runra_err **err);
void image_store_free(struct image_store *s);
struct blob_store *image_store_blobs(struct image_store *s);
const char *image_store_layers_dir(const struct image_store *s);
bool image_store_has_layer(struct image_store *s, const char *diff_id);

/* A stored manifest or config, whole (bounded by MANIFEST_MAX_BYTES,
 * NUL-terminated; caller frees). */
int image_store_read_blob(struct image_store *s, const char *digest, char **ret,
                          size_t *ret_len, struct runra_err **err);

/* Between begin and end, blobs may be added and images stored, and no
 * collection runs. */
void image_store_begin(struct image_store *s);
void image_store_end(struct image_store *s);

/* Makes the image whose manifest (and config) are in the blob store whole:
 * unpacks each layer not yet unpacked (from its blob, which then goes),
 * records it, and points name (may be NULL) at it, moving the name off
 * any image it named before. Call between begin and end. progress (may be
 * NULL) hears of each layer as it is unpacked. */
typedef void (*image_unpack_fn)(const char *blob_digest, bool done, void *ud);
int image_store_commit(struct image_store *s, const char *name, const char *manifest_digest,
                       image_unpack_fn progress, void *ud, struct runra_err **err);

/* ref: a canonical name, a manifest digest ("sha256:..."), or a unique
 * prefix of one of at least 12 hex digits. ENOENT when there is none. */
int image_store_get(struct image_store *s, const char *ref, struct image_info *ret,
                    struct runra_err **err);
int image_store_list(struct image_store *s, struct image_info **ret, size_t *ret_n,
                     struct runra_err **err);
/* Drops a name (or, given a digest, the image and all its names). The
 * data goes at the next collection. */
int image_store_remove(struct image_store *s, const char *ref, struct image_info *ret_removed,
                       struct runra_err **err);

struct image_gc_stats {
    uint64_t blobs, layers; /* removed */
};
/* The manifest digests of images in use elsewhere (the sandboxes'), as a
 * NULL-terminated array the caller of image_store_gc frees. */
typedef int (*image_keep_fn)(char ***ret, void *ud);
/* Removes every blob and layer not used by a named image or by one of the
 * images keep names; keep is called once no image can be stored or used
 * until the collection ends. */
int image_store_gc(struct image_store *s, image_keep_fn keep, void *ud,
                   struct image_gc_stats *ret, struct runra_err **err);

void image_info_done(struct image_info *i);
void image_info_list_free(struct image_info *l, size_t n);
