/* File watch through the guest: runra-init runs inotify inside the
 * sandbox and sends NDJSON events; the daemon relays them and cancels the
 * call when its client goes, which frees the watches in the guest. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

struct manager;
struct watch_stream;

/* Waits until the guest says the watch is in place (or fails). */
int manager_watch_open(struct manager *m, const char *id, const char *path, bool recursive,
                       struct watch_stream **ret, struct runra_err **err);
/* Up to max bytes of NDJSON: > 0 bytes, -ETIMEDOUT when nothing came within
 * wait_ms (the caller checks its client and waits again), or -errno. */
ssize_t watch_stream_read(struct watch_stream *s, void *buf, size_t max, uint64_t wait_ms,
                          struct runra_err **err);
void watch_stream_close(struct watch_stream *s);
