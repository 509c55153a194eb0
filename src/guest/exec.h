/* An EXEC call as runra-init sees it: the shim and command it started, the
 * pipes it forwards as STDOUT/STDERR frames, pending stdin, the deadline, and
 * the EXIT frame that ends it. */
#pragma once

#include "guest/user.h"

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

struct guest;
struct exec;

/* What an exec's polled fd is, for exec_event. */
enum exec_fd { EXEC_FD_OUT, EXEC_FD_ERR, EXEC_FD_IN, EXEC_FD_CTL, EXEC_FD_COUNT };

/* Decodes the request, checks the cwd and starts the shim. On failure
 * nothing was started and the caller sends ERROR. */
int exec_start(struct guest *g, uint32_t id, const void *payload, size_t len, struct exec **ret,
               struct runra_err **err);
/* STDIN, SIGNAL and CANCEL frames for this call; others are ignored. */
void exec_frame(struct guest *g, struct exec *x, uint16_t type, const void *payload, size_t len);
/* Fills up to EXEC_FD_COUNT pollfds (and what each is); returns how many. */
size_t exec_pollfds(struct guest *g, struct exec *x, struct pollfd *pfd, enum exec_fd *what);
void exec_event(struct guest *g, struct exec *x, enum exec_fd what, short revents);
/* Handles the deadline and kill retries, and ends the call with EXIT (or
 * ERROR) once it is over. Returns true when x was freed. */
bool exec_step(struct guest *g, struct exec *x, uint64_t now);
/* When exec_step next needs to run without an fd event: a time in ms,
 * UINT64_MAX for never, or EXEC_WAKE_ROOM for "once the host has caught up"
 * (a killed exec waiting to read what its pipes still hold). */
#define EXEC_WAKE_ROOM 0
uint64_t exec_wake(const struct exec *x);
/* The reaper saw pid exit. */
void exec_reaped(struct exec *x, pid_t pid);
/* A command's environment: the base, then the caller's "K=V" entries over it.
 * Background processes (proc.c) start the same way. */
int exec_build_env(char *const *req, const char *cwd, const struct user_ids *ids, char ***ret);
/* The host is gone: kill the tree and free x without sending anything. */
void exec_abort(struct guest *g, struct exec *x);
