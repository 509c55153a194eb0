/* The clone of runra-init (see spawn.h). The daemon is multithreaded, so the
 * child may touch nothing another thread could have held: no malloc, no
 * stdio, no stateful glibc wrapper (set*id would signal threads that do not
 * exist in the child). All it needs is prepared before the clone, and it
 * makes only raw syscalls on its own copy of memory. */
#include "backend/ns/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"

/* Where the child keeps its helper fds: above every fd number it is asked
 * to produce, so the dup3()s onto 0-2 and the targets never clobber them. */
#define HIGH_FD 64

/* What the child reports on its error pipe when it fails before exec. */
struct child_fail {
    int stage;
    int err;
};

static const char *const stage_names[] = {
    "wait for the parent", "set ids",         "reset signals",
    "set up fds",          "exec runra-init", "open the sandbox root",
    "join its cgroups",
};

struct plan {
    int sync_rd, sync_wr, fail_rd, fail_wr, devnull, exec_fd, log_fd;
    int listen_fd, listen_target, root_target;
    const int *extra_fds; /* lifted copies of the caller's extra fds */
    const int *extra_targets;
    size_t nextra;
    const int *join_fds; /* v1 "tasks" files to write "0" into */
    size_t njoin;
    const char *root_path;
    char **argv;
    char **envp;
};

/* The kernel's sigaction layout, for rt_sigaction without glibc. */
struct ksigaction {
    void *handler;
    unsigned long flags;
    void *restorer;
    uint64_t mask;
};

static _Noreturn void child_fail(const struct plan *p, int stage)
{
    struct child_fail f = {.stage = stage, .err = errno};
    syscall(SYS_write, p->fail_wr, &f, sizeof(f));
    syscall(SYS_exit_group, 127);
    __builtin_unreachable();
}

static int move_fd(int from, int to)
{
    if (from == to)
        return (int)syscall(SYS_fcntl, to, F_SETFD, 0);
    return (int)syscall(SYS_dup3, from, to, 0);
}

static _Noreturn void child_main(const struct plan *p)
{
    /* The parent's ends: holding sync_wr ourselves would hide its EOF. */
    syscall(SYS_close, p->sync_wr);
    syscall(SYS_close, p->fail_rd);
    /* Wait until the parent has written our maps (and placed us in our
     * cgroups if it had to); EOF means it gave up, and we leave without a
     * trace. */
    char b;
    long n;
    do
        n = syscall(SYS_read, p->sync_rd, &b, 1);
    while (n < 0 && errno == EINTR);
    if (n != 1)
        syscall(SYS_exit_group, 126);
    /* Into the sandbox's v1 cgroups (v2: clone3 placed us), while our
     * (host) uid is still root's; the files were opened by real root. */
    for (size_t i = 0; i < p->njoin; i++) {
        if (syscall(SYS_write, p->join_fds[i], "0", 1) != 1)
            child_fail(p, 6);
        syscall(SYS_close, p->join_fds[i]);
    }

    /* The sandbox root, opened here and not by the parent: an fd from
     * before the clone names the daemon's mount of the disk, and mounts
     * can only be made on this namespace's copy. We still hold host uid 0,
     * the owner of the daemon's 0700 dirs on the way; the sandbox's root
     * could not search them. */
    int root_fd = -1;
    if (p->root_path) {
        int low =
            (int)syscall(SYS_openat, AT_FDCWD, p->root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        /* Up among the helpers, clear of the targets the dup3s below fill. */
        if (low < 0 || (root_fd = (int)syscall(SYS_fcntl, low, F_DUPFD_CLOEXEC, HIGH_FD)) < 0)
            child_fail(p, 5);
        syscall(SYS_close, low);
    }

    /* Become root of the new user namespace (host uid_base). Until now we
     * held host uid 0, which is unmapped here; exec'ing as that would leave
     * runra-init without capabilities in its own namespace. */
    if (syscall(SYS_setresgid, 0, 0, 0) < 0 || syscall(SYS_setgroups, 0, NULL) < 0 ||
        syscall(SYS_setresuid, 0, 0, 0) < 0)
        child_fail(p, 1);

    /* The daemon blocks and ignores signals for its own reasons; ignored
     * dispositions and the mask survive exec, and PID 1 must start clean. */
    uint64_t none = 0;
    if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, sizeof(none)) < 0)
        child_fail(p, 2);
    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        struct ksigaction sa = {.handler = SIG_DFL};
        syscall(SYS_rt_sigaction, sig, &sa, NULL, sizeof(sa.mask));
    }

    int out = p->log_fd >= 0 ? p->log_fd : p->devnull;
    if (move_fd(p->devnull, 0) < 0 || move_fd(out, 1) < 0 || move_fd(out, 2) < 0 ||
        (p->listen_fd >= 0 && move_fd(p->listen_fd, p->listen_target) < 0) ||
        (root_fd >= 0 && move_fd(root_fd, p->root_target) < 0))
        child_fail(p, 3);
    if (p->listen_fd < 0)
        syscall(SYS_close, p->listen_target);
    int first = (root_fd >= 0 ? p->root_target : p->listen_target) + 1;
    for (size_t i = 0; i < p->nextra; i++) {
        if (move_fd(p->extra_fds[i], p->extra_targets[i]) < 0)
            child_fail(p, 3);
        if (p->extra_targets[i] + 1 > first)
            first = p->extra_targets[i] + 1;
    }
    /* Nothing else of the daemon's crosses into the sandbox. CLOEXEC, not
     * close: the helper fds above are needed until exec itself. */
    if (syscall(SYS_close_range, first, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        child_fail(p, 3);

    syscall(SYS_execveat, p->exec_fd, "", p->argv, p->envp, AT_EMPTY_PATH);
    child_fail(p, 4);
}

int ns_spawn_kill(int pidfd, int timeout_ms)
{
    if (pidfd < 0)
        return 0;
    syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    /* The pidfd turns readable when the process has exited; dying init
     * first reaps every process of its namespace, which can take a while. */
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    int r;
    do
        r = poll(&pfd, 1, timeout_ms);
    while (r < 0 && errno == EINTR);
    siginfo_t si;
    if (waitid(P_PIDFD, (id_t)pidfd, &si, WEXITED | WNOHANG) < 0 && errno != ECHILD)
        return -errno;
    return r == 0 ? -ETIMEDOUT : 0;
}

static int write_map(pid_t pid, const char *file, uint32_t base, struct runra_err **err)
{
    char path[64], map[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    snprintf(map, sizeof(map), "0 %u 65536\n", base);
    int r = write_file_str(path, map);
    return r < 0 ? err_sys(err, r, "write %s", path) : 0;
}

/* Reads what the child wrote on its error pipe: nothing (EOF at exec, the
 * pipe being close-on-exec) means runra-init is running. */
static int child_result(int fail_rd, struct runra_err **err)
{
    struct child_fail f;
    struct pollfd pfd = {.fd = fail_rd, .events = POLLIN};
    int r;
    do
        r = poll(&pfd, 1, 10000);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return err_set(err, ETIMEDOUT, "runra-init did not exec within 10 s");
    ssize_t n;
    do
        n = read(fail_rd, &f, sizeof(f));
    while (n < 0 && errno == EINTR);
    if (n == 0)
        return 0;
    if (n != (ssize_t)sizeof(f) || f.stage < 0 || (size_t)f.stage >= ARRAY_SIZE(stage_names))
        return err_set(err, EIO, "runra-init child failed before exec");
    return err_sys(err, f.err ? f.err : EIO, "runra-init child: %s", stage_names[f.stage]);
}

/* The daemon's side of the fds the child uses, all close-on-exec and moved
 * to HIGH_FD and up (see child_main). */
struct spawn_fds {
    int sync[2]; /* parent writes one byte: maps (and cgroups) are ready */
    int fail[2]; /* child writes a struct child_fail if it cannot exec */
    int devnull, exe, listen, log;
    struct ns_cgroup_join join; /* the cgroups the child joins by itself */
};

static void fds_close(struct spawn_fds *f)
{
    int *all[] = {&f->sync[0], &f->sync[1], &f->fail[0], &f->fail[1],
                  &f->devnull, &f->exe,     &f->listen,  &f->log};
    for (size_t i = 0; i < ARRAY_SIZE(all); i++)
        if (*all[i] >= 0) {
            close(*all[i]);
            *all[i] = -1;
        }
    ns_cgroup_join_close(&f->join);
}

/* Replaces *fd by a copy at HIGH_FD or above, so the child's dup3s onto
 * low numbers never hit it. */
static int lift(int *fd)
{
    int h = fcntl(*fd, F_DUPFD_CLOEXEC, HIGH_FD);
    if (h < 0)
        return -errno;
    close(*fd);
    *fd = h;
    return 0;
}

static int prepare_fds(const struct ns_spawn_args *a, struct spawn_fds *f, struct runra_err **err)
{
    struct stat st;
    f->exe = open(a->init_path, O_PATH | O_CLOEXEC);
    if (f->exe < 0 || fstat(f->exe, &st) < 0)
        return err_sys(err, errno, "runra-init '%s'", a->init_path);
    /* runra-init is exec'd as the sandbox's root, a host uid of its own,
     * so it must be executable by "others". */
    if (!S_ISREG(st.st_mode) || !(st.st_mode & S_IXOTH))
        return err_set(err, EACCES, "runra-init '%s' is not a regular file executable by all",
                       a->init_path);
    if (pipe2(f->sync, O_CLOEXEC) < 0 || pipe2(f->fail, O_CLOEXEC) < 0)
        return err_sys(err, errno, "pipe");
    f->devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (f->devnull < 0)
        return err_sys(err, errno, "open /dev/null");
    int *own[] = {&f->sync[0], &f->sync[1], &f->fail[0], &f->fail[1], &f->devnull, &f->exe};
    for (size_t i = 0; i < ARRAY_SIZE(own); i++) {
        int r = lift(own[i]);
        if (r < 0)
            return err_sys(err, r, "dup fd");
    }
    /* Copies: the caller keeps (and closes) its own. */
    if (a->listen_fd >= 0 && (f->listen = fcntl(a->listen_fd, F_DUPFD_CLOEXEC, HIGH_FD)) < 0)
        return err_sys(err, errno, "dup fd");
    if (a->log_fd > 0 && (f->log = fcntl(a->log_fd, F_DUPFD_CLOEXEC, HIGH_FD)) < 0)
        return err_sys(err, errno, "dup fd");
    if (a->cg) {
        int r = ns_cgroup_join_open(a->cg, &f->join, err);
        for (size_t i = 0; r >= 0 && i < f->join.nv1; i++)
            if ((r = lift(&f->join.v1[i])) < 0)
                return err_sys(err, r, "dup fd");
        if (r < 0)
            return r;
    }
    return 0;
}

/* The child, fork-like (no new stack: it runs on a copy of ours), placed
 * in the v2 cgroup as it is made where the kernel can (clone3, Linux 5.7);
 * *placed says whether it was. */
static long clone_child(long flags, int cgroup_fd, int *pidfd, bool *placed)
{
    *placed = false;
    if (cgroup_fd >= 0) {
        struct clone_args ca = {
            .flags = (uint64_t)flags | CLONE_INTO_CGROUP,
            .pidfd = (uint64_t)(uintptr_t)pidfd,
            .exit_signal = SIGCHLD,
            .cgroup = (uint64_t)cgroup_fd,
        };
        long pid = syscall(SYS_clone3, &ca, sizeof(ca));
        if (pid >= 0) {
            *placed = true;
            return pid;
        }
        /* An older kernel: without clone3, or without CLONE_INTO_CGROUP;
         * or a seccomp filter (a container's) that denies clone3: a real
         * EPERM comes back from clone as well. */
        if (errno != ENOSYS && errno != EINVAL && errno != E2BIG && errno != EPERM)
            return pid;
    }
    return syscall(SYS_clone, flags | SIGCHLD, NULL, pidfd, NULL, 0);
}

int ns_spawn(const struct ns_spawn_args *a, pid_t *ret_pid, int *ret_pidfd, struct runra_err **err)
{
    if (a->listen_target < 3 || a->listen_target >= HIGH_FD ||
        (a->root_path && (a->root_target <= a->listen_target || a->root_target >= HIGH_FD)))
        return err_set(err, EINVAL, "bad fd targets for runra-init");

    if (a->nextra > NS_SPAWN_EXTRA_MAX)
        return err_set(err, E2BIG, "too many fds for runra-init");
    for (size_t i = 0; i < a->nextra; i++)
        if (a->extra_targets[i] <= (a->root_path ? a->root_target : a->listen_target) ||
            a->extra_targets[i] >= HIGH_FD)
            return err_set(err, EINVAL, "bad fd targets for runra-init");
    struct spawn_fds f = {{-1, -1}, {-1, -1}, -1, -1, -1, -1, {.v2 = -1}};
    int extra[NS_SPAWN_EXTRA_MAX];
    size_t nextra = 0;
    int r = prepare_fds(a, &f, err);
    /* Copies above HIGH_FD, clear of every target the child fills. */
    for (; r >= 0 && nextra < a->nextra; nextra++)
        if ((extra[nextra] = fcntl(a->extra_fds[nextra], F_DUPFD_CLOEXEC, HIGH_FD)) < 0)
            r = err_sys(err, errno, "dup fd");
    if (r < 0) {
        for (size_t i = 0; i < nextra; i++)
            if (extra[i] >= 0)
                close(extra[i]);
        fds_close(&f);
        return r;
    }
    static char *envp[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                           NULL};
    struct plan plan = {
        .sync_rd = f.sync[0],
        .sync_wr = f.sync[1],
        .fail_rd = f.fail[0],
        .fail_wr = f.fail[1],
        .devnull = f.devnull,
        .exec_fd = f.exe,
        .listen_fd = f.listen,
        .log_fd = f.log,
        .listen_target = a->listen_target,
        .root_path = a->root_path,
        .root_target = a->root_target,
        .argv = a->argv,
        .envp = envp,
        .extra_fds = extra,
        .extra_targets = a->extra_targets,
        .nextra = nextra,
        .join_fds = f.join.v1,
        .njoin = f.join.nv1,
    };
    /* SIGCHLD so waitid works as for any child, CLONE_PIDFD so the child is
     * tracked without pid reuse races. No CLONE_NEWCGROUP: the child takes
     * that itself once it sits in its cgroup. */
    int pidfd = -1;
    long flags = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS |
                 CLONE_NEWIPC | CLONE_PIDFD;
    bool placed;
    long pid = clone_child(flags, f.join.v2, &pidfd, &placed);
    if (pid == 0)
        child_main(&plan);
    for (size_t i = 0; i < nextra; i++)
        close(extra[i]); /* the child has its own copies */
    if (pid < 0) {
        r = err_sys(err, errno, "clone runra-init");
        fds_close(&f);
        return r;
    }
    /* Only the child uses these; its copies stay open until its exec. */
    int *childs[] = {&f.sync[0], &f.fail[1], &f.devnull, &f.exe, &f.listen, &f.log};
    for (size_t i = 0; i < ARRAY_SIZE(childs); i++) {
        close(*childs[i]);
        *childs[i] = -1;
    }
    ns_cgroup_join_close(&f.join);

    /* uid_map and gid_map, written by real root: no "setgroups deny" is
     * needed, and the sandbox may use setgroups among its own ids. */
    r = write_map((pid_t)pid, "uid_map", a->uid_base, err);
    if (r >= 0)
        r = write_map((pid_t)pid, "gid_map", a->uid_base, err);
    if (r >= 0 && a->cg && !placed)
        r = ns_cgroup_attach_v2(a->cg, (pid_t)pid, err);
    if (r >= 0 && write(f.sync[1], "", 1) != 1)
        r = err_sys(err, errno, "release runra-init");
    if (r >= 0) {
        close(f.sync[1]);
        f.sync[1] = -1;
        r = child_result(f.fail[0], err);
    }
    fds_close(&f);
    if (r < 0) {
        /* Also covers a child still waiting: the kill ends it either way. */
        ns_spawn_kill(pidfd, 5000);
        close(pidfd);
        return r;
    }
    *ret_pid = (pid_t)pid;
    *ret_pidfd = pidfd;
    return 0;
}
