/* Unit tests for the ClientHello and HTTP head parsers. The TLS hellos are
 * real ones, captured on this machine from Python's ssl module (through a
 * MemoryBIO) and from openssl s_client; the malformed ones are built here.
 * Every prefix of a valid message must ask for more, never crash or guess. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "net/sni.h"
#include "test.h"

/* Python 3 ssl (OpenSSL 3.0), TLS 1.3, server_hostname "example.com" (517 bytes) */
static const char hello_tls13[] =
    "1603010200010001fc0303afd0f0bf2b79524f3caf15aaedce1c1e4bbd28a58cad3fea21272a4c9bf31d3720"
    "4cdbcf004838a973f04e30dbfe0640952f70cb3cbdcfb6743dbf01b2a3d2cc900024130213031301c02cc030"
    "c02bc02fcca9cca8c024c028c023c027009f009e006b006700ff0100018f00000010000e00000b6578616d70"
    "6c652e636f6d000b000403000102000a00160014001d0017001e001900180100010101020103010400230000"
    "0016000000170000000d002a0028040305030603080708080809080a080b0804080508060401050106010303"
    "03010302040205020602002b00050403040303002d00020101003300260024001d0020e1511c6c5d65aede7d"
    "5a2f9e012839b1053e0091138f8c857a2e73101c843f1b001500e20000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000";

/* The same with maximum_version TLS 1.2, server_hostname "api.Example.org" (186 bytes) */
static const char hello_tls12[] =
    "16030100b5010000b103034ee92b8c911b232f0b72ac4916364667b0318995e1e0d320cd6886a17154764000"
    "001ec02cc030c02bc02fcca9cca8c024c028c023c027009f009e006b006700ff0100006a0000001400120000"
    "0f6170692e4578616d706c652e6f7267000b000403000102000a000c000a001d0017001e0019001800230000"
    "0016000000170000000d002a0028040305030603080708080809080a080b0804080508060401050106010303"
    "03010302040205020602";

/* openssl s_client -servername www.example.net (321 bytes) */
static const char hello_sclient[] =
    "160301013c0100013803031addeb205861339e05e57fac14b178d4210e7cf779b6202c0b1d76430d2247cd20"
    "a3b677eead3f08ad3de4ec481d2fecbc1508ed6eeedb1d476e0653ca839e79dd003e130213031301c02cc030"
    "009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d"
    "003c0035002f00ff010000b100000014001200000f7777772e6578616d706c652e6e6574000b000403000102"
    "000a00160014001d0017001e0019001801000101010201030104002300000016000000170000000d002a0028"
    "040305030603080708080809080a080b080408050806040105010601030303010302040205020602002b0009"
    "080304030303020301002d00020101003300260024001d002074705622557ca387433adb11d54486265e7267"
    "4bfcbdc5b27f6fadfb9965e376";

/* Python 3 ssl, TLS 1.3, no server_hostname (517 bytes) */
static const char hello_nosni[] =
    "1603010200010001fc03035ac563830df783c9e8e4b44bc03e9f2d723a14bfc7b02231df9de33aab6cf28620"
    "d0a1b8f601406b56277a8a2f3aeda884f38390460b0d83589e084e39804a73f80024130213031301c02cc030"
    "c02bc02fcca9cca8c024c028c023c027009f009e006b006700ff0100018f000b000403000102000a00160014"
    "001d0017001e0019001801000101010201030104002300000016000000170000000d002a0028040305030603"
    "080708080809080a080b080408050806040105010601030303010302040205020602002b0005040304030300"
    "2d00020101003300260024001d00200e47b8f18e0466eb7bc494099ffe40aa83b077b540cf4d68541e71fdd6"
    "c07049001500f600000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "000000000000000000000000000000000000000000000000000000000000000000";

/* Decodes a hex literal into a fresh buffer. */
static uint8_t *unhex(const char *h, size_t *ret_n)
{
    size_t n = strlen(h) / 2;
    uint8_t *b = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        b[i] = (uint8_t)v;
    }
    *ret_n = n;
    return b;
}

static int tls(const uint8_t *b, size_t n, char name[254])
{
    /* A copy of exactly n bytes, so ASan sees any read past the end. */
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, b, n);
    memset(name, 0, 254);
    int r = sni_parse_tls(c, n, name);
    free(c);
    return r;
}

/* Every proper prefix of a complete hello asks for more. */
static void all_prefixes_more(const uint8_t *b, size_t n)
{
    char name[254];
    for (size_t k = 0; k < n; k++) {
        int r = tls(b, k, name);
        if (r != SNI_MORE) {
            fprintf(stderr, "prefix %zu of %zu: %d\n", k, n, r);
            t_cur_failed = 1;
            return;
        }
    }
}

static void real_hellos(void)
{
    struct {
        const char *hex, *name;
        int res;
    } cases[] = {
        {hello_tls13, "example.com", SNI_FOUND},
        {hello_tls12, "api.example.org", SNI_FOUND},
        {hello_sclient, "www.example.net", SNI_FOUND},
        {hello_nosni, "", SNI_NONE},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        size_t n;
        _cleanup_free_ uint8_t *b = unhex(cases[i].hex, &n);
        char name[254];
        CHECK(tls(b, n, name) == cases[i].res);
        if (cases[i].res == SNI_FOUND)
            CHECK_STREQ(name, cases[i].name);
        all_prefixes_more(b, n);
        /* Bytes after the hello (the client's next flight) do not matter. */
        _cleanup_free_ uint8_t *more = malloc(n + 64);
        memcpy(more, b, n);
        memset(more + n, 0x17, 64);
        CHECK(tls(more, n + 64, name) == cases[i].res);
    }
}

/* Re-frames a single-record hello into records of at most step bytes. */
static uint8_t *reframe(const uint8_t *b, size_t n, size_t step, size_t *ret_n)
{
    size_t body = n - 5, records = (body + step - 1) / step;
    uint8_t *out = malloc(body + 5 * records);
    size_t o = 0;
    for (size_t off = 0; off < body; off += step) {
        size_t k = body - off < step ? body - off : step;
        out[o++] = 0x16;
        out[o++] = b[1];
        out[o++] = b[2];
        out[o++] = (uint8_t)(k >> 8);
        out[o++] = (uint8_t)k;
        memcpy(out + o, b + 5 + off, k);
        o += k;
    }
    *ret_n = o;
    return out;
}

static void split_records(void)
{
    size_t n;
    _cleanup_free_ uint8_t *b = unhex(hello_tls13, &n);
    size_t steps[] = {1, 2, 3, 4, 5, 7, 64, 100, 300, 511, 512};
    for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
        size_t m;
        _cleanup_free_ uint8_t *s = reframe(b, n, steps[i], &m);
        char name[254];
        CHECK(tls(s, m, name) == SNI_FOUND);
        CHECK_STREQ(name, "example.com");
        all_prefixes_more(s, m);
    }
    /* A record of another type between the fragments is malformed. */
    size_t m;
    _cleanup_free_ uint8_t *s = reframe(b, n, 100, &m);
    char name[254];
    s[105] = 0x15; /* the second record's type: alert */
    CHECK(tls(s, m, name) == SNI_BAD);
    s[105] = 0x16;
    s[106] = 0x02; /* the second record's version major */
    CHECK(tls(s, m, name) == SNI_BAD);
}

/* A ClientHello built by hand around the given extensions block. */
struct hb {
    uint8_t b[SNI_PEEK_MAX + 1024];
    size_t n;
};

static void put(struct hb *h, const void *p, size_t n)
{
    memcpy(h->b + h->n, p, n);
    h->n += n;
}
static void put8(struct hb *h, unsigned v) { h->b[h->n++] = (uint8_t)v; }
static void put16(struct hb *h, size_t v)
{
    put8(h, (unsigned)(v >> 8) & 0xff);
    put8(h, (unsigned)v & 0xff);
}

/* An SNI extension (type 0) naming each of the given host names. */
static size_t sni_ext(uint8_t *out, const char *const *names, size_t count)
{
    struct hb *h = calloc(1, sizeof(*h));
    size_t list = 0;
    for (size_t i = 0; i < count; i++)
        list += 3 + strlen(names[i]);
    put16(h, 0);
    put16(h, list + 2);
    put16(h, list);
    for (size_t i = 0; i < count; i++) {
        put8(h, 0);
        put16(h, strlen(names[i]));
        put(h, names[i], strlen(names[i]));
    }
    size_t n = h->n;
    memcpy(out, h->b, n);
    free(h);
    return n;
}

/* A record around a ClientHello: version 3.3, 32 random bytes, the given
 * session id length, two cipher suites, null compression, and exts (with
 * its length prefix unless exts is NULL: no extensions block at all). */
static void hello(struct hb *h, size_t sid, const uint8_t *exts, size_t ext_len)
{
    struct hb *body = calloc(1, sizeof(*body));
    put16(body, 0x0303);
    for (int i = 0; i < 32; i++)
        put8(body, (unsigned)i);
    put8(body, (unsigned)sid);
    for (size_t i = 0; i < sid; i++)
        put8(body, 0xaa);
    put16(body, 4);
    put16(body, 0x1301);
    put16(body, 0xc02f);
    put8(body, 1);
    put8(body, 0);
    if (exts) {
        put16(body, ext_len);
        put(body, exts, ext_len);
    }
    h->n = 0;
    put8(h, 0x16);
    put16(h, 0x0301);
    put16(h, body->n + 4);
    put8(h, 1);
    put8(h, (unsigned)(body->n >> 16));
    put16(h, body->n & 0xffff);
    put(h, body->b, body->n);
    free(body);
}

static int built(const char *const *names, size_t count, char name[254])
{
    struct hb *h = calloc(1, sizeof(*h));
    uint8_t ext[2048];
    size_t n = sni_ext(ext, names, count);
    hello(h, 32, ext, n);
    int r = tls(h->b, h->n, name);
    free(h);
    return r;
}

static void built_hellos(void)
{
    char name[254];
    const char *one[] = {"Foo.Example.COM."};
    CHECK(built(one, 1, name) == SNI_FOUND);
    CHECK_STREQ(name, "foo.example.com");
    const char *under[] = {"_acme-challenge.a-b.example"};
    CHECK(built(under, 1, name) == SNI_FOUND);
    CHECK_STREQ(name, "_acme-challenge.a-b.example");
    char longest[254], too_long[256];
    for (size_t i = 0; i < 253; i++)
        longest[i] = i % 2 ? '.' : 'x';
    longest[253] = '\0';
    memcpy(too_long, longest, 253);
    memcpy(too_long + 253, "xy", 3);
    const char *l1[] = {longest}, *l2[] = {too_long};
    CHECK(built(l1, 1, name) == SNI_FOUND && strlen(name) == 253);
    CHECK(built(l2, 1, name) == SNI_BAD);
    /* Two host names in one extension: two readers could pick differently. */
    const char *two[] = {"allowed.example", "evil.example"};
    CHECK(built(two, 2, name) == SNI_BAD);
    const char *bad[] = {
        "",      "..",     "a..b",           "a..",   ".a", "exa mple.com", "a/b", "a\\b",
        "a%2eb", "a\001b", "caf\xc3\xa9.fr", "a:443", "."};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        const char *b1[] = {bad[i]};
        if (built(b1, 1, name) != SNI_BAD) {
            fprintf(stderr, "SNI '%s' accepted\n", bad[i]);
            t_cur_failed = 1;
        }
    }

    struct hb *h = calloc(1, sizeof(*h));
    uint8_t ext[4096];
    const char *ok[] = {"ok.example"};
    /* Two server_name extensions. */
    size_t n = sni_ext(ext, ok, 1);
    memcpy(ext + n, ext, n);
    hello(h, 0, ext, 2 * n);
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    /* Other extensions around the name are walked past. */
    uint8_t e2[] = {0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, /* ec_point_formats */
                    0x00, 0x23, 0x00, 0x00};            /* session_ticket, empty */
    memcpy(ext, e2, sizeof(e2));
    n = sizeof(e2) + sni_ext(ext + sizeof(e2), ok, 1);
    memcpy(ext + n, e2, sizeof(e2));
    hello(h, 0, ext, n + sizeof(e2));
    CHECK(tls(h->b, h->n, name) == SNI_FOUND);
    CHECK_STREQ(name, "ok.example");
    all_prefixes_more(h->b, h->n);
    /* No extensions block at all (TLS 1.0-1.2 allow it), or an empty one. */
    hello(h, 0, NULL, 0);
    CHECK(tls(h->b, h->n, name) == SNI_NONE);
    hello(h, 0, ext, 0);
    CHECK(tls(h->b, h->n, name) == SNI_NONE);
    /* A server_name of another name type only (not host_name) names nothing. */
    uint8_t other[] = {0x00, 0x00, 0x00, 0x08, 0x00, 0x06, 0x01, 0x00, 0x03, 'a', '.', 'b'};
    hello(h, 0, other, sizeof(other));
    CHECK(tls(h->b, h->n, name) == SNI_NONE);
    /* Empty server_name extension and empty list. */
    uint8_t empty1[] = {0x00, 0x00, 0x00, 0x00};
    uint8_t empty2[] = {0x00, 0x00, 0x00, 0x02, 0x00, 0x00};
    hello(h, 0, empty1, sizeof(empty1));
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    hello(h, 0, empty2, sizeof(empty2));
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    /* A list length that disagrees with the extension's. */
    uint8_t skew[] = {0x00, 0x00, 0x00, 0x07, 0x00, 0x04, 0x00, 0x00, 0x02, 'a', 'b'};
    hello(h, 0, skew, sizeof(skew));
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    /* An extension running past the block, and a block shorter than said. */
    uint8_t past[] = {0x00, 0x0b, 0x00, 0x09, 0x01, 0x00};
    hello(h, 0, past, sizeof(past));
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    n = sni_ext(ext, ok, 1);
    hello(h, 0, ext, n);
    h->b[h->n - n - 1]++; /* extensions length one more than there is */
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    /* Header fields: session id over 32, odd cipher suites, no compression. */
    hello(h, 33, ext, n);
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    hello(h, 0, ext, n);
    h->b[5 + 4 + 2 + 32 + 1 + 1]++; /* cipher suites length 5 */
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    hello(h, 0, ext, n);
    h->b[5 + 4 + 2 + 32 + 1 + 2 + 4] = 0; /* zero compression methods */
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    hello(h, 0, ext, n);
    h->b[9] = 2; /* legacy_version 2.x */
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    /* Not a ClientHello, or not a handshake at all. */
    hello(h, 0, ext, n);
    h->b[5] = 2; /* ServerHello */
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    hello(h, 0, ext, n);
    h->b[0] = 0x17; /* application data */
    CHECK(tls(h->b, h->n, name) == SNI_NOT_THIS);
    h->b[0] = 0x16;
    h->b[1] = 0x02;
    CHECK(tls(h->b, h->n, name) == SNI_NOT_THIS);
    CHECK(tls(h->b, 2, name) == SNI_NOT_THIS);
    h->b[1] = 0x03;
    h->b[2] = 0x05; /* record version 3.5 */
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    /* Record lengths: zero, and over 2^14. */
    hello(h, 0, ext, n);
    h->b[3] = 0;
    h->b[4] = 0;
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    h->b[3] = 0x40;
    h->b[4] = 0x01;
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    /* A handshake length shorter than the hello inside: the body is cut
     * where the header says, and the cut hello is malformed. */
    hello(h, 0, ext, n);
    h->b[8] -= 3;
    CHECK(tls(h->b, h->n, name) == SNI_BAD);
    CHECK(tls((const uint8_t *)"GET / HTTP/1.1\r\n", 16, name) == SNI_NOT_THIS);
    CHECK(tls((const uint8_t *)"\x16", 1, name) == SNI_MORE);
    CHECK(tls((const uint8_t *)"", 0, name) == SNI_MORE);
    free(h);
}

/* The peek bound: a hello that cannot fit is SNI_BAD, one that does is read. */
static void peek_bound(void)
{
    struct hb *h = calloc(1, sizeof(*h));
    static uint8_t ext[SNI_PEEK_MAX];
    const char *ok[] = {"big.example"};
    char name[254];
    /* A padding extension sized so that the one-record hello is exactly
     * SNI_PEEK_MAX bytes: record and handshake headers, version, random,
     * empty session id, two suites, null compression, extensions length,
     * the SNI extension and the padding extension's header. */
    size_t n = sni_ext(ext, ok, 1);
    size_t pad = SNI_PEEK_MAX - (5 + 4 + 2 + 32 + 1 + 2 + 4 + 2 + 2 + n + 4);
    ext[n] = 0x00;
    ext[n + 1] = 0x15;
    ext[n + 2] = (uint8_t)(pad >> 8);
    ext[n + 3] = (uint8_t)pad;
    hello(h, 0, ext, n + 4 + pad);
    CHECK(h->n == SNI_PEEK_MAX);
    CHECK(tls(h->b, h->n, name) == SNI_FOUND);
    CHECK_STREQ(name, "big.example");
    CHECK(tls(h->b, h->n - 1, name) == SNI_MORE);
    /* The same in two records needs 5 bytes past the window. */
    size_t m;
    _cleanup_free_ uint8_t *two = reframe(h->b, h->n, 10000, &m);
    CHECK(m == SNI_PEEK_MAX + 5);
    CHECK(tls(two, m, name) == SNI_BAD);
    CHECK(tls(two, SNI_PEEK_MAX, name) == SNI_BAD);
    CHECK(tls(two, SNI_PEEK_MAX - 1, name) == SNI_MORE);
    /* Tiny records: the headers eat the window. */
    _cleanup_free_ uint8_t *tiny = reframe(h->b, h->n, 1, &m);
    CHECK(tls(tiny, m, name) == SNI_BAD);
    CHECK(tls(tiny, SNI_PEEK_MAX, name) == SNI_BAD);
    CHECK(tls(tiny, SNI_PEEK_MAX - 1, name) == SNI_MORE);
    /* One byte more of padding can never fit: known from the header alone. */
    ext[n + 2] = (uint8_t)((pad + 1) >> 8);
    ext[n + 3] = (uint8_t)(pad + 1);
    hello(h, 0, ext, n + 4 + pad + 1);
    CHECK(tls(h->b, 9, name) == SNI_BAD);
    free(h);
}

/* Flipping any byte of a real hello never crashes, and a name is only ever
 * reported in the checked alphabet. */
static void mutations(void)
{
    size_t n;
    _cleanup_free_ uint8_t *b = unhex(hello_sclient, &n);
    char name[254];
    for (size_t i = 0; i < n; i++) {
        for (unsigned v = 0; v < 256; v += 17) {
            uint8_t saved = b[i];
            b[i] = (uint8_t)(saved ^ v ^ 0x80);
            int r = tls(b, n, name);
            if (r == SNI_FOUND &&
                (strlen(name) == 0 || strlen(name) > 253 ||
                 strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != strlen(name)))
                t_cur_failed = 1;
            if (r < SNI_BAD || r > SNI_FOUND)
                t_cur_failed = 1;
            b[i] = saved;
        }
    }
}

static int http(const char *s, struct http_target *t)
{
    size_t n = strlen(s);
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, s, n);
    memset(t, 0x5a, sizeof(*t));
    int r = sni_parse_http(c, n, t);
    free(c);
    return r;
}

static void http_prefixes_more(const char *s)
{
    struct http_target t;
    size_t n = strlen(s);
    char *c = strdup(s);
    for (size_t k = 0; k < n; k++) {
        c[k] = '\0';
        int r = http(c, &t);
        if (r != SNI_MORE) {
            fprintf(stderr, "prefix %zu of '%s': %d\n", k, s, r);
            t_cur_failed = 1;
            break;
        }
        c[k] = s[k];
    }
    free(c);
}

static void http_origin(void)
{
    struct http_target t;
    const char *req = "GET /index.html HTTP/1.1\r\nHost: Example.COM\r\nUser-Agent: curl/7.88.1\r\n"
                      "Accept: */*\r\n\r\n";
    CHECK(http(req, &t) == SNI_FOUND);
    CHECK_STREQ(t.method, "GET");
    CHECK_STREQ(t.host, "example.com");
    CHECK(t.port == 0 && t.absolute == 0);
    CHECK(t.uri_off == 4 && t.uri_len == 11 && t.head_len == strlen(req));
    http_prefixes_more(req);
    /* Port, IPv6 literal, trailing dot, OWS, case of the header name. */
    CHECK(http("POST /api HTTP/1.0\r\nhost:example.com:8080\r\n\r\n", &t) == SNI_FOUND);
    CHECK(t.port == 8080);
    CHECK_STREQ(t.method, "POST");
    CHECK_STREQ(t.host, "example.com");
    CHECK(http("GET / HTTP/1.1\r\nHOST: \t[2001:DB8::1]:8443 \t\r\n\r\n", &t) == SNI_FOUND);
    CHECK_STREQ(t.host, "2001:db8::1");
    CHECK(t.port == 8443);
    CHECK(http("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n", &t) == SNI_FOUND);
    CHECK_STREQ(t.host, "::1");
    CHECK(t.port == 0);
    CHECK(http("GET / HTTP/1.1\r\nHost: a.example.\r\n\r\n", &t) == SNI_FOUND);
    CHECK_STREQ(t.host, "a.example");
    CHECK(http("GET / HTTP/1.1\r\nHost: 93.184.216.34\r\n\r\n", &t) == SNI_FOUND);
    CHECK_STREQ(t.host, "93.184.216.34");
    CHECK(http("OPTIONS * HTTP/1.1\r\nHost: a.b\r\n\r\n", &t) == SNI_FOUND);
    CHECK_STREQ(t.method, "OPTIONS");
    /* The body after the head is not part of it. */
    const char *post = "POST /x HTTP/1.1\r\nHost: a.b\r\nContent-Length: 5\r\n\r\nhello";
    CHECK(http(post, &t) == SNI_FOUND && t.head_len == strlen(post) - 5);
    /* Whatever the body holds: bare LF, CR, NUL. */
    const uint8_t body[] = "PUT /x HTTP/1.1\r\nHost: a.b\r\n\r\n\n\r\0x\n";
    CHECK(sni_parse_http(body, sizeof(body) - 1, &t) == SNI_FOUND && t.head_len == 30);
    /* Header values may carry obs-text and tabs. */
    CHECK(http("GET / HTTP/1.1\r\nX-A: caf\xc3\xa9\tb\r\nHost: a.b\r\n\r\n", &t) == SNI_FOUND);
}

static void http_proxy_forms(void)
{
    struct http_target t;
    const char *c = "CONNECT api.anthropic.com:443 HTTP/1.1\r\nHost: api.anthropic.com:443\r\n"
                    "User-Agent: curl/7.88.1\r\nProxy-Connection: Keep-Alive\r\n\r\n";
    CHECK(http(c, &t) == SNI_FOUND);
    CHECK_STREQ(t.method, "CONNECT");
    CHECK_STREQ(t.host, "api.anthropic.com");
    CHECK(t.port == 443 && !t.absolute);
    CHECK(t.uri_off == 8 && t.uri_len == strlen("api.anthropic.com:443"));
    http_prefixes_more(c);
    CHECK(http("CONNECT [2001:db8::2]:443 HTTP/1.1\r\n\r\n", &t) == SNI_FOUND);
    CHECK_STREQ(t.host, "2001:db8::2");
    CHECK(t.port == 443);
    CHECK(http("CONNECT api.anthropic.com HTTP/1.1\r\n\r\n", &t) == SNI_BAD);
    CHECK(http("CONNECT api.anthropic.com:0 HTTP/1.1\r\n\r\n", &t) == SNI_BAD);
    CHECK(http("CONNECT a.b:443 HTTP/1.1\r\nHost: a.b\r\nHost: c.d\r\n\r\n", &t) == SNI_BAD);

    const char *g = "GET http://Example.com/path/x?q=1 HTTP/1.1\r\nHost: example.com\r\n\r\n";
    CHECK(http(g, &t) == SNI_FOUND);
    CHECK(t.absolute == 1 && t.port == 80);
    CHECK_STREQ(t.host, "example.com");
    CHECK(t.uri_off == 4 && t.uri_len == strlen("http://Example.com/path/x?q=1"));
    CHECK(t.path_len == strlen("/path/x?q=1") &&
          !memcmp(g + t.path_off, "/path/x?q=1", t.path_len));
    http_prefixes_more(g);
    CHECK(http("GET HTTP://example.com:8080 HTTP/1.0\r\n\r\n", &t) == SNI_FOUND);
    CHECK(t.absolute == 1 && t.port == 8080 && t.path_len == 0);
    CHECK(t.path_off == 4 + strlen("HTTP://example.com:8080"));
    const char *qry = "GET http://a.b?x=1 HTTP/1.1\r\n\r\n";
    CHECK(http(qry, &t) == SNI_FOUND && t.path_len == 4 && !memcmp(qry + t.path_off, "?x=1", 4));
    CHECK(http("GET http://[::1]:81/ HTTP/1.1\r\nHost: [::1]:81\r\n\r\n", &t) == SNI_FOUND);
    CHECK_STREQ(t.host, "::1");
    CHECK(t.port == 81);
    CHECK(http("GET http://a.b/ HTTP/1.1\r\nHost: a.b:80\r\n\r\n", &t) == SNI_FOUND);
    /* A Host header naming another server, userinfo, fragments, other schemes. */
    CHECK(http("GET http://a.b/ HTTP/1.1\r\nHost: evil.b\r\n\r\n", &t) == SNI_BAD);
    CHECK(http("GET http://a.b/ HTTP/1.1\r\nHost: a.b:81\r\n\r\n", &t) == SNI_BAD);
    CHECK(http("GET http://a.b@evil.b/ HTTP/1.1\r\n\r\n", &t) == SNI_BAD);
    CHECK(http("GET http://a.b/#x HTTP/1.1\r\n\r\n", &t) == SNI_BAD);
    CHECK(http("GET https://a.b/ HTTP/1.1\r\nHost: a.b\r\n\r\n", &t) == SNI_BAD);
    CHECK(http("GET ftp://a.b/ HTTP/1.1\r\nHost: a.b\r\n\r\n", &t) == SNI_BAD);
    CHECK(http("GET http:///x HTTP/1.1\r\n\r\n", &t) == SNI_BAD);
    CHECK(http("GET http://a.b:99999/ HTTP/1.1\r\n\r\n", &t) == SNI_BAD);
}

static void http_bad(void)
{
    const char *bad[] = {
        "GET / HTTP/1.1\r\n\r\n",                           /* no Host */
        "GET / HTTP/1.0\r\n\r\n",                           /* no Host, 1.0 too */
        "GET / HTTP/1.1\r\nHost: a.b\r\nHost: a.b\r\n\r\n", /* two */
        "GET / HTTP/1.1\r\nHost: a.b\r\nhost: c.d\r\n\r\n",
        "GET / HTTP/1.1\nHost: a.b\r\n\r\n", /* bare LF */
        "GET / HTTP/1.1\r\nHost: a.b\n\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",                   /* bare CR */
        "GET / HTTP/1.1\r\nHost : a.b\r\n\r\n",                   /* space before colon */
        "GET / HTTP/1.1\r\nX: y\r\n folded\r\nHost: a.b\r\n\r\n", /* obs-fold */
        "GET / HTTP/1.1\r\n\tHost: a.b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost\r\n\r\n",  /* no colon */
        "GET / HTTP/1.1\r\n: a.b\r\n\r\n", /* no name */
        "GET / HTTP/1.1\r\nHost:\r\n\r\n", /* empty host */
        "GET / HTTP/1.1\r\nHost: exa mple.com\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.b:0\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.b:70000\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.b:\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a.b:8x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [::1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: [a.b]\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a..b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a..\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: user@a.b\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\001b\r\nHost: a.b\r\n\r\n", /* control byte */
        "GET  / HTTP/1.1\r\nHost: a.b\r\n\r\n",             /* two spaces */
        "GET / HTTP/1.1 \r\nHost: a.b\r\n\r\n",
        "GET / HTTP/2.0\r\nHost: a.b\r\n\r\n",
        "GET / HTTP/1.x\r\nHost: a.b\r\n\r\n",
        "GET / http/1.1\r\nHost: a.b\r\n\r\n",
        "GET /\r\nHost: a.b\r\n\r\n", /* HTTP/0.9 style */
        "GET / a HTTP/1.1\r\nHost: a.b\r\n\r\n",
        "GET a.b HTTP/1.1\r\nHost: a.b\r\n\r\n", /* not origin-form */
        "GET * HTTP/1.1\r\nHost: a.b\r\n\r\n",
        "GET /\xff HTTP/1.1\r\nHost: a.b\r\n\r\n",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct http_target t;
        int r = http(bad[i], &t);
        if (r != SNI_BAD) {
            fprintf(stderr, "bad request %zu accepted: %d\n", i, r);
            t_cur_failed = 1;
        }
    }
    /* A NUL is bad too (strlen-based helper cannot carry it). */
    struct http_target t;
    const uint8_t nul[] = "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n";
    CHECK(sni_parse_http(nul, sizeof(nul) - 1, &t) == SNI_BAD);
    /* Bad line ends are found before the head is complete. */
    CHECK(http("GET / HTTP/1.1\nHost", &t) == SNI_BAD);
}

static void http_not_this_and_more(void)
{
    struct http_target t;
    const char *not_http[] = {"get / HTTP/1.1\r\n",
                              " GET / HTTP/1.1\r\n",
                              "\r\n",
                              "G3T /",
                              "ABCDEFGHIJKLMNOP / HTTP/1.1\r\n",
                              "GET\t/",
                              "SSH-2.0-OpenSSH_9.2\r\n",
                              "\x16\x03\x01\x02\x00"};
    for (size_t i = 0; i < ARRAY_SIZE(not_http); i++)
        CHECK(http(not_http[i], &t) == SNI_NOT_THIS);
    const char *more[] = {"",
                          "G",
                          "GET",
                          "ABCDEFGHIJKLMNO",
                          "GET ",
                          "GET / HTTP/1.1\r",
                          "GET / HTTP/1.1\r\nHost: a.b\r\n\r",
                          "BREW /pot HTTP/1.1\r\n"};
    for (size_t i = 0; i < ARRAY_SIZE(more); i++)
        CHECK(http(more[i], &t) == SNI_MORE);
    CHECK(http("ABCDEFGHIJKLMNO / HTTP/1.1\r\nHost: a.b\r\n\r\n", &t) == SNI_FOUND);
    CHECK_STREQ(t.method, "ABCDEFGHIJKLMNO");
    /* A head that never ends: more until the window is full, then bad. */
    size_t n = SNI_PEEK_MAX + 100;
    char *big = malloc(n + 1);
    memcpy(big, "GET / HTTP/1.1\r\nHost: a.b\r\nX: ", 30);
    memset(big + 30, 'x', n - 30);
    big[n] = '\0';
    struct http_target t2;
    CHECK(sni_parse_http((uint8_t *)big, SNI_PEEK_MAX - 1, &t2) == SNI_MORE);
    CHECK(sni_parse_http((uint8_t *)big, SNI_PEEK_MAX, &t2) == SNI_BAD);
    CHECK(sni_parse_http((uint8_t *)big, n, &t2) == SNI_BAD);
    /* A head ending just inside the window is read; one byte past is not. */
    memcpy(big + SNI_PEEK_MAX - 4, "\r\n\r\n", 4);
    CHECK(sni_parse_http((uint8_t *)big, n, &t2) == SNI_FOUND && t2.head_len == SNI_PEEK_MAX);
    memcpy(big + SNI_PEEK_MAX - 4, "x\r\n\r", 4);
    big[SNI_PEEK_MAX] = '\n';
    CHECK(sni_parse_http((uint8_t *)big, n, &t2) == SNI_BAD);
    free(big);
}

TEST_MAIN(TEST(real_hellos), TEST(split_records), TEST(built_hellos), TEST(peek_bound),
          TEST(mutations), TEST(http_origin), TEST(http_proxy_forms), TEST(http_bad),
          TEST(http_not_this_and_more))
