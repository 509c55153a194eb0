/* The namespace backend's inside half: turns runra-init, started by the
 * daemon as PID 1 of fresh user, mount, pid, net, uts and ipc namespaces,
 * into the sandbox. Linked into runra-init. */
#pragma once

#include "backend/ns/config.h"
#include "base/err.h"

/* Runs the setup steps in order (cgroup namespace, private mounts, root
 * filesystem, /proc, /sys, /dev, hostname, pivot_root, workdir,
 * no_new_privs, capabilities, landlock, seccomp). Call it once, from PID 1,
 * before starting any thread or process; c->listen_fd is made close-on-exec.
 * On success the process is inside the sandbox with its cwd at c->workdir.
 * On failure *err names the step; the process is then half set up and must
 * report the error and exit. */
int ns_child_setup(const struct ns_config *c, struct runra_err **err);
