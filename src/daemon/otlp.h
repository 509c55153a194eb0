/* Export of audit events to an OpenTelemetry collector: OTLP/HTTP, JSON
 * encoding, the logs signal (POST BASE/v1/logs), one log record per event
 * with the event's fields as runra.* attributes and the standard service.*
 * and host.name resource attributes. Batched, retried with backoff, and
 * never blocking: past a bounded queue the oldest records are dropped. */
#pragma once

#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

struct otlp;

/* "http://HOST[:PORT][/BASE]" (port 4318 by default). */
int otlp_parse_endpoint(const char *url, char host[256], char port[8], char path[512],
                        struct runra_err **err);
int otlp_new(const char *endpoint, struct otlp **ret, struct runra_err **err);
/* Sends what is queued (one try) and stops. */
void otlp_free(struct otlp *o);
/* Queues one event (data is only read). */
void otlp_emit(struct otlp *o, int64_t id, int64_t time_ms, const char *sandbox,
               const char *type, json_t *data);
