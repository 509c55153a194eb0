/* Exposed ports: for each, a listener on the host's 127.0.0.1 (an ephemeral
 * port) whose every accepted connection becomes a TCP_CONNECT call relayed to
 * 127.0.0.1:port inside the sandbox. Nothing else of the sandbox's network
 * is reachable, and the sandbox's egress policy is untouched. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct manager;
struct guest;
struct port_table;

struct port_info {
    uint16_t port;      /* inside the sandbox */
    uint16_t host_port; /* on the host's 127.0.0.1 */
};

/* The manager's calls: EINVAL for a port outside 1..65535, EEXIST when it
 * is already exposed, EBUSY past RUNRA_PORTS_MAX, ENOENT for an unknown
 * sandbox or (remove) port. */
int manager_port_add(struct manager *m, const char *id, uint16_t port, struct port_info *ret,
                     struct runra_err **err);
int manager_port_list(struct manager *m, const char *id, struct port_info **ret, size_t *ret_n,
                      struct runra_err **err);
int manager_port_remove(struct manager *m, const char *id, uint16_t port, struct runra_err **err);

/* The sandbox's side (manager*.c only). close shuts every listener and
 * connection and waits for their threads, so the guest stream may be freed
 * afterwards; free releases the table itself (NULL is fine for both). */
int ports_table_new(struct guest *guest, struct port_table **ret);
struct sandbox;
/* Exposes again the ports a previous daemon stored for s ("PORT:HOSTPORT,...")
 * on the same host ports where they are free (manager.c's restart). */
int manager_ports_restore(struct manager *m, struct sandbox *s, const char *stored);
void ports_table_close(struct port_table *t);
void ports_table_free(struct port_table *t);
