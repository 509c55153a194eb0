/* GET /v1/sandboxes/{id}/processes/{proc}/attach: a WebSocket (RFC 6455)
 * onto a background process, the way a terminal is attached to a shell.
 *
 * Server to client: binary frames whose first byte names the stream (1
 * stdout, 2 stderr; a pty process has only stdout), then a text frame
 * {"type":"exit",...} and a close. Client to server: binary frames whose
 * first byte is 0 (stdin), and text frames {"type":"resize","cols","rows"},
 * {"type":"signal","signal"}, {"type":"eof"}. A failed control message is
 * answered with {"type":"error",...} and the session goes on; a broken frame
 * ends it with the matching close code.
 *
 * The session runs in the connection's own thread (MHD's thread-per-
 * connection mode lets an upgrade handler block) plus one pump thread that
 * turns the process's log follow into frames. Everything it holds (the log
 * stream's sandbox reference, the socket) goes when either side ends.
 *
 * Over TCP the session also ends when the API key that let it in is
 * revoked: the reader, which wakes every ATTACH_SLICE_MS anyway, sees it,
 * sends close 1008 (policy violation) and from then on passes nothing more
 * to the process. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "api.h"
#include "base/log.h"
#include "base/util.h"
#include "base/ws.h"
#include "keys.h"
#include "manager-proc.h"
#include "proto/limits.h"

#define ATTACH_SLICE_MS 100           /* each side checks on the other this often */
#define ATTACH_CLOSE_WAIT_MS 1000     /* for the client's close after ours */
#define ATTACH_SEND_STALL_MS (60u * 1000) /* a client that reads nothing this long is dropped */
#define ATTACH_STDIN_RETRY_MS 10      /* a process not reading its stdin yet */
#define ATTACH_READ (64u * 1024)

struct attach {
    struct manager *m;
    char id[ROUTE_ID_MAX], ref[ROUTE_ID_MAX];
    struct mstream *ms;
    bool kill_on_close;
    bool upgraded;
    int fd;
    pthread_mutex_t wlock; /* one frame at a time on the socket */
    atomic_bool stop;      /* the client side ended: the pump stops */
    atomic_bool closing;   /* we sent our close: the reader waits briefly */
    atomic_bool exited;    /* the process's exit was seen */
    bool write_failed;
    bool close_sent;       /* under wlock: no frame may follow our close */
    struct key_watch key;  /* the API key that let it in; the reader's */
    struct attach *next;
};

/* Live sessions, so a stopping daemon can end them (MHD joins connection
 * threads and would otherwise wait on them forever). */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t live_cond = PTHREAD_COND_INITIALIZER;
static struct attach *live;
static bool stopping;

static void live_add(struct attach *at)
{
    pthread_mutex_lock(&live_lock);
    at->next = live;
    live = at;
    if (stopping)
        shutdown(at->fd, SHUT_RDWR);
    pthread_mutex_unlock(&live_lock);
}

static void live_remove(struct attach *at)
{
    pthread_mutex_lock(&live_lock);
    for (struct attach **p = &live; *p; p = &(*p)->next)
        if (*p == at) {
            *p = at->next;
            break;
        }
    pthread_cond_broadcast(&live_cond);
    pthread_mutex_unlock(&live_lock);
}

void api_attach_drain(unsigned timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&live_lock);
    while (live && pthread_cond_timedwait(&live_cond, &live_lock, &ts) == 0)
        ;
    pthread_mutex_unlock(&live_lock);
}

void api_attach_stop_all(void)
{
    pthread_mutex_lock(&live_lock);
    stopping = true;
    for (struct attach *at = live; at; at = at->next)
        shutdown(at->fd, SHUT_RDWR);
    pthread_mutex_unlock(&live_lock);
}

void api_attach_free(struct attach *at)
{
    if (!at)
        return;
    mstream_close(at->ms);
    pthread_mutex_destroy(&at->wlock);
    free(at);
}

bool api_attach_upgraded(const struct attach *at) { return at && at->upgraded; }

/* Writes all of p; the socket may be non-blocking. A client that takes
 * nothing for ATTACH_SEND_STALL_MS is given up on. */
static int send_all(struct attach *at, const uint8_t *p, size_t n)
{
    uint64_t stall_end = now_ms() + ATTACH_SEND_STALL_MS;
    while (n > 0) {
        ssize_t w = send(at->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            stall_end = now_ms() + ATTACH_SEND_STALL_MS;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno != EAGAIN)
            return -errno;
        if (now_ms() >= stall_end)
            return -ETIMEDOUT;
        struct pollfd pf = {.fd = at->fd, .events = POLLOUT};
        poll(&pf, 1, ATTACH_SLICE_MS);
    }
    return 0;
}

/* One unmasked frame: head, an optional one-byte prefix (the stream), data. */
static int send_frame(struct attach *at, uint8_t op, int prefix, const void *data, size_t len)
{
    uint8_t head[WS_HDR_MAX + 1];
    size_t total = len + (prefix >= 0);
    size_t h = ws_frame_head(head, op, true, total, NULL);
    if (prefix >= 0)
        head[h++] = (uint8_t)prefix;
    pthread_mutex_lock(&at->wlock);
    if (at->close_sent) {
        pthread_mutex_unlock(&at->wlock);
        return -EPIPE;
    }
    int r = at->write_failed ? -EPIPE : send_all(at, head, h);
    if (r >= 0 && len)
        r = send_all(at, data, len);
    if (r < 0)
        at->write_failed = true;
    if (op == WS_OP_CLOSE)
        at->close_sent = true;
    pthread_mutex_unlock(&at->wlock);
    return r;
}

static int send_json(struct attach *at, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return -ENOMEM;
    int r = send_frame(at, WS_OP_TEXT, -1, s, strlen(s));
    free(s);
    return r;
}

static void send_error(struct attach *at, int r, const struct runra_err *e)
{
    int code = e ? e->code : (r < 0 ? -r : r);
    const char *msg = e && e->msg ? e->msg : strerror(code);
    send_json(at, json_pack("{s:s,s:s}", "type", "error", "message", msg));
}

static void send_close(struct attach *at, uint16_t code, const char *why)
{
    if (atomic_exchange(&at->closing, true))
        return;
    uint8_t p[WS_CONTROL_MAX];
    size_t n = ws_close_payload(p, code, why);
    send_frame(at, WS_OP_CLOSE, -1, p, n);
}

/* The process's output and exit, as frames, until it exits, the sandbox
 * goes, or the client side ends. */
static void *pump(void *arg)
{
    struct attach *at = arg;
    while (!atomic_load(&at->stop) && !atomic_load(&at->closing)) {
        _cleanup_err_ struct runra_err *e = NULL;
        struct mstream_event ev = {0};
        int r = mstream_next(at->ms, ATTACH_SLICE_MS, &ev, &e);
        if (r == 0)
            continue;
        if (r < 0) {
            send_error(at, r, e);
            send_close(at, WS_CLOSE_INTERNAL, "the sandbox stopped");
            break;
        }
        if (ev.kind == MS_STDOUT || ev.kind == MS_STDERR) {
            r = send_frame(at, WS_OP_BINARY, ev.kind == MS_STDOUT ? 1 : 2, ev.data, ev.len);
            mstream_event_done(&ev);
            if (r < 0)
                break;
            continue;
        }
        if (ev.kind == MS_EXIT) {
            const struct exec_exit *x = &ev.exit;
            atomic_store(&at->exited, true);
            send_json(at, json_pack("{s:s,s:i,s:i,s:I,s:I,s:I}", "type", "exit", "exitCode",
                                    x->exit_code, "signal", x->signal, "durationMs",
                                    (json_int_t)x->duration_ms, "stdoutBytes",
                                    (json_int_t)x->stdout_bytes, "stderrBytes",
                                    (json_int_t)x->stderr_bytes));
            send_close(at, WS_CLOSE_NORMAL, "process exited");
        } else {
            send_close(at, WS_CLOSE_NORMAL, "end of output");
        }
        mstream_event_done(&ev);
        break;
    }
    /* The sandbox reference goes now, not when the client gets round to
     * closing: a destroy must not wait on a slow client. */
    mstream_close(at->ms);
    at->ms = NULL;
    return NULL;
}

static int write_stdin(struct attach *at, const void *data, size_t n, bool close_in,
                       struct runra_err **err)
{
    /* Piece by piece, each one call the guest takes whole or refuses
     * (EAGAIN: it holds too much unread), so a retry never repeats what
     * was already delivered. */
    const uint8_t *p = data;
    do {
        size_t k = n < RUNRA_PROC_STDIN_CHUNK ? n : RUNRA_PROC_STDIN_CHUNK;
        for (;;) {
            err_free(*err);
            *err = NULL;
            int r = manager_proc_stdin(at->m, at->id, at->ref, p, k, close_in && k == n, err);
            if (r >= 0)
                break;
            pthread_mutex_lock(&live_lock);
            bool daemon_stopping = stopping;
            pthread_mutex_unlock(&live_lock);
            if (r != -EAGAIN || daemon_stopping || atomic_load(&at->exited) ||
                atomic_load(&at->closing) || keys_watch_revoked(&at->key) ||
                api_client_gone(at->fd))
                return r;
            struct pollfd pf = {.fd = -1};
            poll(&pf, 0, ATTACH_STDIN_RETRY_MS);
        }
        p += k;
        n -= k;
    } while (n > 0);
    return 0;
}

/* A client's text frame. -EBADMSG ends the session (close 1007). */
static int on_control(struct attach *at, const uint8_t *data, size_t len)
{
    json_error_t je;
    json_auto_t *j = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(j))
        return -EBADMSG;
    const char *type = NULL;
    json_t *sig = NULL;
    json_int_t cols = 0, rows = 0;
    _cleanup_err_ struct runra_err *e = NULL;
    int r;
    if (json_unpack_ex(j, &je, 0, "{s:s}", "type", &type) < 0)
        return -EBADMSG;
    if (!strcmp(type, "resize")) {
        if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s:I,s:I}", "type", &type, "cols", &cols,
                           "rows", &rows) < 0)
            return -EBADMSG;
        r = proc_check_dim(cols, "cols", &e);
        if (r >= 0)
            r = proc_check_dim(rows, "rows", &e);
        if (r >= 0)
            r = manager_proc_resize(at->m, at->id, at->ref, (uint16_t)cols, (uint16_t)rows, &e);
    } else if (!strcmp(type, "signal")) {
        int s = 0;
        if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s:o}", "type", &type, "signal", &sig) < 0)
            return -EBADMSG;
        r = api_parse_signal(sig, &s, &e);
        if (r >= 0)
            r = manager_proc_signal(at->m, at->id, at->ref, s, &e);
    } else if (!strcmp(type, "eof")) {
        if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s}", "type", &type) < 0)
            return -EBADMSG;
        r = write_stdin(at, NULL, 0, true, &e);
    } else {
        return -EBADMSG;
    }
    if (r < 0 && !atomic_load(&at->exited))
        send_error(at, r, e);
    return 0;
}

/* The client's frames, until it closes, breaks the protocol or goes away,
 * or (after our close) a short wait for its close runs out. */
static void read_client(struct attach *at, const char *extra, size_t extra_len)
{
    struct ws_reader rd;
    ws_reader_init(&rd, true, RUNRA_WS_MESSAGE_MAX);
    _cleanup_free_ uint8_t *buf = malloc(ATTACH_READ);
    uint64_t close_deadline = 0;
    if (!buf || (extra_len && ws_reader_feed(&rd, extra, extra_len) < 0))
        goto out;
    for (;;) {
        struct ws_msg msg;
        int r;
        while ((r = ws_reader_next(&rd, &msg)) > 0) {
            if (keys_watch_revoked(&at->key))
                send_close(at, WS_CLOSE_POLICY, "API key revoked");
            /* After our close only the client's close counts (RFC 6455
             * 1.4): a revoked key's stdin must not reach the process. */
            if (atomic_load(&at->closing) && msg.op != WS_OP_CLOSE)
                continue;
            switch (msg.op) {
            case WS_OP_BINARY: {
                if (msg.len < 1 || msg.data[0] != 0) {
                    send_close(at, WS_CLOSE_UNSUPPORTED, "binary frames must start with 0 (stdin)");
                    goto out_wait;
                }
                _cleanup_err_ struct runra_err *e = NULL;
                if (msg.len > 1) {
                    int w = write_stdin(at, msg.data + 1, msg.len - 1, false, &e);
                    if (w < 0 && !atomic_load(&at->exited))
                        send_error(at, w, e);
                }
                break;
            }
            case WS_OP_TEXT:
                if (on_control(at, msg.data, msg.len) < 0) {
                    send_close(at, WS_CLOSE_INVALID, "bad control message");
                    goto out_wait;
                }
                break;
            case WS_OP_PING:
                send_frame(at, WS_OP_PONG, -1, msg.data, msg.len);
                break;
            case WS_OP_PONG:
                break;
            case WS_OP_CLOSE: {
                /* Echo the client's code, as RFC 6455 5.5.1 asks. */
                uint16_t code = msg.len >= 2 ? (uint16_t)(msg.data[0] << 8 | msg.data[1])
                                             : WS_CLOSE_NORMAL;
                send_close(at, code, NULL);
                goto out;
            }
            }
        }
        if (r < 0) {
            send_close(at, rd.close_code, rd.why);
            goto out_wait;
        }
        if (keys_watch_revoked(&at->key))
            send_close(at, WS_CLOSE_POLICY, "API key revoked");
        if (atomic_load(&at->closing)) {
            if (!close_deadline)
                close_deadline = now_ms() + ATTACH_CLOSE_WAIT_MS;
            else if (now_ms() >= close_deadline)
                goto out;
        }
        struct pollfd pf = {.fd = at->fd, .events = POLLIN};
        int pr = poll(&pf, 1, ATTACH_SLICE_MS);
        if (pr < 0 && errno != EINTR)
            goto out;
        if (pr <= 0)
            continue;
        ssize_t n = recv(at->fd, buf, ATTACH_READ, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            goto out;
        if (ws_reader_feed(&rd, buf, (size_t)n) < 0) {
            send_close(at, WS_CLOSE_TOO_BIG, "message too big");
            goto out_wait;
        }
    }
out_wait:
    /* After a protocol error: drain what the client still sends, briefly,
     * so our close frame is not lost to a reset. */
    for (uint64_t end = now_ms() + ATTACH_CLOSE_WAIT_MS; now_ms() < end;) {
        struct pollfd pf = {.fd = at->fd, .events = POLLIN};
        if (poll(&pf, 1, ATTACH_SLICE_MS) <= 0)
            continue;
        if (recv(at->fd, buf, ATTACH_READ, MSG_DONTWAIT) <= 0)
            break;
    }
out:
    ws_reader_done(&rd);
}

static void on_upgraded(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra,
                        size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
    struct attach *at = cls;
    struct api_req *rq = con_cls;
    (void)c;
    /* The session is ours now; the request (whose end MHD reports after
     * this returns, in this same thread) must not free it. */
    if (rq && rq->attach == at)
        rq->attach = NULL;
    at->upgraded = true;
    at->fd = sock;
    live_add(at);
    pthread_t t;
    bool pumping = pthread_create(&t, NULL, pump, at) == 0;
    if (pumping)
        read_client(at, extra, extra_len);
    atomic_store(&at->stop, true);
    if (pumping)
        pthread_join(t, NULL);
    if (at->kill_on_close && !atomic_load(&at->exited)) {
        _cleanup_err_ struct runra_err *e = NULL;
        manager_proc_signal(at->m, at->id, at->ref, SIGKILL, &e);
    }
    live_remove(at);
    MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
    api_attach_free(at);
}

/* True when header holds token in its comma-separated list, any case. */
static bool header_has_token(const char *header, const char *token)
{
    size_t tl = strlen(token);
    for (const char *p = header; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *end = p;
        while (*end && *end != ',')
            end++;
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t'))
            last--;
        if ((size_t)(last - p) == tl && !strncasecmp(p, token, tl))
            return true;
        p = end;
    }
    return false;
}

enum MHD_Result api_proc_attach(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    static const char *const allowed[] = {"tail", "kill", NULL};
    _cleanup_err_ struct runra_err *e = NULL;
    uint64_t tail = 0;
    bool kill_on_close = false;
    int r = api_check_query(c, allowed, NULL, &e);
    if (r >= 0)
        r = api_query_u64(c, "tail", &tail, &e);
    if (r >= 0)
        r = api_query_bool(c, "kill", &kill_on_close, &e);
    if (r >= 0) {
        r = proc_check_ref(rq->match.proc, &e);
        if (r < 0)
            r = err_set(&e, EINVAL, "'%.64s' is neither a pid nor a valid tag", rq->match.proc);
    }
    if (r < 0)
        return api_respond_err(c, r, e);

    const char *upgrade = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Upgrade");
    const char *conn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Connection");
    const char *version = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
    const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
    if (!upgrade || !header_has_token(upgrade, "websocket") || !conn ||
        !header_has_token(conn, "upgrade"))
        return api_respond_errf(c, EPROTONOSUPPORT,
                                "attach is a WebSocket: send Upgrade: websocket, Connection: "
                                "Upgrade, Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key");
    char accept[WS_ACCEPT_LEN + 1];
    if (!version || strcmp(version, "13") != 0)
        return api_respond_errf(c, EPROTONOSUPPORT, "only WebSocket version 13 is spoken");
    if (!key || ws_accept_key(key, accept) < 0)
        return api_respond_errf(c, EINVAL, "Sec-WebSocket-Key must be base64 of 16 bytes");

    struct attach *at = calloc(1, sizeof(*at));
    if (!at)
        return MHD_NO;
    pthread_mutex_init(&at->wlock, NULL);
    at->m = a->m;
    at->fd = -1;
    at->kill_on_close = kill_on_close;
    keys_watch_init(&at->key, a->keys, rq->tenant);
    snprintf(at->id, sizeof(at->id), "%s", rq->match.id);
    snprintf(at->ref, sizeof(at->ref), "%s", rq->match.proc);
    /* Opened before answering, so an unknown process is a plain 404. */
    r = manager_proc_logs_open(a->m, at->id, at->ref, tail, true, &at->ms, &e);
    if (r < 0) {
        api_attach_free(at);
        return api_respond_err(c, r, e);
    }
    struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgraded, at);
    if (!resp) {
        api_attach_free(at);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Upgrade", "websocket");
    MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
    /* Until the upgrade happens the request owns the session; a client
     * that leaves before it does has it freed with the request. */
    rq->attach = at;
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
    MHD_destroy_response(resp);
    return ret;
}
