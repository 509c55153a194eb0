/* The namespace backend's process-wide setup, called once by the daemon
 * (after it has entered its own mount namespace, before any sandbox). The
 * ops table itself is ns_backend_ops in backend/backend.h. */
#pragma once

#include "base/err.h"

/* Detects the cgroup layout, landlock's ABI, mkfs.ext4 and loop devices,
 * and checks user namespaces. Safe to call more than once (the facts are
 * gathered once). Fails when sandboxes cannot be made at all (no user
 * namespaces, no usable cgroups); a missing mkfs.ext4 or loop device only
 * means disks fall back to tmpfs. */
int ns_daemon_init(struct runra_err **err);
