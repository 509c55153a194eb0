/* Starting runra-init in fresh namespaces from the threaded daemon: one
 * fork-like clone made in the sandbox's v2 cgroup, uid/gid maps by the
 * parent while the child waits, the child joining its v1 cgroups itself,
 * then its exec. Killing and reaping it again by pidfd. */
#pragma once

#include <stdint.h>
#include <sys/types.h>

#include "backend/ns/cgroup.h"
#include "base/err.h"

#define NS_SPAWN_EXTRA_MAX 17 /* the host mounts and the layer store */

struct ns_spawn_args {
    const char *init_path; /* runra-init on the host */
    char **argv;           /* from ns_config_to_argv */
    int listen_fd;         /* becomes fd listen_target in the child; -1: none */
    int listen_target;
    const char *root_path; /* opened by the child as fd root_target, or NULL */
    int root_target;
    uint32_t uid_base; /* inside 0..65535 -> host uid_base.. */
    /* More fds runra-init gets: extra_fds[i] becomes extra_targets[i]
     * (above root_target, below 64). The caller keeps its own. */
    const int *extra_fds;
    const int *extra_targets;
    size_t nextra;
    const struct ns_cgroup *cg;
    int log_fd; /* the child's stdout and stderr (0 or -1: /dev/null) */
};

/* On success the child has exec'd runra-init (or failed to and exited:
 * exec errors are reported here). ret_pidfd is O_CLOEXEC. */
int ns_spawn(const struct ns_spawn_args *a, pid_t *ret_pid, int *ret_pidfd, struct runra_err **err);
/* SIGKILL through the pidfd (the kernel then kills the whole pid namespace)
 * and reap; waits at most timeout_ms for the exit. Tolerates a child that
 * is already dead or already reaped. 0, or -ETIMEDOUT. */
int ns_spawn_kill(int pidfd, int timeout_ms);
