/* What the manager's own files share: the sandbox object and the table.
 * Nothing outside src/daemon/manager*.c includes this. */
#pragma once

#include <pthread.h>

#include <string.h>

#include "backend/backend.h"
#include "backend/vm/vm.h"
#include "guest.h"
#include "manager.h"
#include "egress.h"
#include "events.h"
#include "manager-ports.h"

/* The backend a spec names ("ns" when it names none). */
static inline const struct backend_ops *manager_backend(const char *name)
{
    return name && !strcmp(name, "vm") ? &vm_backend_ops : &ns_backend_ops;
}

static inline bool manager_is_vm(const struct sandbox_spec *spec)
{
    return spec && spec->backend && !strcmp(spec->backend, "vm");
}

#define UID_BASE_FIRST 0x10000000u /* host uids from 2^28 on are never real users */
#define UID_SLOTS 4096
#define FILE_CALL_TIMEOUT_MS (60u * 1000)
#define EXEC_GRACE_MS 3000 /* how long past its timeout an exec may take to report */

struct sandbox {
    char id[32];
    struct sandbox_spec *spec;
    int64_t created_ms;
    int64_t expires_ms;
    uint32_t slot;
    const struct backend_ops *ops;
    struct box *box;
    struct guest *guest;
    struct port_table *ports; /* exposed ports, made on first use */
    struct egress_box *net;   /* its network, when its mode is not none */
    uint64_t net_gen;         /* counts attaches, detaches, policy changes (net_lock) */
    char **net_env;           /* HTTP_PROXY and friends for it (under the manager's lock) */
    char *dir;
    int refs;
    bool destroying;
    bool paused; /* frozen (under the manager's lock) */
    /* No box (under the manager's lock): stopped, a persisted sandbox whose
     * processes ended while runrad was away (its disk kept, resume starts it
     * again); lost, one that did not persist (state "failed"). */
    bool stopped, lost;
    /* Taken back from the store but not reconnected for another reason than
     * its death (an unreadable row, a protocol mismatch, a timeout): left
     * exactly as it is, shown as "failed", destroyed only on DELETE. */
    bool unreachable;
    char *ports_stored; /* a stopped sandbox's exposed ports, for its restart */
    uint32_t net_slot;  /* its place in the network range; 0: none yet */
    char owner[32]; /* the API key that created it; "" for the admin */
    bool stored; /* has a row in the store */
    struct sandbox *next;
};

/* Box shapes the pool keeps warm: the default spec's, and the last shape a
 * create had to build cold. */
#define POOL_SHAPES 2
/* Threads preparing pool sandboxes at once; a create is mostly kernel
 * work (mkfs, mounts, clone), so two overlap well even on two cores. */
#define POOL_FILLERS 2
/* A refill waits this long after the last take, so building a sandbox (mkfs,
 * mounts, clone: milliseconds of CPU) does not compete with the request that
 * just took one, which usually execs at once. */
#define POOL_QUIET_MS 15

struct manager {
    struct manager_config cfg;
    /* The pool: prepared sandboxes nobody has used, never handed out twice. */
    struct sandbox *pool;
    size_t pool_count;
    struct sandbox_spec *shapes[POOL_SHAPES];
    pthread_t fillers[POOL_FILLERS];
    struct sandbox_spec *inflight[POOL_FILLERS]; /* shapes being prepared */
    /* Sandboxes waiting for teardown by the janitor thread. */
    struct sandbox *doomed;
    size_t doomed_count;
    pthread_t janitor;
    bool janitor_idle;
    int fillers_running;
    size_t nfillers; /* filler threads started */
    uint64_t last_take_ms; /* monotonic */
    bool janitor_stop; /* set once nothing more will be queued */
    char *sandboxes_dir;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* refs dropped, or reaper wake-up */
    struct sandbox *list;
    size_t count;
    bool slots[UID_SLOTS];
    pthread_t reaper;
    bool stopping;
};


/* Looks a sandbox up and holds it until manager_release, for work inside
 * it: a paused sandbox is resumed (autoResume) or refused with EBUSY. */
int manager_acquire(struct manager *m, const char *id, struct sandbox **ret,
                    struct runra_err **err);
/* The same for what does not touch its processes (get, network, pause). */
int manager_acquire_any(struct manager *m, const char *id, struct sandbox **ret,
                        struct runra_err **err);
void manager_release(struct manager *m, struct sandbox *s);
/* The sandbox in the table with this id, or NULL (the lock held). */
struct sandbox *manager_find_locked(struct manager *m, const char *id);
/* manager-restore.c: what the store says a previous daemon left, taken
 * back (manager_new, before any thread starts); and a taken-back or
 * restarted sandbox's network and ports ("PORT:HOSTPORT,...") made again. */
void manager_restore_all(struct manager *m);
void manager_rewire(struct manager *m, struct sandbox *s, const char *ports);
/* Lets go of a sandbox (out of the table) on exit and leaves it running. */
void manager_release_kept(struct manager *m, struct sandbox *s);
/* Starts a stopped (persisted) sandbox again (pause_lock held); then,
 * with pause_lock let go, manager_restart_rewire gives it its network and
 * exposed ports again. */
int manager_restart_stopped(struct manager *m, struct sandbox *s, struct runra_err **err);
void manager_restart_rewire(struct manager *m, struct sandbox *s);
/* manager.c: makes s's box (reuse_disk: on a persisted disk) and connects
 * to its runra-init; frees a sandbox out of every table. */
int manager_box_start(struct manager *m, struct sandbox *s, bool reuse_disk,
                      struct runra_err **err);
void manager_sandbox_free(struct sandbox *s);
/* "running", "paused", "stopped" or "failed" (under the manager's lock). */
const char *manager_state_of(const struct sandbox *s);
const struct manager_config *manager_config(struct manager *m);
/* The exec event (and a limit.oom one when the OOM killer struck). */
void manager_emit_exec(struct manager *m, const char *id, char **argv, const char *cwd,
                       int exit_code, int sig, uint64_t duration_ms, uint64_t out_bytes,
                       uint64_t err_bytes, bool timed_out, bool oom);
/* Records an audit event (data taken; see events.h). */
void manager_emit(struct manager *m, const char *sandbox, const char *type, json_t *data);

/* manager-metrics.c: counters bumped where things happen. */
void manager_note_created(void);
void manager_note_destroyed(void);
void manager_note_exec(uint64_t duration_us);
/* manager-net.c: the denials a sandbox's network has recorded so far. */
uint64_t manager_net_denied_total(struct manager *m, struct sandbox *s);

/* manager-net.c: the network at create and teardown. */
int manager_net_setup(struct manager *m, struct sandbox *s, struct runra_err **err);
void manager_net_teardown(struct manager *m, struct sandbox *s);
/* After a VM's resume: its network again, in its new QEMU's namespace (a
 * failure is a sandbox.network_lost event). Nothing for an ns sandbox. */
void manager_net_rewire(struct manager *m, struct sandbox *s);

/* The environment for a command in s: the network's proxy variables, the
 * sandbox's env over them, the request's "K=V" entries over both. */
int manager_env_merge(struct manager *m, struct sandbox *s, char **over, char ***ret);

/* A stream of DATA frames ending in a RESULT, read by an HTTP response:
 * file reads and tar downloads. check validates the RESULT (may be NULL). */
typedef int (*rstream_check_fn)(const struct guest_frame *f, struct runra_err **err);
/* Takes over s (acquired) and call, also on failure; waits for the first
 * answer so a missing file is an error here, not mid-response. */
int manager_rstream_start(struct manager *m, struct sandbox *s, struct guest_call *call,
                          const char *what, rstream_check_fn check, struct file_rstream **ret,
                          struct runra_err **err);

/* Resolves spec's image (pulling or importing it; admin: the caller may
 * name a host path) and applies its config: image_digest, Env under the
 * spec's env, WorkingDir unless the spec named one, User unless set. */
int manager_image_apply(struct manager *m, struct sandbox_spec *sp, bool admin,
                        struct runra_err **err);
/* The layers (diff-id hex, bottom first) of spec's resolved image. */
int manager_image_layers(struct manager *m, const struct sandbox_spec *sp, char ***ret,
                         size_t *ret_n, struct runra_err **err);
