/* runra-init's one poll loop: the listening socket or the connection, the
 * signalfd, and every exec's pipes. It decodes frames into calls and drives
 * them; nothing in it blocks for longer than one bounded operation. */
#pragma once

#include "guest.h"

/* Serves until SIGTERM or SIGINT. conn_fd is a connection already accepted
 * (its HELLO not yet sent), or -1. Returns main's exit code. */
int loop_run(struct guest *g, int listen_fd, int sigfd, int conn_fd);
/* Blocks signals and returns a signalfd for them; see loop.c for which. */
int loop_signals(int *ret_sigfd, struct runra_err **err);
