/* The daemon's end of runra-init's socket: the listening socket runra-init
 * inherits, and the first connection with its HELLO (or ERROR) frame. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* Binds a SOCK_STREAM unix socket at path (mode 0600) and listens. */
int ns_sock_listen(const char *path, int *ret_fd, struct runra_err **err)
    __attribute__((nonnull(1, 2)));
/* Connects to path and reads the first frame before timeout_ms, watching
 * pidfd so a dead runra-init fails at once. HELLO: *ret_fd is the connected
 * stream, positioned just after it. ERROR: fails with the guest's errno and
 * message. EOF, timeout or anything else: fails. */
int ns_sock_hello(const char *path, int pidfd, uint64_t timeout_ms, int *ret_fd,
                  struct runra_err **err);
/* Reads the first frame (HELLO or ERROR, as ns_sock_hello) from a
 * connected fd before deadline (now_ms()). On failure *ret_refused (may
 * be NULL) says whether it was runra-init's own ERROR answer, not a
 * broken or silent channel. */
int ns_sock_first_frame(int fd, int pidfd, uint64_t deadline, bool *ret_refused,
                        struct runra_err **err);
/* Only connects (what HELLO would follow); for a frozen runra-init. */
int ns_sock_connect(const char *path, int *ret_fd, struct runra_err **err);
