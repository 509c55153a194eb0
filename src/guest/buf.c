/* Byte FIFO over one contiguous allocation, so a reader can hand the head
 * straight to write(2) and a producer can read(2) straight into the tail. */
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An empty buffer bigger than this is freed rather than kept for reuse, so a
 * burst (a 1 MiB file chunk, a big stdin frame) does not pin memory forever. */
#define BUF_KEEP_MAX (256u << 10)

int buf_reserve(struct buf *b, size_t n, uint8_t **ret)
{
    if (b->cap - b->end >= n) {
        *ret = b->data + b->end;
        return 0;
    }
    size_t live = buf_len(b);
    /* Compact only when the dead prefix is at least as big as what moves, so
     * the copying is paid for by the bytes that were consumed. */
    if (b->start > 0 && b->start >= live && b->cap - live >= n) {
        memmove(b->data, b->data + b->start, live);
        b->start = 0;
        b->end = live;
        *ret = b->data + b->end;
        return 0;
    }
    if (n > SIZE_MAX / 2 - b->end)
        return -ENOMEM;
    size_t want = b->end + n;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < want)
        cap *= 2;
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return -ENOMEM;
    b->data = d;
    b->cap = cap;
    *ret = b->data + b->end;
    return 0;
}

void buf_commit(struct buf *b, size_t n) { b->end += n; }

int buf_append(struct buf *b, const void *p, size_t n)
{
    uint8_t *dst;
    int r = buf_reserve(b, n, &dst);
    if (r < 0)
        return r;
    if (n)
        memcpy(dst, p, n);
    buf_commit(b, n);
    return 0;
}

void buf_consume(struct buf *b, size_t n)
{
    b->start += n;
    if (b->start < b->end)
        return;
    b->start = b->end = 0;
    if (b->cap > BUF_KEEP_MAX) {
        free(b->data);
        b->data = NULL;
        b->cap = 0;
    }
}

void buf_done(struct buf *b)
{
    free(b->data);
    *b = (struct buf){0};
}
