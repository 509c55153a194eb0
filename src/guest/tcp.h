/* TCP_CONNECT: a connection to 127.0.0.1:port inside the sandbox's own
 * network namespace, relayed as DATA frames both ways. Each direction holds
 * at most RUNRA_TCP_WINDOW unacknowledged bytes, so neither a slow client
 * nor a slow server makes runra-init (or the daemon) buffer without bound. */
#pragma once

#include <poll.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct guest;
struct tcpfwd;

/* Starts a non-blocking connect. A refusal found at once is an error here;
 * a later one ends the call with ERROR from tcp_event. */
int tcp_start(struct guest *g, const void *payload, size_t len, struct tcpfwd **ret,
              struct runra_err **err);
/* The socket and the events it waits for now (0 events: nothing to do). */
void tcp_pollfd(struct guest *g, const struct tcpfwd *t, struct pollfd *ret);
/* Handles poll events: 1 when the call ended (its final frame is sent). */
int tcp_event(struct guest *g, uint32_t id, struct tcpfwd *t, short revents);
/* A frame from the host (DATA, TCP_ACK, CANCEL): 1 when the call ended. */
int tcp_frame(struct guest *g, uint32_t id, struct tcpfwd *t, uint16_t type, const void *p,
              size_t len);
void tcp_free(struct tcpfwd *t);
