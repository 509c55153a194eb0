/* A growable byte FIFO: the connection's output queue and an exec's pending
 * stdin. It grows on demand and lets go of its memory once drained; callers
 * enforce their own bounds, because only they know what the bytes are for. */
#pragma once

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t start; /* first queued byte */
    size_t end;   /* one past the last queued byte */
    size_t cap;
};

static inline size_t buf_len(const struct buf *b) { return b->end - b->start; }
static inline const uint8_t *buf_head(const struct buf *b) { return b->data + b->start; }

/* Makes room for n more bytes at the tail and returns where they go; the
 * bytes only count once buf_commit says so. 0 or -ENOMEM. */
int buf_reserve(struct buf *b, size_t n, uint8_t **ret);
void buf_commit(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *p, size_t n);
/* Drops n bytes from the head (n <= buf_len). */
void buf_consume(struct buf *b, size_t n);
void buf_done(struct buf *b);
