/* Unit tests for the DNS codec: real queries and answers (captured on this
 * machine from dnsmasq 2.90: a query it forwarded upstream, and its answers
 * with CNAME chains and compression), messages built by hand for every
 * malformation (compression loops, long labels and names, truncation at
 * every length), and build_answer's output read back by parse_answer. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/macro.h"
#include "net/dns.h"
#include "test.h"

/* dnsmasq forwarding "api.Anthropic.com" AAAA upstream (35 bytes). */
static const char q_dnsmasq[] =
    "39c5010000010000000000000361706909416e7468726f70696303636f6d00001c0001";
/* The query dig 9.18 sends for "example.com" A: RD and AD set, EDNS0 with a
 * 1232-byte UDP size and an 8-byte client cookie (built here from those
 * facts; dig is not installed on this machine). */
static const char q_dig[] = "a1b201200001000000000001076578616d706c6503636f6d0000010001"
                            "00002904d000000000000c000a00081122334455667788";
/* dnsmasq answering www.test A: www.test CNAME alias.test CNAME a.test, which
 * has 192.0.2.1 and 192.0.2.2 (id 0x1234). */
static const char a_www_a[] =
    "1234858000010004000000000377777704746573740000010001c00c0005000100000000000c05616c6961730474"
    "65737400c026000500010000000000080161047465737400c03e00010001000000000004c0000201c03e00010001"
    "000000000004c0000202";
/* The same for AAAA: 2001:db8::1 and 2001:db8::2. */
static const char a_www_aaaa[] =
    "12348580000100040000000003777777047465737400001c0001c00c0005000100000000000c05616c6961730474"
    "65737400c026000500010000000000080161047465737400c03e001c000100000000001020010db8000000000000"
    "000000000001c03e001c000100000000001020010db8000000000000000000000002";
/* a.test A, directly: two addresses. */
static const char a_a_a[] = "123485800001000200000000016104746573740000010001c00c0001000100000000"
                            "0004c0000202c00c00010001000000000004c0000201";
/* nope.test A: NXDOMAIN. */
static const char a_nx[] = "123481830001000000000000046e6f706504746573740000010001";

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

/* A message built by hand. */
struct msg {
    uint8_t b[DNS_MSG_MAX + 512];
    size_t n;
};

static void put(struct msg *m, const void *p, size_t n)
{
    memcpy(m->b + m->n, p, n);
    m->n += n;
}
static void put8(struct msg *m, unsigned v) { m->b[m->n++] = (uint8_t)v; }
static void put16(struct msg *m, unsigned v)
{
    put8(m, (v >> 8) & 0xff);
    put8(m, v & 0xff);
}
static void put32(struct msg *m, uint32_t v)
{
    put16(m, v >> 16);
    put16(m, v & 0xffff);
}
static void header(struct msg *m, unsigned id, unsigned flags, unsigned qd, unsigned an)
{
    m->n = 0;
    put16(m, id);
    put16(m, flags);
    put16(m, qd);
    put16(m, an);
    put16(m, 0);
    put16(m, 0);
}
/* "a.b.c" as labels and the root; returns where it starts. */
static size_t name(struct msg *m, const char *s)
{
    size_t at = m->n;
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t l = dot ? (size_t)(dot - s) : strlen(s);
        put8(m, (unsigned)l);
        put(m, s, l);
        s += l + (dot ? 1 : 0);
    }
    put8(m, 0);
    return at;
}
static void ptr(struct msg *m, size_t to) { put16(m, 0xc000 | (unsigned)to); }
static void rr_head(struct msg *m, unsigned type, uint32_t ttl, unsigned rdlen)
{
    put16(m, type);
    put16(m, DNS_CLASS_IN);
    put32(m, ttl);
    put16(m, rdlen);
}
static void rr_a(struct msg *m, const char *owner, const char *ip, uint32_t ttl)
{
    uint8_t a[16];
    name(m, owner);
    if (strchr(ip, ':')) {
        inet_pton(AF_INET6, ip, a);
        rr_head(m, DNS_TYPE_AAAA, ttl, 16);
        put(m, a, 16);
    } else {
        inet_pton(AF_INET, ip, a);
        rr_head(m, DNS_TYPE_A, ttl, 4);
        put(m, a, 4);
    }
}
static void rr_cname(struct msg *m, const char *owner, const char *target)
{
    name(m, owner);
    rr_head(m, DNS_TYPE_CNAME, 60, (unsigned)strlen(target) + 2);
    name(m, target);
}
static void question(struct msg *m, const char *q, unsigned type)
{
    name(m, q);
    put16(m, type);
    put16(m, DNS_CLASS_IN);
}

/* Parses a query from an exact-size copy, so ASan sees any overread. */
static int query(const uint8_t *b, size_t n, struct dns_question *q, bool *hdr)
{
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, b, n);
    memset(q, 0x5a, sizeof(*q));
    int r = dns_parse_query(c, n, q, hdr);
    free(c);
    return r;
}

static int answer(const uint8_t *b, size_t n, uint16_t id, const char *nm, int *rcode,
                  struct dns_rr_addr *out, size_t max)
{
    uint8_t *c = malloc(n ? n : 1);
    memcpy(c, b, n);
    *rcode = -1;
    int r = dns_parse_answer(c, n, id, nm, rcode, out, max);
    free(c);
    return r;
}

static bool addr_is(const struct dns_rr_addr *a, const char *ip)
{
    uint8_t x[16] = {0};
    int fam = strchr(ip, ':') ? AF_INET6 : AF_INET;
    inet_pton(fam, ip, x);
    return a->family == fam && !memcmp(a->a, x, fam == AF_INET ? 4 : 16);
}

static void real_queries(void)
{
    size_t n;
    _cleanup_free_ uint8_t *b = unhex(q_dnsmasq, &n);
    struct dns_question q;
    bool hdr;
    CHECK(query(b, n, &q, &hdr) == 0 && hdr);
    CHECK(q.id == 0x39c5 && q.flags == 0x0100 && q.qtype == DNS_TYPE_AAAA && q.qclass == 1);
    CHECK_STREQ(q.name, "api.anthropic.com");
    CHECK(q.question_end == n);
    _cleanup_free_ uint8_t *d = unhex(q_dig, &n);
    CHECK(query(d, n, &q, &hdr) == 0);
    CHECK(q.id == 0xa1b2 && q.flags == 0x0120 && q.qtype == DNS_TYPE_A);
    CHECK_STREQ(q.name, "example.com");
    CHECK(q.question_end == 12 + 13 + 4); /* the OPT record follows */
    /* Every truncation fails, with the header reported once it is there. */
    for (size_t k = 0; k < n; k++) {
        int r = query(d, k, &q, &hdr);
        if (k < q.question_end) {
            CHECK(r == -EBADMSG && hdr == (k >= 12));
            if (k >= 12)
                CHECK(q.id == 0xa1b2 && q.flags == 0x0120);
        } else {
            CHECK(r == 0); /* the additional section is not read */
        }
    }
}

static void built_queries(void)
{
    uint8_t b[DNS_MSG_MAX];
    struct dns_question q;
    bool hdr;
    int n = dns_build_query(0xbeef, "Example.COM.", DNS_TYPE_AAAA, b, sizeof(b));
    CHECK(n == 12 + 13 + 4);
    CHECK(query(b, (size_t)n, &q, &hdr) == 0);
    CHECK(q.id == 0xbeef && q.flags == 0x0100 && q.qtype == DNS_TYPE_AAAA && q.qclass == 1);
    CHECK_STREQ(q.name, "example.com");
    n = dns_build_query(1, "", DNS_TYPE_A, b, sizeof(b));
    CHECK(n == 12 + 1 + 4 && query(b, (size_t)n, &q, &hdr) == 0);
    CHECK_STREQ(q.name, "");
    n = dns_build_query(1, ".", DNS_TYPE_A, b, sizeof(b));
    CHECK(n == 17);
    n = dns_build_query(1, "_sip._tcp.example.com", 33, b, sizeof(b));
    CHECK(n > 0 && query(b, (size_t)n, &q, &hdr) == 0 && q.qtype == 33);
    CHECK_STREQ(q.name, "_sip._tcp.example.com");
    /* The longest name: 253 bytes of text, 255 on the wire. */
    char longest[300];
    for (size_t i = 0; i < 253; i++)
        longest[i] = i % 2 ? '.' : 'x';
    longest[253] = '\0';
    n = dns_build_query(1, longest, DNS_TYPE_A, b, sizeof(b));
    CHECK(n == 12 + 255 + 4 && query(b, (size_t)n, &q, &hdr) == 0 && strlen(q.name) == 253);
    longest[253] = 'x';
    longest[254] = '\0';
    CHECK(dns_build_query(1, longest, DNS_TYPE_A, b, sizeof(b)) == -EINVAL);
    char label64[80];
    memset(label64, 'a', 64);
    memcpy(label64 + 64, ".com", 5);
    CHECK(dns_build_query(1, label64, DNS_TYPE_A, b, sizeof(b)) == -EINVAL);
    CHECK(dns_build_query(1, label64 + 1, DNS_TYPE_A, b, sizeof(b)) > 0);
    const char *bad[] = {"a..b", ".a", "a..", "..", "a b.com", "a\\.b", "caf\xc3\xa9.fr"};
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++)
        CHECK(dns_build_query(1, bad[i], DNS_TYPE_A, b, sizeof(b)) == -EINVAL);
    CHECK(dns_build_query(1, "example.com", DNS_TYPE_A, b, 28) == -ENOSPC);
    CHECK(dns_build_query(1, "example.com", DNS_TYPE_A, b, 29) == 29);
}

static void bad_queries(void)
{
    struct msg *m = calloc(1, sizeof(*m));
    struct dns_question q;
    bool hdr;
    /* Header: a response, other opcodes, zero or two questions. */
    unsigned flags[] = {0x8100, 0x0800, 0x1000, 0x2800};
    for (size_t i = 0; i < ARRAY_SIZE(flags); i++) {
        header(m, 7, flags[i], 1, 0);
        question(m, "a.b", DNS_TYPE_A);
        CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG && hdr && q.id == 7 && q.flags == flags[i]);
    }
    header(m, 7, 0x0100, 0, 0);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG && hdr);
    header(m, 7, 0x0100, 2, 0);
    question(m, "a.b", DNS_TYPE_A);
    question(m, "c.d", DNS_TYPE_A);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    CHECK(query(m->b, 11, &q, &hdr) == -EBADMSG && !hdr);
    /* A label of 64 (0x40 is an extended label type) and of 0x80. */
    char label64[80];
    memset(label64, 'a', 64);
    memcpy(label64 + 64, ".com", 5);
    header(m, 7, 0x0100, 1, 0);
    question(m, label64, DNS_TYPE_A);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    header(m, 7, 0x0100, 1, 0);
    put8(m, 0x80);
    put(m, "abc\0\0\1\0\1", 8);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    /* A name of 254 text bytes (256 on the wire). */
    char long_name[300];
    for (size_t i = 0; i < 255; i++)
        long_name[i] = i % 2 ? '.' : 'x';
    long_name[254] = '\0'; /* ends with '.': 127 labels, then a 128th below */
    long_name[253] = 'y';
    header(m, 7, 0x0100, 1, 0);
    question(m, long_name, DNS_TYPE_A);
    CHECK(strlen(long_name) == 254);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    /* Four labels of 63: 257 wire bytes. */
    char four[300];
    for (size_t i = 0; i < 4; i++) {
        memset(four + 64 * i, 'q', 63);
        four[64 * i + 63] = '.';
    }
    four[255] = '\0';
    header(m, 7, 0x0100, 1, 0);
    question(m, four, DNS_TYPE_A);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    four[64 * 3 + 61] = '\0'; /* labels of 63, 63, 63 and 61: 253 text, 255 wire bytes */
    header(m, 7, 0x0100, 1, 0);
    question(m, four, DNS_TYPE_A);
    CHECK(query(m->b, m->n, &q, &hdr) == 0 && strlen(q.name) == 253);
    four[64 * 3 + 61] = 'q'; /* and one more byte is too many */
    four[64 * 3 + 62] = '\0';
    header(m, 7, 0x0100, 1, 0);
    question(m, four, DNS_TYPE_A);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    /* Label bytes the text form cannot carry unambiguously. */
    const char *odd[] = {"a.b\x01", "a b", "a*", "\xc3\xa9", "a\\b"};
    for (size_t i = 0; i < ARRAY_SIZE(odd); i++) {
        header(m, 7, 0x0100, 1, 0);
        put8(m, (unsigned)strlen(odd[i]));
        put(m, odd[i], strlen(odd[i]));
        put(m, "\0\0\1\0\1", 5);
        CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    }
    /* A dot inside a label. */
    header(m, 7, 0x0100, 1, 0);
    put(m, "\3a.b\0\0\1\0\1", 9);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    /* Compression in a question: nothing precedes it, so any pointer is bad:
     * to itself, forward, into the header. */
    header(m, 7, 0x0100, 1, 0);
    ptr(m, 12);
    put(m, "\0\1\0\1", 4);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    header(m, 7, 0x0100, 1, 0);
    ptr(m, 18);
    put(m, "\0\1\0\1", 4);
    put(m, "\1a\0", 3);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    header(m, 7, 0x0100, 1, 0);
    put(m, "\1a", 2);
    ptr(m, 4);
    put(m, "\0\1\0\1", 4);
    CHECK(query(m->b, m->n, &q, &hdr) == -EBADMSG);
    /* A message over DNS_MSG_MAX. */
    header(m, 7, 0x0100, 1, 0);
    question(m, "a.b", DNS_TYPE_A);
    CHECK(query(m->b, DNS_MSG_MAX + 1, &q, &hdr) == -EBADMSG && hdr);
    CHECK(query(m->b, DNS_MSG_MAX, &q, &hdr) == 0);
    free(m);
}

static void real_answers(void)
{
    struct dns_rr_addr out[DNS_ANSWERS_MAX];
    int rcode;
    size_t n;
    _cleanup_free_ uint8_t *a = unhex(a_www_a, &n);
    CHECK(answer(a, n, 0x1234, "www.test", &rcode, out, DNS_ANSWERS_MAX) == 2 && rcode == 0);
    CHECK(addr_is(&out[0], "192.0.2.1") && addr_is(&out[1], "192.0.2.2") && out[0].ttl == 0);
    CHECK(answer(a, n, 0x1234, "WWW.Test.", &rcode, out, DNS_ANSWERS_MAX) == 2);
    CHECK(answer(a, n, 0x1234, "www.test", &rcode, out, 1) == 1);
    CHECK(answer(a, n, 0x1234, "www.test", &rcode, out, 0) == 0);
    /* Wrong id, another question, and a name that is not a name. */
    CHECK(answer(a, n, 0x1235, "www.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    CHECK(rcode == -1);
    CHECK(answer(a, n, 0x1234, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    CHECK(answer(a, n, 0x1234, "www..test", &rcode, out, DNS_ANSWERS_MAX) == -EINVAL);
    for (size_t k = 0; k < n; k++)
        CHECK(answer(a, k, 0x1234, "www.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    _cleanup_free_ uint8_t *b = unhex(a_www_aaaa, &n);
    CHECK(answer(b, n, 0x1234, "www.test", &rcode, out, DNS_ANSWERS_MAX) == 2);
    CHECK(addr_is(&out[0], "2001:db8::1") && addr_is(&out[1], "2001:db8::2"));
    for (size_t k = 0; k < n; k++)
        CHECK(answer(b, k, 0x1234, "www.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    _cleanup_free_ uint8_t *c = unhex(a_a_a, &n);
    CHECK(answer(c, n, 0x1234, "a.test", &rcode, out, DNS_ANSWERS_MAX) == 2);
    CHECK(addr_is(&out[0], "192.0.2.2") && addr_is(&out[1], "192.0.2.1"));
    _cleanup_free_ uint8_t *d = unhex(a_nx, &n);
    CHECK(answer(d, n, 0x1234, "nope.test", &rcode, out, DNS_ANSWERS_MAX) == 0);
    CHECK(rcode == DNS_RCODE_NXDOMAIN);
}

static void chains_and_strangers(void)
{
    struct msg *m = calloc(1, sizeof(*m));
    struct dns_rr_addr out[DNS_ANSWERS_MAX];
    int rcode;
    /* Records about other names are ignored, wherever they point. */
    header(m, 9, 0x8180, 1, 6);
    question(m, "a.test", DNS_TYPE_A);
    rr_a(m, "b.test", "198.51.100.1", 60);
    rr_a(m, "a.test", "192.0.2.1", 300);
    rr_cname(m, "b.test", "c.test");
    rr_a(m, "c.test", "198.51.100.2", 60);
    rr_a(m, "test", "198.51.100.3", 60);
    rr_a(m, "x.a.test", "198.51.100.4", 60);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == 1);
    CHECK(addr_is(&out[0], "192.0.2.1") && out[0].ttl == 300);
    /* A CNAME chain given backwards, with A and AAAA at its end. */
    header(m, 9, 0x8180, 1, 5);
    question(m, "start.test", DNS_TYPE_A);
    rr_a(m, "end.test", "192.0.2.9", 5);
    rr_a(m, "end.test", "2001:db8::9", 5);
    rr_cname(m, "mid.test", "end.test");
    rr_cname(m, "start.test", "mid.test");
    rr_a(m, "mid.test", "192.0.2.8", 5); /* a CNAME owner's own address, odd but reachable */
    int r = answer(m->b, m->n, 9, "start.test", &rcode, out, DNS_ANSWERS_MAX);
    CHECK(r == 3 && addr_is(&out[0], "192.0.2.9") && addr_is(&out[1], "2001:db8::9") &&
          addr_is(&out[2], "192.0.2.8"));
    /* A CNAME loop ends. */
    header(m, 9, 0x8180, 1, 3);
    question(m, "x.test", DNS_TYPE_A);
    rr_cname(m, "x.test", "y.test");
    rr_cname(m, "y.test", "x.test");
    rr_a(m, "y.test", "192.0.2.7", 5);
    CHECK(answer(m->b, m->n, 9, "x.test", &rcode, out, DNS_ANSWERS_MAX) == 1);
    /* A chain longer than the bound: the far end is not reached. */
    header(m, 9, 0x8180, 1, 41);
    question(m, "n0.test", DNS_TYPE_A);
    for (int i = 0; i < 40; i++) {
        char o[16], t[16];
        snprintf(o, sizeof(o), "n%d.test", i);
        snprintf(t, sizeof(t), "n%d.test", i + 1);
        rr_cname(m, o, t);
    }
    rr_a(m, "n40.test", "192.0.2.40", 5);
    CHECK(answer(m->b, m->n, 9, "n0.test", &rcode, out, DNS_ANSWERS_MAX) == 0);
    /* More addresses than DNS_ANSWERS_MAX: the first ones are kept. */
    header(m, 9, 0x8180, 1, 40);
    question(m, "many.test", DNS_TYPE_A);
    for (int i = 0; i < 40; i++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "192.0.2.%d", i);
        rr_a(m, "many.test", ip, 5);
    }
    CHECK(answer(m->b, m->n, 9, "many.test", &rcode, out, 100) == DNS_ANSWERS_MAX);
    CHECK(addr_is(&out[31], "192.0.2.31"));
    /* Other classes, other types, and a TTL with the top bit set. */
    header(m, 9, 0x8180, 1, 3);
    question(m, "a.test", DNS_TYPE_A);
    name(m, "a.test");
    put16(m, DNS_TYPE_A);
    put16(m, 3); /* CHAOS */
    put32(m, 5);
    put16(m, 4);
    put(m, "\1\2\3\4", 4);
    name(m, "a.test");
    rr_head(m, DNS_TYPE_TXT, 5, 4);
    put(m, "\3abc", 4);
    rr_a(m, "a.test", "192.0.2.5", 0x80000001u);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == 1);
    CHECK(addr_is(&out[0], "192.0.2.5") && out[0].ttl == 0);
    free(m);
}

static void bad_answers(void)
{
    struct msg *m = calloc(1, sizeof(*m));
    struct dns_rr_addr out[DNS_ANSWERS_MAX];
    int rcode;
    /* Truncated (TC): asked again over TCP. Not a response. Opcode. */
    header(m, 9, 0x8380, 1, 1);
    question(m, "a.test", DNS_TYPE_A);
    rr_a(m, "a.test", "192.0.2.1", 5);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EMSGSIZE);
    m->b[2] = 0x01;
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    m->b[2] = 0x89;
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    /* Error answers without the question are fine; NOERROR without is not. */
    header(m, 9, 0x8182, 0, 0);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == 0);
    CHECK(rcode == DNS_RCODE_SERVFAIL);
    header(m, 9, 0x8180, 0, 0);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    header(m, 9, 0x8180, 2, 0);
    question(m, "a.test", DNS_TYPE_A);
    question(m, "a.test", DNS_TYPE_AAAA);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    /* Wrong RDLENGTH for A and AAAA; CNAME rdata with a byte to spare. */
    header(m, 9, 0x8180, 1, 1);
    question(m, "a.test", DNS_TYPE_A);
    name(m, "a.test");
    rr_head(m, DNS_TYPE_A, 5, 5);
    put(m, "\1\2\3\4\5", 5);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    header(m, 9, 0x8180, 1, 1);
    question(m, "a.test", DNS_TYPE_A);
    name(m, "a.test");
    rr_head(m, DNS_TYPE_AAAA, 5, 4);
    put(m, "\1\2\3\4", 4);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    header(m, 9, 0x8180, 1, 1);
    question(m, "a.test", DNS_TYPE_A);
    name(m, "a.test");
    rr_head(m, DNS_TYPE_CNAME, 5, 9);
    name(m, "b.test");
    put8(m, 0);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    /* RDLENGTH past the end; fewer records than ANCOUNT. */
    header(m, 9, 0x8180, 1, 1);
    question(m, "a.test", DNS_TYPE_A);
    name(m, "a.test");
    rr_head(m, DNS_TYPE_A, 5, 4);
    put(m, "\1\2\3", 3);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    header(m, 9, 0x8180, 1, 2);
    question(m, "a.test", DNS_TYPE_A);
    rr_a(m, "a.test", "192.0.2.1", 5);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    free(m);
}

static void compression(void)
{
    struct msg *m = calloc(1, sizeof(*m));
    struct dns_rr_addr out[DNS_ANSWERS_MAX];
    int rcode;
    /* Good: owner by pointer to the question, CNAME target "b" + pointer to
     * the question's "test". */
    header(m, 9, 0x8180, 1, 2);
    question(m, "a.test", DNS_TYPE_A); /* "a" at 12, "test" at 14 */
    ptr(m, 12);
    rr_head(m, DNS_TYPE_CNAME, 5, 4);
    size_t b_at = m->n;
    put(m, "\1b", 2);
    ptr(m, 14);
    ptr(m, b_at);
    rr_head(m, DNS_TYPE_A, 5, 4);
    put(m, "\300\0\2\1", 4);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == 1);
    CHECK(addr_is(&out[0], "192.0.2.1"));
    /* An owner that points to itself. */
    header(m, 9, 0x8180, 1, 1);
    question(m, "a.test", DNS_TYPE_A);
    ptr(m, m->n);
    rr_head(m, DNS_TYPE_A, 5, 4);
    put(m, "\300\0\2\1", 4);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    /* Pointing forward (to a name that does exist further on). */
    header(m, 9, 0x8180, 1, 1);
    question(m, "a.test", DNS_TYPE_A);
    ptr(m, m->n + 16);
    rr_head(m, DNS_TYPE_A, 5, 4);
    put(m, "\300\0\2\1", 4);
    name(m, "a.test");
    CHECK(m->b[m->n - 8] == 1);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    /* Two names pointing at each other: "x" + ptr(B) at A, "y" + ptr(A) at B. */
    header(m, 9, 0x8180, 1, 2);
    question(m, "a.test", DNS_TYPE_A);
    size_t at_a = m->n;
    put(m, "\1x", 2);
    ptr(m, at_a + 4 + 10 + 4);
    rr_head(m, DNS_TYPE_A, 5, 4);
    put(m, "\300\0\2\1", 4);
    CHECK(m->n == at_a + 4 + 10 + 4);
    put(m, "\1y", 2);
    ptr(m, at_a);
    rr_head(m, DNS_TYPE_A, 5, 4);
    put(m, "\300\0\2\2", 4);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    /* A pointer back into the middle of its own name part: "\1a\1b" then a
     * pointer to the "\1b", which would repeat forever. */
    header(m, 9, 0x8180, 1, 1);
    question(m, "a.test", DNS_TYPE_A);
    size_t at = m->n;
    put(m, "\1a\1b", 4);
    ptr(m, at + 2);
    rr_head(m, DNS_TYPE_A, 5, 4);
    put(m, "\300\0\2\1", 4);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    /* A long chain of pointers to pointers, each strictly backwards, kept
     * in the rdata of a record of another name so that it is not read as
     * records itself. */
    for (int hops = 8; hops <= 48; hops += 40) {
        header(m, 9, 0x8180, 1, 2);
        question(m, "a.test", DNS_TYPE_A);
        name(m, "z.test");
        rr_head(m, DNS_TYPE_TXT, 5, 2 * (unsigned)hops);
        size_t prev = 12;
        for (int i = 0; i < hops; i++) {
            size_t here = m->n;
            ptr(m, prev);
            prev = here;
        }
        ptr(m, prev);
        rr_head(m, DNS_TYPE_A, 5, 4);
        put(m, "\300\0\2\1", 4);
        int r = answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX);
        CHECK(hops == 8 ? r == 1 : r == -EBADMSG);
    }
    /* A label running past the end of the message. */
    header(m, 9, 0x8180, 1, 1);
    question(m, "a.test", DNS_TYPE_A);
    put(m, "\077abc", 4);
    CHECK(answer(m->b, m->n, 9, "a.test", &rcode, out, DNS_ANSWERS_MAX) == -EBADMSG);
    free(m);
}

static void build_answers(void)
{
    struct msg *m = calloc(1, sizeof(*m));
    uint8_t b[DNS_MSG_MAX];
    struct dns_question q;
    bool hdr;
    int n = dns_build_query(0x4242, "Files.Example.org", DNS_TYPE_A, b, sizeof(b));
    CHECK(query(b, (size_t)n, &q, &hdr) == 0);
    struct dns_rr_addr addrs[4] = {
        {AF_INET, {192, 0, 2, 1}, 60},
        {AF_INET6, {0x20, 0x01, 0x0d, 0xb8, [15] = 1}, 60},
        {AF_INET, {192, 0, 2, 2}, 0x7fffffff},
        {0, {0}, 1}, /* neither family: never written */
    };
    n = dns_build_answer(&q, DNS_RCODE_NOERROR, addrs, 4, b, sizeof(b));
    CHECK(n == 12 + 19 + 4 + 2 * 16);
    CHECK(b[0] == 0x42 && b[1] == 0x42 && b[2] == 0x81 && b[3] == 0x80 && b[7] == 2);
    struct dns_rr_addr out[DNS_ANSWERS_MAX];
    int rcode;
    CHECK(answer(b, (size_t)n, 0x4242, "files.example.org", &rcode, out, DNS_ANSWERS_MAX) == 2);
    CHECK(rcode == 0 && addr_is(&out[0], "192.0.2.1") && addr_is(&out[1], "192.0.2.2"));
    CHECK(out[0].ttl == 60 && out[1].ttl == 0x7fffffff);
    /* The answer to an answer's question is not a query. */
    CHECK(query(b, (size_t)n, &q, &hdr) == -EBADMSG);
    /* AAAA question: only the IPv6 address. RD clear: echoed clear. */
    n = dns_build_query(7, "files.example.org", DNS_TYPE_AAAA, b, sizeof(b));
    b[2] = 0;
    CHECK(query(b, (size_t)n, &q, &hdr) == 0);
    n = dns_build_answer(&q, DNS_RCODE_NOERROR, addrs, 4, b, sizeof(b));
    CHECK(b[2] == 0x80 && b[3] == 0x80);
    CHECK(answer(b, (size_t)n, 7, "files.example.org", &rcode, out, DNS_ANSWERS_MAX) == 1);
    CHECK(addr_is(&out[0], "2001:db8::1"));
    /* TXT: no records, NOERROR (the name exists, nothing of that type). */
    q.qtype = DNS_TYPE_TXT;
    n = dns_build_answer(&q, DNS_RCODE_NOERROR, addrs, 4, b, sizeof(b));
    CHECK(n == 12 + 19 + 4 && b[7] == 0);
    CHECK(answer(b, (size_t)n, 7, "files.example.org", &rcode, out, DNS_ANSWERS_MAX) == 0);
    /* NXDOMAIN, REFUSED, SERVFAIL: the question and the rcode only. */
    int rcodes[] = {DNS_RCODE_NXDOMAIN, DNS_RCODE_REFUSED, DNS_RCODE_SERVFAIL, DNS_RCODE_FORMERR};
    q.qtype = DNS_TYPE_A;
    for (size_t i = 0; i < ARRAY_SIZE(rcodes); i++) {
        n = dns_build_answer(&q, rcodes[i], addrs, 4, b, sizeof(b));
        CHECK(n == 12 + 19 + 4 && (b[3] & 0xf) == rcodes[i] && b[7] == 0);
        CHECK(answer(b, (size_t)n, 7, "files.example.org", &rcode, out, DNS_ANSWERS_MAX) == 0);
        CHECK(rcode == rcodes[i]);
    }
    CHECK(dns_build_answer(&q, 16, addrs, 4, b, sizeof(b)) == -EINVAL);
    /* Space: exactly enough, one byte short. */
    n = dns_build_answer(&q, DNS_RCODE_NOERROR, addrs, 3, b, sizeof(b));
    CHECK(n == 12 + 19 + 4 + 32);
    CHECK(dns_build_answer(&q, DNS_RCODE_NOERROR, addrs, 3, b, (size_t)n) == n);
    CHECK(dns_build_answer(&q, DNS_RCODE_NOERROR, addrs, 3, b, (size_t)n - 1) == -ENOSPC);
    CHECK(dns_build_answer(&q, DNS_RCODE_NOERROR, addrs, 3, b, 20) == -ENOSPC);
    /* The root's question. */
    n = dns_build_query(3, "", DNS_TYPE_A, b, sizeof(b));
    CHECK(query(b, (size_t)n, &q, &hdr) == 0);
    n = dns_build_answer(&q, DNS_RCODE_NOERROR, addrs, 1, b, sizeof(b));
    CHECK(answer(b, (size_t)n, 3, "", &rcode, out, DNS_ANSWERS_MAX) == 1);
    free(m);
}

TEST_MAIN(TEST(real_queries), TEST(built_queries), TEST(bad_queries), TEST(real_answers),
          TEST(chains_and_strangers), TEST(bad_answers), TEST(compression), TEST(build_answers))
