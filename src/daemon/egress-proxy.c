/* The egress proxy (egress-internal.h): one thread per connection reads
 * what names it, decides, connects to an address it resolved itself and
 * relays with splice. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/netfilter_ipv4.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "egress-internal.h"

/* ---- the proxy ------------------------------------------------------- */

static void conn_register(struct egress_box *b, struct conn *c)
{
    pthread_mutex_lock(&b->lock);
    c->next = b->conns;
    c->prev = NULL;
    if (b->conns)
        b->conns->prev = c;
    b->conns = c;
    if (b->detached) {
        for (int i = 0; i < 2; i++)
            if (c->fds[i] >= 0)
                shutdown(c->fds[i], SHUT_RDWR);
    }
    pthread_mutex_unlock(&b->lock);
}

static void conn_set_upstream(struct egress_box *b, struct conn *c, int fd)
{
    pthread_mutex_lock(&b->lock);
    c->fds[1] = fd;
    if (b->detached)
        shutdown(fd, SHUT_RDWR);
    pthread_mutex_unlock(&b->lock);
}

static void conn_unregister(struct egress_box *b, struct conn *c)
{
    pthread_mutex_lock(&b->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        b->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    b->nconns--;
    pthread_mutex_unlock(&b->lock);
}

void eg_reset_close(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    close(fd);
}

static void http_refuse(int fd, int status, const char *what, const char *reason)
{
    char body[512], resp[1024];
    int bn = snprintf(body, sizeof(body), "runra: %s: %s\n", what, reason);
    if (bn < 0 || (size_t)bn >= sizeof(body))
        bn = (int)strlen(body);
    int n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                     "Connection: close\r\nX-Runra-Denied: %s\r\n\r\n%s",
                     status, status == 403 ? "Forbidden" : "Bad Gateway", bn,
                     status == 403 ? "1" : "0", body);
    if (n > 0)
        eg_sock_write(fd, resp, (size_t)n < sizeof(resp) ? (size_t)n : sizeof(resp) - 1);
}

/* The next close sends a reset, not a FIN: the client learns at once
 * that it was refused. */
static void want_reset(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
}

static int connect_to(const struct net_addr *a, uint16_t port)
{
    struct sockaddr_storage ss = {0};
    socklen_t len;
    if (a->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        memcpy(&in->sin_addr, a->a, 4);
        len = sizeof(*in);
    } else {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        memcpy(&in6->sin6_addr, a->a, 16);
        len = sizeof(*in6);
    }
    int fd = socket(a->family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS) {
        int e = errno;
        close(fd);
        return -e;
    }
    struct pollfd pf = {.fd = fd, .events = POLLOUT};
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    if (poll(&pf, 1, CONNECT_MS) <= 0)
        soerr = ETIMEDOUT;
    else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    if (soerr) {
        close(fd);
        return -soerr;
    }
    return fd;
}

/* Both directions through pipes with splice, until both ends are done or
 * one fails. */
static void relay(int a, int b)
{
    int pa[2] = {-1, -1}, pb[2] = {-1, -1}; /* a->b, b->a */
    if (pipe2(pa, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2(pb, O_CLOEXEC | O_NONBLOCK) < 0)
        goto out;
    fcntl(pa[1], F_SETPIPE_SZ, PIPE_SIZE);
    fcntl(pb[1], F_SETPIPE_SZ, PIPE_SIZE);
    fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK);
    fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);
    struct dir {
        int src, dst, pr, pw;
        size_t pending;
        bool eof, shut;
    } d[2] = {{a, b, pa[0], pa[1], 0, false, false}, {b, a, pb[0], pb[1], 0, false, false}};
    const size_t cap = PIPE_SIZE;
    while (!(d[0].shut && d[1].shut)) {
        struct pollfd pf[2] = {{.fd = a}, {.fd = b}};
        bool want_in[2];
        for (int i = 0; i < 2; i++) {
            struct pollfd *src = &pf[d[i].src == a ? 0 : 1], *dst = &pf[d[i].dst == a ? 0 : 1];
            want_in[i] = !d[i].eof && d[i].pending < cap;
            if (want_in[i])
                src->events |= POLLIN;
            if (d[i].pending > 0)
                dst->events |= POLLOUT;
        }
        /* A socket nobody waits on is left out: a hung-up peer would
         * otherwise wake poll forever (POLLHUP cannot be masked). */
        for (int k = 0; k < 2; k++)
            if (!pf[k].events)
                pf[k].fd = -1;
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            short srev = pf[d[i].src == a ? 0 : 1].revents;
            short drev = pf[d[i].dst == a ? 0 : 1].revents;
            if (want_in[i] && (srev & (POLLIN | POLLHUP | POLLERR))) {
                ssize_t n = splice(d[i].src, NULL, d[i].pw, NULL, cap - d[i].pending,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n > 0)
                    d[i].pending += (size_t)n;
                else if (n == 0)
                    d[i].eof = true;
                else if (errno != EAGAIN && errno != EINTR)
                    goto out;
            }
            /* Write what is pending right away, not after another poll:
             * the destination usually has room, and a poll per chunk per
             * direction is most of the proxy's cost. */
            if (d[i].pending > 0 && (drev & (POLLOUT | POLLERR | POLLHUP) || (srev & POLLIN))) {
                ssize_t n = splice(d[i].pr, NULL, d[i].dst, NULL, d[i].pending,
                                   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
                if (n > 0)
                    d[i].pending -= (size_t)n;
                else if (n < 0 && errno != EAGAIN && errno != EINTR)
                    goto out;
            }
            if (d[i].eof && d[i].pending == 0 && !d[i].shut) {
                shutdown(d[i].dst, SHUT_WR);
                d[i].shut = true;
            }
        }
    }
out:
    for (int i = 0; i < 2; i++) {
        if (pa[i] >= 0)
            close(pa[i]);
        if (pb[i] >= 0)
            close(pb[i]);
    }
}

/* Reads what the client sends first, up to SNI_PEEK_MAX, until parse says
 * it has enough or wait_ms passes without more. Returns the byte count. */
static size_t peek_first(int fd, uint8_t *buf, uint64_t wait_ms, bool *closed)
{
    size_t len = 0;
    uint64_t end = now_ms() + wait_ms;
    *closed = false;
    while (len < SNI_PEEK_MAX) {
        if (len > 0) {
            char name[254];
            struct http_target t;
            int r = sni_parse_tls(buf, len, name);
            if (r != SNI_MORE) {
                if (r != SNI_NOT_THIS)
                    break;
                r = sni_parse_http(buf, len, &t);
                if (r != SNI_MORE)
                    break;
            }
        }
        uint64_t now = now_ms();
        if (now >= end)
            break;
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        if (poll(&pf, 1, (int)(end - now)) <= 0)
            continue;
        ssize_t n = recv(fd, buf + len, SNI_PEEK_MAX - len, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            *closed = true;
            break;
        }
        len += (size_t)n;
    }
    return len;
}

/* Picks where to connect for name: the sandbox's own destination when it
 * is among name's addresses, else the first that the policy allows. *dec
 * holds the reason when nothing is allowed. */
static int choose(struct egress_box *b, const char *name, const struct net_addr *orig,
                  uint16_t port, struct net_addr *ret, struct net_decision *dec)
{
    struct dns_rr_addr got[DNS_ANSWERS_MAX];
    int c = eg_resolve_cached(b->e, name, got);
    if (c <= 0) {
        snprintf(dec->reason, sizeof(dec->reason), "'%s' does not resolve", name);
        dec->allow = false;
        return -ENOENT;
    }
    int pick = -1;
    for (int i = 0; i < c; i++) {
        struct net_dest d = {.name = name, .addr = {.family = got[i].family}, .port = port};
        memcpy(d.addr.a, got[i].a, 16);
        struct net_decision one;
        eg_decide(b, &d, &one);
        if (!one.allow) {
            if (pick < 0)
                *dec = one;
            continue;
        }
        bool same = orig->family == d.addr.family && !memcmp(orig->a, d.addr.a, 16);
        if (pick < 0 || same) {
            pick = i;
            *dec = one;
            *ret = d.addr;
            if (same)
                break;
        }
    }
    return pick < 0 ? -EACCES : 0;
}

static bool is_ip_literal(const char *s)
{
    struct net_addr a;
    return net_addr_parse(s, &a) == 0;
}


static void proxy_conn(struct egress_box *b, struct conn *c)
{
    int cfd = c->fds[0];
    struct sockaddr_storage orig = {0};
    socklen_t olen = sizeof(orig);
    if (getsockopt(cfd, SOL_IP, SO_ORIGINAL_DST, &orig, &olen) < 0) {
        want_reset(cfd);
        return;
    }
    struct net_addr oaddr;
    uint16_t oport = 0;
    eg_addr_of(&orig, &oaddr, &oport);
    uint32_t o4;
    memcpy(&o4, oaddr.a, 4);
    bool explicit_proxy = o4 == b->gw && oport == EGRESS_EXPLICIT_PORT;

    _cleanup_free_ uint8_t *buf = malloc(SNI_PEEK_MAX);
    if (!buf) {
        want_reset(cfd);
        return;
    }
    bool closed = false;
    size_t len = peek_first(cfd, buf, explicit_proxy ? PROXY_HEAD_MS : FIRST_BYTES_MS, &closed);
    char name[254] = "";
    uint16_t port = oport;
    bool http = false;
    struct http_target t = {0};
    const char *proto = "tcp";
    if (explicit_proxy) {
        if (sni_parse_http(buf, len, &t) != SNI_FOUND || !t.host[0] ||
            (strcmp(t.method, "CONNECT") != 0 && !t.absolute)) {
            http_refuse(cfd, 400, "proxy", "send CONNECT host:port or an absolute http:// URI");
            return;
        }
        snprintf(name, sizeof(name), "%s", t.host);
        port = t.port;
        http = true;
        proto = "proxy";
    } else if (len > 0) {
        if (sni_parse_tls(buf, len, name) == SNI_FOUND) {
            proto = "tls";
        } else if (sni_parse_http(buf, len, &t) == SNI_FOUND) {
            http = true;
            proto = "http";
            snprintf(name, sizeof(name), "%s", t.host);
        } else {
            name[0] = 0;
        }
    }
    /* A proxy request names its destination; the address it was sent to is
     * the proxy's own. */
    struct net_addr target = oaddr;
    if (explicit_proxy)
        memset(&target, 0, sizeof(target));
    struct net_decision dec = {0};
    int r;
    if (name[0] && is_ip_literal(name)) {
        /* A name that is an address says nothing the address does not. */
        struct net_addr lit;
        net_addr_parse(name, &lit);
        name[0] = 0;
        if (explicit_proxy)
            target = lit;
    }
    if (name[0]) {
        r = choose(b, name, &oaddr, port, &target, &dec);
    } else {
        char pinned[NET_NAME_MAX + 1];
        bool have = !explicit_proxy && eg_pin_name_of(b, &target, pinned);
        struct net_dest d = {.name = have ? pinned : NULL, .addr = target, .port = port};
        eg_decide(b, &d, &dec);
        if (have)
            snprintf(name, sizeof(name), "%s", pinned);
        r = dec.allow ? 0 : -EACCES;
    }
    if (r < 0) {
        eg_record_denial(b, proto, name[0] ? name : NULL, &target, port, dec.reason);
        if (http)
            http_refuse(cfd, 403, "connection denied", dec.reason);
        else
            want_reset(cfd);
        return;
    }
    int ufd = connect_to(&target, port);
    if (ufd < 0) {
        if (http)
            http_refuse(cfd, 502, "cannot connect", strerror(-ufd));
        else
            want_reset(cfd);
        return;
    }
    conn_set_upstream(b, c, ufd);
    bool ok = true;
    if (explicit_proxy && !strcmp(t.method, "CONNECT")) {
        static const char est[] = "HTTP/1.1 200 Connection Established\r\n\r\n";
        ok = eg_sock_write(cfd, est, sizeof(est) - 1);
        if (ok && len > t.head_len)
            ok = eg_sock_write(ufd, buf + t.head_len, len - t.head_len);
    } else if (explicit_proxy) {
        /* An absolute-form request goes on in origin form. */
        ok = eg_sock_write(ufd, buf, t.uri_off);
        if (ok && t.path_len)
            ok = eg_sock_write(ufd, buf + t.path_off, t.path_len);
        else if (ok)
            ok = eg_sock_write(ufd, "/", 1);
        size_t rest = t.uri_off + t.uri_len;
        if (ok)
            ok = eg_sock_write(ufd, buf + rest, len - rest);
    } else if (len > 0) {
        ok = eg_sock_write(ufd, buf, len);
    }
    if (ok && closed)
        shutdown(ufd, SHUT_WR);
    if (ok)
        relay(cfd, ufd);
}

void *eg_proxy_thread(void *arg)
{
    struct proxy_job *j = arg;
    struct egress_box *b = j->b;
    conn_register(b, &j->c);
    proxy_conn(b, &j->c);
    /* The sockets close only once out of the box's list, so a detach never
     * shuts down a number that has since been reused. */
    conn_unregister(b, &j->c);
    for (int i = 0; i < 2; i++)
        if (j->c.fds[i] >= 0)
            close(j->c.fds[i]);
    atomic_fetch_sub(&b->e->conns, 1);
    eg_box_unref(b);
    free(j);
    return NULL;
}

