/* EXEC calls: start the shim, forward output, feed stdin, enforce the
 * deadline and send EXIT. An exec is over when its main process has exited
 * and both output pipes reached EOF; a killed exec (timeout, cancel) is over
 * once its main process is gone and what the pipes still held was read. */
#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "buf.h"
#include "guest.h"
#include "path.h"
#include "proctree.h"
#include "proto/frame.h"
#include "proto/limits.h"
#include "proto/msg.h"
#include "vm.h"
#include "shim.h"

#define OUT_CHUNK (64u << 10)           /* one STDOUT/STDERR frame at most */
#define STDIN_TOTAL_MAX (64u << 20)     /* stdin held for all execs together */
#define KILL_RETRY_MS 100               /* rescan a tree that outlived a kill */
#define DRAIN_MAX (1u << 20)            /* read from a killed exec's pipes at the end */

struct stream {
    int fd;          /* our read end; -1 after EOF */
    uint16_t type;   /* FRAME_STDOUT or FRAME_STDERR */
    uint64_t total;  /* produced */
    uint64_t kept;   /* forwarded */
};

struct exec {
    uint32_t id;
    pid_t shim;           /* our child; its pid is stable until we reap it */
    bool shim_reaped;
    int ctl;              /* control socket to the shim; -1 once it hung up */
    struct stream out, err;
    int in;               /* write end of the command's stdin; -1 when closed */
    struct buf inbuf;     /* stdin the command has not read yet */
    bool in_close;        /* an empty STDIN came: close once inbuf is written */
    uint64_t max_output;  /* per stream; 0: unlimited */
    bool have_status;
    int status;           /* the main process's wait status */
    bool killing, timed_out, truncated;
    uint64_t oom0;        /* a VM guest's OOM kill count when it started */
    int fail;             /* errno that ends the call with ERROR instead of EXIT */
    uint64_t start_ms, deadline_ms, next_kill_ms;
};

DEFINE_CLEANUP(char *, strv_free)

static const char *const base_env[] = {
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "LANG=C.UTF-8",
    "USER=root",
};

/* Sets "KEY=..." in v (holding n entries, room for one more), replacing an
 * entry with the same key. Takes ownership of kv. */
static void env_put(char **v, size_t *n, char *kv)
{
    size_t klen = strcspn(kv, "=");
    for (size_t i = 0; i < *n; i++)
        if (!strncmp(v[i], kv, klen) && v[i][klen] == '=') {
            free(v[i]);
            v[i] = kv;
            return;
        }
    v[(*n)++] = kv;
}

/* The command's environment: the base, then the caller's entries over it. */
int exec_build_env(char *const *req, const char *cwd, const struct user_ids *ids, char ***ret)
{
    char host[HOST_NAME_MAX + 1] = "localhost";
    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "localhost");
    host[HOST_NAME_MAX] = 0;
    size_t cap = ARRAY_SIZE(base_env) + 2 + strv_len(req);
    char **v = calloc(cap + 1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(base_env); i++)
        if (!(v[n++] = strdup(base_env[i])))
            goto oom;
    if (asprintf(&v[n], "HOSTNAME=%s", host) < 0 || !v[n++])
        goto oom;
    if (asprintf(&v[n], "PWD=%s", cwd) < 0 || !v[n++])
        goto oom;
    /* Another user's HOME and USER, from passwd, as a login would set. */
    if (ids && ids->uid != 0) {
        char *kv = NULL;
        if (asprintf(&kv, "HOME=%s", ids->home) < 0)
            goto oom;
        env_put(v, &n, kv);
        if (asprintf(&kv, "USER=%s", ids->name) < 0)
            goto oom;
        env_put(v, &n, kv);
    }
    for (size_t i = 0; req && req[i]; i++) {
        char *kv = strdup(req[i]);
        if (!kv)
            goto oom;
        env_put(v, &n, kv);
    }
    *ret = v;
    return 0;
oom:
    /* asprintf leaves its pointer undefined on failure. */
    v[n] = NULL;
    strv_free(v);
    return -ENOMEM;
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static void close_stdin(struct guest *g, struct exec *x)
{
    closep(&x->in);
    x->in = -1;
    g->stdin_buffered -= buf_len(&x->inbuf);
    buf_done(&x->inbuf);
}

static void exec_free(struct guest *g, struct exec *x)
{
    close_stdin(g, x);
    closep(&x->out.fd);
    closep(&x->err.fd);
    /* Closing the control socket tells the shim to exit; SIGKILL makes sure
     * it does not outlive the exec. Its remaining descendants (detached
     * daemons that closed the pipes) are reparented to init and reaped. */
    closep(&x->ctl);
    if (!x->shim_reaped)
        kill(x->shim, SIGKILL);
    free(x);
}

int exec_start(struct guest *g, uint32_t id, const void *payload, size_t len, struct exec **ret,
               struct runra_err **err)
{
    _cleanup_(msg_exec_req_freep) struct exec_req *q = NULL;
    int r = msg_exec_req_decode(payload, len, &q, err);
    if (r < 0)
        return r;

    /* A missing cwd is the caller's error, answered as such, not an exit
     * status that looks like the command failed. */
    _cleanup_free_ char *cwd = NULL;
    r = path_resolve(g->workdir, q->cwd ? q->cwd : g->workdir, &cwd, err);
    if (r < 0)
        return r;
    struct stat st;
    if (stat(cwd, &st) < 0)
        return err_sys(err, errno, "cwd '%s'", cwd);
    if (!S_ISDIR(st.st_mode))
        return err_sys(err, ENOTDIR, "cwd '%s'", cwd);

    struct user_ids ids;
    if ((r = user_resolve(q->user, &ids, err)) < 0)
        return r;
    _cleanup_(strv_freep) char **envp = NULL;
    if (exec_build_env(q->env, cwd, &ids, &envp) < 0)
        return -ENOMEM;

    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1}, ctl[2] = {-1, -1};
    _cleanup_close_ int out_r = -1, out_w = -1, err_r = -1, err_w = -1;
    _cleanup_close_ int in_r = -1, in_w = -1, ctl_i = -1, ctl_s = -1;
    if (pipe2(outp, O_CLOEXEC) < 0)
        return err_sys(err, errno, "exec: pipe");
    out_r = outp[0], out_w = outp[1];
    if (pipe2(errp, O_CLOEXEC) < 0)
        return err_sys(err, errno, "exec: pipe");
    err_r = errp[0], err_w = errp[1];
    if (q->stdin_pipe) {
        if (pipe2(inp, O_CLOEXEC) < 0)
            return err_sys(err, errno, "exec: pipe");
        in_r = inp[0], in_w = inp[1];
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0)
        return err_sys(err, errno, "exec: socketpair");
    ctl_i = ctl[0], ctl_s = ctl[1];
    /* Only our ends are non-blocking; the command gets ordinary pipes. */
    if (set_nonblock(out_r) < 0 || set_nonblock(err_r) < 0 ||
        (in_w >= 0 && set_nonblock(in_w) < 0) || set_nonblock(ctl_i) < 0)
        return err_sys(err, errno, "exec: fcntl");

    struct exec *x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;

    struct shim_args a = {
        .argv = q->argv,
        .envp = envp,
        .cwd = cwd,
        .ctl = ctl_s,
        .out = out_w,
        .err = err_w,
        .in = in_r,
        .tty = -1,
        .nofile = g->nofile,
        .ids = &ids,
        .init_pid = g->pid,
    };
    pid_t pid = fork();
    if (pid < 0) {
        free(x);
        return err_sys(err, errno, "exec: fork");
    }
    if (pid == 0)
        shim_run(&a);

    uint64_t now = now_ms();
    *x = (struct exec){
        .id = id,
        .shim = pid,
        .ctl = TAKE_FD(ctl_i),
        .out = {.fd = TAKE_FD(out_r), .type = FRAME_STDOUT},
        .err = {.fd = TAKE_FD(err_r), .type = FRAME_STDERR},
        .in = TAKE_FD(in_w),
        .max_output = q->max_output,
        .start_ms = now,
        .oom0 = vm_oom_kills(),
        .deadline_ms = q->timeout_ms ? now + q->timeout_ms : 0,
    };
    *ret = x;
    return 0;
}

static void start_kill(struct guest *g, struct exec *x)
{
    if (x->killing)
        return;
    x->killing = true;
    close_stdin(g, x);
    if (!x->shim_reaped)
        proctree_kill(x->shim);
    x->next_kill_ms = now_ms() + KILL_RETRY_MS;
}

/* Writes what stdin the pipe takes now. The command closing its stdin is
 * not an error: the rest is dropped, as a shell pipeline would. */
static void flush_stdin(struct guest *g, struct exec *x)
{
    while (x->in >= 0 && buf_len(&x->inbuf) > 0) {
        ssize_t n = write(x->in, buf_head(&x->inbuf), buf_len(&x->inbuf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                close_stdin(g, x);
            return;
        }
        buf_consume(&x->inbuf, (size_t)n);
        g->stdin_buffered -= (uint64_t)n;
    }
    if (x->in >= 0 && x->in_close)
        close_stdin(g, x);
}

static void on_stdin(struct guest *g, struct exec *x, const uint8_t *p, size_t len)
{
    if (x->in < 0 || x->in_close)
        return;
    if (len == 0) {
        x->in_close = true;
        flush_stdin(g, x);
        return;
    }
    /* Write straight through when nothing is queued, to skip a copy. */
    if (buf_len(&x->inbuf) == 0) {
        ssize_t n;
        do
            n = write(x->in, p, len);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN) {
            close_stdin(g, x);
            return;
        }
        if (n > 0) {
            p += n;
            len -= (size_t)n;
        }
    }
    if (len == 0)
        return;
    /* The host may send stdin faster than the command reads it; past the
     * bound the call fails rather than runra-init growing without limit. */
    if (buf_len(&x->inbuf) + len > RUNRA_STDIN_MAX || g->stdin_buffered + len > STDIN_TOTAL_MAX ||
        buf_append(&x->inbuf, p, len) < 0) {
        x->fail = ENOBUFS;
        start_kill(g, x);
        return;
    }
    g->stdin_buffered += len;
}

void exec_frame(struct guest *g, struct exec *x, uint16_t type, const void *payload, size_t len)
{
    switch (type) {
    case FRAME_STDIN:
        on_stdin(g, x, payload, len);
        break;
    case FRAME_SIGNAL: {
        int sig = 0;
        /* A malformed SIGNAL has nowhere to be answered without ending the
         * call, so it is dropped. The shim signals the command only while it
         * is its unreaped child, which rules out hitting a reused pid. */
        if (msg_signal_decode(payload, len, &sig, NULL) < 0 || x->ctl < 0 || x->have_status)
            break;
        struct shim_msg m = {.kind = SHIM_SIGNAL, .value = sig};
        send(x->ctl, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL);
        break;
    }
    case FRAME_CANCEL:
        start_kill(g, x);
        break;
    default:
        break;
    }
}

static bool discarding(const struct exec *x, const struct stream *s)
{
    return x->max_output && s->kept >= x->max_output;
}

size_t exec_pollfds(struct guest *g, struct exec *x, struct pollfd *pfd, enum exec_fd *what)
{
    size_t n = 0;
    bool busy = guest_busy(g);
    /* Output that would be forwarded waits while the host is behind; output
     * past max_output is read and dropped regardless, so a chatty command
     * never blocks on a full pipe. */
    if (x->out.fd >= 0 && (!busy || discarding(x, &x->out))) {
        pfd[n] = (struct pollfd){.fd = x->out.fd, .events = POLLIN};
        what[n++] = EXEC_FD_OUT;
    }
    if (x->err.fd >= 0 && (!busy || discarding(x, &x->err))) {
        pfd[n] = (struct pollfd){.fd = x->err.fd, .events = POLLIN};
        what[n++] = EXEC_FD_ERR;
    }
    if (x->in >= 0 && buf_len(&x->inbuf) > 0) {
        pfd[n] = (struct pollfd){.fd = x->in, .events = POLLOUT};
        what[n++] = EXEC_FD_IN;
    }
    if (x->ctl >= 0) {
        pfd[n] = (struct pollfd){.fd = x->ctl, .events = POLLIN};
        what[n++] = EXEC_FD_CTL;
    }
    return n;
}

/* Reads one chunk from a pipe into the output queue, forwarding what fits
 * under max_output. Returns false on EOF (or when nothing can be read now). */
static bool read_stream(struct guest *g, struct exec *x, struct stream *s)
{
    if (s->fd < 0 || !g->conn)
        return false;
    uint8_t *p = conn_reserve(g->conn, OUT_CHUNK);
    if (!p)
        return false;
    ssize_t n;
    do
        n = read(s->fd, p, OUT_CHUNK);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return false;
    if (n <= 0) {
        closep(&s->fd);
        s->fd = -1;
        return false;
    }
    uint64_t keep = (uint64_t)n;
    if (x->max_output) {
        uint64_t room = x->max_output > s->kept ? x->max_output - s->kept : 0;
        if (keep > room) {
            keep = room;
            x->truncated = true;
        }
    }
    s->total += (uint64_t)n;
    s->kept += keep;
    conn_commit(g->conn, s->type, x->id, (size_t)keep);
    return true;
}

static void read_ctl(struct exec *x)
{
    for (;;) {
        struct shim_msg m;
        ssize_t n = recv(x->ctl, &m, sizeof(m), MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR))
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            closep(&x->ctl);
            x->ctl = -1;
            if (!x->have_status) {
                /* The shim died before the command did: only SIGKILL can do
                 * that. Report the command as killed and stop waiting for
                 * pipes that a now unsupervised tree may hold forever. */
                x->have_status = true;
                x->status = SIGKILL;
                x->killing = true;
            }
            return;
        }
        if (n == (ssize_t)sizeof(m) && m.kind == SHIM_STATUS && !x->have_status) {
            x->have_status = true;
            x->status = m.value;
        }
    }
}

void exec_event(struct guest *g, struct exec *x, enum exec_fd what, short revents)
{
    switch (what) {
    case EXEC_FD_OUT:
        read_stream(g, x, &x->out);
        break;
    case EXEC_FD_ERR:
        read_stream(g, x, &x->err);
        break;
    case EXEC_FD_IN:
        flush_stdin(g, x);
        break;
    case EXEC_FD_CTL:
        read_ctl(x);
        break;
    case EXEC_FD_COUNT:
        break;
    }
}

static void finish(struct guest *g, struct exec *x, uint64_t now)
{
    /* A last sweep: a tree that was being killed must not outlive its shim,
     * or the survivors would be reparented out of reach. */
    if (x->killing && !x->shim_reaped)
        proctree_kill(x->shim);
    if (x->fail) {
        char msg[128];
        snprintf(msg, sizeof(msg), "stdin: more than %u bytes waiting for the command to read",
                 RUNRA_STDIN_MAX);
        guest_send_error(g, x->id, x->fail, msg);
    } else {
        struct exec_exit e = {
            .timed_out = x->timed_out,
            .truncated = x->truncated,
            .duration_ms = now - x->start_ms,
            .stdout_bytes = x->out.total,
            .stderr_bytes = x->err.total,
            .oom_killed = !x->timed_out && vm_oom_kills() > x->oom0,
        };
        if (WIFSIGNALED(x->status)) {
            e.signal = WTERMSIG(x->status);
            e.exit_code = 128 + e.signal;
        } else {
            e.exit_code = WEXITSTATUS(x->status);
        }
        char *json = NULL;
        msg_exec_exit_encode(&e, &json);
        guest_send_json(g, FRAME_EXIT, x->id, json);
    }
    exec_free(g, x);
}

bool exec_step(struct guest *g, struct exec *x, uint64_t now)
{
    bool done = x->have_status && x->out.fd < 0 && x->err.fd < 0;
    if (!done && !x->killing && x->deadline_ms && now >= x->deadline_ms) {
        x->timed_out = true;
        start_kill(g, x);
    }
    if (x->killing && !x->have_status && !x->shim_reaped && now >= x->next_kill_ms) {
        proctree_kill(x->shim);
        x->next_kill_ms = now + KILL_RETRY_MS;
    }
    if (!x->have_status)
        return false;
    if (x->out.fd >= 0 || x->err.fd >= 0) {
        if (!x->killing || guest_busy(g))
            return false;
        /* Every writer in the tree is dead, so what the pipes hold is all
         * there will be, unless a process outside the tree holds a copy:
         * read a bounded amount and stop. */
        for (size_t got = 0; got < DRAIN_MAX && read_stream(g, x, &x->out);)
            got += OUT_CHUNK;
        for (size_t got = 0; got < DRAIN_MAX && read_stream(g, x, &x->err);)
            got += OUT_CHUNK;
    }
    finish(g, x, now);
    return true;
}

uint64_t exec_wake(const struct exec *x)
{
    if (x->killing)
        return x->have_status ? EXEC_WAKE_ROOM : x->next_kill_ms;
    return x->deadline_ms ? x->deadline_ms : UINT64_MAX;
}

void exec_reaped(struct exec *x, pid_t pid)
{
    if (pid == x->shim)
        x->shim_reaped = true;
}

void exec_abort(struct guest *g, struct exec *x)
{
    if (!x->shim_reaped)
        proctree_kill(x->shim);
    exec_free(g, x);
}
