/* libFuzzer target: HTTP/1.1 responses as librunra reads them from runrad
 * (or from anything answering on a TCP endpoint). Checks that the parser
 * never reads out of bounds and that feeding a response whole or one byte at
 * a time gives the same verdict, status and body. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "lib/http-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int collect(void *userdata, const char *p, size_t n)
{
    return buf_append(userdata, p, n);
}

struct outcome {
    int verdict;
    int status;
    bool keep_alive;
    struct buf body;
};

static void parse(const char *in, size_t n, size_t step, struct outcome *o)
{
    struct http_parser p = { 0 };
    http_parser_init(&p, false);
    o->body = (struct buf){ .max = 1u << 20 };
    size_t off = 0;
    o->verdict = 0;
    while (off < n && !p.done) {
        size_t k = n - off < step ? n - off : step;
        ssize_t used = http_parser_feed(&p, in + off, k, collect, &o->body);
        if (used < 0) {
            o->verdict = (int)used;
            break;
        }
        if ((size_t)used > k)
            abort();
        off += (size_t)used;
        if ((size_t)used < k && !p.done)
            abort(); /* only a finished response leaves bytes behind */
        if ((size_t)used < k)
            break;
    }
    if (o->verdict == 0)
        o->verdict = p.done ? 0 : http_parser_eof(&p);
    o->status = p.status;
    o->keep_alive = p.keep_alive;
    if (o->body.len > n)
        abort();
    http_parser_done(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct outcome whole, bytes;
    parse((const char *)data, size, size ? size : 1, &whole);
    parse((const char *)data, size, 1, &bytes);
    if (whole.verdict != bytes.verdict)
        abort();
    if (whole.verdict == 0 &&
        (whole.status != bytes.status || whole.keep_alive != bytes.keep_alive ||
         whole.body.len != bytes.body.len ||
         (whole.body.len && memcmp(whole.body.data, bytes.body.data, whole.body.len) != 0)))
        abort();
    buf_done(&whole.body);
    buf_done(&bytes.body);
    return 0;
}
