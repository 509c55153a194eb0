/* runra-init: PID 1 inside every sandbox. It accepts the daemon's connection
 * on an inherited listening socket, (in the ns form) turns itself into the
 * sandbox, says HELLO and serves guest-protocol calls until told to stop.
 * The daemon is trusted to speak the protocol; commands it runs are not. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/ns/child.h"
#include "backend/ns/config.h"
#include "base/util.h"
#include "guest.h"
#include "loop.h"
#include "proto/msg.h"
#include "vm.h"
#include "vmm.h"

struct opts {
    bool ns;
    struct ns_config nsc; /* the ns form's configuration */
    int listen_fd;
    const char *workdir;
};

static int parse_args(int argc, char **argv, struct opts *o, struct runra_err **err)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--ns"))
            o->ns = true;
    if (o->ns) {
        int r = ns_config_from_argv(argc, argv, &o->nsc, err);
        if (r < 0)
            return r;
        /* The parsed copy is all we need: blank the host paths out of
         * /proc/1/cmdline, which the workload can read. */
        ns_config_scrub_argv(argc, argv);
        o->listen_fd = o->nsc.listen_fd;
        o->workdir = o->nsc.workdir;
    } else {
        for (int i = 1; i < argc; i++) {
            const char *a = argv[i];
            if (i + 1 >= argc)
                return err_set(err, EINVAL, "option '%s' needs a value", a);
            if (!strcmp(a, "--listen-fd")) {
                uint64_t v;
                if (parse_u64(argv[++i], &v) < 0 || v > INT32_MAX)
                    return err_set(err, EINVAL, "bad --listen-fd '%s'", argv[i]);
                o->listen_fd = (int)v;
            } else if (!strcmp(a, "--workdir")) {
                o->workdir = argv[++i];
            } else {
                return err_set(err, EINVAL, "unknown option '%s'", a);
            }
        }
    }
    if (o->listen_fd < 0)
        return err_set(err, EINVAL, "usage: runra-init --listen-fd N [--workdir DIR]");
    if (!o->workdir)
        o->workdir = "/workspace";
    if (o->workdir[0] != '/' || strlen(o->workdir) > RUNRA_PATH_MAX)
        return err_set(err, EINVAL, "workdir '%s' must be an absolute path", o->workdir);
    if (fcntl(o->listen_fd, F_SETFD, FD_CLOEXEC) < 0)
        return err_sys(err, errno, "listening fd %d", o->listen_fd);
    return 0;
}

/* Pipes created later must never land on fds 0-2, where a command's stdio
 * goes; so make sure something sits there. */
static void ensure_stdio(void)
{
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0 && errno == EBADF) {
            int n = open("/dev/null", O_RDWR);
            if (n >= 0 && n != fd)
                close(n);
        }
}

/* Waits for the first connection; -1 when a stop signal came first. */
static int accept_first(int listen_fd, int sigfd, struct runra_err **err)
{
    for (;;) {
        struct pollfd p[2] = {{.fd = listen_fd, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            return err_sys(err, errno, "poll");
        if (p[1].revents & POLLIN) {
            /* Nothing runs yet, so any signal here that is not SIGCHLD is
             * a request to stop. */
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
                if (si.ssi_signo != SIGCHLD)
                    return -ECANCELED;
        }
        if (p[0].revents & (POLLIN | POLLERR | POLLHUP)) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd >= 0)
                return fd;
            if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
                return err_sys(err, errno, "accept");
        }
    }
}

static void fail_setup(int fd, const struct runra_err *e)
{
    struct conn *c = NULL;
    if (conn_new(fd, &c) < 0)
        return;
    _cleanup_free_ char *json = NULL;
    if (msg_error_encode(e ? e->code : EIO, e && e->msg ? e->msg : "sandbox setup failed",
                         &json) >= 0)
        conn_send(c, FRAME_ERROR, 0, json, strlen(json));
    conn_flush_wait(c, 5000);
    conn_free(c);
}

/* A VM's init: boot, then serve whoever connects to the port. PID 1 of a
 * kernel must never exit, so every way out powers the VM off, which the
 * host sees as QEMU ending. */
static int vm_main(void)
{
    _cleanup_err_ struct runra_err *err = NULL;
    struct guest g = {.workdir = "/", .pid = 1, .vm_port = -1};
    getrlimit(RLIMIT_NOFILE, &g.nofile);
    int sigfd = -1, port = -1;
    if (loop_signals(&sigfd, &err) < 0 || vm_boot(&port, &err) < 0) {
        fprintf(stderr, "runra-init: %s\n", err && err->msg ? err->msg : "boot failed");
        vm_poweroff();
    }
    g.vm_port = port;
    loop_run(&g, -1, sigfd, -1);
    vm_poweroff();
}

int main(int argc, char **argv)
{
    _cleanup_err_ struct runra_err *err = NULL;
    ensure_stdio();
    umask(022);
    if (vm_is_guest(argc, argv))
        return vm_main();
    if (vmm_is_jail(argc, argv))
        return vmm_main(argc, argv);

    struct opts o = {.listen_fd = -1};
    if (parse_args(argc, argv, &o, &err) < 0) {
        fprintf(stderr, "runra-init: %s\n", err->msg ? err->msg : strerror(err->code));
        return 2;
    }

    struct guest g = {.workdir = o.workdir, .pid = getpid(), .vm_port = -1};
    /* Commands get the fd limit we were started with; runra-init itself
     * needs up to five fds per exec for RUNRA_CALLS_MAX execs. */
    getrlimit(RLIMIT_NOFILE, &g.nofile);
    struct rlimit raised = {.rlim_cur = g.nofile.rlim_max, .rlim_max = g.nofile.rlim_max};
    setrlimit(RLIMIT_NOFILE, &raised);
    /* As PID 1 orphans come to us anyway; elsewhere (tests, a VM before
     * switching) become a subreaper so they still do. */
    if (g.pid != 1)
        prctl(PR_SET_CHILD_SUBREAPER, 1);

    int sigfd = -1;
    if (loop_signals(&sigfd, &err) < 0) {
        fprintf(stderr, "runra-init: %s\n", err->msg);
        return 1;
    }
    int fd = accept_first(o.listen_fd, sigfd, &err);
    if (fd == -ECANCELED)
        return 0;
    if (fd < 0) {
        fprintf(stderr, "runra-init: %s\n", err ? err->msg : strerror(-fd));
        return 1;
    }
    if (o.ns) {
        /* The daemon waits on this connection for the outcome, so a setup
         * failure is reported there, as ERROR with id 0, before exiting. */
        if (ns_child_setup(&o.nsc, &err) < 0) {
            fail_setup(fd, err);
            return 1;
        }
    }
    /* runra-init must not pin whatever directory it started in; failing
     * is harmless since every path it uses is absolute. */
    if (chdir("/") < 0)
        errno = 0;
    int code = loop_run(&g, o.listen_fd, sigfd, fd);
    if (o.ns)
        ns_config_done(&o.nsc);
    return code;
}

#if defined(__SANITIZE_ADDRESS__)
/* Under ASan builds only: LeakSanitizer cannot stop the world from PID 1 of
 * a pid namespace (it hangs), so runra-init skips the leak check there; the
 * same code is leak-checked by the guest protocol tests, which run it as an
 * ordinary process. */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void) { return getpid() == 1; }
#endif
