/* The client handle and the one helper every call goes through: send a
 * request, turn a non-2xx answer into a struct runra_error, and hand back the
 * body as text and as parsed JSON. */
#pragma once

#include <jansson.h>

#include "buf.h"
#include "http.h"
#include "runra/runra.h"
#include "url.h"

/* The most a JSON answer may hold: an exec keeps up to 64 MiB per stream,
 * which base64 grows by a third, plus room for the rest. */
#define CLIENT_JSON_MAX (200u << 20)

struct runra_client {
    struct endpoint ep;
    struct http_conn conn;
};

/* Starts a target "/v1/sandboxes/<id escaped><suffix>"; id may be NULL. */
int client_target(struct buf *t, const char *id, const char *suffix, struct runra_error **err);

/* Sends method target with an optional JSON body (not consumed). On 2xx
 * fills ret_obj (a JSON object; may be NULL when the caller expects no body)
 * and ret_text (the raw body; may be NULL). */
int client_call(runra_client *c, const char *method, const char *target, json_t *body,
                json_t **ret_obj, char **ret_text, struct runra_error **err);

/* "/v1/sandboxes/<id>/processes/<ref><suffix>"; ref must be a pid or a tag. */
int client_proc_target(struct buf *t, const char *id, const char *ref, const char *suffix,
                       struct runra_error **err);

/* A failed answer's {"error":{"code","message"}} (or its first line) as *err. */
int client_error_from_body(const struct http_response *resp, struct runra_error **err);

/* The lower layer, for file transfers: runs req, and on a non-2xx answer
 * fills *err from its body and returns -errno. */
int client_exchange(runra_client *c, const struct http_request *req, struct http_response *resp,
                    struct runra_error **err);
