/* A sandbox's cgroups on the host: where they live (v1, v2 or hybrid),
 * their limits, stats, and teardown that kills whatever is still inside.
 * Runs in the daemon, as real root, on paths built only from a checked id. */
#pragma once

#include <stdbool.h>

#include <sys/types.h>

#include "backend/backend.h"
#include "backend/ns/cgroup_fmt.h"
#include "base/err.h"
#include "proto/spec.h"

struct ns_cgroup;

/* Looks at /sys/fs/cgroup once; NS_CG_NONE (with the reason) when neither a
 * v2 hierarchy with memory, cpu and pids nor those v1 controllers exist. */
int ns_cgroup_detect(enum ns_cgroup_mode *ret, struct runra_err **err);

/* Creates runra/<id> in every hierarchy the mode uses and writes the
 * limits. On failure nothing is left. */
int ns_cgroup_create(enum ns_cgroup_mode mode, const char *id, const struct sandbox_resources *res,
                     struct ns_cgroup **ret, struct runra_err **err);
/* Moves pid into every one of the sandbox's cgroups. */
int ns_cgroup_attach(const struct ns_cgroup *cg, pid_t pid, struct runra_err **err);

/* What a new process needs to join the sandbox's cgroups by itself as it
 * starts, instead of ns_cgroup_attach: each v1 hierarchy's "tasks" file,
 * opened by real root, for the process to write "0" (itself, one thread)
 * into, and the v2 dir for clone3's CLONE_INTO_CGROUP. Neither takes the
 * kernel's global attach lock, whose write side waits out an RCU grace
 * period (7-20 ms) on every pid written to a cgroup.procs. All fds are
 * O_CLOEXEC; -1 where unused. */
#define NS_CG_JOIN_V1_MAX 4
struct ns_cgroup_join {
    int v1[NS_CG_JOIN_V1_MAX];
    size_t nv1;
    int v2;
};
int ns_cgroup_join_open(const struct ns_cgroup *cg, struct ns_cgroup_join *ret,
                        struct runra_err **err);
void ns_cgroup_join_close(struct ns_cgroup_join *j);
/* The v2 half of ns_cgroup_attach alone: where clone3 could not place a
 * child that joins its v1 cgroups itself. */
int ns_cgroup_attach_v2(const struct ns_cgroup *cg, pid_t pid, struct runra_err **err);
int ns_cgroup_stats(const struct ns_cgroup *cg, struct box_stats *ret, struct runra_err **err);
/* Only the OOM kill counter: what every exec reads twice. */
int ns_cgroup_oom_kills(const struct ns_cgroup *cg, uint64_t *ret, struct runra_err **err);
/* Stops (frozen) or restarts every task of the sandbox: the v1 freezer
 * where there is one, else cgroup.freeze; returns once the kernel says done. */
int ns_cgroup_freeze(const struct ns_cgroup *cg, bool frozen, struct runra_err **err);
/* Kills every process left inside, removes the cgroups and frees cg. */
int ns_cgroup_destroy(struct ns_cgroup *cg, struct runra_err **err);
/* The same for a sandbox known only by id (a previous daemon's). */
int ns_cgroup_cleanup(enum ns_cgroup_mode mode, const char *id, struct runra_err **err);
/* The cgroups of a live sandbox a previous daemon made: every dir must
 * exist. Nothing is written. */
int ns_cgroup_open(enum ns_cgroup_mode mode, const char *id, struct ns_cgroup **ret,
                   struct runra_err **err);
/* True when pid (a host pid) is one of the sandbox's processes. */
bool ns_cgroup_has(const struct ns_cgroup *cg, pid_t pid);
/* True when the sandbox is frozen or being frozen. */
bool ns_cgroup_frozen(const struct ns_cgroup *cg);
/* Frees cg and leaves the cgroups and their processes as they are. */
void ns_cgroup_forget(struct ns_cgroup *cg);
