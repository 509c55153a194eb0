/* The WebSocket protocol (RFC 6455) as bytes: the handshake's accept key,
 * frame heads, masking, and a reader that turns received bytes into whole
 * messages (fragments joined, control frames handed out as they come).
 * Pure and bounded, shared by runrad (server) and librunra (client), and
 * fuzzed. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WS_HDR_MAX 14      /* the longest frame head: 2 + 8 length + 4 mask */
#define WS_ACCEPT_LEN 28   /* base64 of a SHA-1 */
#define WS_CONTROL_MAX 125 /* payload of a close, ping or pong */

enum ws_opcode {
    WS_OP_CONT = 0,
    WS_OP_TEXT = 1,
    WS_OP_BINARY = 2,
    WS_OP_CLOSE = 8,
    WS_OP_PING = 9,
    WS_OP_PONG = 10,
};

enum ws_close_code {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL = 1002,
    WS_CLOSE_UNSUPPORTED = 1003,
    WS_CLOSE_NO_STATUS = 1005, /* never sent: a close frame without a code */
    WS_CLOSE_INVALID = 1007,
    WS_CLOSE_POLICY = 1008,
    WS_CLOSE_TOO_BIG = 1009,
    WS_CLOSE_INTERNAL = 1011,
};

/* Checks a client's Sec-WebSocket-Key (base64 of 16 bytes, surrounding
 * spaces allowed) and writes the matching Sec-WebSocket-Accept. 0 or -EINVAL. */
int ws_accept_key(const char *key, char out[WS_ACCEPT_LEN + 1]);

/* Writes a frame head into out and returns its length. mask: NULL for a
 * server's unmasked frame, else the client's 4-byte key. */
size_t ws_frame_head(uint8_t out[WS_HDR_MAX], uint8_t op, bool fin, uint64_t len,
                     const uint8_t *mask);
/* XORs p with the key, as if p started off bytes into the payload. */
void ws_mask(uint8_t *p, size_t n, const uint8_t mask[4], uint64_t off);

/* A close frame's payload: the code, big-endian, then a reason cut to fit. */
size_t ws_close_payload(uint8_t out[WS_CONTROL_MAX], uint16_t code, const char *reason);
/* A code a peer may send in a close frame (RFC 6455 7.4). */
bool ws_close_code_valid(unsigned code);

struct ws_msg {
    uint8_t op;    /* TEXT, BINARY, CLOSE, PING or PONG */
    uint8_t *data; /* valid until the next ws_reader_next or feed */
    size_t len;
};

struct ws_reader {
    bool from_client; /* frames must be masked (a server reads them), else must not */
    size_t max;       /* the largest message, fragments joined */
    uint8_t *in;      /* received bytes not yet returned */
    size_t in_len, in_cap, in_used;
    uint8_t *msg;     /* a fragmented message being joined */
    size_t msg_len;
    uint8_t msg_op;   /* its opcode; 0: none in progress */
    uint16_t close_code; /* after an error: what to send the peer */
    const char *why;     /* and why, a static string */
};

void ws_reader_init(struct ws_reader *r, bool from_client, size_t max);
void ws_reader_done(struct ws_reader *r);
/* Appends received bytes. -E2BIG when more arrive than one frame can hold
 * (the caller must drain ws_reader_next between feeds), -ENOMEM. */
int ws_reader_feed(struct ws_reader *r, const void *p, size_t n);
/* 1 with *ret set, 0 when more bytes are needed, or -EBADMSG / -E2BIG for a
 * peer that broke the protocol (close_code and why then say how to answer). */
int ws_reader_next(struct ws_reader *r, struct ws_msg *ret);
