/* RFC 6455 framing (see ws.h). The reader never trusts a length: a frame
 * longer than the message bound is refused from its head, before its
 * payload arrives, and the buffer never holds more than one frame plus one
 * read's worth. */
#include "ws.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "enc.h"
#include "sha1.h"

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define FEED_SLACK (64u * 1024) /* bytes of the next frames a feed may bring along */

int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1])
{
    while (*key == ' ' || *key == '\t')
        key++;
    size_t n = strlen(key);
    while (n > 0 && (key[n - 1] == ' ' || key[n - 1] == '\t'))
        n--;
    if (n != 24)
        return -EINVAL;
    unsigned char *raw = NULL;
    size_t raw_len = 0;
    if (base64_decode(key, n, &raw, &raw_len) < 0)
        return -EINVAL;
    free(raw);
    if (raw_len != 16)
        return -EINVAL;
    struct sha1 s;
    uint8_t d[SHA1_LEN];
    sha1_init(&s);
    sha1_update(&s, key, n);
    sha1_update(&s, WS_GUID, strlen(WS_GUID));
    sha1_final(&s, d);
    char *b = NULL;
    size_t blen = 0;
    if (base64_encode(d, sizeof(d), &b, &blen) < 0)
        return -ENOMEM;
    if (blen != WS_ACCEPT_LEN) {
        free(b);
        return -EINVAL;
    }
    memcpy(out, b, WS_ACCEPT_LEN + 1);
    free(b);
    return 0;
}

size_t ws_frame_head(uint8_t out[WS_HDR_MAX], uint8_t op, bool fin, uint64_t len,
                     const uint8_t *mask)
{
    size_t n = 0;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | (op & 0x0f));
    uint8_t m = mask ? 0x80 : 0;
    if (len < 126) {
        out[n++] = m | (uint8_t)len;
    } else if (len <= 0xffff) {
        out[n++] = m | 126;
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    } else {
        out[n++] = m | 127;
        for (int i = 7; i >= 0; i--)
            out[n++] = (uint8_t)(len >> (8 * i));
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off)
{
    for (size_t i = 0; i < n; i++)
        p[i] ^= mask[(off + i) & 3];
}

size_t ws_close_payload(uint8_t out[WS_CONTROL_MAX], uint16_t code, const char *reason)
{
    out[0] = (uint8_t)(code >> 8);
    out[1] = (uint8_t)code;
    size_t n = reason ? strlen(reason) : 0;
    if (n > WS_CONTROL_MAX - 2)
        n = WS_CONTROL_MAX - 2;
    /* Never cut a UTF-8 sequence in half: back up over continuation bytes. */
    if (reason && n < strlen(reason))
        while (n > 0 && ((unsigned char)reason[n] & 0xc0) == 0x80)
            n--;
    if (n)
        memcpy(out + 2, reason, n);
    return 2 + n;
}

bool ws_close_code_valid(unsigned code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    return code >= 1000 && code <= 1014 && code != 1004 && code != 1005 && code != 1006;
}

void ws_reader_init(struct ws_reader *r, bool from_client, size_t max)
{
    *r = (struct ws_reader){.from_client = from_client, .max = max};
}

void ws_reader_done(struct ws_reader *r)
{
    free(r->in);
    free(r->msg);
    *r = (struct ws_reader){0};
}

/* Drops what the last message used, so the next starts at r->in. */
static void compact(struct ws_reader *r)
{
    if (!r->in_used)
        return;
    memmove(r->in, r->in + r->in_used, r->in_len - r->in_used);
    r->in_len -= r->in_used;
    r->in_used = 0;
}

int ws_reader_feed(struct ws_reader *r, const void *p, size_t n)
{
    compact(r);
    if (r->in_len + n > r->max + WS_HDR_MAX + FEED_SLACK)
        return -E2BIG;
    if (r->in_len + n > r->in_cap) {
        size_t cap = r->in_cap ? r->in_cap : 4096;
        while (cap < r->in_len + n)
            cap *= 2;
        uint8_t *q = realloc(r->in, cap);
        if (!q)
            return -ENOMEM;
        r->in = q;
        r->in_cap = cap;
    }
    memcpy(r->in + r->in_len, p, n);
    r->in_len += n;
    return 0;
}

static int fail(struct ws_reader *r, int e, uint16_t code, const char *why)
{
    r->close_code = code;
    r->why = why;
    return e;
}

int ws_reader_next(struct ws_reader *r, struct ws_msg *ret)
{
    compact(r);
    for (;;) {
        const uint8_t *b = r->in;
        size_t avail = r->in_len - r->in_used;
        b += r->in_used;
        if (avail < 2)
            return 0;
        bool fin = b[0] & 0x80;
        uint8_t op = b[0] & 0x0f;
        if (b[0] & 0x70)
            return fail(r, -EBADMSG, WS_CLOSE_PROTOCOL, "reserved bits set");
        if (op != WS_OP_CONT && op != WS_OP_TEXT && op != WS_OP_BINARY && op != WS_OP_CLOSE &&
            op != WS_OP_PING && op != WS_OP_PONG)
            return fail(r, -EBADMSG, WS_CLOSE_PROTOCOL, "unknown opcode");
        bool masked = b[1] & 0x80;
        if (masked != r->from_client)
            return fail(r, -EBADMSG, WS_CLOSE_PROTOCOL,
                        masked ? "a server's frame is masked" : "a client's frame is not masked");
        uint64_t len = b[1] & 0x7f;
        size_t head = 2;
        if (len == 126) {
            if (avail < 4)
                return 0;
            len = (uint64_t)b[2] << 8 | b[3];
            head = 4;
        } else if (len == 127) {
            if (avail < 10)
                return 0;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | b[2 + i];
            if (len >> 63)
                return fail(r, -EBADMSG, WS_CLOSE_PROTOCOL, "bad frame length");
            head = 10;
        }
        bool control = op >= WS_OP_CLOSE;
        if (control && (!fin || len > WS_CONTROL_MAX))
            return fail(r, -EBADMSG, WS_CLOSE_PROTOCOL, "bad control frame");
        if (!control && len > r->max - (op == WS_OP_CONT ? r->msg_len : 0))
            return fail(r, -E2BIG, WS_CLOSE_TOO_BIG, "message too big");
        if (op == WS_OP_CONT && !r->msg_op)
            return fail(r, -EBADMSG, WS_CLOSE_PROTOCOL, "continuation without a message");
        if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && r->msg_op)
            return fail(r, -EBADMSG, WS_CLOSE_PROTOCOL, "new message inside a fragmented one");
        const uint8_t *mask = NULL;
        if (masked) {
            if (avail < head + 4)
                return 0;
            mask = b + head;
            head += 4;
        }
        if (avail - head < len)
            return 0;
        uint8_t *payload = r->in + r->in_used + head;
        if (mask)
            ws_mask(payload, (size_t)len, mask, 0);
        r->in_used += head + (size_t)len;
        if (op == WS_OP_CLOSE) {
            if (len == 1)
                return fail(r, -EBADMSG, WS_CLOSE_PROTOCOL, "bad close frame");
            if (len >= 2 && !ws_close_code_valid((unsigned)payload[0] << 8 | payload[1]))
                return fail(r, -EBADMSG, WS_CLOSE_PROTOCOL, "bad close code");
        }
        if (control || (fin && op != WS_OP_CONT)) {
            *ret = (struct ws_msg){.op = op, .data = payload, .len = (size_t)len};
            return 1;
        }
        /* A fragment: joined in msg until the final one. */
        if (op != WS_OP_CONT) {
            r->msg_op = op;
            r->msg_len = 0;
        }
        if (len) {
            uint8_t *q = realloc(r->msg, r->msg_len + (size_t)len);
            if (!q)
                return fail(r, -ENOMEM, WS_CLOSE_INTERNAL, "out of memory");
            r->msg = q;
            memcpy(r->msg + r->msg_len, payload, (size_t)len);
            r->msg_len += (size_t)len;
        }
        if (fin) {
            *ret = (struct ws_msg){.op = r->msg_op, .data = r->msg, .len = r->msg_len};
            r->msg_op = 0;
            return 1;
        }
    }
}
