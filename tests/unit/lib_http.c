/* Unit tests for librunra's transport pieces: the HTTP/1.1 response parser
 * (framing, chunking, byte-at-a-time feeds, hostile input), endpoints, and
 * percent-encoding. */
#include <errno.h>
#include <stdlib.h>

#include "lib/buf.h"
#include "lib/http-parse.h"
#include "lib/url.h"
#include "test.h"

static int collect(void *userdata, const char *p, size_t n)
{
    return buf_append(userdata, p, n);
}

/* Feeds a whole response in pieces of step bytes; returns the parser's
 * verdict and leaves the body in *body. */
static int feed(struct http_parser *p, const char *resp, size_t len, size_t step,
                struct buf *body, bool eof)
{
    http_parser_init(p, false);
    size_t off = 0;
    while (off < len && !p->done) {
        size_t n = len - off < step ? len - off : step;
        ssize_t used = http_parser_feed(p, resp + off, n, collect, body);
        if (used < 0)
            return (int)used;
        off += (size_t)used;
        if ((size_t)used < n)
            break;
    }
    if (eof && !p->done)
        return http_parser_eof(p);
    return p->done ? 0 : -EAGAIN;
}

static void framing(void)
{
    static const char *const ok_cases[][2] = {
        { "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
          "Content-Type: application/json\r\n\r\nhello",
          "hello" },
        { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n"
          "0\r\nX-Trailer: 1\r\n\r\n",
          "hello world" },
        { "HTTP/1.1 100 Continue\r\n\r\n"
          "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}",
          "{}" },
        { "HTTP/1.1 204 No Content\r\n\r\n", "" },
        { "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", "abc" },
        { "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n", "" },
    };
    for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++)
        for (size_t step = 1; step <= 64; step *= 4) {
            struct http_parser p = { 0 };
            struct buf body = { 0 };
            const char *r = ok_cases[i][0];
            CHECK(feed(&p, r, strlen(r), step, &body, false) == 0);
            CHECK_STREQ(body.data ? body.data : "", ok_cases[i][1]);
            CHECK(p.keep_alive);
            buf_done(&body);
            http_parser_done(&p);
        }

    struct http_parser p = { 0 };
    struct buf body = { 0 };
    const char *r = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=x\r\n"
                    "Connection: close\r\n\r\nuntil the end";
    CHECK(feed(&p, r, strlen(r), 7, &body, true) == 0);
    CHECK_STREQ(body.data, "until the end");
    CHECK(!p.keep_alive && p.status == 200);
    CHECK_STREQ(p.content_type, "text/plain; charset=x");
    buf_done(&body);

    /* HTTP/1.0 closes unless asked to keep alive. */
    r = "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    CHECK(feed(&p, r, strlen(r), 100, &body, false) == 0);
    CHECK(!p.keep_alive);
    r = "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    CHECK(feed(&p, r, strlen(r), 100, &body, false) == 0);
    CHECK(!p.keep_alive);

    /* Bytes after a complete response are left unconsumed. */
    r = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nxGARBAGE";
    http_parser_init(&p, false);
    ssize_t used = http_parser_feed(&p, r, strlen(r), collect, &body);
    CHECK(p.done && used == (ssize_t)(strlen(r) - 7));
    buf_done(&body);
    http_parser_done(&p);
}

static void hostile(void)
{
    static const char *const bad[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc\r\n",
        "HTTP/1.1 200 OK\r\n folded: header\r\n\r\n",
        "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n",
        "HTTP/1.1 200 OK\r\nName : value\r\n\r\n",
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 2x0 OK\r\n\r\n",
        "HTTP/1.1 099 Low\r\n\r\n",
        "HTTP/1.1 101 Switching\r\n\r\n",
        "garbage\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct http_parser p = { 0 };
        struct buf body = { 0 };
        int r = feed(&p, bad[i], strlen(bad[i]), 3, &body, false);
        if (r != -EPROTO)
            fprintf(stderr, "case %zu: %d\n", i, r);
        CHECK(r == -EPROTO);
        buf_done(&body);
        http_parser_done(&p);
    }

    /* A head that never ends is bounded. */
    struct http_parser p = { 0 };
    http_parser_init(&p, false);
    const char *start = "HTTP/1.1 200 OK\r\n";
    CHECK(http_parser_feed(&p, start, strlen(start), collect, NULL) == (ssize_t)strlen(start));
    char *junk = malloc(HTTP_HEAD_MAX);
    memset(junk, 'a', HTTP_HEAD_MAX);
    CHECK(http_parser_feed(&p, junk, HTTP_HEAD_MAX, collect, NULL) == -E2BIG);
    free(junk);
    http_parser_done(&p);

    /* A body cut short by the peer is an error, not a short success. */
    struct buf body = { 0 };
    const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    CHECK(feed(&p, cut, strlen(cut), 100, &body, true) == -EPROTO);
    buf_done(&body);
    http_parser_done(&p);
}

static void endpoints(void)
{
    struct endpoint e;
    const char *msg = NULL;
    CHECK(endpoint_parse("/var/lib/runra/runra.sock", &e, &msg) == 0);
    CHECK(e.kind == ENDPOINT_UNIX);
    CHECK_STREQ(e.path, "/var/lib/runra/runra.sock");
    CHECK_STREQ(e.prefix, "");
    endpoint_done(&e);
    CHECK(endpoint_parse("unix:/tmp/x.sock", &e, &msg) == 0);
    CHECK_STREQ(e.path, "/tmp/x.sock");
    endpoint_done(&e);
    CHECK(endpoint_parse("http://127.0.0.1:8080", &e, &msg) == 0);
    CHECK(e.kind == ENDPOINT_TCP);
    CHECK_STREQ(e.host, "127.0.0.1");
    CHECK_STREQ(e.port, "8080");
    CHECK_STREQ(e.host_header, "127.0.0.1:8080");
    endpoint_done(&e);
    CHECK(endpoint_parse("http://[::1]:9/api/", &e, &msg) == 0);
    CHECK_STREQ(e.host, "::1");
    CHECK_STREQ(e.host_header, "[::1]:9");
    CHECK_STREQ(e.prefix, "/api");
    endpoint_done(&e);
    CHECK(endpoint_parse("http://example.com", &e, &msg) == 0);
    CHECK_STREQ(e.port, "80");
    CHECK_STREQ(e.host_header, "example.com");
    endpoint_done(&e);

    CHECK(endpoint_parse("https://x", &e, &msg) == -EPROTONOSUPPORT);
    CHECK(endpoint_parse("ftp://x", &e, &msg) == -EINVAL);
    CHECK(endpoint_parse("http://ho st", &e, &msg) == -EINVAL);
    CHECK(endpoint_parse("http://h\r\nX: y", &e, &msg) == -EINVAL);
    CHECK(endpoint_parse("http://h:99999", &e, &msg) == -EINVAL);
    CHECK(endpoint_parse("http://h:", &e, &msg) == -EINVAL);
    CHECK(endpoint_parse("", &e, &msg) == -EINVAL);
    char longp[200];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[0] = '/';
    longp[sizeof(longp) - 1] = '\0';
    CHECK(endpoint_parse(longp, &e, &msg) == -ENAMETOOLONG);
}

static void escaping(void)
{
    struct buf b = { 0 };
    CHECK(buf_append_str(&b, "/v1/sandboxes/") == 0);
    CHECK(url_append_escaped(&b, "a b/c?d#e%f", false) == 0);
    CHECK(url_append_query(&b, "path", "/x y/&z=1") == 0);
    CHECK(url_append_query(&b, "metadata.task", "ü") == 0);
    CHECK_STREQ(b.data, "/v1/sandboxes/a%20b%2Fc%3Fd%23e%25f?path=/x%20y/%26z%3D1"
                        "&metadata.task=%C3%BC");
    buf_done(&b);

    /* Bounded buffers refuse to grow past max. */
    struct buf small = { .max = 4 };
    CHECK(buf_append_str(&small, "1234") == 0);
    CHECK(buf_append_str(&small, "5") == -E2BIG);
    CHECK(small.len == 4);
    buf_done(&small);
}

TEST_MAIN(TEST(framing), TEST(hostile), TEST(endpoints), TEST(escaping))
