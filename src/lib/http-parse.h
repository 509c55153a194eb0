/* An incremental HTTP/1.1 response parser: fed bytes as they arrive, it
 * finds the status and framing headers and hands body bytes (de-chunked) to a
 * callback. Pure and bounded, so it can be unit-tested and fuzzed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define HTTP_HEAD_MAX (64u * 1024)

enum http_body_mode { HTTP_BODY_NONE, HTTP_BODY_LENGTH, HTTP_BODY_CHUNKED, HTTP_BODY_CLOSE };

struct http_parser {
    int state;
    /* Filled once the head is parsed (head_done). */
    bool head_done;
    int status;
    bool keep_alive;
    enum http_body_mode mode;
    uint64_t content_length;
    char content_type[128];
    bool done; /* the whole response has been seen */

    /* Internal. */
    bool no_body;       /* the request was HEAD */
    uint64_t remaining; /* of the fixed body or the current chunk */
    char *head;
    size_t head_len;
    char line[256]; /* a chunk-size or trailer line */
    size_t line_len;
};

/* Called with each run of body bytes; a negative return stops the parser
 * and is handed back by http_parser_feed. */
typedef int (*http_body_fn)(void *userdata, const char *p, size_t n);

void http_parser_init(struct http_parser *p, bool head_request);
/* Consumes bytes and returns how many (less than n only once done: the rest
 * belongs to nothing and poisons the connection), or -errno: -EPROTO for a
 * malformed response, -E2BIG for an oversized head, or the callback's. */
ssize_t http_parser_feed(struct http_parser *p, const char *buf, size_t n, http_body_fn on_body,
                         void *userdata);
/* The peer closed the connection: completes a body framed by the close,
 * else -EPROTO (the response was cut short). */
int http_parser_eof(struct http_parser *p);
void http_parser_done(struct http_parser *p);
