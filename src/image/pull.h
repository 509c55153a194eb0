/* Pulling an image from a registry (the OCI distribution spec, over
 * libcurl) into the blob store: the manifest for the wanted platform, its
 * config and the layer blobs the caller does not already have unpacked.
 * Everything fetched is verified against its digest before it is stored;
 * the registry, its redirects and its tokens are all untrusted. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "image/blob.h"
#include "image/ref.h"
#include "image/regconfig.h"

enum pull_event_kind {
    PULL_EV_RESOLVED,       /* digest: the platform manifest's digest */
    PULL_EV_LAYER_CACHED,   /* digest: a layer blob not fetched (already unpacked or stored) */
    PULL_EV_LAYER_START,    /* digest, total: a layer download begins (total may be 0: unknown) */
    PULL_EV_LAYER_PROGRESS, /* digest, current, total */
    PULL_EV_LAYER_RETRY,    /* digest, current (bytes kept), message: why */
    PULL_EV_LAYER_DONE,     /* digest, total: verified and stored */
};

struct pull_event {
    enum pull_event_kind kind;
    const char *digest;
    uint64_t current, total;
    const char *message;
};

/* Called from the pulling thread (never two at once for one pull). */
typedef void (*pull_event_fn)(const struct pull_event *ev, void *ud);

struct pull_opts {
    const struct registry_config *cfg; /* NULL: no mirrors, no credentials, https */
    const char *os, *arch, *variant;   /* NULL: the host's ("linux", "amd64", NULL) */
    unsigned parallel;                 /* layer downloads at once; 0: 3 */
    unsigned retries;                  /* per request, after the first try; 0: 4 */
    uint64_t max_blob_bytes;           /* 0: 8 GiB */
    /* True when the layer with this diff-id is already unpacked, so its
     * blob need not be fetched; NULL: fetch every layer not in the store. */
    bool (*have_layer)(const char *diff_id, void *ud);
    pull_event_fn on_event;
    void *ud;
    /* Set (from any thread) to stop the pull: it ends with ECANCELED. */
    const volatile int *cancel;
};

struct pull_result {
    char *manifest_digest; /* the platform's image manifest, stored as a blob */
    char *config_digest;   /* stored as a blob */
    char *index_digest;    /* the index the tag named, or NULL (not stored) */
};

/* Pulls ref into blobs: on success the manifest, the config and every layer
 * blob whose diff-id have_layer does not claim are in the store. Errors:
 * ENOENT (no such repository, tag or platform), EACCES (credentials
 * refused or missing), EBADMSG (a digest that does not match, a malformed
 * document), E2BIG (past max_blob_bytes), ETIMEDOUT/ECONNREFUSED/EIO
 * (transport, after the retries), ECANCELED. */
int image_pull(struct blob_store *blobs, const struct image_ref *ref, const struct pull_opts *o,
               struct pull_result *ret, struct runra_err **err);
void pull_result_done(struct pull_result *r);
