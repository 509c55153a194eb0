/* WATCH: inotify inside the sandbox, streamed as NDJSON DATA frames until
 * the host cancels the call (its client went away), which closes the
 * inotify fd and with it every watch. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct guest;
struct fwatch;

/* Sets up the watches (the whole tree when recursive) and sends the first
 * event, {"type":"ready"}, which tells the host the watch is in place. */
int watch_start(struct guest *g, uint32_t id, const void *payload, size_t len,
                struct fwatch **ret, struct runra_err **err);
/* The inotify fd, for the poll loop. */
int watch_fd(const struct fwatch *w);
/* Reads what inotify has and sends it: 1 when the call ended, else 0. */
int watch_step(struct guest *g, uint32_t id, struct fwatch *w);
void watch_free(struct fwatch *w);
/* Open watch calls (to enforce RUNRA_WATCHERS_MAX). */
size_t watch_count(const struct guest *g);
