/* Unit tests for SHA-1 (FIPS 180 examples) and the WebSocket codec: the
 * RFC 6455 handshake example, frame heads of every length form, masking,
 * fragment joining and each protocol violation's close code. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha1.h"
#include "base/sha256.h"
#include "base/ws.h"
#include "test.h"

static void hex(const uint8_t *d, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha1_vectors(void)
{
    const char *cases[][2] = {
        {"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
        {"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct sha1 s;
        uint8_t d[SHA1_LEN];
        char h[41];
        sha1_init(&s);
        sha1_update(&s, cases[i][0], strlen(cases[i][0]));
        sha1_final(&s, d);
        hex(d, SHA1_LEN, h);
        CHECK_STREQ(h, cases[i][1]);
    }
    /* A million 'a's, fed in uneven pieces across block boundaries. */
    struct sha1 s;
    uint8_t d[SHA1_LEN];
    char h[41], a[997];
    memset(a, 'a', sizeof(a));
    sha1_init(&s);
    size_t left = 1000000;
    while (left) {
        size_t n = left < sizeof(a) ? left : sizeof(a);
        sha1_update(&s, a, n);
        left -= n;
    }
    sha1_final(&s, d);
    hex(d, SHA1_LEN, h);
    CHECK_STREQ(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void sha256_vectors(void)
{
    char h[65];
    sha256_hex("abc", 3, h);
    CHECK_STREQ(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    sha256_hex("", 0, h);
    CHECK_STREQ(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    sha256_hex(m, strlen(m), h);
    CHECK_STREQ(h, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void accept_key(void)
{
    char out[WS_ACCEPT_LEN + 1];
    /* The example of RFC 6455 section 1.3. */
    CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out) == 0);
    CHECK_STREQ(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    CHECK(ws_accept_key("  dGhlIHNhbXBsZSBub25jZQ== ", out) == 0);
    CHECK(ws_accept_key("c2hvcnQ=", out) == -EINVAL);                     /* 5 bytes */
    CHECK(ws_accept_key("dGhlIHNhbXBsZSBub25jZQ!=", out) == -EINVAL);     /* not base64 */
    CHECK(ws_accept_key("", out) == -EINVAL);
}

static void heads(void)
{
    uint8_t h[WS_HDR_MAX];
    CHECK(ws_frame_head(h, WS_OP_TEXT, true, 5, NULL) == 2 && h[0] == 0x81 && h[1] == 5);
    CHECK(ws_frame_head(h, WS_OP_BINARY, true, 126, NULL) == 4 && h[1] == 126 && h[2] == 0 &&
          h[3] == 126);
    CHECK(ws_frame_head(h, WS_OP_BINARY, false, 70000, NULL) == 10 && h[0] == 0x02 &&
          h[1] == 127 && h[7] == 0x01 && h[8] == 0x11 && h[9] == 0x70);
    uint8_t m[4] = {1, 2, 3, 4};
    CHECK(ws_frame_head(h, WS_OP_PING, true, 0, m) == 6 && h[1] == 0x80 && h[5] == 4);
    uint8_t p[6] = "abcdef";
    ws_mask(p, 6, m, 0);
    ws_mask(p, 2, m, 0);
    ws_mask(p + 2, 4, m, 2); /* unmasking in two pieces equals one */
    CHECK(!memcmp(p, "abcdef", 6));
    uint8_t c[WS_CONTROL_MAX];
    CHECK(ws_close_payload(c, 1009, "too big") == 9 && c[0] == 0x03 && c[1] == 0xf1);
    char longr[300];
    memset(longr, 'x', sizeof(longr) - 1);
    longr[sizeof(longr) - 1] = 0;
    CHECK(ws_close_payload(c, 1000, longr) == WS_CONTROL_MAX);
    CHECK(ws_close_code_valid(1000) && ws_close_code_valid(4000));
    CHECK(!ws_close_code_valid(1005) && !ws_close_code_valid(999) && !ws_close_code_valid(1016));
}

/* Builds a client frame (masked) into b; returns its length. */
static size_t cframe(uint8_t *b, uint8_t op, bool fin, const char *payload, size_t n)
{
    uint8_t m[4] = {0x11, 0x22, 0x33, 0x44};
    size_t h = ws_frame_head(b, op, fin, n, m);
    memcpy(b + h, payload, n);
    ws_mask(b + h, n, m, 0);
    return h + n;
}

static void reader(void)
{
    struct ws_reader r;
    struct ws_msg msg;
    uint8_t b[512];
    ws_reader_init(&r, true, 100);
    size_t n = cframe(b, WS_OP_TEXT, true, "hello", 5);
    /* Byte by byte: nothing until the last byte is in. */
    for (size_t i = 0; i < n; i++) {
        CHECK(ws_reader_next(&r, &msg) == 0);
        CHECK(ws_reader_feed(&r, b + i, 1) == 0);
    }
    CHECK(ws_reader_next(&r, &msg) == 1 && msg.op == WS_OP_TEXT && msg.len == 5 &&
          !memcmp(msg.data, "hello", 5));
    CHECK(ws_reader_next(&r, &msg) == 0);
    /* Fragments with a ping between them. */
    n = cframe(b, WS_OP_BINARY, false, "ab", 2);
    n += cframe(b + n, WS_OP_PING, true, "p", 1);
    n += cframe(b + n, WS_OP_CONT, false, "cd", 2);
    n += cframe(b + n, WS_OP_CONT, true, "e", 1);
    CHECK(ws_reader_feed(&r, b, n) == 0);
    CHECK(ws_reader_next(&r, &msg) == 1 && msg.op == WS_OP_PING && msg.len == 1);
    CHECK(ws_reader_next(&r, &msg) == 1 && msg.op == WS_OP_BINARY && msg.len == 5 &&
          !memcmp(msg.data, "abcde", 5));
    ws_reader_done(&r);

    struct {
        const char *what;
        uint8_t bytes[16];
        size_t n;
        uint16_t code;
    } bad[] = {
        {"unmasked", {0x82, 0x01, 'x'}, 3, WS_CLOSE_PROTOCOL},
        {"rsv", {0xc2, 0x81, 0, 0, 0, 0, 'x'}, 7, WS_CLOSE_PROTOCOL},
        {"opcode", {0x83, 0x81, 0, 0, 0, 0, 'x'}, 7, WS_CLOSE_PROTOCOL},
        {"long ping", {0x89, 0xfe, 0, 126}, 4, WS_CLOSE_PROTOCOL},
        {"fragmented ping", {0x09, 0x80, 0, 0, 0, 0}, 6, WS_CLOSE_PROTOCOL},
        {"lone continuation", {0x80, 0x80, 0, 0, 0, 0}, 6, WS_CLOSE_PROTOCOL},
        {"too big", {0x82, 0xfe, 0x01, 0x00}, 4, WS_CLOSE_TOO_BIG},
        {"63-bit length", {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, 10, WS_CLOSE_PROTOCOL},
        {"close of one byte", {0x88, 0x81, 0, 0, 0, 0, 3}, 7, WS_CLOSE_PROTOCOL},
        {"close code 1005", {0x88, 0x82, 0, 0, 0, 0, 0x03, 0xed}, 8, WS_CLOSE_PROTOCOL},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ws_reader_init(&r, true, 100);
        CHECK(ws_reader_feed(&r, bad[i].bytes, bad[i].n) == 0);
        int e = ws_reader_next(&r, &msg);
        if (e >= 0 || r.close_code != bad[i].code)
            fprintf(stderr, "case '%s': %d, close %u\n", bad[i].what, e, r.close_code);
        CHECK(e < 0 && r.close_code == bad[i].code);
        ws_reader_done(&r);
    }
    /* A message whose fragments together pass the bound. */
    ws_reader_init(&r, true, 4);
    n = cframe(b, WS_OP_TEXT, false, "abc", 3);
    n += cframe(b + n, WS_OP_CONT, true, "de", 2);
    CHECK(ws_reader_feed(&r, b, n) == 0);
    CHECK(ws_reader_next(&r, &msg) == -E2BIG && r.close_code == WS_CLOSE_TOO_BIG);
    ws_reader_done(&r);
    /* A new message in the middle of a fragmented one. */
    ws_reader_init(&r, true, 100);
    n = cframe(b, WS_OP_TEXT, false, "a", 1);
    n += cframe(b + n, WS_OP_TEXT, true, "b", 1);
    CHECK(ws_reader_feed(&r, b, n) == 0);
    CHECK(ws_reader_next(&r, &msg) == -EBADMSG && r.close_code == WS_CLOSE_PROTOCOL);
    ws_reader_done(&r);
    /* A client reads unmasked frames and refuses masked ones. */
    ws_reader_init(&r, false, 100);
    uint8_t srv[] = {0x81, 0x02, 'o', 'k'};
    CHECK(ws_reader_feed(&r, srv, sizeof(srv)) == 0);
    CHECK(ws_reader_next(&r, &msg) == 1 && msg.len == 2 && !memcmp(msg.data, "ok", 2));
    n = cframe(b, WS_OP_TEXT, true, "x", 1);
    CHECK(ws_reader_feed(&r, b, n) == 0);
    CHECK(ws_reader_next(&r, &msg) == -EBADMSG);
    ws_reader_done(&r);
    /* More bytes than one frame can hold in one feed. */
    ws_reader_init(&r, true, 10);
    static uint8_t flood[200000];
    CHECK(ws_reader_feed(&r, flood, sizeof(flood)) == -E2BIG);
    ws_reader_done(&r);
}

TEST_MAIN(TEST(sha1_vectors), TEST(sha256_vectors), TEST(accept_key), TEST(heads), TEST(reader))
