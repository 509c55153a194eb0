/* What the egress engine's files share (egress.c: the engine, attach and
 * detach, nftables; egress-dns.c: the resolver; egress-proxy.c: the
 * proxy): the box and engine structures and the helpers each side calls.
 * Nothing outside src/daemon/egress*.c includes this. */
#pragma once

#include <arpa/inet.h>
#include <nftables/libnftables.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "egress.h"
#include "net/dns.h"
#include "net/sni.h"

#define FIRST_BYTES_MS 300       /* a client that says nothing first is judged by address */
#define PROXY_HEAD_MS (10u * 1000) /* for a proxy request's head */
#define CONNECT_MS (10u * 1000)
#define UPSTREAM_MS 2000         /* one upstream DNS attempt */
#define PIN_TTL_MIN 5
#define PIN_TTL_MAX 300
#define PIPE_SIZE (1u << 20)
#define THREAD_STACK (256u * 1024)
#define DENIALS_PER_SEC 20 /* denials a sandbox may put in the log and trail per second */

struct pin {
    char name[NET_NAME_MAX + 1];
    struct net_addr addr;
    uint64_t expires_ms;
};

struct denial {
    int64_t time_ms;
    char proto[8];
    char name[NET_NAME_MAX + 1];
    char ip[INET6_ADDRSTRLEN];
    uint16_t port;
    char reason[sizeof(((struct net_decision *)0)->reason)];
};

/* A live proxied connection's sockets, so a detach can cut them. */
struct conn {
    int fds[2];
    struct conn *next, *prev;
};

struct listener {
    struct egress_box *b;
    int fd;
    enum { L_TCP, L_DNS_UDP, L_DNS_TCP } kind;
};

struct egress_box {
    struct egress *e;
    char id[32], ifname[16];
    uint32_t slot;
    uint32_t gw, addr; /* network byte order */
    struct listener l[3];
    pthread_mutex_t lock; /* everything below */
    struct net_policy policy;
    struct pin pins[EGRESS_PINS_MAX];
    size_t npins, pin_next;
    struct denial denied[EGRESS_DENIED_KEPT];
    size_t ndenied, denied_next;
    uint64_t denied_total;
    uint64_t deny_window_ms, deny_window_n, deny_suppressed; /* the report rate limit */
    struct conn *conns;
    unsigned nconns, ndns;
    int refs;
    bool detached;
    struct egress_box *next;
};

/* Upstream answers the proxy resolved, kept for their TTL so a burst of
 * connections to one name costs one query. */
#define RCACHE_SIZE 256
struct rcache_entry {
    char name[NET_NAME_MAX + 1];
    struct dns_rr_addr addrs[DNS_ANSWERS_MAX];
    int n;
    uint64_t expires_ms;
};

struct egress {
    struct egress_config cfg;
    pthread_mutex_t rcache_lock;
    struct rcache_entry rcache[RCACHE_SIZE];
    char table[40];
    struct nft_ctx *nft;
    pthread_mutex_t lock; /* boxes, slots, epoll membership */
    struct egress_box *boxes;
    uint8_t *slots;
    uint32_t nslots;
    int epfd, stopfd;
    pthread_t acceptor;
    atomic_uint conns; /* connection and query threads, all boxes */
    struct net_cidr *extra; /* host addresses and the range: always denied */
    size_t nextra;
};

struct dns_job {
    struct egress_box *b;
    int fd;              /* UDP: a dup of the listener; TCP: the connection (owned either way) */
    bool tcp;
    struct sockaddr_storage peer;
    socklen_t peer_len;
    uint8_t q[DNS_MSG_MAX];
    size_t qlen;
};

struct proxy_job {
    struct egress_box *b;
    struct conn c;
};

/* egress.c */
void eg_box_unref(struct egress_box *b);
void eg_addr_of(const struct sockaddr_storage *ss, struct net_addr *a, uint16_t *port);
void eg_record_denial(struct egress_box *b, const char *proto, const char *name,
                      const struct net_addr *addr, uint16_t port, const char *reason);
void eg_pin_add(struct egress_box *b, const char *name, const struct net_addr *a, uint32_t ttl);
bool eg_pin_name_of(struct egress_box *b, const struct net_addr *a, char out[NET_NAME_MAX + 1]);
void eg_decide(struct egress_box *b, const struct net_dest *d, struct net_decision *ret);

/* egress-dns.c: upstream lookups (cached for the proxy) and DNS from a
 * sandbox, one query or TCP connection per thread. */
int eg_upstream_query(struct egress *e, const char *name, uint16_t qtype,
                      struct dns_rr_addr *ret, size_t max, int *ret_rcode);
int eg_resolve_cached(struct egress *e, const char *name, struct dns_rr_addr *ret);
void *eg_dns_thread(void *arg);
/* Whole reads (until end, monotonic ms) and writes on a socket. */
bool eg_sock_read(int fd, void *p, size_t n, uint64_t end);
bool eg_sock_write(int fd, const void *p, size_t n);

/* egress-proxy.c: one proxied connection per thread. */
void *eg_proxy_thread(void *arg);
/* A reset, not a FIN: the client learns at once that it was refused. */
void eg_reset_close(int fd);
