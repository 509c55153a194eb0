/* The egress resolver (egress-internal.h): upstream queries with a cache
 * the proxy reads, and answers to the sandbox's own queries under its
 * policy. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "egress-internal.h"

/* ---- the upstream resolver ------------------------------------------- */

/* Asks upstream for name's A records: the count (possibly 0), -ENOENT for
 * NXDOMAIN, or another -errno. */
int eg_upstream_query(struct egress *e, const char *name, uint16_t qtype,
                          struct dns_rr_addr *ret, size_t max, int *ret_rcode)
{
    uint8_t q[512], ans[DNS_MSG_MAX];
    uint16_t id;
    if (getentropy(&id, sizeof(id)) < 0)
        id = (uint16_t)now_ms();
    int qlen = dns_build_query(id, name, qtype, q, sizeof(q));
    if (qlen < 0)
        return qlen;
    for (int attempt = 0; attempt < 2; attempt++) {
        _cleanup_close_ int fd = socket(e->cfg.upstream.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -errno;
        if (connect(fd, (struct sockaddr *)&e->cfg.upstream, e->cfg.upstream_len) < 0 ||
            send(fd, q, (size_t)qlen, 0) < 0)
            return -errno;
        uint64_t end = now_ms() + UPSTREAM_MS;
        for (;;) {
            uint64_t now = now_ms();
            if (now >= end)
                break;
            struct pollfd pf = {.fd = fd, .events = POLLIN};
            if (poll(&pf, 1, (int)(end - now)) <= 0)
                continue;
            ssize_t n = recv(fd, ans, sizeof(ans), 0);
            if (n <= 0)
                break;
            int rcode = 0;
            int c = dns_parse_answer(ans, (size_t)n, id, name, &rcode, ret, max);
            if (c == -EBADMSG)
                continue; /* not our answer: keep waiting */
            *ret_rcode = rcode;
            return c;
        }
    }
    return -ETIMEDOUT;
}

/* ---- DNS from the sandbox -------------------------------------------- */

/* Builds the answer to one query from the sandbox. Returns its length, or
 * 0 when the query is not worth an answer. */
static int dns_answer(struct egress_box *b, const uint8_t *q, size_t qlen, uint8_t *out,
                      size_t cap)
{
    struct dns_question qu;
    bool header = false;
    if (dns_parse_query(q, qlen, &qu, &header) < 0) {
        if (!header)
            return 0;
        int n = dns_build_answer(&qu, DNS_RCODE_FORMERR, NULL, 0, out, cap);
        return n < 0 ? 0 : n;
    }
    struct net_dest d = {.name = qu.name};
    struct net_decision dec;
    eg_decide(b, &d, &dec);
    if (!dec.allow || !qu.name[0]) {
        eg_record_denial(b, "dns", qu.name, NULL, 0, dec.allow ? "empty name" : dec.reason);
        int n = dns_build_answer(&qu, DNS_RCODE_NXDOMAIN, NULL, 0, out, cap);
        return n < 0 ? 0 : n;
    }
    struct dns_rr_addr got[DNS_ANSWERS_MAX], keep[DNS_ANSWERS_MAX];
    size_t nkeep = 0;
    int rcode = DNS_RCODE_NOERROR;
    /* Only addresses are ever answered, and only IPv4 ones (sandboxes have
     * no IPv6): other types get an empty answer and never leave the host,
     * so a TXT or MX query cannot carry data out. */
    if (qu.qtype == DNS_TYPE_A && qu.qclass == DNS_CLASS_IN) {
        int c = eg_upstream_query(b->e, qu.name, DNS_TYPE_A, got, DNS_ANSWERS_MAX, &rcode);
        if (c < 0) {
            rcode = DNS_RCODE_SERVFAIL;
            c = 0;
        }
        for (int i = 0; i < c; i++) {
            struct net_dest ad = {.name = qu.name, .addr = {.family = got[i].family}};
            memcpy(ad.addr.a, got[i].a, 16);
            struct net_decision ddec;
            eg_decide(b, &ad, &ddec);
            if (!ddec.allow) {
                /* A name that resolves to a private or host address
                 * (rebinding) is answered without that address. */
                eg_record_denial(b, "dns", qu.name, &ad.addr, 0, ddec.reason);
                continue;
            }
            keep[nkeep++] = got[i];
            eg_pin_add(b, qu.name, &ad.addr, got[i].ttl);
        }
    }
    /* An answer that does not fit (UDP's 512 bytes) carries fewer
     * addresses rather than none. */
    int n;
    while ((n = dns_build_answer(&qu, rcode, keep, nkeep, out, cap)) == -ENOSPC && nkeep > 0)
        nkeep /= 2;
    return n < 0 ? 0 : n;
}


static void job_done(struct dns_job *j)
{
    struct egress_box *b = j->b;
    close(j->fd); /* the TCP connection, or the UDP job's copy of the listener */
    pthread_mutex_lock(&b->lock);
    b->ndns--;
    pthread_mutex_unlock(&b->lock);
    atomic_fetch_sub(&b->e->conns, 1);
    eg_box_unref(b);
    free(j);
}

bool eg_sock_read(int fd, void *p, size_t n, uint64_t end)
{
    uint8_t *q = p;
    while (n > 0) {
        uint64_t now = now_ms();
        if (now >= end)
            return false;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)(end - now)) <= 0)
            continue;
        ssize_t k = recv(fd, q, n, MSG_DONTWAIT);
        if (k < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (k <= 0)
            return false;
        q += k;
        n -= (size_t)k;
    }
    return true;
}

bool eg_sock_write(int fd, const void *p, size_t n)
{
    const uint8_t *q = p;
    while (n > 0) {
        ssize_t k = send(fd, q, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && errno == EAGAIN) {
            struct pollfd pf = {.fd = fd, .events = POLLOUT};
            if (poll(&pf, 1, 10000) <= 0)
                return false;
            continue;
        }
        if (k <= 0)
            return false;
        q += k;
        n -= (size_t)k;
    }
    return true;
}

void *eg_dns_thread(void *arg)
{
    struct dns_job *j = arg;
    uint8_t out[DNS_MSG_MAX];
    if (!j->tcp) {
        int n = dns_answer(j->b, j->q, j->qlen, out, 512);
        if (n > 0)
            sendto(j->fd, out, (size_t)n, 0, (struct sockaddr *)&j->peer, j->peer_len);
    } else {
        /* DNS over TCP: length-prefixed messages until the client stops. */
        for (int k = 0; k < 32; k++) {
            uint8_t lb[2];
            if (!eg_sock_read(j->fd, lb, 2, now_ms() + 10000))
                break;
            size_t len = (size_t)lb[0] << 8 | lb[1];
            if (len == 0 || len > sizeof(j->q) || !eg_sock_read(j->fd, j->q, len, now_ms() + 10000))
                break;
            int n = dns_answer(j->b, j->q, len, out + 2, sizeof(out) - 2);
            if (n <= 0)
                break;
            uint8_t *o = out;
            o[0] = (uint8_t)(n >> 8);
            o[1] = (uint8_t)n;
            if (!eg_sock_write(j->fd, out, (size_t)n + 2))
                break;
        }
    }
    job_done(j);
    return NULL;
}


static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 16777619u;
    return h;
}

/* name's A records: from the cache while fresh, else from upstream. */
int eg_resolve_cached(struct egress *e, const char *name, struct dns_rr_addr *ret)
{
    struct rcache_entry *c = &e->rcache[name_hash(name) % RCACHE_SIZE];
    pthread_mutex_lock(&e->rcache_lock);
    if (c->expires_ms > now_ms() && !strcmp(c->name, name)) {
        int n = c->n;
        memcpy(ret, c->addrs, (size_t)n * sizeof(*ret));
        pthread_mutex_unlock(&e->rcache_lock);
        return n;
    }
    pthread_mutex_unlock(&e->rcache_lock);
    int rcode = 0;
    int n = eg_upstream_query(e, name, DNS_TYPE_A, ret, DNS_ANSWERS_MAX, &rcode);
    if (n <= 0)
        return n;
    uint32_t ttl = UINT32_MAX;
    for (int i = 0; i < n; i++)
        if (ret[i].ttl < ttl)
            ttl = ret[i].ttl;
    ttl = ttl < PIN_TTL_MIN ? PIN_TTL_MIN : ttl > PIN_TTL_MAX ? PIN_TTL_MAX : ttl;
    pthread_mutex_lock(&e->rcache_lock);
    snprintf(c->name, sizeof(c->name), "%s", name);
    memcpy(c->addrs, ret, (size_t)n * sizeof(*ret));
    c->n = n;
    c->expires_ms = now_ms() + (uint64_t)ttl * 1000;
    pthread_mutex_unlock(&e->rcache_lock);
    return n;
}

