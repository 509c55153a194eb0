/* Port forwarding inside the sandbox. The socket lives in runra-init's poll
 * set; it is read only while the host has granted credit (and the stream's
 * output queue has room), and written from a queue the host may fill only up
 * to its window. The host is trusted no further than that window. */
#include "tcp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"
#include "buf.h"
#include "guest.h"
#include "proto/frame.h"
#include "proto/tcpmsg.h"

/* One read from the socket, one DATA frame. */
#define CHUNK (64u * 1024)

struct tcpfwd {
    int fd;
    uint16_t port;
    bool connecting;
    bool rd_eof;   /* the server closed its side; the host got an empty DATA */
    bool wr_eof;   /* the host sent an empty DATA: shut our write side once drained */
    bool wr_shut;
    struct buf out;  /* bytes for the server */
    uint32_t unacked; /* bytes sent to the host and not yet acknowledged */
};

void tcp_free(struct tcpfwd *t)
{
    if (!t)
        return;
    closep(&t->fd);
    buf_done(&t->out);
    free(t);
}
DEFINE_CLEANUP(struct tcpfwd, tcp_free)

int tcp_start(struct guest *g, const void *payload, size_t len, struct tcpfwd **ret,
              struct runra_err **err)
{
    uint16_t port;
    int r = msg_tcp_connect_decode(payload, len, &port, err);
    if (r < 0)
        return r;
    size_t n = 0;
    for (size_t i = 0; i < RUNRA_CALLS_MAX; i++)
        n += g->calls[i].kind == CALL_TCP;
    if (n >= RUNRA_TCP_CONNS_MAX)
        return err_set(err, EBUSY, "this sandbox already has %d forwarded connections",
                       RUNRA_TCP_CONNS_MAX);
    _cleanup_(tcp_freep) struct tcpfwd *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->port = port;
    t->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (t->fd < 0)
        return err_sys(err, errno, "socket");
    /* Loopback only: this is the sandbox's own namespace, where lo is the
     * only interface, so nothing here can reach past the sandbox. */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(t->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (errno != EINPROGRESS)
            return err_sys(err, errno, "connect to port %u", port);
        t->connecting = true;
    }
    *ret = TAKE_PTR(t);
    return 0;
}

void tcp_pollfd(struct guest *g, const struct tcpfwd *t, struct pollfd *ret)
{
    short ev = 0;
    if (t->connecting) {
        ev = POLLOUT;
    } else {
        if (!t->rd_eof && t->unacked < RUNRA_TCP_WINDOW && !guest_busy(g))
            ev |= POLLIN;
        if (buf_len(&t->out) > 0 || (t->wr_eof && !t->wr_shut))
            ev |= POLLOUT;
    }
    /* With nothing to wait for, leave the socket out: a hung-up socket would
     * otherwise report POLLHUP on every turn and spin the loop. */
    *ret = (struct pollfd){.fd = ev ? t->fd : -1, .events = ev};
}

static void send_ack(struct guest *g, uint32_t id, uint32_t n)
{
    char *json = NULL;
    if (msg_tcp_ack_encode(n, &json) < 0) {
        guest_send_error(g, id, ENOMEM, "out of memory");
        return;
    }
    guest_send_json(g, FRAME_TCP_ACK, id, json);
}

/* 1 once both directions are closed and drained: the call ends. */
static int maybe_done(struct guest *g, uint32_t id, struct tcpfwd *t)
{
    if (!t->rd_eof || !t->wr_shut || buf_len(&t->out) > 0)
        return 0;
    guest_send(g, FRAME_RESULT, id, "{}", 2);
    return 1;
}

static int fail(struct guest *g, uint32_t id, struct tcpfwd *t, int errnum)
{
    char msg[64];
    snprintf(msg, sizeof(msg), "port %u: %s", t->port, strerror(errnum));
    guest_send_error(g, id, errnum, msg);
    return 1;
}

int tcp_event(struct guest *g, uint32_t id, struct tcpfwd *t, short revents)
{
    if (!revents)
        return 0;
    if (t->connecting) {
        int e = 0;
        socklen_t el = sizeof(e);
        if (getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
            e = errno;
        if (e)
            return fail(g, id, t, e);
        t->connecting = false;
        return 0;
    }
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        if (!t->rd_eof && t->unacked < RUNRA_TCP_WINDOW && !guest_busy(g)) {
            size_t room = RUNRA_TCP_WINDOW - t->unacked;
            size_t max = room < CHUNK ? room : CHUNK;
            uint8_t *p = g->conn ? conn_reserve(g->conn, max) : NULL;
            if (!p)
                return 1;
            ssize_t n = read(t->fd, p, max);
            if (n > 0) {
                conn_commit(g->conn, FRAME_DATA, id, (size_t)n);
                t->unacked += (uint32_t)n;
            } else if (n == 0) {
                conn_send_empty(g->conn, FRAME_DATA, id);
                t->rd_eof = true;
            } else if (errno != EAGAIN && errno != EINTR) {
                return fail(g, id, t, errno);
            }
        } else if (revents & POLLERR) {
            int e = 0;
            socklen_t el = sizeof(e);
            getsockopt(t->fd, SOL_SOCKET, SO_ERROR, &e, &el);
            return fail(g, id, t, e ? e : EIO);
        }
    }
    if (revents & POLLOUT) {
        size_t before = buf_len(&t->out);
        while (buf_len(&t->out) > 0) {
            ssize_t n = send(t->fd, buf_head(&t->out), buf_len(&t->out), MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    break;
                return fail(g, id, t, errno);
            }
            buf_consume(&t->out, (size_t)n);
        }
        size_t sent = before - buf_len(&t->out);
        if (sent > 0)
            send_ack(g, id, (uint32_t)sent);
        if (buf_len(&t->out) == 0 && t->wr_eof && !t->wr_shut) {
            shutdown(t->fd, SHUT_WR);
            t->wr_shut = true;
        }
    }
    return maybe_done(g, id, t);
}

int tcp_frame(struct guest *g, uint32_t id, struct tcpfwd *t, uint16_t type, const void *p,
              size_t len)
{
    _cleanup_err_ struct runra_err *err = NULL;
    switch (type) {
    case FRAME_DATA:
        if (t->wr_eof) {
            guest_send_error(g, id, EPROTO, "data after end of stream");
            return 1;
        }
        if (len == 0) {
            t->wr_eof = true;
            return 0;
        }
        if (buf_len(&t->out) + len > RUNRA_TCP_WINDOW) {
            guest_send_error(g, id, EPROTO, "the host overran its send window");
            return 1;
        }
        if (buf_append(&t->out, p, len) < 0) {
            guest_send_error(g, id, ENOMEM, "out of memory");
            return 1;
        }
        return 0;
    case FRAME_TCP_ACK: {
        uint32_t n = 0;
        int r = msg_tcp_ack_decode(p, len, &n, &err);
        if (r < 0 || n > t->unacked) {
            guest_send_error(g, id, EPROTO, "bad acknowledgement");
            return 1;
        }
        t->unacked -= n;
        return 0;
    }
    case FRAME_CANCEL:
        guest_send_error(g, id, ECANCELED, "cancelled");
        return 1;
    default:
        return 0;
    }
}
