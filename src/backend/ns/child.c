/* The sandbox child's setup: one table of named steps run in order. The order
 * is the security argument: all that needs CAP_SYS_ADMIN (building the root,
 * pivot_root) comes first, then restrictions that each forbid what came
 * before: no_new_privs, capabilities (no SYS_ADMIN: masks stay), landlock,
 * and seccomp last (no mount or namespace syscalls at all). */
#include "backend/ns/child.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/ns/caps.h"
#include "backend/ns/child_ctx.h"
#include "backend/ns/landlock.h"
#include "backend/ns/mnt.h"
#include "backend/ns/seccomp_filter.h"

static int step_fds(struct ns_child_ctx *x, struct runra_err **err)
{
    /* The listening socket is runra-init's alone: a command that inherited
     * it could accept the daemon's next connection and pose as runra-init. */
    if (fcntl(x->c->listen_fd, F_SETFD, FD_CLOEXEC) < 0)
        return err_sys(err, errno, "listen fd %d", x->c->listen_fd);
    return 0;
}

static int step_cgroupns(struct ns_child_ctx *x, struct runra_err **err)
{
    /* Taken here rather than by the daemon's clone so that the namespace is
     * rooted at the cgroup the daemon placed us in: the sandbox then sees
     * its own cgroup as "/" and nothing of the host's tree. */
    if (unshare(CLONE_NEWCGROUP) < 0)
        return err_sys(err, errno, "unshare(CLONE_NEWCGROUP)");
    return 0;
}

static int step_private(struct ns_child_ctx *x, struct runra_err **err)
{
    /* Private, not slave: the daemon detaches its own copy of the disk
     * mount once we are up, and that must not propagate here; nor may
     * anything mounted here propagate back. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return err_sys(err, errno, "make / private");
    return 0;
}

static int step_open_root(struct ns_child_ctx *x, struct runra_err **err)
{
    _cleanup_close_ int fd = -1;
    if (x->c->root_fd >= 0) {
        fd = x->c->root_fd;
    } else {
        fd = open(x->c->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return err_sys(err, errno, "open root '%s'", x->c->root);
    }
    /* The disk was mounted by the daemon, so in this namespace its mount is
     * a locked copy, which pivot_root refuses. A bind of it onto itself is
     * our own, unlocked mount; the clone's fd is the new root from here on. */
    int r = ns_mnt_clone(fd, "", true, 0, &x->rootfd, err);
    if (r < 0)
        return err_prefix(err, "bind the root onto itself");
    if (move_mount(x->rootfd, "", fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return err_sys(err, errno, "bind the root onto itself");
    return 0;
}

/* Opens name beneath dirfd with no symlink followed (O_PATH). */
static int open_nofollow(int dirfd, const char *name, int flags)
{
    struct open_how how = {.flags = (uint64_t)(O_PATH | O_CLOEXEC | O_NOFOLLOW | flags),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    int fd;
    do
        fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    return fd < 0 ? -errno : fd;
}

/* Makes target (a clean absolute path) beneath rootfd, directories on the
 * way and the last component as a directory or an empty regular file, and
 * returns an O_PATH fd of it. No symlink is followed at any step, so what a
 * reused disk holds (a symlink, a fifo) cannot move the mount or stall us:
 * it is an error instead. */
static int make_mount_point(int rootfd, const char *target, bool dir, int *ret_fd,
                            struct runra_err **err)
{
    _cleanup_close_ int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
    if (cur < 0)
        return err_sys(err, errno, "dup root");
    char comp[256];
    for (const char *p = target; *p;) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if (n == 0)
            break;
        if (n >= sizeof(comp))
            return err_set(err, ENAMETOOLONG, "mount target '%s'", target);
        memcpy(comp, p, n);
        comp[n] = 0;
        p += n;
        bool last = strspn(p, "/") == strlen(p);
        if (!last || dir) {
            if (mkdirat(cur, comp, 0755) < 0 && errno != EEXIST)
                return err_sys(err, errno, "create mount point '%s'", target);
        } else if (mknodat(cur, comp, S_IFREG | 0644, 0) < 0 && errno != EEXIST) {
            return err_sys(err, errno, "create mount point '%s'", target);
        }
        int next = open_nofollow(cur, comp, !last || dir ? O_DIRECTORY : 0);
        if (next < 0)
            return err_sys(err, next, "mount point '%s' (a symlink or not a %s on the way)",
                           target, !last || dir ? "directory" : "file");
        close(cur);
        cur = next;
        if (last) {
            struct stat st;
            if (fstat(cur, &st) < 0 || (dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)))
                return err_set(err, EINVAL, "mount point '%s' is not a %s", target,
                               dir ? "directory" : "regular file");
            break;
        }
    }
    *ret_fd = TAKE_FD(cur);
    return 0;
}

/* The host mounts the daemon made (idmapped, detached) go onto their
 * targets in the new root, over whatever the disk has there. */
static int step_mounts(struct ns_child_ctx *x, struct runra_err **err)
{
    for (size_t i = 0; i < x->c->nmounts; i++) {
        int fd = x->c->mount_fds[i];
        const char *target = x->c->mount_targets[i];
        struct stat st;
        if (fstat(fd, &st) < 0)
            return err_sys(err, errno, "host mount for '%s'", target);
        int mp = -1;
        int r = make_mount_point(x->rootfd, target, S_ISDIR(st.st_mode), &mp, err);
        if (r >= 0 && move_mount(fd, "", mp, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            r = err_sys(err, errno, "attach host mount on '%s'", target);
        if (mp >= 0)
            close(mp);
        close(fd);
        if (r < 0)
            return r;
    }
    return 0;
}

static int step_nnp(struct ns_child_ctx *x, struct runra_err **err) { return ns_nnp_apply(err); }

static int step_dumpable(struct ns_child_ctx *x, struct runra_err **err)
{
    /* PID 1 holds the daemon's connection. Not dumpable, it cannot be
     * ptraced or have its /proc/1/mem and fds opened by sandbox processes,
     * which share its uid but not CAP_SYS_PTRACE. Children it execs are
     * dumpable again, so debuggers still work on the workload. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        return err_sys(err, errno, "PR_SET_DUMPABLE");
    return 0;
}
static int step_caps(struct ns_child_ctx *x, struct runra_err **err) { return ns_caps_apply(err); }
static int step_landlock(struct ns_child_ctx *x, struct runra_err **err)
{
    int r = ns_landlock_apply(x->c->layers_fd >= 0, err);
    return r < 0 ? r : 0;
}
static int step_seccomp(struct ns_child_ctx *x, struct runra_err **err)
{
    return ns_seccomp_apply(err);
}

static const struct {
    const char *name;
    int (*run)(struct ns_child_ctx *x, struct runra_err **err);
} steps[] = {
    {"listen fd", step_fds},
    {"cgroup namespace", step_cgroupns},
    {"private mounts", step_private},
    {"open root", step_open_root},
    {"image overlay", ns_overlay_root},
    {"root skeleton", ns_rootfs_skeleton},
    {"host binds", ns_rootfs_host},
    {"masks", ns_rootfs_masks},
    {"host mounts", step_mounts},
    {"proc", ns_kernfs_proc},
    {"sys", ns_kernfs_sys},
    {"dev", ns_devfs_build},
    {"hostname", ns_pivot_hostname},
    {"loopback", ns_netns_loopback},
    {"pivot_root", ns_pivot_enter},
    {"workdir", ns_pivot_workdir},
    {"no_new_privs", step_nnp},
    {"not dumpable", step_dumpable},
    {"capabilities", step_caps},
    {"landlock", step_landlock},
    {"seccomp", step_seccomp},
};

static void ctx_done(struct ns_child_ctx *x)
{
    int *fds[] = {&x->rootfd, &x->maskfd, &x->etc_hostname, &x->etc_hosts, &x->etc_resolv};
    for (size_t i = 0; i < ARRAY_SIZE(fds); i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
}

int ns_child_setup(const struct ns_config *c, struct runra_err **err)
{
    struct ns_child_ctx x = {
        .c = c, .rootfd = -1, .maskfd = -1, .etc_hostname = -1, .etc_hosts = -1,
        .etc_resolv = -1};
    int r = 0;
    for (size_t i = 0; i < ARRAY_SIZE(steps) && r >= 0; i++) {
        r = steps[i].run(&x, err);
        if (r < 0 && err && *err)
            err_prefix(err, "sandbox setup, step '%s'", steps[i].name);
        else if (r < 0)
            err_sys(err, r, "sandbox setup, step '%s'", steps[i].name);
    }
    ctx_done(&x);
    return r < 0 ? r : 0;
}
