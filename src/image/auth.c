/* Challenges, token URLs and token answers (auth.h). The parser walks the
 * value once with an index that only moves forward and checks every bound
 * before it copies, so no input makes it read past len or write past a
 * field. */
#include "image/auth.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/util.h"

/* RFC 7230 tchar. */
static bool tchar(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* RFC 7235 token68 characters (besides its trailing '='s). */
static bool t68char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~+/", c));
}

struct cursor {
    const char *s;
    size_t i, n;
};

static char peek(const struct cursor *c) { return c->i < c->n ? c->s[c->i] : 0; }

static void skip_ws(struct cursor *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t'))
        c->i++;
}

/* A token: its start and length (0 when there is none). */
static size_t token(struct cursor *c, const char **start)
{
    *start = c->s + c->i;
    size_t k = 0;
    while (c->i < c->n && tchar(c->s[c->i]))
        c->i++, k++;
    return k;
}

/* A quoted string into out (at most max bytes and a NUL); the cursor is
 * on the opening quote. */
static int quoted(struct cursor *c, char *out, size_t max, struct runra_err **err)
{
    size_t o = 0;
    c->i++;
    for (;;) {
        if (c->i >= c->n)
            return err_set(err, EINVAL, "WWW-Authenticate: unterminated quoted string");
        char ch = c->s[c->i++];
        if (ch == '"')
            break;
        if (ch == '\\') {
            if (c->i >= c->n)
                return err_set(err, EINVAL, "WWW-Authenticate: unterminated quoted string");
            ch = c->s[c->i++];
        }
        if ((unsigned char)ch < 0x20 && ch != '\t')
            return err_set(err, EINVAL, "WWW-Authenticate: control character in a quoted string");
        if (ch == 0x7f)
            return err_set(err, EINVAL, "WWW-Authenticate: control character in a quoted string");
        if (out) {
            if (o >= max)
                return err_set(err, E2BIG, "WWW-Authenticate: parameter longer than %zu bytes",
                               max);
            out[o++] = ch;
        }
    }
    if (out)
        out[o] = 0;
    return 0;
}

/* A parameter's value (a token or a quoted string) into out, or skipped
 * when out is NULL. */
static int param_value(struct cursor *c, char *out, size_t max, struct runra_err **err)
{
    if (peek(c) == '"')
        return quoted(c, out, max, err);
    const char *v;
    size_t k = token(c, &v);
    if (k == 0)
        return err_set(err, EINVAL, "WWW-Authenticate: parameter without a value");
    if (!out)
        return 0;
    if (k > max)
        return err_set(err, E2BIG, "WWW-Authenticate: parameter longer than %zu bytes", max);
    memcpy(out, v, k);
    out[k] = 0;
    return 0;
}

/* After a value: the end, or a comma (with optional whitespace around). */
static int after_item(struct cursor *c, struct runra_err **err)
{
    skip_ws(c);
    if (c->i < c->n && c->s[c->i] != ',')
        return err_set(err, EINVAL, "WWW-Authenticate: unexpected '%c' at offset %zu",
                       (unsigned char)c->s[c->i] >= 0x20 && (unsigned char)c->s[c->i] < 0x7f
                           ? c->s[c->i]
                           : '?',
                       c->i);
    return 0;
}

static void skip_commas(struct cursor *c)
{
    for (;;) {
        skip_ws(c);
        if (peek(c) != ',')
            return;
        c->i++;
    }
}

/* Whether a token68 ("abc+/==") starts at i: its alphabet, then '='s,
 * then the end of the value or a comma. A plain token with neither a '='
 * nor a character outside tchar is a scheme instead, and "name=value" a
 * parameter. On true the cursor is left after it. */
static bool token68_at(struct cursor *c, size_t i)
{
    size_t j = i;
    bool non_tchar = false;
    while (j < c->n && t68char(c->s[j])) {
        non_tchar |= !tchar(c->s[j]);
        j++;
    }
    size_t alpha = j - i, eqs = 0;
    while (j < c->n && c->s[j] == '=')
        j++, eqs++;
    while (j < c->n && (c->s[j] == ' ' || c->s[j] == '\t'))
        j++;
    if (alpha == 0 || (eqs == 0 && !non_tchar) || (j < c->n && c->s[j] != ','))
        return false;
    c->i = j;
    return true;
}

int auth_challenge_parse(const char *value, size_t len, struct auth_challenge *ret,
                         struct runra_err **err)
{
    if (len > AUTH_HEADER_MAX)
        return err_set(err, E2BIG, "WWW-Authenticate longer than %d bytes", AUTH_HEADER_MAX);
    struct cursor c = {value, 0, len};
    struct auth_challenge best = {AUTH_NONE}, cur;
    for (;;) {
        skip_commas(&c);
        if (c.i >= c.n)
            break;
        const char *scheme;
        size_t sk = token(&c, &scheme);
        if (sk == 0)
            return err_set(err, EINVAL, "WWW-Authenticate: expected an auth scheme at offset %zu",
                           c.i);
        cur = (struct auth_challenge){AUTH_NONE};
        if (sk == 6 && !strncasecmp(scheme, "bearer", 6))
            cur.scheme = AUTH_BEARER;
        else if (sk == 5 && !strncasecmp(scheme, "basic", 5))
            cur.scheme = AUTH_BASIC;
        bool seen_realm = false, seen_service = false, seen_scope = false;
        /* The scheme ends at the value's end, at a comma or at whitespace
         * that precedes its parameters. */
        if (c.i < c.n && c.s[c.i] != ' ' && c.s[c.i] != '\t' && c.s[c.i] != ',')
            return err_set(err, EINVAL, "WWW-Authenticate: bad auth scheme at offset %zu", c.i);
        skip_ws(&c);
        /* Parameters, until the end or until a token that is not followed
         * by '=' (the next challenge's scheme). */
        for (bool first = true;; first = false) {
            size_t mark = c.i;
            skip_commas(&c);
            if (c.i >= c.n)
                break;
            if (!first && c.i == mark)
                return err_set(err, EINVAL, "WWW-Authenticate: missing ',' at offset %zu", c.i);
            size_t name_at = c.i;
            const char *name;
            size_t nk = token(&c, &name);
            if (first && token68_at(&c, name_at)) {
                /* "Negotiate abc+/==": the whole challenge is one token68.
                 * Basic and Bearer never send one: such a challenge is
                 * not usable and is dropped. */
                cur.scheme = AUTH_NONE;
                break;
            }
            if (nk == 0)
                return err_set(err, EINVAL, "WWW-Authenticate: expected a parameter at offset %zu",
                               c.i);
            skip_ws(&c);
            if (peek(&c) != '=') {
                /* The next challenge begins with this token. */
                c.i = name_at;
                break;
            }
            c.i++;
            skip_ws(&c);
            char *out = NULL;
            size_t max = 0;
            bool *seen = NULL;
            if (cur.scheme != AUTH_NONE) {
                if (nk == 5 && !strncasecmp(name, "realm", 5))
                    out = cur.realm, max = AUTH_REALM_MAX, seen = &seen_realm;
                else if (nk == 7 && !strncasecmp(name, "service", 7))
                    out = cur.service, max = AUTH_SERVICE_MAX, seen = &seen_service;
                else if (nk == 5 && !strncasecmp(name, "scope", 5))
                    out = cur.scope, max = AUTH_SCOPE_MAX, seen = &seen_scope;
            }
            if (seen && *seen)
                return err_set(err, EINVAL, "WWW-Authenticate: parameter '%.*s' given twice",
                               (int)nk, name);
            if (seen)
                *seen = true;
            int r = param_value(&c, out, max, err);
            if (r < 0)
                return r;
            if ((r = after_item(&c, err)) < 0)
                return r;
        }
        if (cur.scheme == AUTH_BEARER && !seen_realm)
            return err_set(err, EINVAL, "WWW-Authenticate: Bearer challenge without a realm");
        if (cur.scheme == AUTH_BEARER && best.scheme != AUTH_BEARER)
            best = cur;
        else if (cur.scheme == AUTH_BASIC && best.scheme == AUTH_NONE)
            best = cur;
    }
    if (best.scheme == AUTH_NONE)
        return err_set(err, ENOTSUP, "WWW-Authenticate: no Basic or Bearer challenge");
    *ret = best;
    return 0;
}

/* Percent-encodes s (RFC 3986 unreserved characters stay) onto out at *o,
 * within max bytes. */
static bool pct(const char *s, size_t n, char *out, size_t *o, size_t max)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (*o + (keep ? 1 : 3) >= max)
            return false;
        if (keep) {
            out[(*o)++] = (char)ch;
        } else {
            out[(*o)++] = '%';
            out[(*o)++] = hex[ch >> 4];
            out[(*o)++] = hex[ch & 15];
        }
    }
    return true;
}

static bool realm_ok(const char *realm, bool allow_http)
{
    const char *rest;
    if (str_has_prefix(realm, "https://"))
        rest = realm + 8;
    else if (allow_http && str_has_prefix(realm, "http://"))
        rest = realm + 7;
    else
        return false;
    size_t auth_n = strcspn(rest, "/?#");
    if (auth_n == 0 || memchr(rest, '@', auth_n) || strchr(realm, '#'))
        return false;
    for (const char *p = realm; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f)
            return false;
    return true;
}

int auth_token_url(const struct auth_challenge *c, const char *scope_fallback, bool allow_http,
                   char **ret, struct runra_err **err)
{
    if (c->scheme != AUTH_BEARER)
        return err_set(err, EINVAL, "token URL for a challenge that is not Bearer");
    if (!realm_ok(c->realm, allow_http))
        return err_set(err, EINVAL,
                       "token realm '%.200s' is not an %s URL", c->realm,
                       allow_http ? "http:// or https://" : "https://");
    const char *scope = c->scope[0] ? c->scope : (scope_fallback ? scope_fallback : "");
    /* Each byte may become three; the separators and names are bounded. */
    size_t max = strlen(c->realm) + 3 * (strlen(c->service) + strlen(scope)) +
                 16 * (strlen(scope) / 2 + 2) + 32;
    char *out = malloc(max);
    if (!out)
        return -ENOMEM;
    size_t o = (size_t)snprintf(out, max, "%s", c->realm);
    char sep = strchr(c->realm, '?') ? '&' : '?';
    bool ok = true;
    if (c->service[0]) {
        o += (size_t)snprintf(out + o, max - o, "%cservice=", sep);
        ok = pct(c->service, strlen(c->service), out, &o, max);
        sep = '&';
    }
    for (const char *p = scope; ok && *p;) {
        size_t k = strcspn(p, " ");
        if (k > 0) {
            o += (size_t)snprintf(out + o, max - o, "%cscope=", sep);
            ok = pct(p, k, out, &o, max);
            sep = '&';
        }
        p += k;
        while (*p == ' ')
            p++;
    }
    if (!ok || o >= max) {
        free(out);
        return err_set(err, E2BIG, "token URL too long");
    }
    out[o] = 0;
    *ret = out;
    return 0;
}

static bool token_ok(const char *t, size_t n)
{
    if (n == 0 || n > AUTH_TOKEN_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] <= 0x20 || (unsigned char)t[i] >= 0x7f)
            return false;
    return true;
}

int auth_token_parse(const char *body, size_t len, char **ret, struct runra_err **err)
{
    if (len > AUTH_TOKEN_BODY_MAX)
        return err_set(err, EBADMSG, "token answer larger than %u bytes", AUTH_TOKEN_BODY_MAX);
    json_error_t je;
    json_auto_t *j = json_loadb(body, len, 0, &je);
    if (!j || !json_is_object(j))
        return err_set(err, EBADMSG, "token answer is not a JSON object");
    json_t *t = json_object_get(j, "token");
    if (!json_is_string(t) || json_string_length(t) == 0)
        t = json_object_get(j, "access_token");
    if (!json_is_string(t) || !token_ok(json_string_value(t), json_string_length(t)))
        return err_set(err, EBADMSG,
                       "token answer holds no usable token (a string of visible ASCII, at most "
                       "%d bytes)",
                       AUTH_TOKEN_MAX);
    char *s = strdup(json_string_value(t));
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}
