/* The stream to the host: a non-blocking fd, a bounded input buffer that
 * yields whole frames, and an output queue the poll loop drains. Frame
 * headers are checked by the proto codec before their payload is buffered. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "proto/frame.h"

/* Producers (exec output, file reads, and reading further requests) pause
 * while more than this waits for the host. This is what bounds the queue: a
 * host that stops reading cannot make runra-init buffer without limit. */
#define CONN_OUT_HIGH (4u << 20)

struct conn {
    int fd;
    uint8_t *in;     /* FRAME_HDR_SIZE + RUNRA_FRAME_MAX_PAYLOAD bytes */
    size_t in_start; /* first unconsumed byte */
    size_t in_end;
    struct buf out;
    bool dead;       /* EOF, an error or a bad header: the loop drops us */
};

/* Takes ownership of fd (which must be non-blocking). */
int conn_new(int fd, struct conn **ret);
void conn_free(struct conn *c);

/* Reads what the socket has. Sets dead on EOF or error. */
void conn_read(struct conn *c);
/* The next whole frame in the input buffer: 1 with *h and *payload set
 * (valid until conn_pop), 0 when more bytes are needed. A header that can
 * never be valid marks the connection dead: the stream cannot be resynced. */
int conn_peek(struct conn *c, struct frame_hdr *h, const uint8_t **payload);
void conn_pop(struct conn *c, const struct frame_hdr *h);

/* Queues one frame. On allocation failure the connection is marked dead,
 * because a silently dropped frame would leave the host waiting forever. */
void conn_send(struct conn *c, uint16_t type, uint32_t id, const void *payload, size_t len);
/* Queues a frame with an empty payload, even DATA (which conn_commit drops):
 * for a forwarded connection, an empty DATA is the end of one direction. */
void conn_send_empty(struct conn *c, uint16_t type, uint32_t id);
/* Zero-copy variant: room for a payload of up to max bytes, filled by the
 * caller, then conn_commit with the real length (0 sends nothing). */
uint8_t *conn_reserve(struct conn *c, size_t max);
void conn_commit(struct conn *c, uint16_t type, uint32_t id, size_t len);

/* Writes what the socket takes now. */
void conn_flush(struct conn *c);
/* Waits up to timeout_ms for the queue to drain (used before exiting). */
void conn_flush_wait(struct conn *c, int timeout_ms);
static inline bool conn_busy(const struct conn *c) { return buf_len(&c->out) >= CONN_OUT_HIGH; }
static inline bool conn_pending(const struct conn *c) { return buf_len(&c->out) > 0; }
