/* The client end of runrad's attach WebSocket (see api-attach.c for the
 * message shapes): the HTTP/1.1 upgrade over a connection of its own, then
 * masked frames out and whole messages in, never blocking on a read so a
 * terminal loop can poll the connection and its own input together. */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "base/util.h"
#include "base/ws.h"
#include "client.h"
#include "error.h"
#include "base/enc.h"
#include "http-parse.h"

#define ATTACH_MESSAGE_MAX (4u << 20) /* runrad sends at most a guest frame per message */
#define ATTACH_READ (64u * 1024)
#define ATTACH_HANDSHAKE_MS (30u * 1000)
#define ATTACH_SEND_MS (60u * 1000)   /* runrad that takes no input this long is given up on */

struct runra_attach {
    struct http_conn conn;
    struct ws_reader rd;
    uint8_t *rbuf;
    bool closed;      /* CLOSED was returned */
    bool sent_close;
    int close_code;
    char *message;    /* the last ERROR/CLOSED text */
};

int runra_attach_fd(const runra_attach *a) { return a ? a->conn.fd : -1; }

static int wait_for(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return -ETIMEDOUT;
        struct pollfd p = {.fd = fd, .events = events};
        int n = poll(&p, 1, (int)(deadline - now));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -errno;
    }
}

static int send_all(int fd, const void *buf, size_t n, uint64_t timeout_ms)
{
    const char *p = buf;
    uint64_t deadline = now_ms() + timeout_ms;
    while (n > 0) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k > 0) {
            p += k;
            n -= (size_t)k;
            deadline = now_ms() + timeout_ms;
            continue;
        }
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            return -errno;
        int r = wait_for(fd, POLLOUT, deadline);
        if (r < 0)
            return r;
    }
    return 0;
}

/* One masked frame (RFC 6455 5.3: a client masks every frame). */
static int send_frame(runra_attach *a, uint8_t op, int prefix, const void *data, size_t len,
                      struct runra_error **err)
{
    if (a->conn.fd < 0 || a->sent_close)
        return lib_err_set(err, EPIPE, "the attach is closed");
    uint8_t mask[4];
    if (getrandom(mask, sizeof(mask), 0) != sizeof(mask))
        return lib_err_sys(err, errno, "getrandom");
    size_t total = len + (prefix >= 0);
    uint8_t *f = malloc(WS_HDR_MAX + total);
    if (!f)
        return lib_err_set(err, ENOMEM, "out of memory");
    size_t h = ws_frame_head(f, op, true, total, mask);
    if (prefix >= 0)
        f[h] = (uint8_t)prefix;
    if (len)
        memcpy(f + h + (prefix >= 0), data, len);
    ws_mask(f + h, total, mask, 0);
    int r = send_all(a->conn.fd, f, h + total, ATTACH_SEND_MS);
    free(f);
    if (r < 0)
        return lib_err_sys(err, -r, "sending to runrad");
    return 0;
}

static int send_json(runra_attach *a, json_t *j, struct runra_error **err)
{
    _cleanup_free_ char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return lib_err_set(err, ENOMEM, "out of memory");
    return send_frame(a, WS_OP_TEXT, -1, s, strlen(s), err);
}

int runra_attach_write(runra_attach *a, const void *data, size_t len, struct runra_error **err)
{
    const char *p = data;
    /* runrad takes messages up to a bound; big writes go in pieces. */
    const size_t piece = 256u * 1024;
    do {
        size_t n = len < piece ? len : piece;
        int r = send_frame(a, WS_OP_BINARY, 0, p, n, err);
        if (r < 0)
            return r;
        p += n;
        len -= n;
    } while (len > 0);
    return 0;
}

int runra_attach_resize(runra_attach *a, unsigned cols, unsigned rows, struct runra_error **err)
{
    return send_json(a,
                     json_pack("{s:s,s:I,s:I}", "type", "resize", "cols", (json_int_t)cols,
                               "rows", (json_int_t)rows),
                     err);
}

int runra_attach_signal(runra_attach *a, int sig, struct runra_error **err)
{
    return send_json(a, json_pack("{s:s,s:i}", "type", "signal", "signal", sig), err);
}

int runra_attach_eof(runra_attach *a, struct runra_error **err)
{
    return send_json(a, json_pack("{s:s}", "type", "eof"), err);
}

static void set_message(runra_attach *a, const char *p, size_t n)
{
    free(a->message);
    a->message = strndup(p, n);
}

static int closed_event(runra_attach *a, int code, struct runra_attach_event *ev)
{
    if (!a->closed) {
        a->closed = true;
        a->close_code = code;
    }
    *ev = (struct runra_attach_event){.kind = RUNRA_ATTACH_CLOSED,
                                      .close_code = a->close_code,
                                      .message = a->message ? a->message : ""};
    return 1;
}

/* A text message from runrad: exit or error. 0 for one this client does
 * not know (skipped). */
static int on_text(runra_attach *a, const struct ws_msg *m, struct runra_attach_event *ev,
                   struct runra_error **err)
{
    json_error_t je;
    json_auto_t *j = json_loadb((const char *)m->data, m->len, 0, &je);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (!type)
        return lib_err_set(err, EPROTO, "runrad sent a malformed attach event");
    if (!strcmp(type, "exit")) {
        json_t *code = json_object_get(j, "exitCode"), *sig = json_object_get(j, "signal");
        if (!json_is_integer(code) || !json_is_integer(sig))
            return lib_err_set(err, EPROTO, "runrad sent a malformed exit event");
        *ev = (struct runra_attach_event){.kind = RUNRA_ATTACH_EXIT,
                                          .exit_code = (int)json_integer_value(code),
                                          .signal = (int)json_integer_value(sig)};
        return 1;
    }
    if (!strcmp(type, "error")) {
        const char *msg = json_string_value(json_object_get(j, "message"));
        set_message(a, msg ? msg : "error", msg ? strlen(msg) : 5);
        *ev = (struct runra_attach_event){.kind = RUNRA_ATTACH_ERROR, .message = a->message};
        return 1;
    }
    return 0;
}

int runra_attach_next(runra_attach *a, struct runra_attach_event *ev, struct runra_error **err)
{
    if (a->closed)
        return closed_event(a, a->close_code, ev);
    for (;;) {
        struct ws_msg m;
        int r = ws_reader_next(&a->rd, &m);
        if (r < 0) {
            uint8_t p[WS_CONTROL_MAX];
            size_t n = ws_close_payload(p, a->rd.close_code, a->rd.why);
            send_frame(a, WS_OP_CLOSE, -1, p, n, NULL);
            a->sent_close = true;
            return lib_err_set(err, EPROTO, "runrad broke the WebSocket protocol: %s", a->rd.why);
        }
        if (r > 0) {
            switch (m.op) {
            case WS_OP_BINARY:
                if (m.len < 1 || (m.data[0] != 1 && m.data[0] != 2))
                    return lib_err_set(err, EPROTO, "runrad sent output of an unknown stream");
                *ev = (struct runra_attach_event){
                    .kind = RUNRA_ATTACH_OUTPUT,
                    .stream = m.data[0] == 1 ? RUNRA_STREAM_STDOUT : RUNRA_STREAM_STDERR,
                    .data = m.data + 1,
                    .len = m.len - 1};
                return 1;
            case WS_OP_TEXT:
                r = on_text(a, &m, ev, err);
                if (r != 0)
                    return r;
                continue;
            case WS_OP_PING:
                send_frame(a, WS_OP_PONG, -1, m.data, m.len, NULL);
                continue;
            case WS_OP_CLOSE: {
                int code = m.len >= 2 ? (m.data[0] << 8 | m.data[1]) : WS_CLOSE_NO_STATUS;
                if (m.len > 2)
                    set_message(a, (const char *)m.data + 2, m.len - 2);
                if (!a->sent_close) {
                    uint8_t p[2] = {m.data[0], m.data[1]};
                    send_frame(a, WS_OP_CLOSE, -1, p, m.len >= 2 ? 2 : 0, NULL);
                    a->sent_close = true;
                }
                return closed_event(a, code, ev);
            }
            default:
                continue;
            }
        }
        ssize_t n = recv(a->conn.fd, a->rbuf, ATTACH_READ, MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (n <= 0) {
            set_message(a, "the connection to runrad dropped", 32);
            return closed_event(a, 1006, ev);
        }
        r = ws_reader_feed(&a->rd, a->rbuf, (size_t)n);
        if (r < 0)
            return lib_err_set(err, -r, "reading from runrad");
    }
}

void runra_attach_close(runra_attach *a)
{
    if (!a)
        return;
    if (a->conn.fd >= 0 && !a->sent_close) {
        uint8_t p[2] = {WS_CLOSE_NORMAL >> 8, WS_CLOSE_NORMAL & 0xff};
        send_frame(a, WS_OP_CLOSE, -1, p, 2, NULL);
    }
    http_conn_done(&a->conn);
    ws_reader_done(&a->rd);
    free(a->rbuf);
    free(a->message);
    free(a);
}

/* Reads the answer's head; on 101 checks the accept key and keeps what
 * came after it; on anything else reads the whole answer for its error. */
static int handshake(runra_attach *a, const char *accept, struct runra_error **err)
{
    struct buf in = {.max = HTTP_HEAD_MAX + ATTACH_READ};
    uint64_t deadline = now_ms() + ATTACH_HANDSHAKE_MS;
    char *end = NULL;
    int r = 0;
    while (!end) {
        if ((r = wait_for(a->conn.fd, POLLIN, deadline)) < 0) {
            r = lib_err_sys(err, -r, "waiting for runrad's answer");
            goto out;
        }
        ssize_t n = recv(a->conn.fd, a->rbuf, ATTACH_READ, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            r = lib_err_set(err, EPROTO, "runrad closed the connection during the upgrade");
            goto out;
        }
        if (buf_append(&in, a->rbuf, (size_t)n) < 0 || buf_append(&in, "", 1) < 0) {
            r = lib_err_set(err, EPROTO, "runrad's answer head is too long");
            goto out;
        }
        in.len--; /* keep the NUL out of the length */
        end = strstr(in.data, "\r\n\r\n");
    }
    int status = 0;
    if (sscanf(in.data, "HTTP/1.%*d %d", &status) != 1) {
        r = lib_err_set(err, EPROTO, "runrad sent a malformed answer");
        goto out;
    }
    if (status != 101) {
        /* An ordinary answer: its body says what went wrong. */
        struct http_response resp = {.status = status, .body = {.max = 1u << 20}, .sink_fd = -1};
        const char *body = end + 4;
        buf_append(&resp.body, body, in.len - (size_t)(body - in.data));
        /* Read until the declared length, if any. */
        const char *cl = strcasestr(in.data, "\r\nContent-Length:");
        size_t want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        while (resp.body.len < want && want <= (1u << 20)) {
            if (wait_for(a->conn.fd, POLLIN, deadline) < 0)
                break;
            ssize_t n = recv(a->conn.fd, a->rbuf, ATTACH_READ, MSG_DONTWAIT);
            if (n < 0 && (errno == EAGAIN || errno == EINTR))
                continue;
            if (n <= 0 || buf_append(&resp.body, a->rbuf, (size_t)n) < 0)
                break;
        }
        r = client_error_from_body(&resp, err);
        buf_done(&resp.body);
        goto out;
    }
    /* Check the accept key among the head's fields. */
    bool ok = false;
    for (char *line = strstr(in.data, "\r\n"); line && line < end; line = strstr(line + 2, "\r\n")) {
        const char *f = line + 2;
        if (!strncasecmp(f, "Sec-WebSocket-Accept:", 21)) {
            f += 21;
            while (*f == ' ')
                f++;
            ok = !strncmp(f, accept, WS_ACCEPT_LEN) &&
                 (f[WS_ACCEPT_LEN] == '\r' || f[WS_ACCEPT_LEN] == ' ');
        }
    }
    if (!ok) {
        r = lib_err_set(err, EPROTO, "runrad's WebSocket accept key is wrong");
        goto out;
    }
    size_t head = (size_t)(end + 4 - in.data);
    if (in.len > head && (r = ws_reader_feed(&a->rd, in.data + head, in.len - head)) < 0)
        r = lib_err_set(err, -r, "reading from runrad");
out:
    buf_done(&in);
    return r;
}

int runra_process_attach(runra_client *c, const char *id, const char *ref,
                         const struct runra_attach_opts *o, runra_attach **ret,
                         struct runra_error **err)
{
    struct buf t = {0};
    int r = client_proc_target(&t, id, ref, "/attach", err);
    char q[64];
    snprintf(q, sizeof(q), "?tail=%" PRIu64 "%s", o ? o->tail : 0,
             o && o->kill_on_close ? "&kill=true" : "");
    if (r >= 0 && buf_append_str(&t, q) < 0)
        r = lib_err_set(err, ENOMEM, "out of memory");
    if (r < 0) {
        buf_done(&t);
        return r;
    }
    runra_attach *a = calloc(1, sizeof(*a));
    if (!a || !(a->rbuf = malloc(ATTACH_READ))) {
        free(a);
        buf_done(&t);
        return lib_err_set(err, ENOMEM, "out of memory");
    }
    http_conn_init(&a->conn, &c->ep);
    ws_reader_init(&a->rd, false, ATTACH_MESSAGE_MAX);
    uint8_t raw[16];
    char *key = NULL, accept[WS_ACCEPT_LEN + 1];
    size_t klen = 0;
    struct buf h = {0};
    if (getrandom(raw, sizeof(raw), 0) != sizeof(raw) || base64_encode(raw, 16, &key, &klen) < 0 ||
        ws_accept_key(key, accept) < 0) {
        r = lib_err_set(err, EIO, "making a WebSocket key");
        goto fail;
    }
    r = http_conn_connect(&a->conn, err);
    if (r < 0)
        goto fail;
    if (buf_printf(&h,
                   "GET %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: librunra/%s\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Key: %s\r\n",
                   a->conn.ep->prefix, t.data, a->conn.ep->host_header, RUNRA_VERSION, key) < 0 ||
        (c->conn.auth && buf_printf(&h, "Authorization: %s\r\n", c->conn.auth) < 0) ||
        buf_append_str(&h, "\r\n") < 0) {
        r = lib_err_set(err, ENOMEM, "out of memory");
        goto fail;
    }
    r = send_all(a->conn.fd, h.data, h.len, ATTACH_HANDSHAKE_MS);
    if (r < 0) {
        r = lib_err_sys(err, -r, "sending to runrad");
        goto fail;
    }
    r = handshake(a, accept, err);
    if (r < 0)
        goto fail;
    free(key);
    buf_done(&h);
    buf_done(&t);
    *ret = a;
    return 0;
fail:
    free(key);
    buf_done(&h);
    buf_done(&t);
    a->sent_close = true; /* nothing to close on a connection never upgraded */
    runra_attach_close(a);
    return r;
}
