/* Port forwarding threads. Each exposed port has an acceptor thread; each
 * accepted connection has two: the connection's own, which reads the guest
 * call and writes the client, and a reader that sends the client's bytes to
 * the guest while it has credit. Credit (RUNRA_TCP_WINDOW per direction,
 * returned by TCP_ACK) is what bounds the buffering on both sides: a slow
 * client or server stops its peer from being read instead of queueing. */
#include "manager-ports.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "manager-internal.h"
#include "proto/frame.h"
#include "proto/tcpmsg.h"
#include "store/store.h"

/* How often a connection thread waiting on the guest checks for closing. */
#define POLL_SLICE_MS 250
#define LISTEN_BACKLOG 64
#define CHUNK (64u * 1024)

struct port_fwd {
    struct port_table *t;
    uint16_t port, host_port;
    int lfd;
    bool closing;
    pthread_t acceptor;
    struct port_fwd *next;
};

struct port_conn {
    struct port_table *t;
    uint16_t port;
    int fd;
    struct guest_call *call;
    uint32_t credit; /* bytes we may still send to the guest */
    bool done;
    bool closing;
    struct port_conn *next;
};

struct port_table {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* credit, done, or a connection gone */
    struct guest *guest;
    struct port_fwd *ports;
    size_t nports;
    struct port_conn *conns;
    size_t nconns;
    bool closed;
};

int ports_table_new(struct guest *guest, struct port_table **ret)
{
    struct port_table *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    pthread_mutex_init(&t->lock, NULL);
    pthread_cond_init(&t->cond, NULL);
    t->guest = guest;
    *ret = t;
    return 0;
}

static bool conn_closing(struct port_conn *pc)
{
    pthread_mutex_lock(&pc->t->lock);
    bool c = pc->closing;
    pthread_mutex_unlock(&pc->t->lock);
    return c;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Client to guest, within the credit the guest has returned. */
static void *reader_main(void *arg)
{
    struct port_conn *pc = arg;
    struct port_table *t = pc->t;
    _Static_assert(CHUNK <= RUNRA_FRAME_MAX_PAYLOAD, "a chunk fits one frame");
    _cleanup_free_ uint8_t *buf = malloc(CHUNK);
    for (bool ok = buf != NULL; ok;) {
        pthread_mutex_lock(&t->lock);
        while (pc->credit == 0 && !pc->done)
            pthread_cond_wait(&t->cond, &t->lock);
        bool done = pc->done;
        size_t max = pc->credit < CHUNK ? pc->credit : CHUNK;
        pthread_mutex_unlock(&t->lock);
        if (done)
            break;
        ssize_t n = read(pc->fd, buf, max);
        if (n < 0 && errno == EINTR)
            continue;
        if (n > 0) {
            pthread_mutex_lock(&t->lock);
            pc->credit -= (uint32_t)n;
            pthread_mutex_unlock(&t->lock);
            ok = guest_call_send(pc->call, FRAME_DATA, buf, (size_t)n) >= 0;
            continue;
        }
        /* EOF is passed on as an empty DATA (the guest shuts its write
         * side); a failed client socket ends the call. */
        guest_call_send(pc->call, n == 0 ? FRAME_DATA : FRAME_CANCEL, NULL, 0);
        break;
    }
    return NULL;
}

/* Guest to client until the call ends, the client fails, or we close. */
static void relay(struct port_conn *pc)
{
    struct port_table *t = pc->t;
    for (;;) {
        struct guest_frame *f = NULL;
        int r = guest_call_recv(pc->call, now_ms() + POLL_SLICE_MS, &f);
        if (r == -ETIMEDOUT) {
            if (conn_closing(pc))
                return;
            continue;
        }
        if (r < 0)
            return;
        _cleanup_free_ struct guest_frame *fr = f;
        if (f->type == FRAME_DATA && f->len == 0) {
            shutdown(pc->fd, SHUT_WR);
        } else if (f->type == FRAME_DATA) {
            if (f->len > RUNRA_TCP_WINDOW || write_all(pc->fd, f->data, f->len) < 0)
                return;
            _cleanup_free_ char *ack = NULL;
            if (msg_tcp_ack_encode(f->len, &ack) < 0 ||
                guest_call_send(pc->call, FRAME_TCP_ACK, ack, strlen(ack)) < 0)
                return;
        } else if (f->type == FRAME_TCP_ACK) {
            uint32_t n = 0;
            if (msg_tcp_ack_decode(f->data, f->len, &n, NULL) < 0)
                return;
            pthread_mutex_lock(&t->lock);
            bool bad = (uint64_t)pc->credit + n > RUNRA_TCP_WINDOW;
            if (!bad)
                pc->credit += n;
            pthread_cond_broadcast(&t->cond);
            pthread_mutex_unlock(&t->lock);
            if (bad)
                return; /* the guest acknowledged more than we sent */
        } else {
            return; /* RESULT, ERROR, or anything unexpected ends the relay */
        }
    }
}

static void *conn_main(void *arg)
{
    struct port_conn *pc = arg;
    struct port_table *t = pc->t;
    _cleanup_free_ char *payload = NULL;
    pthread_t reader;
    bool reader_started = false;
    if (msg_tcp_connect_encode(pc->port, &payload) >= 0 &&
        guest_call_start(t->guest, FRAME_TCP_CONNECT, payload, strlen(payload), &pc->call,
                         NULL) >= 0) {
        reader_started = pthread_create(&reader, NULL, reader_main, pc) == 0;
        if (reader_started)
            relay(pc);
    }
    pthread_mutex_lock(&t->lock);
    pc->done = true;
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    /* Wakes the reader from read() and tells the client we are done. */
    shutdown(pc->fd, SHUT_RDWR);
    if (reader_started)
        pthread_join(reader, NULL);
    guest_call_end(pc->call); /* CANCEL if the guest still holds the socket */
    pthread_mutex_lock(&t->lock);
    for (struct port_conn **p = &t->conns; *p; p = &(*p)->next)
        if (*p == pc) {
            *p = pc->next;
            break;
        }
    t->nconns--;
    close(pc->fd);
    pthread_cond_broadcast(&t->cond);
    pthread_mutex_unlock(&t->lock);
    free(pc);
    return NULL;
}

static void *acceptor_main(void *arg)
{
    struct port_fwd *pf = arg;
    struct port_table *t = pf->t;
    for (;;) {
        int fd = accept4(pf->lfd, NULL, NULL, SOCK_CLOEXEC);
        pthread_mutex_lock(&t->lock);
        bool closing = pf->closing;
        pthread_mutex_unlock(&t->lock);
        if (fd < 0) {
            if (closing)
                return NULL;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
                usleep(100 * 1000); /* let descriptors free up rather than spin */
            continue;
        }
        struct port_conn *pc = closing ? NULL : calloc(1, sizeof(*pc));
        if (!pc) {
            close(fd);
            if (closing)
                return NULL;
            continue;
        }
        *pc = (struct port_conn){.t = t, .port = pf->port, .fd = fd, .credit = RUNRA_TCP_WINDOW};
        pthread_mutex_lock(&t->lock);
        /* A connection accepted while the port is being removed must not
         * outlive it: port_stop only closes connections it can see. */
        bool full = t->nconns >= RUNRA_TCP_CONNS_MAX || t->closed || pf->closing;
        pthread_t th;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (!full && pthread_create(&th, &attr, conn_main, pc) == 0) {
            pc->next = t->conns;
            t->conns = pc;
            t->nconns++;
            pc = NULL;
        }
        pthread_attr_destroy(&attr);
        pthread_mutex_unlock(&t->lock);
        if (pc) {
            /* Over the limit: the client sees its connection closed. */
            log_warn("event=port_conn_refused port=%u reason=%s", pf->port,
                     full ? "limit" : "thread");
            close(fd);
            free(pc);
        }
    }
}

/* Stops a port taken out of the table: no more accepts, and its
 * connections are told to end. */
static void port_stop(struct port_table *t, struct port_fwd *pf)
{
    pthread_mutex_lock(&t->lock);
    pf->closing = true;
    for (struct port_conn *pc = t->conns; pc; pc = pc->next)
        if (pc->port == pf->port) {
            pc->closing = true;
            shutdown(pc->fd, SHUT_RDWR);
        }
    pthread_mutex_unlock(&t->lock);
    /* On Linux, shutting a listening socket down wakes accept() with EINVAL. */
    shutdown(pf->lfd, SHUT_RDWR);
    pthread_join(pf->acceptor, NULL);
    close(pf->lfd);
    free(pf);
}

void ports_table_close(struct port_table *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->lock);
    t->closed = true;
    struct port_fwd *list = t->ports;
    t->ports = NULL;
    t->nports = 0;
    pthread_mutex_unlock(&t->lock);
    while (list) {
        struct port_fwd *next = list->next;
        port_stop(t, list);
        list = next;
    }
    pthread_mutex_lock(&t->lock);
    while (t->nconns > 0)
        pthread_cond_wait(&t->cond, &t->lock);
    pthread_mutex_unlock(&t->lock);
}

void ports_table_free(struct port_table *t)
{
    if (!t)
        return;
    ports_table_close(t);
    pthread_mutex_destroy(&t->lock);
    pthread_cond_destroy(&t->cond);
    free(t);
}

/* The sandbox's table, made on first use. */
static int table_get(struct manager *m, struct sandbox *s, struct port_table **ret)
{
    int r = 0;
    pthread_mutex_lock(&m->lock);
    if (!s->ports)
        r = ports_table_new(s->guest, &s->ports);
    *ret = s->ports;
    pthread_mutex_unlock(&m->lock);
    return r;
}

/* A listener on 127.0.0.1: on want (the port it had before the daemon
 * restarted) when that is still free, else on a fresh ephemeral port. */
static int listen_loopback(uint16_t want, uint16_t *ret_port, struct runra_err **err)
{
    _cleanup_close_ int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_sys(err, errno, "socket");
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons(want)};
    socklen_t sl = sizeof(sa);
    /* Always: connections accepted here inherit it, and only when those
     * (in TIME_WAIT after the daemon exits) have it too can the next
     * daemon bind the same port again. */
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (!want)
            return err_sys(err, errno, "bind 127.0.0.1:0");
        return listen_loopback(0, ret_port, err);
    }
    if (listen(fd, LISTEN_BACKLOG) < 0)
        return err_sys(err, errno, "listen");
    if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0)
        return err_sys(err, errno, "getsockname");
    *ret_port = ntohs(sa.sin_port);
    return TAKE_FD(fd);
}

/* Exposes port on table t (locked by the caller). */
static int add_locked(struct port_table *t, uint16_t port, uint16_t want_host,
                      struct port_info *ret, struct runra_err **err)
{
    int r = 0;
    for (struct port_fwd *p = t->ports; p && r >= 0; p = p->next)
        if (p->port == port)
            r = err_set(err, EEXIST, "port %u is already exposed", port);
    if (r >= 0 && t->nports >= RUNRA_PORTS_MAX)
        r = err_set(err, EBUSY, "this sandbox already exposes %d ports", RUNRA_PORTS_MAX);
    if (r >= 0 && t->closed)
        r = err_set(err, ENOENT, "the sandbox is being destroyed");
    if (r < 0)
        return r;
    struct port_fwd *pf = calloc(1, sizeof(*pf));
    if (!pf)
        return -ENOMEM;
    *pf = (struct port_fwd){.t = t, .port = port};
    r = pf->lfd = listen_loopback(want_host, &pf->host_port, err);
    if (r >= 0 && (r = -pthread_create(&pf->acceptor, NULL, acceptor_main, pf)) < 0) {
        close(pf->lfd);
        err_sys(err, -r, "start the acceptor");
    }
    if (r < 0) {
        free(pf);
        return r;
    }
    pf->next = t->ports;
    t->ports = pf;
    t->nports++;
    *ret = (struct port_info){.port = port, .host_port = pf->host_port};
    return 0;
}

/* Writes the sandbox's exposed ports to the store ("PORT:HOSTPORT,..."),
 * so a restarted daemon exposes them again. */
static void ports_store(struct manager *m, struct sandbox *s, struct port_table *t)
{
    const struct manager_config *cfg = manager_config(m);
    if (!cfg->store || !s->stored)
        return;
    char buf[RUNRA_PORTS_MAX * 12 + 1];
    size_t n = 0;
    buf[0] = 0;
    pthread_mutex_lock(&t->lock);
    for (struct port_fwd *p = t->ports; p && n + 13 < sizeof(buf); p = p->next)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%u:%u", n ? "," : "", p->port,
                              p->host_port);
    pthread_mutex_unlock(&t->lock);
    store_sandbox_set_ports(cfg->store, s->id, buf, NULL);
}

int manager_ports_restore(struct manager *m, struct sandbox *s, const char *stored)
{
    struct port_table *t = NULL;
    int r = table_get(m, s, &t);
    if (r < 0)
        return r;
    for (const char *p = stored ? stored : ""; *p;) {
        unsigned port = 0, host = 0;
        int used = 0;
        if (sscanf(p, "%5u:%5u%n", &port, &host, &used) != 2 || port == 0 || port > 65535 ||
            host > 65535)
            break;
        p += used;
        if (*p == ',')
            p++;
        struct port_info info;
        _cleanup_err_ struct runra_err *e = NULL;
        pthread_mutex_lock(&t->lock);
        r = add_locked(t, (uint16_t)port, (uint16_t)host, &info, &e);
        pthread_mutex_unlock(&t->lock);
        if (r < 0) {
            log_warn("event=port_restore_failed sandbox=%s port=%u err=\"%s\"", s->id, port,
                     e && e->msg ? e->msg : "?");
            continue;
        }
        log_info("event=port_restored sandbox=%s port=%u hostPort=%u", s->id, port,
                 info.host_port);
        if (info.host_port != host)
            manager_emit(m, s->id, "port.expose",
                         json_pack("{s:i,s:i,s:i}", "port", (int)port, "hostPort",
                                   info.host_port, "previousHostPort", (int)host));
    }
    ports_store(m, s, t);
    return 0;
}

int manager_port_add(struct manager *m, const char *id, uint16_t port, struct port_info *ret,
                     struct runra_err **err)
{
    if (port == 0)
        return err_set(err, EINVAL, "port must be within 1..65535");
    struct sandbox *s = NULL;
    int r = manager_acquire(m, id, &s, err);
    if (r < 0)
        return r;
    struct port_table *t = NULL;
    if ((r = table_get(m, s, &t)) < 0)
        goto out;
    pthread_mutex_lock(&t->lock);
    r = add_locked(t, port, 0, ret, err);
    pthread_mutex_unlock(&t->lock);
    if (r >= 0) {
        ports_store(m, s, t);
        log_info("event=port_exposed sandbox=%s port=%u hostPort=%u", id, port, ret->host_port);
        manager_emit(m, id, "port.expose",
                     json_pack("{s:i,s:i}", "port", port, "hostPort", ret->host_port));
    }
out:
    manager_release(m, s);
    return r < 0 ? r : 0;
}

int manager_port_list(struct manager *m, const char *id, struct port_info **ret, size_t *ret_n,
                      struct runra_err **err)
{
    struct sandbox *s = NULL;
    int r = manager_acquire(m, id, &s, err);
    if (r < 0)
        return r;
    struct port_table *t = NULL;
    struct port_info *v = NULL;
    size_t n = 0;
    if ((r = table_get(m, s, &t)) >= 0) {
        pthread_mutex_lock(&t->lock);
        v = calloc(t->nports ? t->nports : 1, sizeof(*v));
        if (!v)
            r = -ENOMEM;
        for (struct port_fwd *p = t->ports; v && p; p = p->next)
            v[n++] = (struct port_info){.port = p->port, .host_port = p->host_port};
        pthread_mutex_unlock(&t->lock);
    }
    manager_release(m, s);
    if (r < 0)
        return r;
    *ret = v;
    *ret_n = n;
    return 0;
}

int manager_port_remove(struct manager *m, const char *id, uint16_t port, struct runra_err **err)
{
    struct sandbox *s = NULL;
    int r = manager_acquire(m, id, &s, err);
    if (r < 0)
        return r;
    struct port_table *t = NULL;
    struct port_fwd *found = NULL;
    if ((r = table_get(m, s, &t)) >= 0) {
        pthread_mutex_lock(&t->lock);
        for (struct port_fwd **p = &t->ports; *p; p = &(*p)->next)
            if ((*p)->port == port) {
                found = *p;
                *p = found->next;
                t->nports--;
                break;
            }
        pthread_mutex_unlock(&t->lock);
        if (found)
            port_stop(t, found);
        else
            r = err_set(err, ENOENT, "port %u is not exposed", port);
    }
    if (found) {
        ports_store(m, s, t);
        log_info("event=port_removed sandbox=%s port=%u", id, port);
        manager_emit(m, id, "port.remove", json_pack("{s:i}", "port", port));
    }
    manager_release(m, s);
    return r < 0 ? r : 0;
}
