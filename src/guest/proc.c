/* Background processes (see proc.h). What runra-init trusts: nothing from the
 * host beyond the decoded request; the ring, the stdin buffer, the table and
 * the follower lists are bounded, so a chatty process or a host that sends
 * more than a process reads costs a fixed amount of memory. */
#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "buf.h"
#include "exec.h"
#include "path.h"
#include "proto/frame.h"
#include "proto/limits.h"
#include "shim.h"

#define OUT_CHUNK (64u << 10)          /* read from a pipe at once */
#define DRAIN_MS 500                   /* output still read after the main process exited */
#define START_WAIT_MS 5000             /* for the shim to report the command's pid */
#define STDIN_BUF_MAX (1u << 20)       /* stdin held for one process it has not read yet */

struct chunk {
    struct chunk *next;
    uint16_t type; /* FRAME_STDOUT or FRAME_STDERR */
    uint32_t off, len;
    uint8_t data[];
};

struct proc {
    bool used;
    uint64_t seq;          /* start order, for listing and eviction */
    pid_t pid;             /* the command, as the sandbox's own ps shows it */
    pid_t shim;
    bool shim_reaped;
    int ctl, out, err, in; /* -1 once closed; with a pty, out and in are its master */
    int ptm;               /* with a pty: the master, kept for resizing; else -1 */
    bool pty;
    struct buf inbuf;
    bool in_close;
    char *tag;
    char **argv;
    int64_t started_ms, exited_ms; /* wall clock */
    uint64_t start_mono, status_mono;
    bool have_status, exited;
    int status;
    struct chunk *head, *tail;
    size_t ring;           /* bytes held in the chunks */
    size_t mem;            /* the same plus the chunks' headers: many tiny writes cost more */
    uint64_t out_total, err_total;
    uint32_t follow[RUNRA_PROC_FOLLOWERS_MAX];
    size_t nfollow;
    uint32_t wait[RUNRA_PROC_FOLLOWERS_MAX];
    size_t nwait;
};

enum pwhat { W_OUT, W_ERR, W_IN, W_CTL };

static struct proc procs[RUNRA_PROCS_KEPT];
static uint64_t next_seq = 1;
static struct {
    struct proc *p;
    enum pwhat what;
} watch[PROC_POLL_MAX];

DEFINE_CLEANUP(char *, strv_free)

static void closefd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static int nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    return 0;
}

static void ring_clear(struct proc *p)
{
    while (p->head) {
        struct chunk *c = p->head;
        p->head = c->next;
        free(c);
    }
    p->tail = NULL;
    p->ring = 0;
    p->mem = 0;
}

static void proc_free(struct proc *p)
{
    closefd(&p->ctl);
    closefd(&p->out);
    closefd(&p->err);
    closefd(&p->in);
    closefd(&p->ptm);
    buf_done(&p->inbuf);
    ring_clear(p);
    free(p->tag);
    strv_free(p->argv);
    *p = (struct proc){.ctl = -1, .out = -1, .err = -1, .in = -1, .ptm = -1};
}

/* Keeps the newest RUNRA_PROC_LOG_MAX bytes: the oldest chunk is trimmed
 * from its front, so the ring never holds more than the bound. */
static void ring_add(struct proc *p, uint16_t type, const uint8_t *d, size_t n)
{
    struct chunk *c = malloc(sizeof(*c) + n);
    if (!c)
        return; /* dropped from the log, still forwarded to followers */
    *c = (struct chunk){.type = type, .len = (uint32_t)n};
    memcpy(c->data, d, n);
    if (p->tail)
        p->tail->next = c;
    else
        p->head = c;
    p->tail = c;
    p->ring += n;
    p->mem += sizeof(*c) + n;
    /* The data is bounded, and so is the memory that holds it: a process
     * writing one byte per write() makes a chunk per byte, so past twice
     * the bound whole old chunks go, headers included. */
    while (p->ring > RUNRA_PROC_LOG_MAX || p->mem > 2 * (size_t)RUNRA_PROC_LOG_MAX) {
        struct chunk *h = p->head;
        size_t drop = p->ring > RUNRA_PROC_LOG_MAX ? p->ring - RUNRA_PROC_LOG_MAX : h->len;
        if (drop > h->len)
            drop = h->len;
        h->off += (uint32_t)drop;
        h->len -= (uint32_t)drop;
        p->ring -= drop;
        p->mem -= drop;
        if (h->len == 0) {
            p->head = h->next;
            if (!p->head)
                p->tail = NULL;
            p->mem -= sizeof(*h);
            free(h);
        }
    }
}

static size_t live_count(void)
{
    size_t n = 0;
    for (size_t i = 0; i < RUNRA_PROCS_KEPT; i++)
        n += procs[i].used && !procs[i].exited;
    return n;
}

/* A free slot, else the oldest exited record's, which is let go. */
static struct proc *slot_alloc(void)
{
    struct proc *old = NULL;
    for (size_t i = 0; i < RUNRA_PROCS_KEPT; i++) {
        if (!procs[i].used)
            return &procs[i];
        if (procs[i].exited && (!old || procs[i].seq < old->seq))
            old = &procs[i];
    }
    if (old)
        proc_free(old);
    return old;
}

/* A pid names the running process with it, else the latest that had it; a
 * tag likewise. */
static struct proc *find(const char *ref)
{
    bool is_pid = ref[0] >= '0' && ref[0] <= '9';
    uint64_t pid = 0;
    if (is_pid && parse_u64(ref, &pid) < 0)
        return NULL;
    struct proc *best = NULL;
    for (size_t i = 0; i < RUNRA_PROCS_KEPT; i++) {
        struct proc *p = &procs[i];
        if (!p->used)
            continue;
        bool match = is_pid ? (uint64_t)p->pid == pid : (p->tag && !strcmp(p->tag, ref));
        if (!match)
            continue;
        if (!best || (!p->exited && best->exited) ||
            (p->exited == best->exited && p->seq > best->seq))
            best = p;
    }
    return best;
}

static void info_of(const struct proc *p, struct proc_info *ret)
{
    *ret = (struct proc_info){.pid = p->pid,
                              .tag = p->tag,
                              .argv = p->argv,
                              .pty = p->pty,
                              .running = !p->exited,
                              .started_ms = p->started_ms,
                              .exited_ms = p->exited_ms};
    if (p->exited) {
        if (WIFSIGNALED(p->status)) {
            ret->signal = WTERMSIG(p->status);
            ret->exit_code = 128 + ret->signal;
        } else {
            ret->exit_code = WEXITSTATUS(p->status);
        }
    }
}

static void send_exit(struct guest *g, const struct proc *p, uint32_t id)
{
    struct proc_info pi;
    info_of(p, &pi);
    struct exec_exit e = {.exit_code = pi.exit_code,
                          .signal = pi.signal,
                          .duration_ms = (uint64_t)(p->exited_ms - p->started_ms),
                          .stdout_bytes = p->out_total,
                          .stderr_bytes = p->err_total};
    char *json = NULL;
    msg_exec_exit_encode(&e, &json);
    guest_send_json(g, FRAME_EXIT, id, json);
}

/* Waits (bounded) for the shim's first word: the command's pid, or the
 * status of a command that could not even be forked. */
static int await_pid(struct proc *p, struct runra_err **err)
{
    uint64_t end = now_ms() + START_WAIT_MS;
    for (;;) {
        uint64_t now = now_ms();
        if (now >= end)
            return err_set(err, ETIMEDOUT, "the process did not start in time");
        struct pollfd pf = {.fd = p->ctl, .events = POLLIN};
        if (poll(&pf, 1, (int)(end - now)) < 0 && errno != EINTR)
            return err_sys(err, errno, "poll");
        struct shim_msg m;
        ssize_t n = recv(p->ctl, &m, sizeof(m), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n != (ssize_t)sizeof(m))
            return err_set(err, ECHILD, "the process's supervisor died while starting");
        if (m.kind == SHIM_MAIN_PID) {
            p->pid = m.value;
            return 0;
        }
        if (m.kind == SHIM_STATUS) {
            p->pid = p->shim;
            p->have_status = true;
            p->status = m.value;
            p->status_mono = now_ms();
            return 0;
        }
    }
}

/* A new pseudo-terminal from the sandbox's own devpts: the master
 * (non-blocking, for runra-init) and the terminal end (for the command). */
static int pty_open(uint16_t cols, uint16_t rows, int *ret_master, int *ret_tty,
                    struct runra_err **err)
{
    _cleanup_close_ int m = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK);
    if (m < 0)
        return err_sys(err, errno, "open /dev/ptmx");
    int unlock = 0;
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    if (ioctl(m, TIOCSPTLCK, &unlock) < 0 || ioctl(m, TIOCSWINSZ, &ws) < 0)
        return err_sys(err, errno, "set up pty");
    int t = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (t < 0)
        return err_sys(err, errno, "open the pty's terminal");
    *ret_master = TAKE_FD(m);
    *ret_tty = t;
    return 0;
}

static int start(struct guest *g, const void *payload, size_t len, struct proc **ret,
                 struct runra_err **err)
{
    struct proc_start_req q = {0};
    int r = msg_proc_start_decode(payload, len, &q, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *cwd = NULL;
    _cleanup_(strv_freep) char **envp = NULL;
    int outp[2] = {-1, -1}, errp[2] = {-1, -1}, inp[2] = {-1, -1}, ctl[2] = {-1, -1};
    int ptm = -1, tty = -1;
    struct proc *p = NULL;
    if (live_count() >= RUNRA_PROCS_MAX) {
        r = err_set(err, EBUSY, "too many running processes in this sandbox (max %d)",
                    RUNRA_PROCS_MAX);
        goto out;
    }
    if (q.tag) {
        struct proc *o = find(q.tag);
        if (o && !o->exited) {
            r = err_set(err, EEXIST, "a running process already has tag '%s'", q.tag);
            goto out;
        }
    }
    r = path_resolve(g->workdir, q.exec->cwd ? q.exec->cwd : g->workdir, &cwd, err);
    if (r < 0)
        goto out;
    struct stat st;
    if (stat(cwd, &st) < 0) {
        r = err_sys(err, errno, "cwd '%s'", cwd);
        goto out;
    }
    if (!S_ISDIR(st.st_mode)) {
        r = err_sys(err, ENOTDIR, "cwd '%s'", cwd);
        goto out;
    }
    struct user_ids ids;
    if ((r = user_resolve(q.exec->user, &ids, err)) < 0)
        goto out;
    if ((r = exec_build_env(q.exec->env, cwd, &ids, &envp)) < 0)
        goto out;
    if (q.pty) {
        /* Output and input both go through the master: one fd for each
         * direction so closing "stdin" does not end the output. */
        if ((r = pty_open(q.cols, q.rows, &ptm, &tty, err)) < 0)
            goto out;
        outp[0] = fcntl(ptm, F_DUPFD_CLOEXEC, 3);
        inp[1] = fcntl(ptm, F_DUPFD_CLOEXEC, 3);
        if (outp[0] < 0 || inp[1] < 0) {
            r = err_sys(err, errno, "process: dup");
            goto out;
        }
    } else if (pipe2(outp, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0 ||
               pipe2(inp, O_CLOEXEC) < 0) {
        r = err_sys(err, errno, "process: pipe");
        goto out;
    }
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctl) < 0) {
        r = err_sys(err, errno, "process: socketpair");
        goto out;
    }
    if (nonblock(outp[0]) < 0 || (errp[0] >= 0 && nonblock(errp[0]) < 0) ||
        nonblock(inp[1]) < 0 || nonblock(ctl[0]) < 0) {
        r = err_sys(err, errno, "process: fcntl");
        goto out;
    }
    p = slot_alloc();
    if (!p) {
        r = err_set(err, EBUSY, "the process table is full");
        goto out;
    }
    struct shim_args a = {.argv = q.exec->argv,
                          .envp = envp,
                          .cwd = cwd,
                          .ctl = ctl[1],
                          .out = outp[1],
                          .err = errp[1],
                          .in = inp[0],
                          .tty = tty,
                          .nofile = g->nofile,
                          .ids = &ids,
                          .init_pid = g->pid};
    pid_t pid = fork();
    if (pid < 0) {
        r = err_sys(err, errno, "process: fork");
        p = NULL;
        goto out;
    }
    if (pid == 0)
        shim_run(&a);
    *p = (struct proc){.used = true,
                       .seq = next_seq++,
                       .shim = pid,
                       .ctl = ctl[0],
                       .out = outp[0],
                       .err = errp[0],
                       .in = inp[1],
                       .ptm = ptm,
                       .pty = q.pty,
                       .tag = TAKE_PTR(q.tag),
                       .argv = TAKE_PTR(q.exec->argv),
                       .started_ms = (int64_t)wall_ms(),
                       .start_mono = now_ms()};
    ctl[0] = outp[0] = errp[0] = inp[1] = ptm = -1;
    r = await_pid(p, err);
    if (r < 0) {
        kill(p->shim, SIGKILL);
        proc_free(p);
        p = NULL;
        goto out;
    }
    *ret = p;
out:
    for (int i = 0; i < 2; i++) {
        closefd(&outp[i]);
        closefd(&errp[i]);
        closefd(&inp[i]);
        closefd(&ctl[i]);
    }
    closefd(&ptm);
    closefd(&tty);
    msg_proc_start_done(&q);
    return r;
}

static int cmp_seq(const void *a, const void *b)
{
    const struct proc *x = *(struct proc *const *)a, *y = *(struct proc *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void list(struct guest *g, uint32_t id)
{
    struct proc *v[RUNRA_PROCS_KEPT];
    struct proc_info info[RUNRA_PROCS_KEPT];
    size_t n = 0;
    for (size_t i = 0; i < RUNRA_PROCS_KEPT; i++)
        if (procs[i].used)
            v[n++] = &procs[i];
    qsort(v, n, sizeof(v[0]), cmp_seq);
    for (size_t i = 0; i < n; i++)
        info_of(v[i], &info[i]);
    struct proc_list l = {.v = info, .n = n};
    char *json = NULL;
    msg_proc_list_encode(&l, &json);
    guest_send_json(g, FRAME_RESULT, id, json);
}

/* The ring's last tail bytes (all when tail is 0) as STDOUT/STDERR frames. */
static void dump(struct guest *g, const struct proc *p, uint32_t id, uint64_t tail)
{
    size_t skip = tail && p->ring > tail ? p->ring - (size_t)tail : 0;
    for (const struct chunk *c = p->head; c; c = c->next) {
        if (skip >= c->len) {
            skip -= c->len;
            continue;
        }
        guest_send(g, c->type, id, c->data + c->off + skip, c->len - skip);
        skip = 0;
    }
}

static bool add_id(uint32_t *v, size_t *n, uint32_t id)
{
    if (*n >= RUNRA_PROC_FOLLOWERS_MAX)
        return false;
    v[(*n)++] = id;
    return true;
}

static bool drop_id(uint32_t *v, size_t *n, uint32_t id)
{
    for (size_t i = 0; i < *n; i++)
        if (v[i] == id) {
            v[i] = v[--*n];
            return true;
        }
    return false;
}

static void flush_stdin(struct proc *p)
{
    while (p->in >= 0 && buf_len(&p->inbuf) > 0) {
        ssize_t n = write(p->in, buf_head(&p->inbuf), buf_len(&p->inbuf));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN) {
                closefd(&p->in);
                buf_done(&p->inbuf);
            }
            return;
        }
        buf_consume(&p->inbuf, (size_t)n);
    }
    if (p->in >= 0 && p->in_close && buf_len(&p->inbuf) == 0) {
        closefd(&p->in);
        buf_done(&p->inbuf);
    }
}

static int on_ref(struct guest *g, uint16_t type, uint32_t id, const struct proc_ref_req *q,
                  struct runra_err **err)
{
    struct proc *p = find(q->ref);
    if (!p)
        return err_set(err, ENOENT, "no process '%s'", q->ref);
    switch (type) {
    case FRAME_PROC_LOGS:
        /* An empty DATA first tells the host the process exists, so a
         * follow of a quiet process is not mistaken for a hang. */
        conn_send_empty(g->conn, FRAME_DATA, id);
        dump(g, p, id, q->tail);
        if (!q->follow) {
            guest_send(g, FRAME_RESULT, id, "{}", 2);
        } else if (p->exited) {
            send_exit(g, p, id);
        } else if (!add_id(p->follow, &p->nfollow, id)) {
            return err_set(err, EAGAIN, "too many followers of process '%s' (max %d)", q->ref,
                           RUNRA_PROC_FOLLOWERS_MAX);
        }
        return 0;
    case FRAME_PROC_WAIT:
        if (p->exited)
            send_exit(g, p, id);
        else if (!add_id(p->wait, &p->nwait, id))
            return err_set(err, EAGAIN, "too many waiters on process '%s' (max %d)", q->ref,
                           RUNRA_PROC_FOLLOWERS_MAX);
        return 0;
    case FRAME_PROC_SIGNAL: {
        if (p->have_status || p->ctl < 0)
            return err_set(err, EBUSY, "process '%s' has exited", q->ref);
        if (q->signal <= 0)
            return err_set(err, EINVAL, "no signal given");
        /* The shim signals the command only while it is its unreaped child,
         * so a reused pid is never hit. */
        struct shim_msg m = {.kind = SHIM_SIGNAL, .value = q->signal};
        if (send(p->ctl, &m, sizeof(m), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
            return err_sys(err, errno, "signal process '%s'", q->ref);
        guest_send(g, FRAME_RESULT, id, "{}", 2);
        return 0;
    }
    case FRAME_PROC_STDIN:
        if (p->in < 0 || p->in_close)
            return err_set(err, EBUSY, "the stdin of process '%s' is closed", q->ref);
        if (buf_len(&p->inbuf) + q->data_len > STDIN_BUF_MAX)
            return err_set(err, EAGAIN, "process '%s' is not reading its stdin (%u bytes wait)",
                           q->ref, STDIN_BUF_MAX);
        if (q->data_len && buf_append(&p->inbuf, q->data, q->data_len) < 0)
            return -ENOMEM;
        /* A terminal has no end of input to close: what a user types for
         * it is the EOF character, which the line discipline turns into
         * end-of-file for a reader in canonical mode. */
        if (q->close && p->pty && buf_append(&p->inbuf, "\x04", 1) < 0)
            return -ENOMEM;
        p->in_close = q->close;
        flush_stdin(p);
        guest_send(g, FRAME_RESULT, id, "{}", 2);
        return 0;
    case FRAME_PROC_RESIZE: {
        if (!p->pty)
            return err_set(err, ENOTTY, "process '%s' has no terminal", q->ref);
        if (p->exited || p->ptm < 0)
            return err_set(err, EBUSY, "process '%s' has exited", q->ref);
        if (!q->cols || !q->rows)
            return err_set(err, EINVAL, "no size given");
        /* The kernel sends SIGWINCH to the terminal's foreground group. */
        struct winsize ws = {.ws_row = q->rows, .ws_col = q->cols};
        if (ioctl(p->ptm, TIOCSWINSZ, &ws) < 0)
            return err_sys(err, errno, "resize the terminal of '%s'", q->ref);
        guest_send(g, FRAME_RESULT, id, "{}", 2);
        return 0;
    }
    default:
        return err_set(err, EINVAL, "not a process request");
    }
}

void proc_open(struct guest *g, uint16_t type, uint32_t id, const void *payload, size_t len)
{
    _cleanup_err_ struct runra_err *err = NULL;
    int r;
    if (type == FRAME_PROC_START) {
        struct proc *p = NULL;
        r = start(g, payload, len, &p, &err);
        if (r >= 0) {
            struct proc_info pi;
            info_of(p, &pi);
            char *json = NULL;
            msg_proc_info_encode(&pi, &json);
            guest_send_json(g, FRAME_RESULT, id, json);
            return;
        }
    } else if (type == FRAME_PROC_LIST) {
        list(g, id);
        return;
    } else {
        struct proc_ref_req q = {0};
        r = msg_proc_ref_decode(payload, len, &q, &err);
        if (r >= 0)
            r = on_ref(g, type, id, &q, &err);
        msg_proc_ref_done(&q);
        if (r >= 0)
            return;
    }
    guest_send_err(g, id, r, err);
}

bool proc_continue(struct guest *g, uint16_t type, uint32_t id)
{
    if (type != FRAME_CANCEL)
        return false;
    for (size_t i = 0; i < RUNRA_PROCS_KEPT; i++) {
        struct proc *p = &procs[i];
        if (p->used && (drop_id(p->follow, &p->nfollow, id) || drop_id(p->wait, &p->nwait, id))) {
            guest_send_error(g, id, ECANCELED, "cancelled");
            return true;
        }
    }
    return false;
}

void proc_detach(struct guest *g)
{
    for (size_t i = 0; i < RUNRA_PROCS_KEPT; i++)
        procs[i].nfollow = procs[i].nwait = 0;
}

size_t proc_pollfds(struct guest *g, struct pollfd *pfd)
{
    size_t n = 0;
    bool busy = guest_busy(g);
    for (size_t i = 0; i < RUNRA_PROCS_KEPT; i++) {
        struct proc *p = &procs[i];
        if (!p->used || p->exited)
            continue;
        /* A follower that falls behind holds the output back (the pipe
         * fills and the process waits) rather than runra-init dropping it
         * or buffering without bound; with nobody following, output only
         * goes to the ring and is always read. */
        bool hold = busy && p->nfollow > 0;
        if (p->out >= 0 && !hold) {
            pfd[n] = (struct pollfd){.fd = p->out, .events = POLLIN};
            watch[n++] = (typeof(watch[0])){p, W_OUT};
        }
        if (p->err >= 0 && !hold) {
            pfd[n] = (struct pollfd){.fd = p->err, .events = POLLIN};
            watch[n++] = (typeof(watch[0])){p, W_ERR};
        }
        if (p->in >= 0 && buf_len(&p->inbuf) > 0) {
            pfd[n] = (struct pollfd){.fd = p->in, .events = POLLOUT};
            watch[n++] = (typeof(watch[0])){p, W_IN};
        }
        if (p->ctl >= 0) {
            pfd[n] = (struct pollfd){.fd = p->ctl, .events = POLLIN};
            watch[n++] = (typeof(watch[0])){p, W_CTL};
        }
    }
    return n;
}

static void read_out(struct guest *g, struct proc *p, int *fd, uint16_t type)
{
    static uint8_t buf[OUT_CHUNK];
    ssize_t n;
    do
        n = read(*fd, buf, sizeof(buf));
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return;
    if (n <= 0) {
        closefd(fd);
        return;
    }
    if (type == FRAME_STDOUT)
        p->out_total += (uint64_t)n;
    else
        p->err_total += (uint64_t)n;
    ring_add(p, type, buf, (size_t)n);
    for (size_t i = 0; i < p->nfollow; i++)
        guest_send(g, type, p->follow[i], buf, (size_t)n);
}

static void read_ctl(struct proc *p)
{
    for (;;) {
        struct shim_msg m;
        ssize_t n = recv(p->ctl, &m, sizeof(m), MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            closefd(&p->ctl);
            if (!p->have_status) {
                /* Only SIGKILL ends a shim before its command. */
                p->have_status = true;
                p->status = SIGKILL;
                p->status_mono = now_ms();
            }
            return;
        }
        if (n == (ssize_t)sizeof(m) && m.kind == SHIM_STATUS && !p->have_status) {
            p->have_status = true;
            p->status = m.value;
            p->status_mono = now_ms();
        }
    }
}

void proc_events(struct guest *g, const struct pollfd *pfd, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct proc *p = watch[i].p;
        if (!pfd[i].revents || !p->used || p->exited)
            continue;
        switch (watch[i].what) {
        case W_OUT:
            if (p->out == pfd[i].fd)
                read_out(g, p, &p->out, FRAME_STDOUT);
            break;
        case W_ERR:
            if (p->err == pfd[i].fd)
                read_out(g, p, &p->err, FRAME_STDERR);
            break;
        case W_IN:
            if (p->in == pfd[i].fd)
                flush_stdin(p);
            break;
        case W_CTL:
            if (p->ctl == pfd[i].fd)
                read_ctl(p);
            break;
        }
    }
}

void proc_reaped(pid_t pid)
{
    for (size_t i = 0; i < RUNRA_PROCS_KEPT; i++)
        if (procs[i].used && procs[i].shim == pid)
            procs[i].shim_reaped = true;
}

static void finish(struct guest *g, struct proc *p)
{
    p->exited = true;
    p->exited_ms = (int64_t)wall_ms();
    /* Closing the control socket lets the shim exit; what the command left
     * running is reparented to runra-init and reaped there. */
    closefd(&p->ctl);
    closefd(&p->in);
    closefd(&p->out);
    closefd(&p->err);
    closefd(&p->ptm);
    buf_done(&p->inbuf);
    for (size_t i = 0; i < p->nfollow; i++)
        send_exit(g, p, p->follow[i]);
    for (size_t i = 0; i < p->nwait; i++)
        send_exit(g, p, p->wait[i]);
    p->nfollow = p->nwait = 0;
}

uint64_t proc_step(struct guest *g, uint64_t now)
{
    uint64_t wake = UINT64_MAX;
    for (size_t i = 0; i < RUNRA_PROCS_KEPT; i++) {
        struct proc *p = &procs[i];
        if (!p->used || p->exited || !p->have_status)
            continue;
        /* The output is complete once both pipes reached EOF; a descendant
         * that keeps them open past DRAIN_MS does not keep the process
         * "running". */
        uint64_t end = p->status_mono + DRAIN_MS;
        if ((p->out < 0 && p->err < 0) || now >= end)
            finish(g, p);
        else if (end < wake)
            wake = end;
    }
    return wake;
}
