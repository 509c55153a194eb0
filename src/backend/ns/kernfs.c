/* /proc and /sys for the sandbox: fresh instances that show only its own pid
 * and network namespaces, with the parts that reach the host kernel's shared
 * state masked or made read-only. The capability and seccomp steps later
 * make sure nothing inside can remove these mounts again. */
#include <errno.h>
#include <sys/mount.h>

#include "backend/ns/child_ctx.h"
#include "backend/ns/mnt.h"

/* Files and dirs that show host kernel memory, keys, timers or hardware:
 * covered with empty ones where this kernel has them. */
static const char *const proc_masks[] = {
    "/proc/kcore",       "/proc/keys",     "/proc/key-users",     "/proc/timer_list",
    "/proc/sched_debug", "/proc/kallsyms", "/proc/latency_stats", "/proc/timer_stats",
    "/proc/acpi",        "/proc/asound",   "/proc/scsi",
};

/* Knobs that change the host kernel (the few a user namespace may still
 * write) stay readable but become read-only. */
static const char *const proc_readonly[] = {
    "/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs",
};

static const char *const sys_masks[] = {
    "/sys/firmware",
    "/sys/kernel/debug",
    "/sys/kernel/security",
    "/sys/devices/virtual/powercap",
};

#define KERN_ATTRS (MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

int ns_kernfs_proc(struct ns_child_ctx *x, struct runra_err **err)
{
    /* A new proc instance belongs to this process's pid namespace, so it
     * lists only the sandbox's processes. */
    _cleanup_close_ int fd = -1;
    int r = ns_mnt_fresh("proc", NULL, KERN_ATTRS, &fd, err);
    if (r >= 0)
        r = ns_mnt_attach(fd, x->rootfd, "/proc", err);
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(proc_masks); i++)
        r = ns_mask(x->maskfd, x->rootfd, proc_masks[i], err);
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(proc_readonly); i++)
        r = ns_mnt_readonly(x->rootfd, proc_readonly[i], err);
    return r < 0 ? r : 0;
}

int ns_kernfs_sys(struct ns_child_ctx *x, struct runra_err **err)
{
    /* sysfs mounted from a new network namespace shows only its devices
     * (lo). It is read-only: nothing inside has a reason to write it. */
    _cleanup_close_ int fd = -1;
    _cleanup_err_ struct runra_err *sys_err = NULL;
    int r = ns_mnt_fresh("sysfs", NULL, MOUNT_ATTR_RDONLY | KERN_ATTRS, &fd, &sys_err);
    if (r < 0) {
        /* Some hosts refuse sysfs to user namespaces (an overmounted host
         * /sys, for one). Most programs cope with an empty /sys. */
        static const char *const opts[] = {"size=4k", "nr_inodes=16", "mode=0555", NULL};
        r = ns_mnt_fresh("tmpfs", opts, MOUNT_ATTR_RDONLY | KERN_ATTRS, &fd, err);
        return r < 0 ? r : ns_mnt_attach(fd, x->rootfd, "/sys", err);
    }
    r = ns_mnt_attach(fd, x->rootfd, "/sys", err);
    for (size_t i = 0; r >= 0 && i < ARRAY_SIZE(sys_masks); i++)
        r = ns_mask(x->maskfd, x->rootfd, sys_masks[i], err);
    return r < 0 ? r : 0;
}
