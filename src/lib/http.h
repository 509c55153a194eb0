/* One HTTP/1.1 connection to runrad (unix socket or TCP), kept alive across
 * requests, and one request/response exchange over it: bodies from memory or
 * streamed from an fd, responses into memory or streamed to an fd. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "runra/runra.h"
#include "url.h"

struct http_conn {
    const struct endpoint *ep; /* borrowed */
    int fd;                    /* -1: not connected */
    bool reused;               /* fd already carried a whole exchange */
    char *auth;                /* the Authorization value, or NULL */
    uint64_t timeout_ms;       /* per request; 0: none */
    int (*cancel)(void *userdata);
    void *cancel_userdata;
    char *iobuf; /* HTTP_IOBUF bytes, allocated on first use */
};

#define HTTP_IOBUF (64u * 1024)

struct http_request {
    const char *method;
    const char *target;       /* "/v1/...", already escaped; the endpoint prefix is added */
    const char *content_type; /* with a body */
    const void *body;         /* a body in memory (may be empty with body_len 0) */
    size_t body_len;
    int body_fd; /* >= 0: stream the body from here instead */
};

struct http_response {
    int status;
    char content_type[128];
    /* Non-2xx bodies always land in body (for the error message); 2xx bodies
     * go to sink_fd when it is >= 0, else to body. */
    struct buf body;
    int sink_fd;
    uint64_t sink_bytes;
    /* Set: 2xx body bytes go here as they arrive instead (streamed NDJSON);
     * a negative return (-errno) stops the exchange. */
    int (*sink_cb)(void *userdata, const char *p, size_t n);
    void *sink_userdata;
};

void http_conn_init(struct http_conn *c, const struct endpoint *ep);
int http_conn_connect(struct http_conn *c, struct runra_error **err);
void http_conn_close(struct http_conn *c);
void http_conn_done(struct http_conn *c);

/* Sends req and reads the whole response into resp (status, body). Returns
 * 0 whatever the status; -errno when no complete response arrived. */
int http_exchange(struct http_conn *c, const struct http_request *req, struct http_response *resp,
                  struct runra_error **err);
