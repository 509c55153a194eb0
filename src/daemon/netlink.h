/* The few rtnetlink requests a sandbox's network needs: a veth pair with one
 * end moved into the sandbox's network namespace, addresses, a default
 * route, links up, and deletion. Each call is one request and its
 * acknowledgement, so errors come back as the kernel's errno. */
#pragma once

#include <stdint.h>

#include "base/err.h"

/* A NETLINK_ROUTE socket in the calling thread's network namespace. */
int nl_open(int *ret_fd, struct runra_err **err);
/* Creates host_name here (with MAC host_mac, 6 bytes; NULL: a random one)
 * and its peer peer_name in the namespace of peer_netns_fd. */
int nl_veth_create(int nl, const char *host_name, const uint8_t *host_mac, const char *peer_name,
                   int peer_netns_fd, struct runra_err **err);
int nl_link_up(int nl, const char *name, struct runra_err **err);
/* An IPv4 address (network byte order) with its prefix on a link. */
int nl_addr4_add(int nl, const char *name, uint32_t addr, uint8_t prefix, struct runra_err **err);
/* The default IPv4 route via gw (network byte order). */
int nl_route4_default(int nl, uint32_t gw, struct runra_err **err);
/* A bridge named name (down; nl_link_up it), and a link made its port. */
int nl_bridge_create(int nl, const char *name, struct runra_err **err);
int nl_link_set_master(int nl, const char *name, const char *master, struct runra_err **err);
/* A bridge port that learns no addresses: frames from it fill no table
 * (on a two-port bridge, every frame goes to the other port anyway). */
int nl_bridge_port_nolearn(int nl, const char *name, struct runra_err **err);
/* Deletes a link (a veth takes its peer with it). ENODEV when absent. */
int nl_link_delete(int nl, const char *name, struct runra_err **err);
