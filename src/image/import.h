/* Images from files rather than registries: an OCI image layout directory
 * (what `skopeo copy ... oci:DIR` writes), an OCI archive (the same as a
 * tar) and a Docker archive (what `docker save` writes, old and new
 * formats). Every blob is verified on its way into the store; the files are
 * as untrusted as a registry. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"
#include "image/store.h"

enum image_source_kind { IMAGE_SRC_LAYOUT, IMAGE_SRC_OCI_ARCHIVE, IMAGE_SRC_DOCKER_ARCHIVE };

/* Recognizes a local image source in an image string: "oci:PATH" or an
 * absolute path (a layout directory), "oci-archive:PATH",
 * "docker-archive:PATH". 1 with *kind and *path (pointing into s) set, 0 when
 * s is not a local source (a registry reference). PATH may end in ":TAG"
 * for a layout, as skopeo spells it; that tag is not split off here. */
int image_source_parse(const char *s, enum image_source_kind *kind, const char **path);

/* Sniffs an archive read from fd (then rewound): an OCI archive has an
 * index.json, a Docker archive a manifest.json at the top. */
int image_archive_kind(int fd, enum image_source_kind *ret, struct runra_err **err);

struct image_imported {
    char *name;   /* canonical name, or NULL when the source names none */
    char *digest; /* the image manifest's */
};

/* Imports every image of the source (fd: a directory for a layout, a
 * regular file for an archive) for this host's platform and stores them.
 * name (may be NULL) names the image when the source holds just one; tag
 * (may be NULL) picks the layout entry whose ref name is tag; named: the
 * source's own names (annotations, RepoTags) are taken (else the images
 * are stored without names). Bounded: IMPORT_BYTES_MAX written in all, at
 * most IMPORT_NAMES_MAX names; blobs the source carries but no image uses
 * are not kept. */
#define IMPORT_BYTES_MAX (64ull << 30)
#define IMPORT_NAMES_MAX 16
int image_import(struct image_store *s, enum image_source_kind kind, int fd, const char *name,
                 const char *tag, bool named, struct image_imported **ret, size_t *ret_n,
                 struct runra_err **err);
void image_imported_free(struct image_imported *v, size_t n);

/* The host's OCI platform ("amd64", "arm64", ...). */
const char *image_host_arch(void);
