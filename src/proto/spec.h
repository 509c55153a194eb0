/* A sandbox spec: what a caller asks for on create, parsed strictly from the
 * API's JSON into a typed struct with defaults filled and every bound checked.
 * The manager, backends and store see only this struct. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct kv {
    char *key;
    char *value;
};

struct kv_list {
    struct kv *items;
    size_t n;
};

struct sandbox_resources {
    double cpu;          /* cores; fractional allowed */
    uint64_t memory_mb;
    uint64_t pids;
    uint64_t disk_mb;
};

/* A host path bound into the sandbox (admin only; see docs/security.md). */
struct sandbox_mount {
    char *source;   /* absolute host path */
    char *target;   /* absolute path inside */
    bool readonly;
};
#define SPEC_MOUNTS_MAX 16

struct sandbox_spec {
    char *image;         /* "host", an image reference or a local image source */
    /* The manifest digest the daemon resolved image to (NULL: "host").
     * Set by the daemon, never parsed from or written to the spec's JSON. */
    char *image_digest;
    /* The user commands run as by default ("name", "uid", "uid:gid",
     * "name:group"), or NULL: the image's, else root. */
    char *user;
    char *backend;       /* "ns" */
    struct sandbox_resources resources;
    uint64_t timeout_ms; /* lifetime; 0 = none */
    struct kv_list metadata;
    struct kv_list env;
    /* Like env for the sandbox's processes, but never returned, logged,
     * put in an event or written to disk: spec_to_json leaves them out, so
     * they live only in the daemon's memory. */
    struct kv_list secrets;
    char *workdir;       /* absolute path inside the sandbox; default /workspace */
    bool workdir_set;    /* the request named one (else an image's WorkingDir wins) */
    /* The "network" object as compact JSON, or NULL (mode none). Its rules
     * are checked by the daemon (src/net/policy.c), not here. */
    char *network;
    /* An exec or file call on a paused sandbox resumes it (else: 409). */
    bool auto_resume;
    /* At timeout_ms: destroy it (default) or pause it. */
    bool pause_on_timeout;
    /* Its disk outlives its processes: after a host reboot (or anything
     * else that ended them while runrad was away) resume starts it again
     * on the same files. */
    bool persist;
    /* Host paths bound into the sandbox, idmapped to its root. */
    struct sandbox_mount mounts[SPEC_MOUNTS_MAX];
    size_t nmounts;
    /* Set by the daemon, never parsed or written: the creating API key. */
    char owner[32];
};

/* Parses a create request body. Unknown keys, wrong types and out-of-range
 * values fail with EINVAL/E2BIG and a message naming the field. */
int spec_parse_json(const char *buf, size_t len, struct sandbox_spec **ret, struct runra_err **err);
/* An absolute path of plain components, not under /proc, /sys or /dev. */
int spec_check_workdir(const char *w, struct runra_err **err);
/* "destroy" or "pause". */
int spec_parse_on_timeout(const char *s, bool *ret_pause, struct runra_err **err);
/* Fills defaults for a spec built in code (image, backend, resources, workdir). */
int spec_new_default(struct sandbox_spec **ret);
/* Serializes a spec as the create body would spell it (for the store). */
int spec_to_json(const struct sandbox_spec *s, bool with_env, char **ret);
int spec_dup(const struct sandbox_spec *s, struct sandbox_spec **ret);
/* True when two specs need the same box: image, backend, resources, workdir,
 * persist, mounts.
 * (env, metadata and timeout are applied by the manager, not the box.) */
bool spec_same_box(const struct sandbox_spec *a, const struct sandbox_spec *b);
void spec_free(struct sandbox_spec *s);
DEFINE_CLEANUP(struct sandbox_spec, spec_free)

const char *kv_get(const struct kv_list *l, const char *key);
void kv_list_done(struct kv_list *l);
