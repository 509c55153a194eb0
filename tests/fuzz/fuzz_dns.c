/* libFuzzer target: a DNS message from the sandbox (a query) or from
 * upstream (an answer). The input is read as both. A query that parses must
 * be answerable: the answer built for it parses back with the addresses of
 * the question's type, and a query built for its name parses back to the
 * same question. An answer is read for the name its own question asks, so
 * the CNAME chain logic sees matching names. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *n)
{
    size_t len = strnlen(n, 254);
    if (len > 253 || strspn(n, "abcdefghijklmnopqrstuvwxyz0123456789.-_") != len)
        abort();
}

static void as_query(const uint8_t *data, size_t size)
{
    struct dns_question q;
    bool hdr;
    if (dns_parse_query(data, size, &q, &hdr) < 0) {
        if (hdr != (size >= 12))
            abort();
        return;
    }
    check_name(q.name);
    if (q.question_end > size)
        abort();

    /* Up to 8 addresses drawn from the input's tail, either family. */
    struct dns_rr_addr addrs[8];
    size_t n = 0, want = 0;
    for (size_t off = q.question_end; n < 8 && off + 21 <= size; off += 21, n++) {
        addrs[n].family = data[off] & 1 ? AF_INET6 : AF_INET;
        memcpy(addrs[n].a, data + off + 1, 16);
        memcpy(&addrs[n].ttl, data + off + 17, 4);
        addrs[n].ttl &= 0x7fffffff;
        want += (addrs[n].family == AF_INET && q.qtype == DNS_TYPE_A) ||
                (addrs[n].family == AF_INET6 && q.qtype == DNS_TYPE_AAAA);
    }
    int rcode = size > 12 ? data[size - 1] % 6 : 0;
    if (rcode != DNS_RCODE_NOERROR)
        want = 0;
    uint8_t out[DNS_MSG_MAX];
    int len = dns_build_answer(&q, rcode, addrs, n, out, sizeof(out));
    if (len < 0)
        abort();
    struct dns_rr_addr got[DNS_ANSWERS_MAX];
    int got_rcode;
    int k = dns_parse_answer(out, (size_t)len, q.id, q.name, &got_rcode, got, DNS_ANSWERS_MAX);
    if (k < 0 || (size_t)k != want || got_rcode != rcode)
        abort();
    for (size_t i = 0, j = 0; want && i < n; i++) {
        bool same = (addrs[i].family == AF_INET && q.qtype == DNS_TYPE_A) ||
                    (addrs[i].family == AF_INET6 && q.qtype == DNS_TYPE_AAAA);
        if (!same)
            continue;
        if (got[j].family != addrs[i].family || got[j].ttl != addrs[i].ttl ||
            memcmp(got[j].a, addrs[i].a, addrs[i].family == AF_INET ? 4 : 16))
            abort();
        j++;
    }
    struct dns_question back;
    len = dns_build_query(q.id, q.name, q.qtype, out, sizeof(out));
    if (len < 0 || dns_parse_query(out, (size_t)len, &back, &hdr) < 0 ||
        strcmp(back.name, q.name) || back.qtype != q.qtype || back.id != q.id)
        abort();
}

static void as_answer(const uint8_t *data, size_t size)
{
    if (size < 12)
        return;
    /* The answer's own question, read as a query (QR cleared). */
    uint8_t *copy = malloc(size);
    memcpy(copy, data, size);
    copy[2] &= 0x7f;
    struct dns_question q;
    bool hdr;
    const char *name = dns_parse_query(copy, size, &q, &hdr) == 0 ? q.name : "a.test";
    uint16_t id = (uint16_t)(data[0] << 8 | data[1]);
    struct dns_rr_addr got[DNS_ANSWERS_MAX];
    int rcode;
    size_t max = data[size - 1] % (DNS_ANSWERS_MAX + 4);
    int k = dns_parse_answer(data, size, id, name, &rcode, got, max);
    if (k >= 0) {
        if ((size_t)k > max || k > DNS_ANSWERS_MAX || rcode < 0 || rcode > 15)
            abort();
        for (int i = 0; i < k; i++)
            if ((got[i].family != AF_INET && got[i].family != AF_INET6) || got[i].ttl > 0x7fffffff)
                abort();
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *c = malloc(size ? size : 1);
    memcpy(c, data, size);
    as_query(c, size);
    as_answer(c, size);
    free(c);
    return 0;
}
