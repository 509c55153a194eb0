/* Exposed ports: the TCP_CONNECT request and the TCP_ACK credit message,
 * strict like every guest message, and the bounds both sides enforce. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

#define RUNRA_PORTS_MAX 16                  /* exposed ports per sandbox */
#define RUNRA_TCP_CONNS_MAX 64              /* forwarded connections per sandbox at once */
#define RUNRA_TCP_WINDOW (256u * 1024)      /* unacknowledged relay bytes per direction */

int msg_tcp_connect_encode(uint16_t port, char **ret);
/* {"port"}: 1..65535, else EINVAL. */
int msg_tcp_connect_decode(const void *buf, size_t len, uint16_t *ret_port,
                           struct runra_err **err);
int msg_tcp_ack_encode(uint32_t bytes, char **ret);
/* {"bytes"}: 1..RUNRA_TCP_WINDOW, else EINVAL. */
int msg_tcp_ack_decode(const void *buf, size_t len, uint32_t *ret_bytes, struct runra_err **err);
