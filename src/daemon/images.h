/* The daemon's images: the store (src/image/store.h), the registry settings
 * from runrad's config file and Docker's credentials, and pulls, of which
 * two asking for the same reference at once share one. Thread-safe.
 * admin: the caller is runrad's admin (the unix socket), who may pull from
 * any registry; an API key may pull only from docker.io and the registries
 * the config file names. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"
#include "image/store.h"

struct images;

struct images_config {
    const char *state_dir;
    const char *config_path;   /* runrad's config file, or NULL */
    bool config_required;      /* given on the command line: it must exist */
};

int images_open(const struct images_config *c, struct images **ret, struct runra_err **err);
void images_free(struct images *im);
struct image_store *images_store(struct images *im);

/* Pull and import progress, as the API streams it: {"event": "resolved" |
 * "layer" | "waiting", ...} (docs/images.md). The callee owns ev. */
typedef void (*images_event_fn)(json_t *ev, void *ud);

/* Pulls a reference (normalized as docker does) and stores it under its
 * canonical name; a pull of the same name already running is joined,
 * not repeated. */
int images_pull(struct images *im, const char *ref, bool admin, images_event_fn fn, void *ud,
                struct image_info *ret, struct runra_err **err);

/* The image a sandbox spec names: a stored name (pulled when missing), a
 * digest, or a local source (oci:, oci-archive:, docker-archive:, a layout
 * path), which is imported. ret_canonical (may be NULL) gets the name the
 * image is known by. */
int images_resolve(struct images *im, const char *image, bool admin, images_event_fn fn,
                   void *ud, struct image_info *ret, struct runra_err **err);
/* Cancels running pulls and refuses new ones; images_free then waits for
 * them to end. */
void images_stop(struct images *im);

/* The image's metadata as the API shows it. */
json_t *images_info_json(const struct image_info *i);
