/* Image references as docker, podman and containerd read them:
 * "node:22" is docker.io/library/node:22, "ghcr.io/org/app@sha256:...",
 * "localhost:5000/app", "[::1]:5000/app:v1". Pure, bounded, fuzzed. */
#pragma once

#include <stdbool.h>

#include "base/err.h"

#define IMAGE_NAME_MAX 255   /* registry/repository, as the distribution spec bounds it */
#define IMAGE_TAG_MAX 128

struct image_ref {
    char *registry;   /* "docker.io", "ghcr.io", "localhost:5000", "[::1]:5000" */
    char *repository; /* "library/node" */
    char *tag;        /* "22"; "latest" when neither a tag nor a digest was given; NULL with a digest only */
    char *digest;     /* "sha256:<64 hex>" (or sha512), or NULL */
};

/* Parses s strictly (lower-case repository components, the tag and digest
 * grammars, bounded lengths). EINVAL with a message naming the fault. */
int image_ref_parse(const char *s, struct image_ref *ret, struct runra_err **err);
/* The canonical spelling: "docker.io/library/node:22", with "@digest" when
 * there is one (caller frees; NULL on ENOMEM). */
char *image_ref_string(const struct image_ref *r);
/* The host to talk to for the registry: docker.io's API lives at
 * registry-1.docker.io. */
const char *image_ref_api_host(const struct image_ref *r);
void image_ref_done(struct image_ref *r);

/* "sha256:<64 lower-case hex>" or "sha512:<128 lower-case hex>". */
bool image_digest_ok(const char *d);
