/* The audit trail: every lifecycle change, exec, file change, process start,
 * port exposure and network denial as an event in the store (durable before
 * the call that caused it answers), optionally appended to a JSON-lines
 * file, and waited on by followers. Events carry no secrets: no env values,
 * no file contents. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/store.h"

struct events;

/* store: where events live (NULL: only the file and followers); file: a
 * path to append JSON lines to, or NULL. */
int events_new(struct store *store, const char *file, struct events **ret, struct runra_err **err);
/* Also export every event to an OpenTelemetry collector (otlp.h). */
int events_set_otlp(struct events *ev, const char *endpoint, struct runra_err **err);
void events_free(struct events *ev);
/* Records one event; data (taken, may be NULL) is a JSON object. A store
 * or file error is logged, never returned: auditing does not fail the work. */
void events_emit(struct events *ev, const char *sandbox, const char *type, json_t *data);
/* The newest id, after waiting up to timeout_ms for one newer than since. */
int64_t events_wait(struct events *ev, int64_t since, uint64_t timeout_ms);
/* An event as the API shows it: {"id","time","timeMs","sandbox","type","data"}. */
json_t *events_json(const struct store_event *e);
struct store *events_store(struct events *ev);
