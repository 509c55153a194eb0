/* Connection buffers. The input side holds at most one maximal frame plus
 * what arrived behind it; frames are handed out in place and the remainder is
 * moved to the front before the next read. */
#include "conn.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"

#define IN_SIZE (FRAME_HDR_SIZE + RUNRA_FRAME_MAX_PAYLOAD)

int conn_new(int fd, struct conn **ret)
{
    struct conn *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    c->in = malloc(IN_SIZE);
    if (!c->in) {
        free(c);
        return -ENOMEM;
    }
    c->fd = fd;
    *ret = c;
    return 0;
}

void conn_free(struct conn *c)
{
    if (!c)
        return;
    closep(&c->fd);
    free(c->in);
    buf_done(&c->out);
    free(c);
}

void conn_read(struct conn *c)
{
    if (c->dead)
        return;
    /* Move a partial frame to the front only when the tail could run out of
     * room for it; usually the buffer simply empties and starts over. */
    if (c->in_start == c->in_end) {
        c->in_start = c->in_end = 0;
    } else if (c->in_start > 0 && (c->in_start >= IN_SIZE / 2 || c->in_end == IN_SIZE)) {
        memmove(c->in, c->in + c->in_start, c->in_end - c->in_start);
        c->in_end -= c->in_start;
        c->in_start = 0;
    }
    if (c->in_end == IN_SIZE)
        return; /* a whole maximal frame is waiting to be handled */
    ssize_t n = read(c->fd, c->in + c->in_end, IN_SIZE - c->in_end);
    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            c->dead = true;
        return;
    }
    if (n == 0) {
        c->dead = true;
        return;
    }
    c->in_end += (size_t)n;
}

int conn_peek(struct conn *c, struct frame_hdr *h, const uint8_t **payload)
{
    if (c->dead)
        return 0;
    size_t consumed;
    int r = frame_parse(c->in + c->in_start, c->in_end - c->in_start, h, payload, &consumed);
    if (r == -EAGAIN)
        return 0;
    if (r < 0) {
        c->dead = true;
        return 0;
    }
    return 1;
}

void conn_pop(struct conn *c, const struct frame_hdr *h)
{
    c->in_start += FRAME_HDR_SIZE + (size_t)h->len;
}

uint8_t *conn_reserve(struct conn *c, size_t max)
{
    uint8_t *p;
    if (buf_reserve(&c->out, FRAME_HDR_SIZE + max, &p) < 0) {
        c->dead = true;
        return NULL;
    }
    return p + FRAME_HDR_SIZE;
}

void conn_commit(struct conn *c, uint16_t type, uint32_t id, size_t len)
{
    /* An empty output or data frame carries nothing; an empty DATA from the
     * host even means "end of file", so the guest never sends one. */
    if (c->dead || (len == 0 && (type == FRAME_STDOUT || type == FRAME_STDERR || type == FRAME_DATA)))
        return;
    struct frame_hdr h = {.len = (uint32_t)len, .id = id, .type = type};
    frame_hdr_encode(c->out.data + c->out.end, &h);
    buf_commit(&c->out, FRAME_HDR_SIZE + len);
}

void conn_send_empty(struct conn *c, uint16_t type, uint32_t id)
{
    if (c->dead || !conn_reserve(c, 0))
        return;
    struct frame_hdr h = {.len = 0, .id = id, .type = type};
    frame_hdr_encode(c->out.data + c->out.end, &h);
    buf_commit(&c->out, FRAME_HDR_SIZE);
}

void conn_send(struct conn *c, uint16_t type, uint32_t id, const void *payload, size_t len)
{
    if (c->dead || len > RUNRA_FRAME_MAX_PAYLOAD)
        return;
    uint8_t *p = conn_reserve(c, len);
    if (!p)
        return;
    if (len)
        memcpy(p, payload, len);
    conn_commit(c, type, id, len);
}

void conn_flush(struct conn *c)
{
    while (!c->dead && buf_len(&c->out) > 0) {
        ssize_t n = write(c->fd, buf_head(&c->out), buf_len(&c->out));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN)
                c->dead = true;
            return;
        }
        buf_consume(&c->out, (size_t)n);
    }
}

void conn_flush_wait(struct conn *c, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        conn_flush(c);
        uint64_t now = now_ms();
        if (c->dead || !conn_pending(c) || now >= end)
            return;
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        if (poll(&p, 1, (int)(end - now)) < 0 && errno != EINTR)
            return;
    }
}
