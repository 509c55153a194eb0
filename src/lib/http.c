/* The transport under librunra: a small HTTP/1.1 client written for runrad
 * instead of libcurl, because loading libcurl and its ~30 shared libraries
 * costs ~6 ms per process, more than a whole bubblewrap run, and the CLI's
 * start-up is benchmarked. It speaks only what runrad needs: keep-alive,
 * Content-Length or chunked bodies both ways, and 100-continue tolerance. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "base/util.h"
#include "error.h"
#include "http-parse.h"

#define TICK_MS 250
#define CONNECT_TIMEOUT_MS 10000

void http_conn_init(struct http_conn *c, const struct endpoint *ep)
{
    *c = (struct http_conn){ .ep = ep, .fd = -1 };
}

void http_conn_close(struct http_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->reused = false;
}

void http_conn_done(struct http_conn *c)
{
    http_conn_close(c);
    free(c->auth);
    free(c->iobuf);
    c->auth = c->iobuf = NULL;
}

static uint64_t deadline_of(uint64_t timeout_ms)
{
    return timeout_ms ? now_ms() + timeout_ms : UINT64_MAX;
}

/* Waits until fd is ready for events, checking the cancel callback every
 * tick and after every signal. Returns the poll revents, or -errno. */
static int wait_fd(struct http_conn *c, int fd, short events, uint64_t deadline,
                   struct runra_error **err)
{
    for (;;) {
        if (c->cancel && c->cancel(c->cancel_userdata))
            return lib_err_set(err, ECANCELED, "request canceled");
        uint64_t now = now_ms();
        if (now >= deadline)
            return lib_err_set(err, ETIMEDOUT, "no answer from runrad at %s in time",
                               c->ep->display);
        uint64_t left = deadline - now;
        struct pollfd pfd = { .fd = fd, .events = events };
        int n = poll(&pfd, 1, left < TICK_MS ? (int)left : TICK_MS);
        if (n < 0 && errno != EINTR)
            return lib_err_sys(err, errno, "poll");
        if (n > 0)
            return pfd.revents;
    }
}

static int connect_unix(struct http_conn *c, struct runra_error **err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    /* url.c checked that the path fits. */
    memcpy(sa.sun_path, c->ep->path, strlen(c->ep->path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return lib_err_sys(err, errno, "socket");
    uint64_t deadline = now_ms() + CONNECT_TIMEOUT_MS;
    while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        /* A unix socket whose backlog is full says EAGAIN and has not begun
         * to connect: there is nothing to wait on but time, so retry. */
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return lib_err_sys(err, errno, "cannot connect to runrad at %s", c->ep->path);
        if (c->cancel && c->cancel(c->cancel_userdata))
            return lib_err_set(err, ECANCELED, "request canceled");
        if (now_ms() >= deadline)
            return lib_err_set(err, ETIMEDOUT, "runrad at %s accepts no connections",
                               c->ep->path);
        (void)poll(NULL, 0, 5);
    }
    c->fd = TAKE_FD(fd);
    return 0;
}

static int connect_tcp(struct http_conn *c, struct runra_error **err)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    int g = getaddrinfo(c->ep->host, c->ep->port, &hints, &res);
    if (g != 0)
        return lib_err_set(err, g == EAI_SYSTEM ? errno : EHOSTUNREACH,
                           "cannot resolve '%s': %s", c->ep->host, gai_strerror(g));
    int last = ECONNREFUSED;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        _cleanup_close_ int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            last = errno;
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            if (errno != EINPROGRESS) {
                last = errno;
                continue;
            }
            struct runra_error *werr = NULL;
            int r = wait_fd(c, fd, POLLOUT, now_ms() + CONNECT_TIMEOUT_MS, &werr);
            if (r == -ECANCELED) {
                freeaddrinfo(res);
                if (err && !*err)
                    *err = werr;
                else
                    runra_error_free(werr);
                return r;
            }
            runra_error_free(werr);
            if (r < 0) {
                last = -r;
                continue;
            }
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
                soerr = errno;
            if (soerr) {
                last = soerr;
                continue;
            }
        }
        /* Requests are small and answered one at a time; Nagle would only
         * add delay between the head and a body sent separately. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        c->fd = TAKE_FD(fd);
        freeaddrinfo(res);
        return 0;
    }
    freeaddrinfo(res);
    return lib_err_sys(err, last, "cannot connect to runrad at %s", c->ep->display);
}

int http_conn_connect(struct http_conn *c, struct runra_error **err)
{
    if (c->fd >= 0)
        return 0;
    c->reused = false;
    return c->ep->kind == ENDPOINT_UNIX ? connect_unix(c, err) : connect_tcp(c, err);
}

/* A kept-alive connection the server has since closed reads as EOF (or has
 * stray bytes); either way it cannot carry another request. */
static bool conn_alive(struct http_conn *c)
{
    char ch;
    ssize_t n = recv(c->fd, &ch, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* Sends all of p. If the server starts answering (or hangs up) before we
 * finished, stops early and sets *answered: the response says why. */
static int send_all(struct http_conn *c, const char *p, size_t n, uint64_t deadline,
                    bool *answered, struct runra_error **err)
{
    while (n > 0 && !*answered) {
        ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
        if (k >= 0) {
            p += k;
            n -= (size_t)k;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno == EPIPE || errno == ECONNRESET) {
            *answered = true;
            break;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return lib_err_sys(err, errno, "sending to runrad");
        int ev = wait_fd(c, c->fd, POLLOUT | POLLIN, deadline, err);
        if (ev < 0)
            return ev;
        if (ev & (POLLIN | POLLHUP | POLLERR))
            *answered = true;
    }
    return 0;
}

/* Reads from a caller's fd, retrying after signals unless canceled. */
static ssize_t read_src(struct http_conn *c, int fd, void *p, size_t n, struct runra_error **err)
{
    for (;;) {
        ssize_t k = read(fd, p, n);
        if (k >= 0)
            return k;
        if (errno != EINTR)
            return lib_err_sys(err, errno, "reading the upload");
        if (c->cancel && c->cancel(c->cancel_userdata))
            return lib_err_set(err, ECANCELED, "request canceled");
    }
}

static int send_fd_length(struct http_conn *c, int fd, uint64_t len, uint64_t deadline,
                          bool *answered, struct runra_error **err)
{
    while (len > 0 && !*answered) {
        size_t want = len < HTTP_IOBUF ? (size_t)len : HTTP_IOBUF;
        ssize_t k = read_src(c, fd, c->iobuf, want, err);
        if (k < 0)
            return (int)k;
        if (k == 0)
            return lib_err_set(err, EIO, "the file shrank while it was being sent");
        int r = send_all(c, c->iobuf, (size_t)k, deadline, answered, err);
        if (r < 0)
            return r;
        len -= (uint64_t)k;
    }
    return 0;
}

static int send_fd_chunked(struct http_conn *c, int fd, uint64_t deadline, bool *answered,
                           struct runra_error **err)
{
    /* Each chunk is "<hex>\r\n<data>\r\n", built around the data in place
     * so it leaves in one send. */
    enum { ROOM = 16 };
    _cleanup_free_ char *chunk = malloc(ROOM + HTTP_IOBUF + 2);
    if (!chunk)
        return lib_err_set(err, ENOMEM, "out of memory");
    while (!*answered) {
        ssize_t k = read_src(c, fd, chunk + ROOM, HTTP_IOBUF, err);
        if (k < 0)
            return (int)k;
        if (k == 0)
            return send_all(c, "0\r\n\r\n", 5, deadline, answered, err);
        char size[ROOM];
        int sl = snprintf(size, sizeof(size), "%zx\r\n", (size_t)k);
        memcpy(chunk + ROOM - sl, size, (size_t)sl);
        memcpy(chunk + ROOM + k, "\r\n", 2);
        int r = send_all(c, chunk + ROOM - sl, (size_t)sl + (size_t)k + 2, deadline, answered,
                         err);
        if (r < 0)
            return r;
    }
    return 0;
}

struct sink {
    struct http_parser *parser;
    struct http_response *resp;
    int err; /* why the callback stopped, for the message */
};

static int on_body(void *userdata, const char *p, size_t n)
{
    struct sink *s = userdata;
    struct http_response *resp = s->resp;
    if (resp->sink_cb && s->parser->status >= 200 && s->parser->status < 300) {
        resp->sink_bytes += n;
        int r = resp->sink_cb(resp->sink_userdata, p, n);
        return r < 0 ? (s->err = r) : 0;
    }
    if (resp->sink_fd >= 0 && s->parser->status >= 200 && s->parser->status < 300) {
        int r = write_full(resp->sink_fd, p, n);
        if (r < 0)
            return s->err = r;
        resp->sink_bytes += n;
        return 0;
    }
    int r = buf_append(&resp->body, p, n);
    return r < 0 ? (s->err = r) : 0;
}

/* Builds the request head. Every value in it is either ours or was checked
 * (the target is escaped, the Host header validated, the key screened for
 * control characters), so no caller byte can start a new header line. */
static int build_head(struct http_conn *c, const struct http_request *req, bool has_length,
                      uint64_t length, struct buf *h)
{
    int r = buf_printf(h, "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: librunra/%s\r\n",
                       req->method, c->ep->prefix, req->target, c->ep->host_header,
                       RUNRA_VERSION);
    if (r >= 0 && c->auth)
        r = buf_printf(h, "Authorization: %s\r\n", c->auth);
    bool has_body = req->body || req->body_fd >= 0;
    if (r >= 0 && has_body && req->content_type)
        r = buf_printf(h, "Content-Type: %s\r\n", req->content_type);
    if (r >= 0 && has_body) {
        if (has_length)
            r = buf_printf(h, "Content-Length: %" PRIu64 "\r\n", length);
        else
            r = buf_append_str(h, "Transfer-Encoding: chunked\r\n");
    } else if (r >= 0 && (strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0))
        r = buf_append_str(h, "Content-Length: 0\r\n");
    if (r >= 0)
        r = buf_append_str(h, "\r\n");
    return r;
}

/* One attempt. *got_bytes tells the caller whether any response byte came
 * back, which decides whether a failure on a reused connection may be
 * retried. */
static int exchange_once(struct http_conn *c, const struct http_request *req,
                         struct http_response *resp, uint64_t deadline, bool *got_bytes,
                         struct runra_error **err)
{
    int r;
    *got_bytes = false;

    bool has_length = true;
    uint64_t length = req->body_len;
    if (req->body_fd >= 0) {
        struct stat st;
        off_t pos;
        if (fstat(req->body_fd, &st) < 0)
            return lib_err_sys(err, errno, "stat of the upload");
        if (S_ISREG(st.st_mode) && (pos = lseek(req->body_fd, 0, SEEK_CUR)) >= 0)
            length = st.st_size > pos ? (uint64_t)(st.st_size - pos) : 0;
        else
            has_length = false;
    }

    /* A small body rides in the same send as the head. */
    bool inline_body = req->body_fd < 0 && req->body && req->body_len <= HTTP_IOBUF;
    struct buf head = { 0 };
    r = build_head(c, req, has_length, length, &head);
    if (r >= 0 && inline_body)
        r = buf_append(&head, req->body, req->body_len);
    if (r < 0) {
        buf_done(&head);
        return lib_err_set(err, -r, "building the request: %s", strerror(-r));
    }
    bool answered = false;
    r = send_all(c, head.data, head.len, deadline, &answered, err);
    buf_done(&head);
    if (r >= 0 && req->body && req->body_fd < 0 && !inline_body)
        r = send_all(c, req->body, req->body_len, deadline, &answered, err);
    else if (r >= 0 && req->body_fd >= 0)
        r = has_length ? send_fd_length(c, req->body_fd, length, deadline, &answered, err)
                       : send_fd_chunked(c, req->body_fd, deadline, &answered, err);
    if (r < 0)
        return r;

    struct http_parser parser = { 0 };
    http_parser_init(&parser, strcmp(req->method, "HEAD") == 0);
    struct sink sink = { .parser = &parser, .resp = resp };
    for (;;) {
        ssize_t n = recv(c->fd, c->iobuf, HTTP_IOBUF, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                r = wait_fd(c, c->fd, POLLIN, deadline, err);
                if (r < 0)
                    break;
                continue;
            }
            r = lib_err_sys(err, errno, "reading from runrad");
            break;
        }
        if (n == 0) {
            r = http_parser_eof(&parser);
            if (r < 0)
                r = lib_err_set(err, *got_bytes ? EPROTO : ECONNRESET,
                                *got_bytes ? "runrad's answer was cut short"
                                           : "runrad closed the connection without answering");
            break;
        }
        *got_bytes = true;
        ssize_t used = http_parser_feed(&parser, c->iobuf, (size_t)n, on_body, &sink);
        if (used < 0) {
            if (sink.err == -E2BIG)
                r = lib_err_set(err, E2BIG, "runrad's answer is larger than %zu bytes",
                                resp->body.max);
            else if (sink.err)
                r = lib_err_sys(err, -sink.err, "writing the download");
            else
                r = lib_err_set(err, EPROTO, "malformed HTTP answer from runrad");
            break;
        }
        if (parser.done) {
            /* Bytes past the response, an early answer to an unfinished
             * upload, or the server's wish all mean the connection is done. */
            if ((size_t)used != (size_t)n || answered || !parser.keep_alive)
                http_conn_close(c);
            r = 0;
            break;
        }
    }
    /* Success for an upload that was not sent whole would be a lie. */
    if (r >= 0 && answered && parser.status >= 200 && parser.status < 300)
        r = lib_err_set(err, EPROTO, "runrad answered before the upload was complete");
    if (r >= 0) {
        resp->status = parser.status;
        memcpy(resp->content_type, parser.content_type, sizeof(resp->content_type));
    }
    http_parser_done(&parser);
    return r;
}

int http_exchange(struct http_conn *c, const struct http_request *req, struct http_response *resp,
                  struct runra_error **err)
{
    if (!c->iobuf) {
        c->iobuf = malloc(HTTP_IOBUF);
        if (!c->iobuf)
            return lib_err_set(err, ENOMEM, "out of memory");
    }
    uint64_t deadline = deadline_of(c->timeout_ms);
    bool replayable = req->body_fd < 0;

    for (int attempt = 0;; attempt++) {
        if (c->fd >= 0 && !conn_alive(c))
            http_conn_close(c);
        int r = http_conn_connect(c, err);
        if (r < 0)
            return r;
        bool reused = c->reused;

        struct runra_error *e = NULL;
        bool got_bytes;
        uint64_t sink_before = resp->sink_bytes;
        r = exchange_once(c, req, resp, deadline, &got_bytes, &e);
        if (r >= 0) {
            if (c->fd >= 0)
                c->reused = true;
            return r;
        }
        http_conn_close(c);
        /* A kept-alive connection can die between our liveness check and our
         * request; when nothing came back, the server never saw the request,
         * so sending it again on a fresh connection is safe. */
        if (attempt == 0 && reused && replayable && !got_bytes && r != -ECANCELED &&
            r != -ETIMEDOUT && resp->sink_bytes == sink_before) {
            runra_error_free(e);
            buf_done(&resp->body);
            continue;
        }
        if (err && !*err)
            *err = e;
        else
            runra_error_free(e);
        return r;
    }
}
