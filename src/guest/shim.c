/* Everything that runs between fork and exec. The shim holds no fd but its
 * control socket and the command's pipe ends, so closing them in init means
 * EOF for whoever waits, and it blocks every signal but SIGKILL/SIGSTOP
 * (inherited from init), so only init or a deliberate SIGKILL ends it. */
#include "shim.h"

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/macro.h"

static void send_msg(int ctl, int32_t kind, int32_t value)
{
    struct shim_msg m = {.kind = kind, .value = value};
    /* A failed send means init went away; PDEATHSIG ends us shortly. */
    while (send(ctl, &m, sizeof(m), MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Closes every fd but the ones listed: the shim must not hold the host
 * connection, the listening socket or another exec's pipes, or those would
 * never see EOF while this exec lasts. */
static void close_all_except(int *keep, size_t n)
{
    qsort(keep, n, sizeof(int), cmp_int);
    unsigned int from = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep[i] < 0)
            continue;
        if ((unsigned int)keep[i] > from)
            close_range(from, (unsigned int)keep[i] - 1, 0);
        from = (unsigned int)keep[i] + 1;
    }
    close_range(from, ~0u, 0);
}

_Noreturn static void die_exec(const char *name, int e)
{
    int code = 126;
    const char *why = strerror(e);
    if (e == ENOENT) {
        code = 127;
        if (!strchr(name, '/'))
            why = "command not found";
    }
    dprintf(STDERR_FILENO, "runra: %s: %s\n", name, why);
    _exit(code);
}

/* Runs argv[0] the way execvp does, searching the command's own PATH, but
 * finds the file with access(2) first: a failed execve costs far more than a
 * failed access, and a default PATH has four entries before /usr/bin. A file
 * without a #! line is run by /bin/sh, as execvp would. Returns with errno
 * set when nothing could be run. */
static void exec_search(char **argv, char **envp)
{
    const char *name = argv[0];
    char buf[4096];
    const char *file = name;
    if (!strchr(name, '/')) {
        const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
        for (char **e = envp; e && *e; e++)
            if (!strncmp(*e, "PATH=", 5))
                path = *e + 5;
        file = NULL;
        int first_err = ENOENT;
        for (const char *p = path;; p++) {
            const char *end = strchr(p, ':');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            /* An empty entry means the current directory. */
            int n = snprintf(buf, sizeof(buf), "%.*s%s%s", (int)len, p, len ? "/" : "", name);
            if (n > 0 && (size_t)n < sizeof(buf)) {
                if (access(buf, X_OK) == 0) {
                    struct stat st;
                    if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
                        file = buf;
                        break;
                    }
                } else if (errno == EACCES) {
                    first_err = EACCES;
                }
            }
            if (!end)
                break;
            p = end;
        }
        if (!file) {
            errno = first_err;
            return;
        }
    }
    execve(file, argv, envp);
    if (errno == ENOEXEC) {
        size_t n = 0;
        while (argv[n])
            n++;
        char **sh = calloc(n + 2, sizeof(char *));
        if (!sh)
            return;
        sh[0] = "/bin/sh";
        sh[1] = (char *)file;
        for (size_t i = 1; i <= n; i++)
            sh[i + 1] = argv[i];
        execve("/bin/sh", sh, envp);
        errno = ENOEXEC;
    }
}

/* The command: its own session, stdio on the pipes, nothing else open, a
 * clean signal state and the caller's environment. */
_Noreturn static void run_command(const struct shim_args *a)
{
    setsid();

    sigset_t none;
    sigemptyset(&none);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (a->tty >= 0) {
        /* The new session's controlling terminal, and all three of stdio:
         * job control, ^C and the window size work as on a real terminal. */
        if (ioctl(a->tty, TIOCSCTTY, 0) < 0 || dup2(a->tty, STDIN_FILENO) < 0 ||
            dup2(a->tty, STDOUT_FILENO) < 0 || dup2(a->tty, STDERR_FILENO) < 0)
            _exit(126);
    } else {
        /* Not O_CLOEXEC: if this lands on fd 0 already, dup2 keeps the flag. */
        int in = a->in >= 0 ? a->in : open("/dev/null", O_RDONLY | O_NOCTTY);
        if (in < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(a->out, STDOUT_FILENO) < 0 ||
            dup2(a->err, STDERR_FILENO) < 0)
            _exit(126);
    }
    close_range(3, ~0u, 0);

    umask(022);
    setrlimit(RLIMIT_NOFILE, &a->nofile);
    /* Groups first, the uid last: once the uid is not 0, the rest is no
     * longer ours to change. */
    const struct user_ids *u = a->ids;
    if (u && (u->uid != 0 || u->gid != 0 || u->ngroups != 1) &&
        (setgroups((size_t)u->ngroups, u->groups) < 0 || setgid(u->gid) < 0 ||
         setuid(u->uid) < 0)) {
        int e = errno;
        dprintf(STDERR_FILENO, "runra: run as %u:%u: %s\n", (unsigned)u->uid, (unsigned)u->gid,
                strerror(e));
        _exit(126);
    }
    if (chdir(a->cwd) < 0) {
        int e = errno;
        dprintf(STDERR_FILENO, "runra: cd '%s': %s\n", a->cwd, strerror(e));
        _exit(126);
    }
    environ = a->envp;
    exec_search(a->argv, a->envp);
    die_exec(a->argv[0], errno);
}

_Noreturn void shim_run(const struct shim_args *a)
{
    /* Die with init; and if init already died between fork and prctl, the
     * check below catches it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != a->init_pid)
        _exit(1);
    /* Orphans of the command come to us rather than to init, so the tree
     * stays findable for a timeout or cancel until the exec ends. */
    prctl(PR_SET_CHILD_SUBREAPER, 1);

    int keep[] = {a->ctl, a->out, a->err, a->in, a->tty};
    close_all_except(keep, ARRAY_SIZE(keep));

    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);

    pid_t pid = fork();
    if (pid == 0)
        run_command(a);
    if (pid < 0) {
        dprintf(a->tty >= 0 ? a->tty : a->err, "runra: fork: %s\n", strerror(errno));
        send_msg(a->ctl, SHIM_STATUS, W_EXITCODE(126, 0));
    } else {
        send_msg(a->ctl, SHIM_MAIN_PID, pid);
    }
    if (a->out >= 0)
        close(a->out);
    if (a->err >= 0)
        close(a->err);
    if (a->in >= 0)
        close(a->in);
    if (a->tty >= 0)
        close(a->tty);

    bool main_running = pid > 0;
    for (;;) {
        struct pollfd p[2] = {{.fd = a->ctl, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
        if (poll(p, sfd >= 0 ? 2 : 1, sfd >= 0 ? -1 : 100) < 0 && errno != EINTR)
            _exit(1);
        if (sfd >= 0 && (p[1].revents & POLLIN)) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof(si)) > 0)
                ;
        }
        /* Reap every orphan that came our way; the command's status goes
         * to init, exactly once. */
        int st;
        pid_t r;
        while ((r = waitpid(-1, &st, WNOHANG)) > 0) {
            if (r == pid && main_running) {
                main_running = false;
                send_msg(a->ctl, SHIM_STATUS, st);
            }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            struct shim_msg m;
            ssize_t n = recv(a->ctl, &m, sizeof(m), MSG_DONTWAIT);
            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
                _exit(0);
            /* Only our own unreaped child is signalled, so its pid cannot
             * have been reused. */
            if (n == (ssize_t)sizeof(m) && m.kind == SHIM_SIGNAL && main_running)
                kill(pid, m.value);
        }
    }
}
