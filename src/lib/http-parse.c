/* The response parser. It trusts nothing it reads: the head is bounded,
 * numbers are checked for overflow, a body framed two ways is refused, and
 * every state moves forward only on the exact bytes it expects. */
#include "http-parse.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    S_HEAD,
    S_BODY_LENGTH,
    S_CHUNK_SIZE,
    S_CHUNK_DATA,
    S_CHUNK_CRLF,
    S_TRAILERS,
    S_BODY_CLOSE,
    S_DONE,
};

void http_parser_init(struct http_parser *p, bool head_request)
{
    free(p->head);
    *p = (struct http_parser){ .state = S_HEAD, .no_body = head_request };
}

void http_parser_done(struct http_parser *p)
{
    free(p->head);
    p->head = NULL;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims spaces and tabs on both sides of [*s, *e). */
static void trim(const char **s, const char **e)
{
    while (*s < *e && is_space(**s))
        (*s)++;
    while (*e > *s && is_space((*e)[-1]))
        (*e)--;
}

static bool token_eq(const char *s, const char *e, const char *word)
{
    size_t n = strlen(word);
    return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

/* Does a comma-separated header value hold word (case-insensitive)? */
static bool list_has(const char *s, const char *e, const char *word)
{
    while (s < e) {
        const char *c = memchr(s, ',', (size_t)(e - s));
        const char *end = c ? c : e;
        const char *ts = s, *te = end;
        trim(&ts, &te);
        if (token_eq(ts, te, word))
            return true;
        s = c ? c + 1 : e;
    }
    return false;
}

/* The last coding of a Transfer-Encoding value. */
static bool last_is_chunked(const char *s, const char *e)
{
    const char *c = e;
    while (c > s && c[-1] != ',')
        c--;
    trim(&c, &e);
    return token_eq(c, e, "chunked");
}

static int parse_decimal(const char *s, const char *e, uint64_t *ret)
{
    if (s == e)
        return -EPROTO;
    uint64_t v = 0;
    for (; s < e; s++) {
        if (*s < '0' || *s > '9')
            return -EPROTO;
        if (v > (UINT64_MAX - 9) / 10)
            return -EPROTO;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    *ret = v;
    return 0;
}

/* Parses the head held in p->head (without the blank line). Lines end in
 * CRLF or a bare LF; obsolete line folding is refused. */
static int parse_head(struct http_parser *p)
{
    const char *s = p->head, *end = p->head + p->head_len;
    const char *eol = memchr(s, '\n', (size_t)(end - s));
    if (!eol)
        eol = end;
    const char *le = eol > s && eol[-1] == '\r' ? eol - 1 : eol;

    /* "HTTP/1.x SSS reason" */
    if (le - s < 12 || strncmp(s, "HTTP/1.", 7) != 0 || (s[7] != '0' && s[7] != '1') ||
        s[8] != ' ')
        return -EPROTO;
    bool http11 = s[7] == '1';
    for (int i = 9; i < 12; i++)
        if (s[i] < '0' || s[i] > '9')
            return -EPROTO;
    if (le - s > 12 && s[12] != ' ')
        return -EPROTO;
    p->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
    if (p->status < 100)
        return -EPROTO;

    bool conn_close = false, conn_keep = false, chunked = false, have_te = false;
    bool have_length = false;
    uint64_t length = 0;
    p->content_type[0] = '\0';

    for (s = eol < end ? eol + 1 : end; s < end;) {
        eol = memchr(s, '\n', (size_t)(end - s));
        if (!eol)
            eol = end;
        le = eol > s && eol[-1] == '\r' ? eol - 1 : eol;
        if (is_space(*s))
            return -EPROTO;
        const char *colon = memchr(s, ':', (size_t)(le - s));
        if (!colon || colon == s)
            return -EPROTO;
        const char *ns = s, *ne = colon, *vs = colon + 1, *ve = le;
        if (is_space(ne[-1]))
            return -EPROTO;
        trim(&vs, &ve);
        if (token_eq(ns, ne, "content-length")) {
            uint64_t v;
            if (parse_decimal(vs, ve, &v) < 0)
                return -EPROTO;
            if (have_length && v != length)
                return -EPROTO;
            have_length = true;
            length = v;
        } else if (token_eq(ns, ne, "transfer-encoding")) {
            have_te = true;
            chunked = last_is_chunked(vs, ve);
        } else if (token_eq(ns, ne, "connection")) {
            conn_close |= list_has(vs, ve, "close");
            conn_keep |= list_has(vs, ve, "keep-alive");
        } else if (token_eq(ns, ne, "content-type")) {
            size_t n = (size_t)(ve - vs);
            if (n >= sizeof(p->content_type))
                n = sizeof(p->content_type) - 1;
            memcpy(p->content_type, vs, n);
            p->content_type[n] = '\0';
        }
        s = eol < end ? eol + 1 : end;
    }

    /* A body framed both ways is the classic smuggling shape; refuse it. A
     * transfer coding other than chunked can only end with the connection. */
    if (have_te && have_length)
        return -EPROTO;
    p->keep_alive = http11 ? !conn_close : conn_keep && !conn_close;
    if (p->no_body || p->status == 204 || p->status == 304 || p->status < 200) {
        p->mode = HTTP_BODY_NONE;
    } else if (have_te) {
        p->mode = chunked ? HTTP_BODY_CHUNKED : HTTP_BODY_CLOSE;
    } else if (have_length) {
        p->mode = HTTP_BODY_LENGTH;
        p->content_length = length;
    } else {
        p->mode = HTTP_BODY_CLOSE;
    }
    if (p->mode == HTTP_BODY_CLOSE)
        p->keep_alive = false;
    return 0;
}

/* Moves to the state that the head's framing asks for. */
static void start_body(struct http_parser *p)
{
    switch (p->mode) {
    case HTTP_BODY_NONE:
        p->state = S_DONE;
        break;
    case HTTP_BODY_LENGTH:
        p->remaining = p->content_length;
        p->state = p->remaining ? S_BODY_LENGTH : S_DONE;
        break;
    case HTTP_BODY_CHUNKED:
        p->state = S_CHUNK_SIZE;
        p->line_len = 0;
        break;
    case HTTP_BODY_CLOSE:
        p->state = S_BODY_CLOSE;
        break;
    }
    p->done = p->state == S_DONE;
}

/* Feeds head bytes; returns bytes consumed. The head ends at the first
 * blank line, found by looking back from each '\n' as it arrives. */
static ssize_t feed_head(struct http_parser *p, const char *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p->head_len >= HTTP_HEAD_MAX)
            return -E2BIG;
        if (!p->head) {
            p->head = malloc(HTTP_HEAD_MAX + 1);
            if (!p->head)
                return -ENOMEM;
        }
        p->head[p->head_len++] = buf[i];
        if (buf[i] != '\n')
            continue;
        const char *h = p->head;
        size_t l = p->head_len;
        /* Stray blank lines before a status line are tolerated. */
        if (l == 1 || (l == 2 && h[0] == '\r')) {
            p->head_len = 0;
            continue;
        }
        bool blank = h[l - 2] == '\n' || (l >= 3 && h[l - 2] == '\r' && h[l - 3] == '\n');
        if (!blank)
            continue;
        while (p->head_len && (h[p->head_len - 1] == '\n' || h[p->head_len - 1] == '\r'))
            p->head_len--;
        p->head[p->head_len] = '\0';
        int r = parse_head(p);
        if (r < 0)
            return r;
        p->head_len = 0;
        if (p->status < 200) {
            /* 100 Continue and friends precede the real response. */
            if (p->status == 101)
                return -EPROTO;
            continue;
        }
        p->head_done = true;
        start_body(p);
        return (ssize_t)(i + 1);
    }
    return (ssize_t)n;
}

/* Collects one line (chunk size or trailer) into p->line; returns bytes
 * consumed and sets *complete when the line ended. */
static ssize_t feed_line(struct http_parser *p, const char *buf, size_t n, bool *complete)
{
    *complete = false;
    for (size_t i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            if (p->line_len && p->line[p->line_len - 1] == '\r')
                p->line_len--;
            p->line[p->line_len] = '\0';
            *complete = true;
            return (ssize_t)(i + 1);
        }
        if (p->line_len + 1 >= sizeof(p->line))
            return -EPROTO;
        p->line[p->line_len++] = buf[i];
    }
    return (ssize_t)n;
}

static int parse_chunk_size(const char *s, uint64_t *ret)
{
    uint64_t v = 0;
    const char *q = s;
    for (; *q; q++) {
        int d;
        if (*q >= '0' && *q <= '9')
            d = *q - '0';
        else if (*q >= 'a' && *q <= 'f')
            d = *q - 'a' + 10;
        else if (*q >= 'A' && *q <= 'F')
            d = *q - 'A' + 10;
        else
            break;
        if (v >> 60)
            return -EPROTO;
        v = v * 16 + (uint64_t)d;
    }
    if (q == s)
        return -EPROTO;
    /* Only whitespace or a chunk extension may follow. */
    while (is_space(*q))
        q++;
    if (*q && *q != ';')
        return -EPROTO;
    *ret = v;
    return 0;
}

ssize_t http_parser_feed(struct http_parser *p, const char *buf, size_t n, http_body_fn on_body,
                         void *userdata)
{
    size_t off = 0;
    while (off < n && p->state != S_DONE) {
        const char *b = buf + off;
        size_t avail = n - off;
        ssize_t used;
        bool complete;
        int r;

        switch (p->state) {
        case S_HEAD:
            used = feed_head(p, b, avail);
            break;
        case S_BODY_LENGTH:
        case S_CHUNK_DATA: {
            size_t k = avail < p->remaining ? avail : (size_t)p->remaining;
            r = on_body(userdata, b, k);
            if (r < 0)
                return r;
            p->remaining -= k;
            used = (ssize_t)k;
            if (p->remaining == 0)
                p->state = p->state == S_BODY_LENGTH ? S_DONE : S_CHUNK_CRLF;
            p->line_len = 0;
            break;
        }
        case S_BODY_CLOSE:
            r = on_body(userdata, b, avail);
            if (r < 0)
                return r;
            used = (ssize_t)avail;
            break;
        case S_CHUNK_SIZE:
            used = feed_line(p, b, avail, &complete);
            if (used >= 0 && complete) {
                r = parse_chunk_size(p->line, &p->remaining);
                if (r < 0)
                    return r;
                p->line_len = 0;
                p->state = p->remaining ? S_CHUNK_DATA : S_TRAILERS;
            }
            break;
        case S_CHUNK_CRLF:
            used = feed_line(p, b, avail, &complete);
            if (used >= 0 && complete) {
                if (p->line_len != 0)
                    return -EPROTO;
                p->line_len = 0;
                p->state = S_CHUNK_SIZE;
            }
            break;
        case S_TRAILERS:
            used = feed_line(p, b, avail, &complete);
            if (used >= 0 && complete) {
                if (p->line_len == 0)
                    p->state = S_DONE;
                p->line_len = 0;
            }
            break;
        default:
            return -EPROTO;
        }
        if (used < 0)
            return used;
        off += (size_t)used;
    }
    p->done = p->state == S_DONE;
    return (ssize_t)off;
}

int http_parser_eof(struct http_parser *p)
{
    if (p->state == S_BODY_CLOSE) {
        p->state = S_DONE;
        p->done = true;
    }
    return p->done ? 0 : -EPROTO;
}
