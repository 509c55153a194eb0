/* A backend turns a sandbox spec into a running runra-init and a byte stream
 * to it, and can tear that box down again. Chosen per sandbox by name. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/spec.h"

struct box; /* backend-private */

struct backend_create_args {
    const char *id;                 /* sandbox id; also its hostname */
    const struct sandbox_spec *spec;/* validated */
    const char *dir;                /* per-sandbox host dir owned by the daemon, already created */
    const char *const *hide;        /* host paths that must never be visible inside (NULL-terminated) */
    uint32_t uid_base;              /* root inside maps to this host uid; 65536 ids */
    const char *init_path;          /* host path of the runra-init binary */
    bool reuse_disk;                /* dir holds a persisted sandbox's disk: use it as it is */
    /* An image's root (NULL: the host image): the shared layer store and
     * the image's layers in it (diff-id hex digits, bottom first). */
    const char *layers_dir;
    char *const *layers;
    size_t nlayers;
};

/* A box a previous daemon made, as the store remembers it. */
struct backend_reattach_args {
    const char *id;
    const char *dir;
    int64_t init_pid; /* runra-init's host pid */
};

struct box_stats {
    uint64_t oom_kills;   /* OOM kills in the sandbox's cgroup so far */
    uint64_t memory_bytes;/* current usage */
    uint64_t pids;        /* current tasks */
    uint64_t cpu_usec;    /* CPU time used so far; 0 where the hierarchy does not count it */
};

struct backend_ops {
    const char *name;
    /* 0 when usable; otherwise -errno with the reason in *err. */
    int (*available)(struct runra_err **err);
    /* Creates and starts the box; on success *ret_fd is a connected stream to
     * runra-init that has already sent its HELLO (consumed). On failure
     * nothing is left behind. */
    int (*create)(const struct backend_create_args *a, struct box **ret, int *ret_fd,
                  struct runra_err **err);
    /* Kills every process and frees every resource of the box (cgroup, disk,
     * mounts), then frees b. Safe to call on a box whose init already died. */
    int (*destroy)(struct box *b, struct runra_err **err);
    int (*stats)(struct box *b, struct box_stats *ret, struct runra_err **err);
    /* The OOM kill counter alone (cheaper than stats; read around every exec). */
    int (*oom_kills)(struct box *b, uint64_t *ret, struct runra_err **err);
    /* Removes what a box with this id and dir may have left after the daemon
     * that made it died: processes in its cgroup, its cgroups, its dir
     * (keep_disk: all but the disk image, for a persisted sandbox). */
    int (*cleanup)(const char *id, const char *dir, bool keep_disk, struct runra_err **err);
    /* Takes back a box a previous daemon made and left running. On success
     * *ret_fd is a new stream to its runra-init, past HELLO unless the box
     * is frozen (*ret_frozen), whose HELLO comes once it is thawed. ESRCH
     * when its runra-init is gone; nothing is changed on failure. */
    int (*reattach)(const struct backend_reattach_args *a, struct box **ret, int *ret_fd,
                    bool *ret_frozen, struct runra_err **err);
    /* Lets go of b and leaves the box running (a daemon exiting with
     * --keep-sandboxes); frees b. */
    void (*release)(struct box *b);
    /* The pid of runra-init on the host (for diagnostics), or -1. */
    int64_t (*init_pid)(struct box *b);
    /* Stops every process of the box, runra-init included (frozen), or lets
     * them run again; memory and files are kept. */
    int (*freeze)(struct box *b, bool frozen, struct runra_err **err);
    /* Optional (the VM backend): pause as the box's whole state written to
     * its dir and its processes ended, freeing their memory; the caller has
     * quiesced the stream, which ends with them. resume starts the box
     * again from that state; *ret_fd is a new stream past HELLO. When
     * suspend fails the box runs on as before. */
    int (*suspend)(struct box *b, struct runra_err **err);
    int (*resume)(struct box *b, int *ret_fd, struct runra_err **err);
};

extern const struct backend_ops ns_backend_ops;

/* Process-wide facts a backend reports for /v1/health. */
const char *ns_cgroup_mode_name(void); /* "v1", "v2" or "hybrid" (v1 controllers + v2 mount) */
int ns_landlock_abi(void);             /* 0 when landlock is unavailable */
