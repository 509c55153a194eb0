/* DNS messages for the sandbox's resolver. Queries come from the sandbox and
 * answers from upstream, and neither is trusted: every offset is checked
 * against the message, compression pointers must point strictly backwards
 * (before the start of the name part that holds them, which makes loops
 * impossible) and are followed a bounded number of times, and names are
 * decoded into a fixed 255-byte wire buffer. */
#include "dns.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#define HDR_LEN 12
#define WIRE_NAME_MAX 255 /* RFC 1035 3.1, the terminating zero included */
#define LABEL_MAX 63
#define PTR_HOPS 32  /* compression pointers followed in one name */
#define CNAME_MAX 16 /* names in one answer's CNAME chain, the asked one included */

#define FLAG_QR 0x8000
#define FLAG_TC 0x0200
#define FLAG_RD 0x0100
#define FLAG_RA 0x0080
#define OPCODE(f) (((f) >> 11) & 0xf)

/* A name in wire form, uncompressed and lowercased: length-prefixed labels
 * and the final zero. Two names are equal when their wire forms are. */
struct wname {
    uint8_t w[WIRE_NAME_MAX];
    size_t n;
};

static uint8_t lower(uint8_t c) { return c >= 'A' && c <= 'Z' ? (uint8_t)(c - 'A' + 'a') : c; }
static uint16_t get16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

/* Reads the name at off into ret; *ret_end is the offset just past it in
 * the message (past the first pointer, when there is one). */
static int read_name(const uint8_t *buf, size_t len, size_t off, struct wname *ret, size_t *ret_end)
{
    size_t pos = off, seg = off, end = 0, n = 0;
    unsigned hops = 0;
    for (;;) {
        if (pos >= len)
            return -EBADMSG;
        uint8_t l = buf[pos];
        if ((l & 0xc0) == 0xc0) {
            if (pos + 1 >= len)
                return -EBADMSG;
            size_t target = (size_t)(l & 0x3f) << 8 | buf[pos + 1];
            /* Names live past the header, and a pointer goes strictly back
             * from where its part of the name started: each hop lands
             * earlier, so no pointer can be reached twice. */
            if (target < HDR_LEN || target >= seg || ++hops > PTR_HOPS)
                return -EBADMSG;
            if (!end)
                end = pos + 2;
            pos = seg = target;
            continue;
        }
        if (l > LABEL_MAX) /* 0x40 and 0x80: label types nobody uses */
            return -EBADMSG;
        if (l == 0)
            break;
        /* Room for this label and the final zero. */
        if (len - pos - 1 < l || n + 1 + l + 1 > WIRE_NAME_MAX)
            return -EBADMSG;
        ret->w[n++] = l;
        for (size_t i = 0; i < l; i++)
            ret->w[n++] = lower(buf[pos + 1 + i]);
        pos += 1 + l;
    }
    ret->w[n++] = 0;
    ret->n = n;
    *ret_end = end ? end : pos + 1;
    return 0;
}

/* Label bytes the text form carries: the policy compares names as text, so
 * a label holding a dot, a NUL or a space (all legal on the wire) would make
 * two different names look alike. */
static bool text_byte(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static int wire_to_text(const struct wname *w, char out[254])
{
    size_t o = 0;
    for (size_t i = 0; w->w[i]; i += 1 + w->w[i]) {
        if (o)
            out[o++] = '.';
        for (size_t k = 1; k <= w->w[i]; k++) {
            if (!text_byte(w->w[i + k]))
                return -EBADMSG;
            out[o++] = (char)w->w[i + k];
        }
    }
    out[o] = '\0';
    return 0;
}

/* "a.example.org", with or without a trailing dot; "" or "." is the root.
 * Only the bytes wire_to_text gives back, so what is built parses back. */
static int text_to_wire(const char *name, bool fold, struct wname *ret)
{
    size_t len = strlen(name), n = 0;
    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len > 0 && name[len - 1] == '.') /* "a.." ends in an empty label */
        return -EINVAL;
    for (size_t start = 0; start < len;) {
        const char *dot = memchr(name + start, '.', len - start);
        size_t l = (dot ? (size_t)(dot - name) : len) - start;
        if (l == 0 || l > LABEL_MAX || n + 1 + l + 1 > WIRE_NAME_MAX)
            return -EINVAL;
        ret->w[n++] = (uint8_t)l;
        for (size_t i = 0; i < l; i++) {
            uint8_t c = (uint8_t)name[start + i];
            if (!text_byte(c))
                return -EINVAL;
            ret->w[n++] = fold ? lower(c) : c;
        }
        start += l + 1;
    }
    ret->w[n++] = 0;
    ret->n = n;
    return 0;
}

static bool wname_eq(const struct wname *a, const struct wname *b)
{
    return a->n == b->n && !memcmp(a->w, b->w, a->n);
}

int dns_parse_query(const uint8_t *buf, size_t len, struct dns_question *ret, bool *ret_header)
{
    *ret_header = false;
    if (len < HDR_LEN)
        return -EBADMSG;
    ret->id = get16(buf);
    ret->flags = get16(buf + 2);
    *ret_header = true;
    if (len > DNS_MSG_MAX || (ret->flags & FLAG_QR) || OPCODE(ret->flags) != 0 ||
        get16(buf + 4) != 1)
        return -EBADMSG;
    struct wname w;
    struct dns_question q = {.id = ret->id, .flags = ret->flags};
    size_t end;
    int r = read_name(buf, len, HDR_LEN, &w, &end);
    if (r < 0 || (r = wire_to_text(&w, q.name)) < 0)
        return r;
    if (len - end < 4)
        return -EBADMSG;
    q.qtype = get16(buf + end);
    q.qclass = get16(buf + end + 2);
    q.question_end = end + 4;
    *ret = q;
    return 0;
}

/* Header and question; returns the offset past them. */
static int put_head(uint16_t id, uint16_t flags, uint16_t ancount, const struct wname *w,
                    uint16_t qtype, uint16_t qclass, uint8_t *out, size_t cap)
{
    if (cap < HDR_LEN + w->n + 4)
        return -ENOSPC;
    memset(out, 0, HDR_LEN);
    put16(out, id);
    put16(out + 2, flags);
    put16(out + 4, 1);
    put16(out + 6, ancount);
    memcpy(out + HDR_LEN, w->w, w->n);
    put16(out + HDR_LEN + w->n, qtype);
    put16(out + HDR_LEN + w->n + 2, qclass);
    return (int)(HDR_LEN + w->n + 4);
}

int dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *out, size_t cap)
{
    struct wname w;
    if (text_to_wire(name, false, &w) < 0)
        return -EINVAL;
    return put_head(id, FLAG_RD, 0, &w, qtype, DNS_CLASS_IN, out, cap);
}

static bool answers(const struct dns_question *q, const struct dns_rr_addr *a)
{
    return (a->family == AF_INET && q->qtype == DNS_TYPE_A) ||
           (a->family == AF_INET6 && q->qtype == DNS_TYPE_AAAA);
}

int dns_build_answer(const struct dns_question *q, int rcode, const struct dns_rr_addr *addrs,
                     size_t n, uint8_t *out, size_t cap)
{
    struct wname w;
    if (rcode < 0 || rcode > 15 || text_to_wire(q->name, true, &w) < 0)
        return -EINVAL;
    size_t count = 0;
    for (size_t i = 0; rcode == DNS_RCODE_NOERROR && i < n; i++)
        count += answers(q, &addrs[i]);
    if (count > UINT16_MAX)
        return -ENOSPC;
    /* A recursive resolver's answer: not authoritative, recursion
     * available, RD echoed from the query. */
    uint16_t flags = FLAG_QR | (q->flags & FLAG_RD) | FLAG_RA | (uint16_t)rcode;
    int r = put_head(q->id, flags, (uint16_t)count, &w, q->qtype, q->qclass, out, cap);
    if (r < 0 || count == 0)
        return r;
    size_t o = (size_t)r;
    for (size_t i = 0; i < n; i++) {
        if (!answers(q, &addrs[i]))
            continue;
        size_t alen = addrs[i].family == AF_INET ? 4 : 16;
        if (cap - o < 12 + alen)
            return -ENOSPC;
        put16(out + o, 0xc000 | HDR_LEN); /* the owner is the question's name */
        put16(out + o + 2, q->qtype);
        put16(out + o + 4, DNS_CLASS_IN);
        put32(out + o + 6, addrs[i].ttl);
        put16(out + o + 10, (uint16_t)alen);
        memcpy(out + o + 12, addrs[i].a, alen);
        o += 12 + alen;
    }
    return (int)o;
}

/* One resource record of the answer section, bounds-checked. */
struct rr {
    struct wname owner;
    uint16_t type, class;
    uint32_t ttl;
    size_t rdata, rdlen;
};

static int read_rr(const uint8_t *buf, size_t len, size_t *off, struct rr *rr)
{
    size_t p;
    int r = read_name(buf, len, *off, &rr->owner, &p);
    if (r < 0)
        return r;
    if (len - p < 10)
        return -EBADMSG;
    rr->type = get16(buf + p);
    rr->class = get16(buf + p + 2);
    rr->ttl = get32(buf + p + 4);
    rr->rdlen = get16(buf + p + 8);
    rr->rdata = p + 10;
    if (len - rr->rdata < rr->rdlen)
        return -EBADMSG;
    *off = rr->rdata + rr->rdlen;
    return 0;
}

static bool in_chain(const struct wname *chain, size_t n, const struct wname *w)
{
    for (size_t i = 0; i < n; i++)
        if (wname_eq(&chain[i], w))
            return true;
    return false;
}

int dns_parse_answer(const uint8_t *buf, size_t len, uint16_t id, const char *name, int *ret_rcode,
                     struct dns_rr_addr *ret, size_t max)
{
    struct wname chain[CNAME_MAX];
    if (text_to_wire(name, true, &chain[0]) < 0)
        return -EINVAL;
    if (len < HDR_LEN || len > DNS_MSG_MAX)
        return -EBADMSG;
    uint16_t flags = get16(buf + 2), qdcount = get16(buf + 4), ancount = get16(buf + 6);
    int rcode = flags & 0xf;
    if (get16(buf) != id || !(flags & FLAG_QR) || OPCODE(flags) != 0)
        return -EBADMSG;
    /* A truncated answer may have lost records anywhere: the caller asks
     * again over TCP rather than trusting what is left. */
    if (flags & FLAG_TC)
        return -EMSGSIZE;
    /* Error answers need not repeat the question. */
    if (qdcount == 0 && rcode != DNS_RCODE_NOERROR) {
        *ret_rcode = rcode;
        return 0;
    }
    /* The question must be ours: an answer about another name is a
     * mix-up or a spoof, and nothing in it is used. */
    struct wname q;
    size_t an;
    int r = read_name(buf, len, HDR_LEN, &q, &an);
    if (r < 0 || qdcount != 1 || !wname_eq(&q, &chain[0]) || len - an < 4)
        return -EBADMSG;
    an += 4;
    if (rcode != DNS_RCODE_NOERROR) {
        *ret_rcode = rcode;
        return 0;
    }

    /* Follow the CNAME chain from the asked name, in passes so that the
     * records' order does not matter; each pass either adds a name or ends,
     * and the first one checks every record's bounds. */
    size_t n_chain = 1;
    for (bool grew = true; grew;) {
        grew = false;
        size_t off = an;
        for (unsigned i = 0; i < ancount; i++) {
            struct rr rr;
            struct wname target;
            size_t tend;
            if ((r = read_rr(buf, len, &off, &rr)) < 0)
                return r;
            if (rr.class != DNS_CLASS_IN)
                continue;
            if ((rr.type == DNS_TYPE_A && rr.rdlen != 4) ||
                (rr.type == DNS_TYPE_AAAA && rr.rdlen != 16))
                return -EBADMSG;
            if (rr.type != DNS_TYPE_CNAME)
                continue;
            if ((r = read_name(buf, len, rr.rdata, &target, &tend)) < 0)
                return r;
            if (tend != rr.rdata + rr.rdlen)
                return -EBADMSG;
            if (n_chain < CNAME_MAX && in_chain(chain, n_chain, &rr.owner) &&
                !in_chain(chain, n_chain, &target)) {
                chain[n_chain++] = target;
                grew = true;
            }
        }
    }

    size_t n = 0, off = an;
    if (max > DNS_ANSWERS_MAX)
        max = DNS_ANSWERS_MAX;
    for (unsigned i = 0; i < ancount && n < max; i++) {
        struct rr rr;
        if (read_rr(buf, len, &off, &rr) < 0)
            return -EBADMSG; /* checked above; kept for the reader */
        if (rr.class != DNS_CLASS_IN || (rr.type != DNS_TYPE_A && rr.type != DNS_TYPE_AAAA) ||
            !in_chain(chain, n_chain, &rr.owner))
            continue;
        struct dns_rr_addr a = {.family = rr.type == DNS_TYPE_A ? AF_INET : AF_INET6};
        memcpy(a.a, buf + rr.rdata, rr.rdlen);
        /* RFC 2181 8: a TTL with the top bit set is read as zero. */
        a.ttl = rr.ttl > INT32_MAX ? 0 : rr.ttl;
        ret[n++] = a;
    }
    *ret_rcode = rcode;
    return (int)n;
}
