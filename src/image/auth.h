/* What a registry says about authentication and what its token server
 * answers: WWW-Authenticate challenges (RFC 7235, as the distribution
 * spec's token flow uses them), the token request URL, and the token in
 * the answer. Pure and bounded: every byte here comes from a server that
 * is not trusted, so it is unit-tested and fuzzed on its own. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/err.h"

#define AUTH_HEADER_MAX 4096 /* one WWW-Authenticate value */
#define AUTH_REALM_MAX 1024
#define AUTH_SERVICE_MAX 256
#define AUTH_SCOPE_MAX 1024
/* JWTs that carry a certificate chain (x5c) run to several kilobytes. */
#define AUTH_TOKEN_MAX 16384
#define AUTH_TOKEN_BODY_MAX (256u << 10)

enum auth_scheme { AUTH_NONE, AUTH_BASIC, AUTH_BEARER };

struct auth_challenge {
    enum auth_scheme scheme;
    char realm[AUTH_REALM_MAX + 1];
    char service[AUTH_SERVICE_MAX + 1]; /* "" when absent */
    char scope[AUTH_SCOPE_MAX + 1];     /* "" when absent; may list several, space-separated */
};

/* Reads one WWW-Authenticate value, which may hold several challenges
 * ("Bearer realm=\"...\",scope=\"a:b:pull,push\", Basic realm=x"): the
 * first Bearer one, else the first Basic one. Quoted strings may hold
 * commas and backslash escapes; scheme and parameter names are
 * case-insensitive; unknown parameters are ignored. Errors: ENOTSUP (no
 * Basic or Bearer challenge), EINVAL (malformed, a repeated parameter, a
 * Bearer challenge without a realm), E2BIG (past the bounds above). */
int auth_challenge_parse(const char *value, size_t len, struct auth_challenge *ret,
                         struct runra_err **err);

/* The token request for a Bearer challenge: realm, then "service=" and one
 * "scope=" per space-separated scope (the challenge's, else fallback),
 * percent-encoded. The realm must be an absolute https:// URL without user
 * info or fragment, or http:// when allow_http (the registry itself is
 * plain HTTP). EINVAL otherwise. Caller frees *ret. */
int auth_token_url(const struct auth_challenge *c, const char *scope_fallback, bool allow_http,
                   char **ret, struct runra_err **err);

/* The bearer token in a token server's JSON answer: "token", else
 * "access_token". EBADMSG when neither is a non-empty string of at most
 * AUTH_TOKEN_MAX visible ASCII characters (anything else could not be put
 * in a header safely). Caller frees *ret (it is a secret: wipe it). */
int auth_token_parse(const char *body, size_t len, char **ret, struct runra_err **err);
