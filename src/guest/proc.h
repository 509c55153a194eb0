/* Background processes: started under a shim like an exec, but owned by
 * runra-init instead of a call, so they keep running when the host goes away
 * and a later connection finds them again by pid or tag. Each keeps its last
 * RUNRA_PROC_LOG_MAX bytes of output in a ring for PROC_LOGS. */
#pragma once

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "guest.h"
#include "proto/procmsg.h"

/* The most pollfds proc_pollfds fills. */
#define PROC_POLL_MAX (RUNRA_PROCS_KEPT * 4)

/* PROC_* request frames: each is answered (or, for a follow or a wait,
 * remembered) here; nothing of it lives in the call table. */
void proc_open(struct guest *g, uint16_t type, uint32_t id, const void *payload, size_t len);
/* A frame for an id the call table does not know: CANCEL ends a follow or a
 * wait with that id. Returns true when the id was one of ours. */
bool proc_continue(struct guest *g, uint16_t type, uint32_t id);
/* The host is gone: forget followers and waiters; the processes run on. */
void proc_detach(struct guest *g);

size_t proc_pollfds(struct guest *g, struct pollfd *pfd);
void proc_events(struct guest *g, const struct pollfd *pfd, size_t n);
void proc_reaped(pid_t pid);
/* Ends processes whose main process exited and whose output is drained;
 * returns when it next needs to run (ms, UINT64_MAX for never). */
uint64_t proc_step(struct guest *g, uint64_t now);
