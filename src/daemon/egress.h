/* Egress: what lets a sandbox reach the network, and only as its policy
 * says. Each sandbox with a mode other than none gets a veth pair (its end
 * "eth0" in the sandbox's network namespace, a /30 from the daemon's range),
 * and nftables rules in the daemon's namespace send every TCP connection it
 * makes to the daemon's proxy and every DNS query to the daemon's resolver;
 * nothing else it sends goes anywhere. The proxy names each connection (TLS
 * SNI, HTTP Host, a proxy request, or the address the resolver handed out),
 * asks net_decide, and connects to an address it resolved itself. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>

#include "base/err.h"
#include "net/policy.h"

#define EGRESS_PROXY_PORT 15001    /* where redirected TCP lands (on the sandbox's gateway) */
#define EGRESS_DNS_PORT 15053      /* where redirected DNS lands, UDP and TCP */
#define EGRESS_EXPLICIT_PORT 3128  /* HTTP_PROXY points here: the same proxy, proxy requests */
#define EGRESS_CONNS_MAX 4096      /* proxied connections at once, all sandboxes */
#define EGRESS_BOX_CONNS_MAX 512   /* proxied connections at once, one sandbox */
#define EGRESS_DNS_INFLIGHT_MAX 64 /* DNS queries being answered at once, one sandbox */
#define EGRESS_DENIED_KEPT 256     /* denial records kept per sandbox */
#define EGRESS_PINS_MAX 1024       /* resolver answers remembered per sandbox */
#define EGRESS_VM_BRIDGE "br0"     /* joins a VM's tap to eth0 in its namespace */

struct egress_config {
    uint32_t range;        /* network byte order: the sandboxes' private range */
    uint8_t range_prefix;  /* at most /24 */
    struct sockaddr_storage upstream; /* the resolver's upstream (UDP port 53 by default) */
    socklen_t upstream_len;
    const char *state_dir; /* names the nftables table, so daemons do not collide */
    /* Told of every denial (may be NULL): the sandbox id and the record as
     * egress_denied_json shows one (taken). */
    void (*on_denied)(void *userdata, const char *sandbox, json_t *record);
    void *on_denied_userdata;
};

struct egress;
struct egress_box;

/* Parses "--net-range" ("10.88.0.0/16") and "--dns" ("1.2.3.4" or
 * "1.2.3.4:5353"; NULL: the first nameserver of /etc/resolv.conf). */
int egress_parse_range(const char *s, uint32_t *ret_net, uint8_t *ret_prefix,
                       struct runra_err **err);
int egress_parse_upstream(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len,
                          struct runra_err **err);

/* Installs the daemon's nftables table and starts the proxy and resolver. */
int egress_new(const struct egress_config *cfg, struct egress **ret, struct runra_err **err);
/* Detaches what is left, removes the table, stops the threads. */
void egress_free(struct egress *e);

/* Gives the sandbox whose init is init_pid (and whose id is id) its network
 * with policy p (copied; mode must not be none), at its place want_slot in
 * the range when that is free (0: any). vm_tap: a VM's, whose namespace
 * holds its QEMU and this tap; eth0 and the tap are bridged and the guest
 * takes the address (egress_box_addr) on its own NIC. NULL: an ns sandbox,
 * whose eth0 takes the address. */
int egress_attach(struct egress *e, const char *id, pid_t init_pid, const char *vm_tap,
                  const struct net_policy *p, uint32_t want_slot, struct egress_box **ret,
                  struct runra_err **err);
/* The sandbox's address and its gateway's (network byte order; a /30). */
void egress_box_addr(struct egress_box *b, uint32_t *ret_addr, uint32_t *ret_gw);
/* Its place in the range (what want_slot asks for). */
uint32_t egress_box_slot(struct egress_box *b);
/* Takes the network away: listeners closed, live connections cut, veth gone. */
void egress_detach(struct egress_box *b);
/* Replaces the policy; new connections and queries see it at once. */
int egress_set_policy(struct egress_box *b, const struct net_policy *p, struct runra_err **err);
/* {"address","gateway","proxy"} of the box. */
json_t *egress_box_json(struct egress_box *b);
/* The denial records, oldest first: [{"timeMs","proto","name","ip","port","reason"}]. */
json_t *egress_denied_json(struct egress_box *b);
/* Denials recorded since the box was attached. */
uint64_t egress_denied_total(struct egress_box *b);
/* "HTTP_PROXY=..." and friends for the sandbox's processes (NULL-terminated,
 * caller frees with strv_free). */
char **egress_env(struct egress_box *b);
/* Removes the host end of a crashed daemon's veth for sandbox id, if any. */
void egress_cleanup_leftover(const char *id);
