/* One registry endpoint spoken to over libcurl, for one repository: GET
 * requests with the registry's auth flows (Basic, bearer tokens cached per
 * scope and shared by every thread pulling through the same client) and
 * redirects followed by hand, so the registry's Authorization header never
 * reaches another origin. It judges no status and no body: its callers do.
 * A reg_client is shared between threads; a reg_conn (one curl handle) is
 * used by one thread at a time. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

/* Transport limits. A registry that does not connect in 15 s is down; a
 * transfer that moves less than a byte a second for 30 s is stuck. */
#define REG_CONNECT_TIMEOUT_S 15
#define REG_LOW_SPEED_BYTES 1
#define REG_LOW_SPEED_TIME_S 30
#define REG_REDIRECTS_MAX 5
/* Error bodies are read and dropped up to this much, then the transfer ends. */
#define REG_ERROR_BODY_MAX (64u << 10)
#define REG_WWW_AUTH_MAX 4 /* WWW-Authenticate headers kept per answer */

struct reg_client;
struct reg_conn;

/* Where an answer's body goes. begin is called once the headers of a 200
 * or 206 answer are in, with where the body starts (0 for a 200; the
 * Content-Range start for a 206) and its length (-1 when not given); data
 * for each piece of it. Either may fail with -errno and an error, which
 * ends the transfer with that error. */
struct reg_sink {
    int (*begin)(void *ud, uint64_t offset, int64_t length, struct runra_err **err);
    int (*data)(void *ud, const void *p, size_t n, struct runra_err **err);
    void *ud;
};

struct reg_request {
    const char *path;    /* "/v2/<repo>/manifests/<ref>" */
    const char *accept;  /* the Accept header's value, or NULL */
    uint64_t range_from; /* > 0: ask for bytes from here on (Range: bytes=N-) */
    const struct reg_sink *sink;
    /* Filled by reg_client_get: */
    long status;            /* the final answer's HTTP status */
    char content_type[128]; /* of the final answer; "" when none */
    unsigned retry_after_s; /* a 429/503's Retry-After in seconds, capped; 0 when none */
};

/* base: "https://host[:port]" (the endpoint; http:// when insecure); repo:
 * "library/node"; user/password: the endpoint's credentials or NULL
 * (copied). cancel and stop, when set, end transfers with ECANCELED. */
int reg_client_new(const char *base, const char *repo, const char *user, const char *password,
                   const volatile int *cancel, const volatile int *stop, struct reg_client **ret,
                   struct runra_err **err);
void reg_client_free(struct reg_client *c);
const char *reg_client_base(const struct reg_client *c);
/* How many tokens this client has fetched (each token request counts). */
unsigned reg_client_token_fetches(struct reg_client *c);

int reg_conn_new(struct reg_conn **ret, struct runra_err **err);
void reg_conn_free(struct reg_conn *h);

/* One GET of base+path: answers 401 with the auth flow and retries once
 * with the credentials or a token (once more when a cached token had
 * expired), and follows up to REG_REDIRECTS_MAX redirects, sending
 * Authorization only to the endpoint's own scheme, host and port and
 * never downgrading https to http. Returns 0 when an answer came, whatever
 * its status (rq->status); -errno for transport failures (EIO, ETIMEDOUT,
 * ECONNREFUSED), a sink's error, ECANCELED, and EACCES when the registry
 * or its token server refuses the credentials (or wants some and we have
 * none). Messages never hold a credential, a token or a redirect's query. */
int reg_client_get(struct reg_client *c, struct reg_conn *h, struct reg_request *rq,
                   struct runra_err **err);

/* A sink that keeps the body in memory, up to max bytes (E2BIG past it). */
struct reg_membuf {
    char *p; /* NUL-terminated once anything arrived */
    size_t n, max, cap;
};
extern const struct reg_sink reg_membuf_sink_proto;
static inline struct reg_sink reg_membuf_sink(struct reg_membuf *b)
{
    struct reg_sink s = reg_membuf_sink_proto;
    s.ud = b;
    return s;
}
void reg_membuf_done(struct reg_membuf *b);

/* Whether two absolute URLs share scheme, host and port (the default port
 * of the scheme when none is written). False when either does not parse. */
bool reg_same_origin(const char *a, const char *b);
