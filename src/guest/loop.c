/* The poll loop and frame dispatch. Each turn: poll, read signals (reap,
 * stop), forward exec output, read and dispatch frames while the host keeps
 * up, then step every call (deadlines, completion, file chunks) and flush.
 * A bad frame header drops the connection, which cancels every call. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"
#include "exec.h"
#include "fileops.h"
#include "filestream.h"
#include "proc.h"
#include "proto/msg.h"
#include "search.h"
#include "tar.h"
#include "tcp.h"
#include "vm.h"
#include "watch.h"

#define POLL_MAX (2 + RUNRA_CALLS_MAX * EXEC_FD_COUNT + PROC_POLL_MAX)

/* Signals that report a fault in runra-init itself stay unblocked: blocking
 * them would turn a crash into a hang. */
static const int sync_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, SIGABRT};

int loop_signals(int *ret_sigfd, struct runra_err **err)
{
    sigset_t set;
    sigfillset(&set);
    for (size_t i = 0; i < ARRAY_SIZE(sync_signals); i++)
        sigdelset(&set, sync_signals[i]);
    /* Everything else is blocked and read from the signalfd: SIGCHLD drives
     * the reaper, SIGTERM/SIGINT stop us cleanly, and the rest (SIGPIPE
     * included, so a write to a closed pipe is just EPIPE) is drained. */
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return err_sys(err, errno, "sigprocmask");
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0)
        return err_sys(err, errno, "signalfd");
    *ret_sigfd = fd;
    return 0;
}

/* Reaps every child: shims, and (as PID 1 or a subreaper) every orphan in
 * the sandbox. */
static void reap(struct guest *g)
{
    pid_t pid;
    int st;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0 && (proc_reaped(pid), true))
        for (size_t i = 0; i < RUNRA_CALLS_MAX; i++)
            if (g->calls[i].kind == CALL_EXEC)
                exec_reaped(g->calls[i].exec, pid);
}

/* Returns true when asked to stop. */
static bool read_signals(struct guest *g, int sigfd)
{
    bool stop = false;
    struct signalfd_siginfo si;
    while (read(sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
        if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
            stop = true;
    reap(g);
    return stop;
}

static void send_hello(struct guest *g)
{
    struct hello_msg h = {.version = FRAME_PROTO_VERSION, .pid = g->pid};
    char *json = NULL;
    msg_hello_encode(&h, &json);
    guest_send_json(g, FRAME_HELLO, 0, json);
}

static void attach(struct guest *g, int fd)
{
    struct conn *c = NULL;
    if (conn_new(fd, &c) < 0) {
        close(fd);
        return;
    }
    g->conn = c;
    /* A VM's host speaks first (VM_SETUP), since the guest cannot tell a
     * new host from the one before a snapshot. */
    if (g->vm_port >= 0) {
        g->vm_await = true;
        return;
    }
    send_hello(g);
    conn_flush(c);
}

/* The first frame on a VM's connection. */
static void vm_setup_frame(struct guest *g, const struct frame_hdr *h, const uint8_t *p)
{
    _cleanup_err_ struct runra_err *err = NULL;
    if (h->type != FRAME_VM_SETUP || h->id != 0) {
        guest_send_error(g, 0, EPROTO, "a VM's first frame must be VM_SETUP");
        conn_flush(g->conn);
        g->conn->dead = true;
        return;
    }
    struct vm_setup_msg m;
    const char *workdir = NULL;
    int r = msg_vm_setup_decode(p, h->len, &m, &err);
    if (r >= 0 && !g->vm_await) {
        /* A new host on a port that never looked disconnected (a VM
         * resumed from its snapshot before we saw the hang-up): the old
         * host's calls are over, as on any reconnect. */
        for (size_t i = 0; i < RUNRA_CALLS_MAX; i++)
            guest_call_abort(g, &g->calls[i]);
        proc_detach(g);
    }
    if (r >= 0)
        r = vm_setup_apply(&m, &workdir, &err);
    if (r < 0) {
        guest_send_err(g, 0, r, err);
        return;
    }
    g->workdir = workdir;
    g->vm_await = false;
    send_hello(g);
}

/* The host is gone: every call ends here, exec trees killed, files closed. */
static void detach(struct guest *g)
{
    for (size_t i = 0; i < RUNRA_CALLS_MAX; i++)
        guest_call_abort(g, &g->calls[i]);
    proc_detach(g);
    conn_free(g->conn);
    g->conn = NULL;
}

/* A frame that opens a call. */
static void open_call(struct guest *g, const struct frame_hdr *h, const uint8_t *p)
{
    _cleanup_err_ struct runra_err *err = NULL;
    int r;
    if (h->id == 0) {
        guest_send_error(g, 0, EINVAL, "call id 0 is reserved for the connection");
        return;
    }
    /* Answering on a live id muddles that call for the host, but staying
     * silent would leave it waiting for a reply that never comes; a host
     * reusing a live id has lost track of it either way. */
    if (guest_call_find(g, h->id)) {
        guest_send_error(g, h->id, EBUSY, "call id is already in use");
        return;
    }
    switch (h->type) {
    case FRAME_PING:
        guest_send(g, FRAME_RESULT, h->id, "{}", 2);
        return;
    case FRAME_NET_CONFIG: {
        /* An ns sandbox's network is set up from outside, by runrad. */
        struct net_config_msg m;
        if (g->vm_port < 0)
            r = err_set(&err, ENOTSUP, "only a VM's runra-init configures its network");
        else if ((r = msg_net_config_decode(p, h->len, &m, &err)) >= 0)
            r = vm_net_config(&m, &err);
        if (r < 0)
            guest_send_err(g, h->id, r, err);
        else
            guest_send(g, FRAME_RESULT, h->id, "{}", 2);
        return;
    }
    case FRAME_PROC_START:
    case FRAME_PROC_LIST:
    case FRAME_PROC_LOGS:
    case FRAME_PROC_STDIN:
    case FRAME_PROC_SIGNAL:
    case FRAME_PROC_WAIT:
    case FRAME_PROC_RESIZE:
        proc_open(g, h->type, h->id, p, h->len);
        return;
    case FRAME_FILE_STAT:
    case FRAME_FILE_LIST:
    case FRAME_FILE_MKDIR:
    case FRAME_FILE_REMOVE:
    case FRAME_FILE_MOVE: {
        char *json = NULL;
        r = fileops_run(g->workdir, h->type, p, h->len, &json, &err);
        if (r < 0)
            guest_send_err(g, h->id, r, err);
        else
            guest_send_json(g, FRAME_RESULT, h->id, json);
        return;
    }
    default:
        break;
    }

    struct call *c = guest_call_alloc(g);
    if (!c) {
        guest_send_error(g, h->id, EAGAIN, "too many concurrent calls");
        return;
    }
    struct call nc = {.id = h->id};
    switch (h->type) {
    case FRAME_EXEC:
        nc.kind = CALL_EXEC;
        r = exec_start(g, h->id, p, h->len, &nc.exec, &err);
        break;
    case FRAME_FILE_READ:
        nc.kind = CALL_READ;
        r = file_read_start(g->workdir, p, h->len, &nc.rd, &err);
        break;
    case FRAME_FILE_WRITE:
        nc.kind = CALL_WRITE;
        r = file_write_start(g->workdir, p, h->len, &nc.wr, &err);
        break;
    case FRAME_SEARCH:
        nc.kind = CALL_SEARCH;
        r = search_start(g->workdir, p, h->len, &nc.search, &err);
        break;
    case FRAME_TAR_GET:
        nc.kind = CALL_TAR_GET;
        r = tar_get_start(g, h->id, p, h->len, &nc.tar_get, &err);
        break;
    case FRAME_TAR_PUT:
        nc.kind = CALL_TAR_PUT;
        r = tar_put_start(g, p, h->len, &nc.tar_put, &err);
        break;
    case FRAME_WATCH:
        nc.kind = CALL_WATCH;
        r = watch_start(g, h->id, p, h->len, &nc.fwatch, &err);
        break;
    case FRAME_TCP_CONNECT:
        nc.kind = CALL_TCP;
        r = tcp_start(g, p, h->len, &nc.tcp, &err);
        break;
    default:
        return;
    }
    if (r < 0) {
        guest_send_err(g, h->id, r, err);
        return;
    }
    *c = nc;
}

/* A frame for an open call. Frames for unknown ids are dropped: they are
 * what the host had in flight when a call ended on our side. */
static void continue_call(struct guest *g, const struct frame_hdr *h, const uint8_t *p)
{
    struct call *c = guest_call_find(g, h->id);
    if (!c) {
        proc_continue(g, h->type, h->id); /* a log follow or a wait */
        return;
    }
    switch (c->kind) {
    case CALL_EXEC:
        exec_frame(g, c->exec, h->type, p, h->len);
        return;
    case CALL_TCP:
        if (tcp_frame(g, h->id, c->tcp, h->type, p, h->len))
            guest_call_abort(g, c);
        return;
    case CALL_WRITE:
        if (h->type == FRAME_DATA && file_write_data(g, h->id, c->wr, p, h->len)) {
            file_write_free(c->wr);
            guest_call_release(c);
            return;
        }
        break;
    case CALL_TAR_PUT:
        if (h->type == FRAME_DATA && tar_put_data(g, h->id, c->tar_put, p, h->len)) {
            tar_put_free(c->tar_put);
            guest_call_release(c);
            return;
        }
        break;
    case CALL_READ:
    case CALL_SEARCH:
    case CALL_TAR_GET:
    case CALL_WATCH:
    case CALL_FREE:
        break;
    }
    if (h->type == FRAME_CANCEL &&
        (c->kind == CALL_TAR_GET || c->kind == CALL_TAR_PUT || c->kind == CALL_WATCH)) {
        guest_send_error(g, h->id, ECANCELED, "cancelled");
        guest_call_abort(g, c);
        return;
    }
    if (h->type == FRAME_CANCEL &&
        (c->kind == CALL_READ || c->kind == CALL_WRITE || c->kind == CALL_SEARCH)) {
        guest_send_error(g, h->id, ECANCELED, "cancelled");
        guest_call_abort(g, c);
    }
}

static void dispatch(struct guest *g, const struct frame_hdr *h, const uint8_t *p)
{
    if (g->vm_port >= 0 && (g->vm_await || h->type == FRAME_VM_SETUP)) {
        vm_setup_frame(g, h, p);
        return;
    }
    switch (h->type) {
    case FRAME_EXEC:
    case FRAME_FILE_READ:
    case FRAME_FILE_WRITE:
    case FRAME_FILE_LIST:
    case FRAME_FILE_STAT:
    case FRAME_FILE_MKDIR:
    case FRAME_FILE_REMOVE:
    case FRAME_FILE_MOVE:
    case FRAME_PING:
    case FRAME_NET_CONFIG:
    case FRAME_PROC_START:
    case FRAME_PROC_LIST:
    case FRAME_PROC_LOGS:
    case FRAME_PROC_STDIN:
    case FRAME_PROC_SIGNAL:
    case FRAME_PROC_WAIT:
    case FRAME_PROC_RESIZE:
    case FRAME_SEARCH:
    case FRAME_TAR_GET:
    case FRAME_TAR_PUT:
    case FRAME_WATCH:
    case FRAME_TCP_CONNECT:
        open_call(g, h, p);
        break;
    case FRAME_STDIN:
    case FRAME_SIGNAL:
    case FRAME_CANCEL:
    case FRAME_DATA:
    case FRAME_TCP_ACK:
        continue_call(g, h, p);
        break;
    default:
        /* Guest-to-host types (HELLO, RESULT, STDOUT, ...) mean nothing
         * here; they carry no request to answer. */
        break;
    }
}

static void read_frames(struct guest *g)
{
    struct frame_hdr h;
    const uint8_t *p;
    while (g->conn && !guest_busy(g) && conn_peek(g->conn, &h, &p) == 1) {
        dispatch(g, &h, p);
        conn_pop(g->conn, &h);
    }
}

/* Steps every call; returns the earliest time one wants to run again, and
 * sets *ret_blocked when one waits for the output queue to drain. */
static uint64_t step_calls(struct guest *g, uint64_t now, bool *ret_blocked)
{
    uint64_t wake = UINT64_MAX;
    bool blocked = false;
    for (size_t i = 0; i < RUNRA_CALLS_MAX; i++) {
        struct call *c = &g->calls[i];
        switch (c->kind) {
        case CALL_EXEC:
            if (exec_step(g, c->exec, now)) {
                guest_call_release(c);
            } else {
                uint64_t w = exec_wake(c->exec);
                if (w == EXEC_WAKE_ROOM)
                    blocked = true;
                else
                    wake = w < wake ? w : wake;
            }
            break;
        case CALL_READ:
            if (file_read_step(g, c->id, c->rd)) {
                file_read_free(c->rd);
                guest_call_release(c);
            } else {
                blocked = true;
            }
            break;
        case CALL_SEARCH:
            if (search_step(g, c->id, c->search)) {
                search_free(c->search);
                guest_call_release(c);
            } else {
                blocked = true;
            }
            break;
        case CALL_TAR_GET:
            if (tar_get_step(g, c->id, c->tar_get)) {
                tar_get_free(c->tar_get);
                guest_call_release(c);
            } else {
                blocked = true;
            }
            break;
        case CALL_WATCH:
            /* Woken by its inotify fd in the poll set, or by POLLOUT. */
            if (watch_step(g, c->id, c->fwatch)) {
                watch_free(c->fwatch);
                guest_call_release(c);
            }
            break;
        case CALL_TAR_PUT: {
            int tr = tar_put_step(g, c->id, c->tar_put);
            if (tr == 1) {
                tar_put_free(c->tar_put);
                guest_call_release(c);
            } else if (tr == 0) {
                blocked = true;
            }
            break;
        }
        case CALL_WRITE:
        case CALL_TCP: /* driven by its socket's poll events */
        case CALL_FREE:
            break;
        }
    }
    *ret_blocked = blocked;
    return wake;
}

struct watch {
    struct call *call;
    struct exec *exec;
    struct tcpfwd *tcp;
    enum exec_fd what;
};

int loop_run(struct guest *g, int listen_fd, int sigfd, int conn_fd)
{
    static struct pollfd pfd[POLL_MAX];
    static struct watch watch[POLL_MAX];
    if (conn_fd >= 0)
        attach(g, conn_fd);
    uint64_t wake = UINT64_MAX;
    for (;;) {
        size_t n = 0;
        pfd[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
        if (g->conn) {
            short ev = (guest_busy(g) ? 0 : POLLIN) | (conn_pending(g->conn) ? POLLOUT : 0);
            pfd[n++] = (struct pollfd){.fd = g->conn->fd, .events = ev};
        } else {
            /* A VM's port while no host is there: SIGIO or the timeout
             * below brings us back to look (it cannot be polled: it reads
             * as hung up until a host connects). */
            pfd[n++] = (struct pollfd){.fd = g->vm_port >= 0 ? -1 : listen_fd, .events = POLLIN};
        }
        for (size_t i = 0; i < RUNRA_CALLS_MAX; i++) {
            struct call *c = &g->calls[i];
            if (c->kind == CALL_WATCH && !guest_busy(g)) {
                /* One slot's share of POLL_MAX; step_calls reads the events,
                 * so the exec event pass below skips this entry. */
                watch[n] = (struct watch){.call = c};
                pfd[n++] = (struct pollfd){.fd = watch_fd(c->fwatch), .events = POLLIN};
                continue;
            }
            if (c->kind == CALL_TCP) {
                /* One socket per forwarded connection, within the slot's
                 * share of POLL_MAX. */
                watch[n] = (struct watch){.call = c, .tcp = c->tcp};
                tcp_pollfd(g, c->tcp, &pfd[n++]);
                continue;
            }
            if (c->kind != CALL_EXEC)
                continue;
            enum exec_fd what[EXEC_FD_COUNT];
            size_t k = exec_pollfds(g, c->exec, pfd + n, what);
            for (size_t j = 0; j < k; j++)
                watch[n + j] = (struct watch){.call = c, .exec = c->exec, .what = what[j]};
            n += k;
        }
        size_t proc_base = n;
        n += proc_pollfds(g, pfd + n);

        int timeout = -1;
        uint64_t now = now_ms();
        if (wake != UINT64_MAX)
            timeout = wake <= now ? 0 : (int)(wake - now > 60000 ? 60000 : wake - now);
        if (!g->conn && g->vm_port >= 0 && (timeout < 0 || timeout > 250))
            timeout = 250;
        if (poll(pfd, n, timeout) < 0 && errno != EINTR)
            return 1;
        now = now_ms();

        if ((pfd[0].revents & POLLIN) && read_signals(g, sigfd)) {
            if (g->conn)
                detach(g);
            return 0;
        }
        /* Exec events first: frames below may open calls in freed slots,
         * and a watch must only reach the exec it was made for. */
        for (size_t i = 2; i < proc_base; i++)
            if (pfd[i].revents && watch[i].call->kind == CALL_EXEC &&
                watch[i].call->exec == watch[i].exec)
                exec_event(g, watch[i].exec, watch[i].what, pfd[i].revents);
            else if (pfd[i].revents && watch[i].call->kind == CALL_TCP &&
                     watch[i].call->tcp == watch[i].tcp &&
                     tcp_event(g, watch[i].call->id, watch[i].tcp, pfd[i].revents))
                guest_call_abort(g, watch[i].call);
        proc_events(g, pfd + proc_base, n - proc_base);

        if (!g->conn && g->vm_port >= 0) {
            int fd = vm_port_connected(g->vm_port) ? fcntl(g->vm_port, F_DUPFD_CLOEXEC, 3) : -1;
            if (fd >= 0)
                attach(g, fd);
        } else if (!g->conn) {
            if (pfd[1].revents & POLLIN) {
                int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
                if (fd >= 0)
                    attach(g, fd);
            }
        } else {
            if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
                conn_read(g->conn);
            if (pfd[1].revents & POLLOUT)
                conn_flush(g->conn);
            read_frames(g);
        }
        bool blocked = false;
        wake = step_calls(g, now, &blocked);
        uint64_t proc_wake = proc_step(g, now);
        if (proc_wake < wake)
            wake = proc_wake;
        if (g->conn) {
            conn_flush(g->conn);
            /* Calls and buffered frames that waited for the host to catch up
             * run again at once if the flush made room. While the queue
             * stays full, POLLOUT wakes us instead. */
            if (!g->conn->dead && !guest_busy(g)) {
                struct frame_hdr h;
                const uint8_t *p;
                if (blocked || conn_peek(g->conn, &h, &p) == 1)
                    wake = now;
            }
            if (g->conn->dead)
                detach(g);
        }
    }
}
