/* rtnetlink by hand (see netlink.h): messages are built in a fixed buffer
 * with nested attributes, sent, and the kernel's ACK read back. */
#include "netlink.h"

#include <errno.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/macro.h"

#define NL_BUF 4096

struct nlreq {
    uint8_t buf[NL_BUF];
    struct nlmsghdr *h;
    bool overflow;
};

static void req_init(struct nlreq *r, uint16_t type, uint16_t flags, const void *body, size_t n)
{
    memset(r->buf, 0, sizeof(r->buf));
    r->overflow = false;
    r->h = (struct nlmsghdr *)r->buf;
    r->h->nlmsg_type = type;
    r->h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    r->h->nlmsg_len = NLMSG_LENGTH(n);
    memcpy(NLMSG_DATA(r->h), body, n);
}

static struct rtattr *attr(struct nlreq *r, uint16_t type, const void *data, size_t n)
{
    size_t off = NLMSG_ALIGN(r->h->nlmsg_len);
    size_t len = RTA_LENGTH(n);
    if (off + RTA_ALIGN(len) > sizeof(r->buf)) {
        r->overflow = true;
        return NULL;
    }
    struct rtattr *a = (struct rtattr *)(r->buf + off);
    a->rta_type = type;
    a->rta_len = (unsigned short)len;
    if (n)
        memcpy(RTA_DATA(a), data, n);
    r->h->nlmsg_len = (uint32_t)(off + RTA_ALIGN(len));
    return a;
}

static struct rtattr *nest_begin(struct nlreq *r, uint16_t type) { return attr(r, type, NULL, 0); }

static void nest_end(struct nlreq *r, struct rtattr *a)
{
    if (a)
        a->rta_len = (unsigned short)(r->buf + r->h->nlmsg_len - (uint8_t *)a);
}

/* Sends the request and waits for its ACK: 0 or the kernel's -errno. */
static int talk(int nl, struct nlreq *r, const char *what, struct runra_err **err)
{
    if (r->overflow)
        return err_set(err, E2BIG, "%s: netlink request too large", what);
    static uint32_t seq;
    r->h->nlmsg_seq = __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (sendto(nl, r->buf, r->h->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return err_sys(err, errno, "%s: netlink send", what);
    uint8_t buf[NL_BUF];
    for (;;) {
        ssize_t n = recv(nl, buf, sizeof(buf), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_sys(err, errno, "%s: netlink receive", what);
        for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
             h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_seq != r->h->nlmsg_seq)
                continue;
            if (h->nlmsg_type == NLMSG_ERROR) {
                const struct nlmsgerr *e = NLMSG_DATA(h);
                if (e->error == 0)
                    return 0;
                return err_sys(err, -e->error, "%s", what);
            }
        }
    }
}

int nl_open(int *ret_fd, struct runra_err **err)
{
    _cleanup_close_ int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return err_sys(err, errno, "netlink socket");
    struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return err_sys(err, errno, "netlink bind");
    *ret_fd = TAKE_FD(fd);
    return 0;
}

static int ifindex(const char *name, struct runra_err **err)
{
    unsigned idx = if_nametoindex(name);
    if (!idx)
        return err_sys(err, errno, "no link '%s'", name);
    return (int)idx;
}

int nl_veth_create(int nl, const char *host_name, const uint8_t *host_mac, const char *peer_name,
                   int peer_netns_fd, struct runra_err **err)
{
    struct nlreq r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    attr(&r, IFLA_IFNAME, host_name, strlen(host_name) + 1);
    if (host_mac)
        attr(&r, IFLA_ADDRESS, host_mac, 6);
    struct rtattr *li = nest_begin(&r, IFLA_LINKINFO);
    attr(&r, IFLA_INFO_KIND, "veth", 4);
    struct rtattr *data = nest_begin(&r, IFLA_INFO_DATA);
    struct rtattr *peer = nest_begin(&r, VETH_INFO_PEER);
    /* The peer's own ifinfomsg comes first in VETH_INFO_PEER. */
    size_t off = NLMSG_ALIGN(r.h->nlmsg_len);
    if (off + sizeof(ifi) <= sizeof(r.buf)) {
        memcpy(r.buf + off, &ifi, sizeof(ifi));
        r.h->nlmsg_len = (uint32_t)(off + NLMSG_ALIGN(sizeof(ifi)));
    }
    attr(&r, IFLA_IFNAME, peer_name, strlen(peer_name) + 1);
    uint32_t nsfd = (uint32_t)peer_netns_fd;
    attr(&r, IFLA_NET_NS_FD, &nsfd, sizeof(nsfd));
    nest_end(&r, peer);
    nest_end(&r, data);
    nest_end(&r, li);
    return talk(nl, &r, "create veth", err);
}

int nl_link_up(int nl, const char *name, struct runra_err **err)
{
    int idx = ifindex(name, err);
    if (idx < 0)
        return idx;
    struct nlreq r;
    struct ifinfomsg ifi = {
        .ifi_family = AF_UNSPEC, .ifi_index = idx, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
    req_init(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    return talk(nl, &r, "set link up", err);
}

int nl_addr4_add(int nl, const char *name, uint32_t addr, uint8_t prefix, struct runra_err **err)
{
    int idx = ifindex(name, err);
    if (idx < 0)
        return idx;
    struct nlreq r;
    struct ifaddrmsg ifa = {.ifa_family = AF_INET,
                            .ifa_prefixlen = prefix,
                            .ifa_scope = RT_SCOPE_UNIVERSE,
                            .ifa_index = (uint32_t)idx};
    req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
    attr(&r, IFA_LOCAL, &addr, sizeof(addr));
    attr(&r, IFA_ADDRESS, &addr, sizeof(addr));
    return talk(nl, &r, "add address", err);
}

int nl_route4_default(int nl, uint32_t gw, struct runra_err **err)
{
    struct nlreq r;
    struct rtmsg rt = {.rtm_family = AF_INET,
                       .rtm_table = RT_TABLE_MAIN,
                       .rtm_protocol = RTPROT_STATIC,
                       .rtm_scope = RT_SCOPE_UNIVERSE,
                       .rtm_type = RTN_UNICAST};
    req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof(rt));
    attr(&r, RTA_GATEWAY, &gw, sizeof(gw));
    return talk(nl, &r, "add default route", err);
}

int nl_link_delete(int nl, const char *name, struct runra_err **err)
{
    unsigned idx = if_nametoindex(name);
    if (!idx)
        return -ENODEV;
    struct nlreq r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = (int)idx};
    req_init(&r, RTM_DELLINK, 0, &ifi, sizeof(ifi));
    return talk(nl, &r, "delete link", err);
}

int nl_bridge_create(int nl, const char *name, struct runra_err **err)
{
    struct nlreq r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
    struct rtattr *li = nest_begin(&r, IFLA_LINKINFO);
    attr(&r, IFLA_INFO_KIND, "bridge", 6);
    nest_end(&r, li);
    return talk(nl, &r, "create bridge", err);
}

int nl_bridge_port_nolearn(int nl, const char *name, struct runra_err **err)
{
    int idx = ifindex(name, err);
    if (idx < 0)
        return idx;
    struct nlreq r;
    struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = idx};
    req_init(&r, RTM_SETLINK, 0, &ifi, sizeof(ifi));
    struct rtattr *pi = nest_begin(&r, IFLA_PROTINFO | NLA_F_NESTED);
    uint8_t off = 0;
    attr(&r, IFLA_BRPORT_LEARNING, &off, sizeof(off));
    nest_end(&r, pi);
    return talk(nl, &r, "bridge port learning off", err);
}

int nl_link_set_master(int nl, const char *name, const char *master, struct runra_err **err)
{
    int idx = ifindex(name, err);
    if (idx < 0)
        return idx;
    int midx = ifindex(master, err);
    if (midx < 0)
        return midx;
    struct nlreq r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = idx};
    req_init(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
    uint32_t m = (uint32_t)midx;
    attr(&r, IFLA_MASTER, &m, sizeof(m));
    return talk(nl, &r, "join bridge", err);
}
