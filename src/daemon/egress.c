/* The egress engine (see egress.h). Threads: one acceptor polls every
 * sandbox's listeners; each proxied connection and each DNS query gets a
 * thread of its own (bounded per sandbox and overall), because each may
 * block on the upstream resolver or a slow connect and must not hold up
 * the others. A box is reference-counted: its listeners, and each thread
 * working for it, hold a reference; detaching cuts every live connection so
 * those references go promptly. */
#include "egress-internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <limits.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nftables/libnftables.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "net/dns.h"
#include "net/sni.h"
#include "proto/msg.h"
#include "netlink.h"

/* ---- configuration --------------------------------------------------- */

int egress_parse_range(const char *s, uint32_t *ret_net, uint8_t *ret_prefix,
                       struct runra_err **err)
{
    char buf[64];
    const char *slash = strchr(s, '/');
    if (!slash || (size_t)(slash - s) >= sizeof(buf))
        return err_set(err, EINVAL, "network range '%s' is not ADDR/PREFIX", s);
    memcpy(buf, s, (size_t)(slash - s));
    buf[slash - s] = 0;
    struct in_addr a;
    uint64_t prefix = 0;
    if (inet_pton(AF_INET, buf, &a) != 1 || parse_u64(slash + 1, &prefix) < 0 || prefix < 8 ||
        prefix > 24)
        return err_set(err, EINVAL, "network range '%s' must be an IPv4 prefix of /8 to /24", s);
    uint32_t mask = htonl(~0u << (32 - prefix));
    if (a.s_addr & ~mask)
        return err_set(err, EINVAL, "network range '%s' has host bits set", s);
    *ret_net = a.s_addr;
    *ret_prefix = (uint8_t)prefix;
    return 0;
}

int egress_parse_upstream(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len,
                          struct runra_err **err)
{
    char buf[128] = "";
    if (!s) {
        /* The host's resolver: the first nameserver line. */
        FILE *f = fopen("/etc/resolv.conf", "re");
        char line[256];
        while (f && fgets(line, sizeof(line), f))
            if (sscanf(line, " nameserver %127s", buf) == 1)
                break;
        if (f)
            fclose(f);
        if (!buf[0])
            return err_set(err, ENOENT, "no nameserver in /etc/resolv.conf; give --dns");
        s = buf;
    }
    char host[128];
    uint64_t port = 53;
    const char *colon = strrchr(s, ':');
    struct sockaddr_in *in = (struct sockaddr_in *)ret;
    memset(ret, 0, sizeof(*ret));
    if (colon && strchr(s, '.') && (size_t)(colon - s) < sizeof(host)) {
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = 0;
        if (parse_u64(colon + 1, &port) < 0 || port == 0 || port > 65535)
            return err_set(err, EINVAL, "DNS upstream '%s': bad port", s);
    } else {
        snprintf(host, sizeof(host), "%s", s);
    }
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        *ret_len = sizeof(*in);
        return 0;
    }
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ret;
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(53);
        *ret_len = sizeof(*in6);
        return 0;
    }
    return err_set(err, EINVAL, "DNS upstream '%s' is not an IP address", s);
}

/* ---- nftables -------------------------------------------------------- */

static int nft_run(struct egress *e, const char *cmd, struct runra_err **err)
{
    nft_ctx_buffer_error(e->nft);
    int r = nft_run_cmd_from_buffer(e->nft, cmd);
    if (r != 0) {
        const char *msg = nft_ctx_get_error_buffer(e->nft);
        return err_set(err, EIO, "nftables: %.300s", msg && *msg ? msg : "command failed");
    }
    return 0;
}

static int nft_install(struct egress *e, struct runra_err **err)
{
    char cmd[2048], range[INET_ADDRSTRLEN];
    struct in_addr ra = {.s_addr = e->cfg.range};
    inet_ntop(AF_INET, &ra, range, sizeof(range));
    /* Every TCP connection and DNS query a sandbox makes goes to the
     * daemon; anything else it sends is refused at once (a reset or an
     * ICMP error: a fast failure, not a hang), and nothing of it is ever
     * forwarded. The gateways' ports answer sandboxes only: anything else
     * that sends to the range (another host, a local process) is dropped. */
    snprintf(cmd, sizeof(cmd),
             "table inet %s {\n"
             "  set boxes { type ifname; }\n"
             "  chain sb_pre { type nat hook prerouting priority dstnat - 5; policy accept;\n"
             "    iifname @boxes meta nfproto ipv4 udp dport 53 redirect to :%d\n"
             "    iifname @boxes meta nfproto ipv4 tcp dport 53 redirect to :%d\n"
             "    iifname @boxes meta nfproto ipv4 meta l4proto tcp redirect to :%d\n"
             "  }\n"
             "  chain sb_in { type filter hook input priority filter - 5; policy accept;\n"
             "    ip daddr %s/%u iifname != @boxes drop\n"
             "    iifname @boxes meta nfproto ipv4 udp dport %d accept\n"
             "    iifname @boxes meta nfproto ipv4 tcp dport { %d, %d } accept\n"
             "    iifname @boxes meta l4proto tcp reject with tcp reset\n"
             "    iifname @boxes reject with icmpx type admin-prohibited\n"
             "  }\n"
             "  chain sb_fwd { type filter hook forward priority filter - 5; policy accept;\n"
             "    iifname @boxes reject with icmpx type admin-prohibited\n"
             "    oifname @boxes drop\n"
             "  }\n"
             "}\n",
             e->table, EGRESS_DNS_PORT, EGRESS_DNS_PORT, EGRESS_PROXY_PORT, range,
             e->cfg.range_prefix, EGRESS_DNS_PORT, EGRESS_DNS_PORT, EGRESS_PROXY_PORT);
    char del[128];
    snprintf(del, sizeof(del), "destroy table inet %s\n", e->table);
    /* A crashed daemon's table goes first ("destroy" does not fail when
     * there is none; older nft lacks it, hence the fallback). */
    if (nft_run(e, del, NULL) < 0) {
        snprintf(del, sizeof(del), "delete table inet %s\n", e->table);
        nft_run(e, del, NULL);
    }
    return nft_run(e, cmd, err);
}

static int nft_box(struct egress *e, const char *ifname, bool add, struct runra_err **err)
{
    char cmd[160];
    snprintf(cmd, sizeof(cmd), "%s element inet %s boxes { \"%s\" }\n", add ? "add" : "delete",
             e->table, ifname);
    return nft_run(e, cmd, err);
}

/* ---- references, denials, pins --------------------------------------- */

void eg_box_unref(struct egress_box *b)
{
    pthread_mutex_lock(&b->lock);
    bool last = --b->refs == 0;
    pthread_mutex_unlock(&b->lock);
    if (!last)
        return;
    net_policy_done(&b->policy);
    pthread_mutex_destroy(&b->lock);
    free(b);
}

void eg_addr_of(const struct sockaddr_storage *ss, struct net_addr *a, uint16_t *port)
{
    memset(a, 0, sizeof(*a));
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
        a->family = AF_INET;
        memcpy(a->a, &in->sin_addr, 4);
        if (port)
            *port = ntohs(in->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;
        a->family = AF_INET6;
        memcpy(a->a, &in6->sin6_addr, 16);
        if (port)
            *port = ntohs(in6->sin6_port);
    }
}

static json_t *denial_json(const struct denial *d);

void eg_record_denial(struct egress_box *b, const char *proto, const char *name,
                          const struct net_addr *addr, uint16_t port, const char *reason)
{
    struct denial d = {.time_ms = (int64_t)wall_ms(), .port = port};
    snprintf(d.proto, sizeof(d.proto), "%s", proto);
    snprintf(d.name, sizeof(d.name), "%s", name ? name : "");
    if (addr && addr->family)
        net_addr_format(addr, d.ip, sizeof(d.ip));
    snprintf(d.reason, sizeof(d.reason), "%s", reason);
    pthread_mutex_lock(&b->lock);
    b->denied[b->denied_next] = d;
    b->denied_next = (b->denied_next + 1) % EGRESS_DENIED_KEPT;
    if (b->ndenied < EGRESS_DENIED_KEPT)
        b->ndenied++;
    b->denied_total++;
    /* The log and the audit trail take at most DENIALS_PER_SEC from one
     * sandbox: one that hammers the proxy must not flood them (nor push
     * other sandboxes' events out of the trail). The rest are counted and
     * the count goes with the next record that is let through. */
    uint64_t now = now_ms();
    if (now - b->deny_window_ms >= 1000) {
        b->deny_window_ms = now;
        b->deny_window_n = 0;
    }
    bool report = b->deny_window_n++ < DENIALS_PER_SEC;
    uint64_t suppressed = report ? b->deny_suppressed : 0;
    if (report)
        b->deny_suppressed = 0;
    else
        b->deny_suppressed++;
    pthread_mutex_unlock(&b->lock);
    if (!report)
        return;
    log_info("event=net_denied sandbox=%s proto=%s name=%s ip=%s port=%u reason=\"%s\" "
             "suppressed=%llu",
             b->id, d.proto, d.name[0] ? d.name : "-", d.ip[0] ? d.ip : "-", port, d.reason,
             (unsigned long long)suppressed);
    if (b->e->cfg.on_denied) {
        json_t *j = denial_json(&d);
        if (j && suppressed)
            json_object_set_new(j, "suppressedBefore", json_integer((json_int_t)suppressed));
        b->e->cfg.on_denied(b->e->cfg.on_denied_userdata, b->id, j);
    }
}

void eg_pin_add(struct egress_box *b, const char *name, const struct net_addr *a, uint32_t ttl)
{
    if (ttl < PIN_TTL_MIN)
        ttl = PIN_TTL_MIN;
    if (ttl > PIN_TTL_MAX)
        ttl = PIN_TTL_MAX;
    uint64_t exp = now_ms() + (uint64_t)ttl * 1000;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->npins; i++)
        if (!strcmp(b->pins[i].name, name) && !memcmp(&b->pins[i].addr, a, sizeof(*a))) {
            b->pins[i].expires_ms = exp;
            pthread_mutex_unlock(&b->lock);
            return;
        }
    struct pin *p = &b->pins[b->pin_next];
    b->pin_next = (b->pin_next + 1) % EGRESS_PINS_MAX;
    if (b->npins < EGRESS_PINS_MAX)
        b->npins++;
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->addr = *a;
    p->expires_ms = exp;
    pthread_mutex_unlock(&b->lock);
}

/* The name the resolver gave out for this address, if one is pinned. */
bool eg_pin_name_of(struct egress_box *b, const struct net_addr *a, char out[NET_NAME_MAX + 1])
{
    uint64_t now = now_ms();
    bool found = false;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < b->npins && !found; i++)
        if (b->pins[i].expires_ms > now && !memcmp(&b->pins[i].addr, a, sizeof(*a))) {
            memcpy(out, b->pins[i].name, NET_NAME_MAX + 1);
            found = true;
        }
    pthread_mutex_unlock(&b->lock);
    return found;
}

void eg_decide(struct egress_box *b, const struct net_dest *d, struct net_decision *ret)
{
    pthread_mutex_lock(&b->lock);
    net_decide(&b->policy, b->e->extra, b->e->nextra, d, ret);
    pthread_mutex_unlock(&b->lock);
}

/* ---- the acceptor ---------------------------------------------------- */

static bool spawn(void *(*fn)(void *), void *arg)
{
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, THREAD_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int r = pthread_create(&t, &attr, fn, arg);
    pthread_attr_destroy(&attr);
    return r == 0;
}

/* Takes a slot for one more thread of b, or says no (the limits). Called
 * with e->lock held. */
static bool take_slot(struct egress_box *b, bool dns)
{
    struct egress *e = b->e;
    if (atomic_load(&e->conns) >= EGRESS_CONNS_MAX)
        return false;
    pthread_mutex_lock(&b->lock);
    bool ok = !b->detached &&
              (dns ? b->ndns < EGRESS_DNS_INFLIGHT_MAX : b->nconns < EGRESS_BOX_CONNS_MAX);
    if (ok) {
        if (dns)
            b->ndns++;
        else
            b->nconns++;
        b->refs++;
    }
    pthread_mutex_unlock(&b->lock);
    if (ok)
        atomic_fetch_add(&e->conns, 1);
    return ok;
}

static void give_slot(struct egress_box *b, bool dns)
{
    pthread_mutex_lock(&b->lock);
    if (dns)
        b->ndns--;
    else
        b->nconns--;
    pthread_mutex_unlock(&b->lock);
    atomic_fetch_sub(&b->e->conns, 1);
    eg_box_unref(b);
}

static void on_listener(struct listener *l)
{
    struct egress_box *b = l->b;
    if (l->kind == L_DNS_UDP) {
        struct dns_job *j = calloc(1, sizeof(*j));
        if (!j)
            return;
        j->peer_len = sizeof(j->peer);
        ssize_t n = recvfrom(l->fd, j->q, sizeof(j->q), MSG_DONTWAIT,
                             (struct sockaddr *)&j->peer, &j->peer_len);
        if (n <= 0 || !take_slot(b, true)) {
            free(j);
            return;
        }
        j->b = b;
        /* Its own copy: a detach closes the listener, and the number must
         * not be reused under the job's sendto. */
        j->fd = fcntl(l->fd, F_DUPFD_CLOEXEC, 3);
        j->qlen = (size_t)n;
        if (j->fd < 0) {
            give_slot(b, true);
            free(j);
            return;
        }
        if (!spawn(eg_dns_thread, j)) {
            close(j->fd);
            give_slot(b, true);
            free(j);
        }
        return;
    }
    int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0)
        return;
    /* The proxy forwards what it gets at once; Nagle would hold back the
     * small handshake messages a connection starts with. */
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    bool dns = l->kind == L_DNS_TCP;
    if (!take_slot(b, dns)) {
        eg_reset_close(fd);
        return;
    }
    bool ok;
    if (dns) {
        struct dns_job *j = calloc(1, sizeof(*j));
        ok = j != NULL;
        if (ok) {
            *j = (struct dns_job){.b = b, .fd = fd, .tcp = true};
            ok = spawn(eg_dns_thread, j);
            if (!ok)
                free(j);
        }
    } else {
        struct proxy_job *j = calloc(1, sizeof(*j));
        ok = j != NULL;
        if (ok) {
            *j = (struct proxy_job){.b = b, .c = {.fds = {fd, -1}}};
            ok = spawn(eg_proxy_thread, j);
            if (!ok)
                free(j);
        }
    }
    if (!ok) {
        eg_reset_close(fd);
        give_slot(b, dns);
    }
}

/* An event may come from a listener that a detach closed since epoll
 * reported it: only listeners of attached boxes are served. */
static bool listener_live(struct egress *e, const struct listener *l)
{
    for (struct egress_box *b = e->boxes; b; b = b->next)
        for (int i = 0; i < 3; i++)
            if (&b->l[i] == l)
                return l->fd >= 0;
    return false;
}

static void *acceptor(void *arg)
{
    struct egress *e = arg;
    for (;;) {
        struct epoll_event ev[32];
        int n = epoll_wait(e->epfd, ev, 32, -1);
        if (n < 0 && errno != EINTR)
            break;
        pthread_mutex_lock(&e->lock);
        bool stop = false;
        for (int i = 0; i < n; i++) {
            if (!ev[i].data.ptr) {
                stop = true;
                continue;
            }
            if (listener_live(e, ev[i].data.ptr))
                on_listener(ev[i].data.ptr);
        }
        pthread_mutex_unlock(&e->lock);
        if (stop)
            break;
    }
    return NULL;
}

/* ---- attach and detach ----------------------------------------------- */

struct netns_setup {
    int netns_fd;
    uint32_t addr, gw;
    const char *tap; /* a VM's: bridged to eth0 */
    struct runra_err *err;
    int r;
};

static void no_ipv6(const char *ifname)
{
    char path[96];
    snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", ifname);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        if (write(fd, "1", 1) < 0) {
            /* IPv6 may be compiled out: nothing to disable then. */
        }
        close(fd);
    }
}

/* A VM's namespace: eth0 and the VM's tap (made by its jail before QEMU
 * started) become ports of one bridge, so the guest's own NIC is on the
 * link to the gateway and holds the address itself. The bridge may be
 * there already (a daemon restart gives a running VM a new veth). */
static int bridge_inside(int nl, const char *tap, struct runra_err **err)
{
    int r = nl_bridge_create(nl, EGRESS_VM_BRIDGE, err);
    if (r == -EEXIST) {
        err_free(err ? *err : NULL);
        if (err)
            *err = NULL;
        r = 0;
    }
    no_ipv6(EGRESS_VM_BRIDGE);
    no_ipv6(tap);
    if (r >= 0)
        r = nl_link_set_master(nl, "eth0", EGRESS_VM_BRIDGE, err);
    if (r >= 0)
        r = nl_link_set_master(nl, tap, EGRESS_VM_BRIDGE, err);
    /* Two ports, no learning: a guest sending from made-up MACs fills no
     * forwarding table (its entries are host memory no cgroup counts). */
    if (r >= 0)
        r = nl_bridge_port_nolearn(nl, "eth0", err);
    if (r >= 0)
        r = nl_bridge_port_nolearn(nl, tap, err);
    if (r >= 0)
        r = nl_link_up(nl, tap, err);
    if (r >= 0)
        r = nl_link_up(nl, EGRESS_VM_BRIDGE, err);
    if (r >= 0)
        r = nl_link_up(nl, "eth0", err);
    return r;
}

/* Runs in a thread of its own that enters the sandbox's network namespace
 * (setns affects only the calling thread). */
static void *setup_inside(void *arg)
{
    struct netns_setup *s = arg;
    if (setns(s->netns_fd, CLONE_NEWNET) < 0) {
        s->r = err_sys(&s->err, errno, "enter the sandbox's network namespace");
        return NULL;
    }
    /* No IPv6 inside: the policy is enforced for IPv4, and an absent
     * family cannot leak. */
    no_ipv6("eth0");
    int nl = -1;
    s->r = nl_open(&nl, &s->err);
    if (s->r >= 0 && s->tap) {
        s->r = bridge_inside(nl, s->tap, &s->err);
        close(nl);
        return NULL;
    }
    if (s->r >= 0)
        s->r = nl_addr4_add(nl, "eth0", s->addr, 30, &s->err);
    if (s->r >= 0)
        s->r = nl_link_up(nl, "eth0", &s->err);
    if (s->r >= 0)
        s->r = nl_route4_default(nl, s->gw, &s->err);
    if (nl >= 0)
        close(nl);
    return NULL;
}

static int listen_on(uint32_t addr, uint16_t port, int type, struct runra_err **err)
{
    _cleanup_close_ int fd = socket(AF_INET, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return err_sys(err, errno, "socket");
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = addr};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return err_sys(err, errno, "bind the sandbox's gateway port %u", port);
    if (type == SOCK_STREAM && listen(fd, 512) < 0)
        return err_sys(err, errno, "listen");
    return TAKE_FD(fd);
}

static void box_teardown_links(struct egress_box *b)
{
    int nl = -1;
    if (nl_open(&nl, NULL) >= 0) {
        nl_link_delete(nl, b->ifname, NULL);
        close(nl);
    }
}

int egress_attach(struct egress *e, const char *id, pid_t init_pid, const char *vm_tap,
                  const struct net_policy *p, uint32_t want_slot, struct egress_box **ret,
                  struct runra_err **err)
{
    struct egress_box *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->e = e;
    b->refs = 1;
    for (int i = 0; i < 3; i++)
        b->l[i].fd = -1;
    pthread_mutex_init(&b->lock, NULL);
    snprintf(b->id, sizeof(b->id), "%s", id);
    snprintf(b->ifname, sizeof(b->ifname), "rr%.12s", id);
    int r = net_policy_copy(p, &b->policy);
    if (r < 0) {
        pthread_mutex_destroy(&b->lock);
        free(b);
        return r;
    }
    pthread_mutex_lock(&e->lock);
    uint32_t slot = UINT32_MAX;
    if (want_slot > 0 && want_slot < e->nslots && !e->slots[want_slot]) {
        slot = want_slot; /* the addresses it had before the daemon restarted */
        e->slots[slot] = 1;
    }
    for (uint32_t i = 1; slot == UINT32_MAX && i < e->nslots; i++)
        if (!e->slots[i]) {
            slot = i;
            e->slots[i] = 1;
            break;
        }
    pthread_mutex_unlock(&e->lock);
    if (slot == UINT32_MAX) {
        eg_box_unref(b);
        return err_set(err, EAGAIN, "the sandbox network range is full");
    }
    b->slot = slot;
    uint32_t base = ntohl(e->cfg.range) + slot * 4;
    b->gw = htonl(base + 1);
    b->addr = htonl(base + 2);

    char nspath[64];
    snprintf(nspath, sizeof(nspath), "/proc/%d/ns/net", (int)init_pid);
    _cleanup_close_ int nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
    int nl = -1;
    bool veth = false, in_set = false;
    if (nsfd < 0) {
        r = err_sys(err, errno, "open the sandbox's network namespace");
        goto fail;
    }
    if ((r = nl_open(&nl, err)) < 0)
        goto fail;
    /* The gateway's MAC follows from its address, so a sandbox that
     * outlives its veth (a VM's guest keeps its ARP cache across a pause,
     * or a policy's none and back) finds the new one where the old was. */
    uint8_t mac[6] = {0x02, 0x72, 0x72};
    memcpy(mac + 3, (const uint8_t *)&b->gw + 1, 3);
    if ((r = nl_veth_create(nl, b->ifname, mac, "eth0", nsfd, err)) < 0)
        goto fail;
    veth = true;
    char sysctl[128];
    snprintf(sysctl, sizeof(sysctl), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", b->ifname);
    int sfd = open(sysctl, O_WRONLY | O_CLOEXEC);
    if (sfd >= 0) {
        if (write(sfd, "1", 1) < 0) {
            /* no IPv6 here at all */
        }
        close(sfd);
    }
    if ((r = nl_addr4_add(nl, b->ifname, b->gw, 30, err)) < 0 ||
        (r = nl_link_up(nl, b->ifname, err)) < 0)
        goto fail;
    struct netns_setup s = {.netns_fd = nsfd, .addr = b->addr, .gw = b->gw, .tap = vm_tap};
    pthread_t t;
    if (pthread_create(&t, NULL, setup_inside, &s) != 0) {
        r = err_set(err, EAGAIN, "start a thread");
        goto fail;
    }
    pthread_join(t, NULL);
    if (s.r < 0) {
        r = err_set(err, -s.r, "sandbox network: %s", s.err ? s.err->msg : "setup failed");
        err_free(s.err);
        goto fail;
    }
    if ((r = nft_box(e, b->ifname, true, err)) < 0)
        goto fail;
    in_set = true;
    int fds[3];
    fds[0] = listen_on(b->gw, EGRESS_PROXY_PORT, SOCK_STREAM, err);
    fds[1] = fds[0] < 0 ? -1 : listen_on(b->gw, EGRESS_DNS_PORT, SOCK_DGRAM, err);
    fds[2] = fds[1] < 0 ? -1 : listen_on(b->gw, EGRESS_DNS_PORT, SOCK_STREAM, err);
    if (fds[2] < 0) {
        for (int i = 0; i < 3; i++)
            if (fds[i] >= 0)
                close(fds[i]);
        r = fds[0] < 0 ? fds[0] : fds[1] < 0 ? fds[1] : fds[2];
        goto fail;
    }
    int kinds[3] = {L_TCP, L_DNS_UDP, L_DNS_TCP};
    pthread_mutex_lock(&e->lock);
    for (int i = 0; i < 3; i++) {
        b->l[i] = (struct listener){.b = b, .fd = fds[i], .kind = kinds[i]};
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &b->l[i]};
        epoll_ctl(e->epfd, EPOLL_CTL_ADD, fds[i], &ev);
    }
    b->next = e->boxes;
    e->boxes = b;
    pthread_mutex_unlock(&e->lock);
    close(nl);
    *ret = b;
    return 0;
fail:
    if (in_set)
        nft_box(e, b->ifname, false, NULL);
    if (veth)
        nl_link_delete(nl, b->ifname, NULL);
    if (nl >= 0)
        close(nl);
    pthread_mutex_lock(&e->lock);
    e->slots[slot] = 0;
    pthread_mutex_unlock(&e->lock);
    eg_box_unref(b);
    return r;
}

void egress_detach(struct egress_box *b)
{
    if (!b)
        return;
    struct egress *e = b->e;
    pthread_mutex_lock(&e->lock);
    for (struct egress_box **p = &e->boxes; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    for (int i = 0; i < 3; i++)
        if (b->l[i].fd >= 0) {
            epoll_ctl(e->epfd, EPOLL_CTL_DEL, b->l[i].fd, NULL);
            close(b->l[i].fd);
            b->l[i].fd = -1;
        }
    pthread_mutex_unlock(&e->lock);
    pthread_mutex_lock(&b->lock);
    b->detached = true;
    for (struct conn *c = b->conns; c; c = c->next)
        for (int i = 0; i < 2; i++)
            if (c->fds[i] >= 0)
                shutdown(c->fds[i], SHUT_RDWR);
    pthread_mutex_unlock(&b->lock);
    nft_box(e, b->ifname, false, NULL);
    box_teardown_links(b);
    pthread_mutex_lock(&e->lock);
    e->slots[b->slot] = 0;
    pthread_mutex_unlock(&e->lock);
    eg_box_unref(b);
}

void egress_cleanup_leftover(const char *id)
{
    char ifname[16];
    snprintf(ifname, sizeof(ifname), "rr%.12s", id);
    int nl = -1;
    if (nl_open(&nl, NULL) >= 0) {
        nl_link_delete(nl, ifname, NULL);
        close(nl);
    }
}

int egress_set_policy(struct egress_box *b, const struct net_policy *p, struct runra_err **err)
{
    struct net_policy copy;
    int r = net_policy_copy(p, &copy);
    if (r < 0)
        return err_set(err, -r, "copy the network policy");
    pthread_mutex_lock(&b->lock);
    net_policy_done(&b->policy);
    b->policy = copy;
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static void fmt4(uint32_t a, char *out, size_t n)
{
    struct in_addr in = {.s_addr = a};
    inet_ntop(AF_INET, &in, out, (socklen_t)n);
}

void egress_box_addr(struct egress_box *b, uint32_t *ret_addr, uint32_t *ret_gw)
{
    *ret_addr = b->addr;
    *ret_gw = b->gw;
}

json_t *egress_box_json(struct egress_box *b)
{
    char addr[INET_ADDRSTRLEN], gw[INET_ADDRSTRLEN], proxy[64];
    fmt4(b->addr, addr, sizeof(addr));
    fmt4(b->gw, gw, sizeof(gw));
    snprintf(proxy, sizeof(proxy), "http://%s:%d", gw, EGRESS_EXPLICIT_PORT);
    return json_pack("{s:s,s:s,s:s}", "address", addr, "gateway", gw, "proxy", proxy);
}

static json_t *denial_json(const struct denial *d)
{
    return json_pack("{s:I,s:s,s:o,s:o,s:i,s:s}", "timeMs", (json_int_t)d->time_ms, "proto",
                     d->proto, "name", d->name[0] ? json_string(d->name) : json_null(), "ip",
                     d->ip[0] ? json_string(d->ip) : json_null(), "port", d->port, "reason",
                     d->reason);
}

json_t *egress_denied_json(struct egress_box *b)
{
    json_t *a = json_array();
    pthread_mutex_lock(&b->lock);
    size_t start = (b->denied_next + EGRESS_DENIED_KEPT - b->ndenied) % EGRESS_DENIED_KEPT;
    for (size_t i = 0; a && i < b->ndenied; i++) {
        json_array_append_new(a, denial_json(&b->denied[(start + i) % EGRESS_DENIED_KEPT]));
    }
    pthread_mutex_unlock(&b->lock);
    return a;
}

uint32_t egress_box_slot(struct egress_box *b) { return b->slot; }

uint64_t egress_denied_total(struct egress_box *b)
{
    pthread_mutex_lock(&b->lock);
    uint64_t n = b->denied_total;
    pthread_mutex_unlock(&b->lock);
    return n;
}

char **egress_env(struct egress_box *b)
{
    char gw[INET_ADDRSTRLEN];
    fmt4(b->gw, gw, sizeof(gw));
    static const char *const keys[] = {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy",
                                       "https_proxy"};
    char **v = calloc(ARRAY_SIZE(keys) + 3, sizeof(char *));
    if (!v)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
        if (asprintf(&v[n++], "%s=http://%s:%d", keys[i], gw, EGRESS_EXPLICIT_PORT) < 0) {
            v[--n] = NULL;
            strv_free(v);
            return NULL;
        }
    if (asprintf(&v[n++], "NO_PROXY=localhost,127.0.0.1,::1") < 0 ||
        asprintf(&v[n++], "no_proxy=localhost,127.0.0.1,::1") < 0) {
        v[--n] = NULL;
        strv_free(v);
        return NULL;
    }
    return v;
}

/* ---- the engine ------------------------------------------------------ */

/* The host's own addresses and the sandbox range join the always-denied
 * set: a sandbox must not reach the host's services or another sandbox. */
static int collect_extra(struct egress *e)
{
    struct ifaddrs *ifa = NULL;
    size_t cap = 16;
    e->extra = calloc(cap, sizeof(*e->extra));
    if (!e->extra)
        return -ENOMEM;
    e->extra[e->nextra].addr.family = AF_INET;
    memcpy(e->extra[e->nextra].addr.a, &e->cfg.range, 4);
    e->extra[e->nextra].prefix = e->cfg.range_prefix;
    e->extra[e->nextra++].why = "the sandbox network";
    if (getifaddrs(&ifa) < 0)
        return 0;
    for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
        if (!i->ifa_addr || (i->ifa_addr->sa_family != AF_INET && i->ifa_addr->sa_family != AF_INET6))
            continue;
        if (e->nextra == cap) {
            struct net_cidr *n = realloc(e->extra, 2 * cap * sizeof(*n));
            if (!n)
                break;
            e->extra = n;
            cap *= 2;
        }
        struct net_cidr *c = &e->extra[e->nextra++];
        memset(c, 0, sizeof(*c));
        eg_addr_of((const struct sockaddr_storage *)i->ifa_addr, &c->addr, NULL);
        c->prefix = c->addr.family == AF_INET ? 32 : 128;
        c->why = "an address of the host";
    }
    freeifaddrs(ifa);
    return 0;
}

int egress_new(const struct egress_config *cfg, struct egress **ret, struct runra_err **err)
{
    struct egress *e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->cfg = *cfg;
    e->epfd = e->stopfd = -1;
    pthread_mutex_init(&e->lock, NULL);
    pthread_mutex_init(&e->rcache_lock, NULL);
    /* The table is named after the state dir, so two daemons in one
     * network namespace keep their rules apart. */
    uint32_t h = 2166136261u;
    for (const char *p = cfg->state_dir ? cfg->state_dir : ""; *p; p++)
        h = (h ^ (uint8_t)*p) * 16777619u;
    snprintf(e->table, sizeof(e->table), "runra_%08x", h);
    e->nslots = 1u << (32 - cfg->range_prefix - 2);
    e->slots = calloc(e->nslots, 1);
    int r = e->slots ? collect_extra(e) : -ENOMEM;
    if (r < 0)
        goto fail;
    e->nft = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!e->nft) {
        r = err_set(err, ENOMEM, "nftables context");
        goto fail;
    }
    if ((r = nft_install(e, err)) < 0)
        goto fail;
    e->epfd = epoll_create1(EPOLL_CLOEXEC);
    e->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
    if (e->epfd < 0 || e->stopfd < 0 || epoll_ctl(e->epfd, EPOLL_CTL_ADD, e->stopfd, &ev) < 0) {
        r = err_sys(err, errno, "epoll");
        goto fail;
    }
    if (pthread_create(&e->acceptor, NULL, acceptor, e) != 0) {
        r = err_set(err, EAGAIN, "start the egress thread");
        goto fail;
    }
    *ret = e;
    return 0;
fail:
    if (e->nft) {
        char del[96];
        snprintf(del, sizeof(del), "delete table inet %s\n", e->table);
        nft_run(e, del, NULL);
        nft_ctx_free(e->nft);
    }
    if (e->epfd >= 0)
        close(e->epfd);
    if (e->stopfd >= 0)
        close(e->stopfd);
    free(e->slots);
    free(e->extra);
    pthread_mutex_destroy(&e->rcache_lock);
    pthread_mutex_destroy(&e->lock);
    free(e);
    return r;
}

void egress_free(struct egress *e)
{
    if (!e)
        return;
    for (;;) {
        pthread_mutex_lock(&e->lock);
        struct egress_box *b = e->boxes;
        pthread_mutex_unlock(&e->lock);
        if (!b)
            break;
        egress_detach(b);
    }
    uint64_t one = 1;
    if (write(e->stopfd, &one, sizeof(one)) < 0) {
        /* cannot fail on a fresh eventfd */
    }
    pthread_join(e->acceptor, NULL);
    /* Connection threads were cut by the detaches; wait for them to go. */
    /* Every worker ends within its own bounds (a connect, a DNS read: 10 s
     * each); should one not, the engine is left allocated rather than freed
     * under it, since the daemon is exiting anyway. */
    for (int i = 0; i < 2500 && atomic_load(&e->conns) > 0; i++)
        usleep(10 * 1000);
    if (atomic_load(&e->conns) > 0) {
        log_warn("event=egress_workers_left count=%u", atomic_load(&e->conns));
        return;
    }
    char del[96];
    snprintf(del, sizeof(del), "delete table inet %s\n", e->table);
    nft_run(e, del, NULL);
    nft_ctx_free(e->nft);
    close(e->epfd);
    close(e->stopfd);
    free(e->slots);
    free(e->extra);
    pthread_mutex_destroy(&e->rcache_lock);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

