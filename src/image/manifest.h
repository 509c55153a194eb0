/* OCI and Docker image manifests, indexes and configs, parsed strictly and
 * bounded (they come from a registry or a file nobody vouched for): what
 * a pull and an unpack need, nothing more. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

#define MANIFEST_MAX_BYTES (4u << 20)
#define MANIFEST_LAYERS_MAX 256
#define INDEX_ENTRIES_MAX 256

enum layer_compression { LAYER_PLAIN, LAYER_GZIP, LAYER_ZSTD };

struct descriptor {
    char *media_type;
    char *digest;
    uint64_t size;
};

struct image_manifest {
    struct descriptor config;
    struct descriptor *layers;
    enum layer_compression *compression; /* per layer */
    size_t nlayers;
};

struct image_config {
    char **diff_ids; /* per layer, "sha256:..." */
    size_t ndiff_ids;
    char **env;      /* "K=V", NULL-terminated (may be empty) */
    char *workdir;   /* or NULL */
    char *user;      /* or NULL */
    char **entrypoint, **cmd; /* NULL-terminated, or NULL */
    char *os, *architecture;
};

/* What kind of document a manifest body is: 1 an index (or a Docker
 * manifest list), 0 an image manifest; from the media type the registry
 * sent (NULL: read the body's own mediaType). -EINVAL for anything else. */
int manifest_kind(const char *content_type, const char *body, size_t len, struct runra_err **err);
/* From an index, the descriptor of the image manifest for os/arch (e.g.
 * "linux"/"amd64", variant may be NULL), skipping attestation entries. */
int index_pick(const char *body, size_t len, const char *os, const char *arch,
               const char *variant, struct descriptor *ret, struct runra_err **err);
int manifest_parse(const char *body, size_t len, struct image_manifest *ret,
                   struct runra_err **err);
int config_parse(const char *body, size_t len, struct image_config *ret, struct runra_err **err);

void descriptor_done(struct descriptor *d);
void image_manifest_done(struct image_manifest *m);
void image_config_done(struct image_config *c);
