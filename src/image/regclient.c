/* The registry transport (regclient.h). Each GET is one curl transfer with
 * redirects off; 3xx answers are followed here so that whether to send
 * Authorization is decided per hop by comparing origins: libcurl's own
 * CURLOPT_UNRESTRICTED_AUTH guards only credentials it was given through
 * CURLOPT_USERPWD, not an Authorization header we set ourselves. Tokens
 * and the Basic header are secrets: they go into request headers and
 * nowhere else, and are wiped when dropped. */
#include "image/regclient.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/enc.h"
#include "base/util.h"
#include "image/auth.h"

#define TOKENS_MAX 8
#define RETRY_AFTER_MAX_S 10
#define USER_AGENT "runra/" RUNRA_VERSION

struct token {
    char *scope, *token;
};

struct reg_client {
    char base[300];
    char host[300]; /* base without its scheme: what errors name */
    char *repo;
    char default_scope[320]; /* "repository:<repo>:pull" */
    char *basic_hdr;         /* "Authorization: Basic ...", or NULL */
    bool insecure;
    const volatile int *cancel, *stop;

    pthread_mutex_t lock; /* guards what follows */
    enum auth_scheme scheme;
    char last_scope[AUTH_SCOPE_MAX + 1];
    struct token tokens[TOKENS_MAX];
    size_t ntokens, next_slot;
    unsigned fetches;
};

struct reg_conn {
    CURL *h;
    char errbuf[CURL_ERROR_SIZE];
};

/* One transfer's view of the answer, filled by the header callback. */
struct xfer {
    struct reg_client *c;
    const struct reg_sink *sink;
    long status;
    int64_t clen;
    char content_range[96];
    char ctype[128];
    char *www[REG_WWW_AUTH_MAX];
    size_t nwww;
    unsigned retry_after;
    bool body_ok;     /* a 200/206 whose body goes to the sink */
    bool overflow;    /* an error body longer than we read */
    size_t discarded;
    int sink_r;
    struct runra_err *sink_err;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void wipe_free(char *s)
{
    if (!s)
        return;
    explicit_bzero(s, strlen(s));
    free(s);
}

int reg_client_new(const char *base, const char *repo, const char *user, const char *password,
                   const volatile int *cancel, const volatile int *stop, struct reg_client **ret,
                   struct runra_err **err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return err_set(err, EIO, "libcurl: %s", curl_easy_strerror(curl_init_rc));
    bool https = str_has_prefix(base, "https://");
    if ((!https && !str_has_prefix(base, "http://")) ||
        strlen(base) >= sizeof(((struct reg_client *)0)->base))
        return err_set(err, EINVAL, "registry endpoint '%.300s' is not an http(s) URL", base);
    struct reg_client *c = calloc(1, sizeof(*c));
    if (!c)
        return -ENOMEM;
    snprintf(c->base, sizeof(c->base), "%s", base);
    snprintf(c->host, sizeof(c->host), "%s", base + (https ? 8 : 7));
    c->insecure = !https;
    c->cancel = cancel;
    c->stop = stop;
    snprintf(c->default_scope, sizeof(c->default_scope), "repository:%s:pull", repo);
    snprintf(c->last_scope, sizeof(c->last_scope), "%s", c->default_scope);
    pthread_mutex_init(&c->lock, NULL);
    if (!(c->repo = strdup(repo))) {
        reg_client_free(c);
        return -ENOMEM;
    }
    if (user && password) {
        _cleanup_free_ char *pair = NULL;
        char *b64 = NULL;
        if (asprintf(&pair, "%s:%s", user, password) < 0) {
            pair = NULL;
            reg_client_free(c);
            return -ENOMEM;
        }
        int r = base64_encode(pair, strlen(pair), &b64, NULL);
        explicit_bzero(pair, strlen(pair));
        if (r < 0 || asprintf(&c->basic_hdr, "Authorization: Basic %s", b64) < 0) {
            c->basic_hdr = NULL;
            wipe_free(b64);
            reg_client_free(c);
            return -ENOMEM;
        }
        wipe_free(b64);
    }
    *ret = c;
    return 0;
}

void reg_client_free(struct reg_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->ntokens; i++) {
        free(c->tokens[i].scope);
        wipe_free(c->tokens[i].token);
    }
    wipe_free(c->basic_hdr);
    free(c->repo);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

const char *reg_client_base(const struct reg_client *c) { return c->base; }

unsigned reg_client_token_fetches(struct reg_client *c)
{
    pthread_mutex_lock(&c->lock);
    unsigned n = c->fetches;
    pthread_mutex_unlock(&c->lock);
    return n;
}

int reg_conn_new(struct reg_conn **ret, struct runra_err **err)
{
    pthread_once(&curl_once, curl_init);
    if (curl_init_rc != CURLE_OK)
        return err_set(err, EIO, "libcurl: %s", curl_easy_strerror(curl_init_rc));
    struct reg_conn *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    if (!(h->h = curl_easy_init())) {
        free(h);
        return err_set(err, ENOMEM, "libcurl: cannot make a handle");
    }
    *ret = h;
    return 0;
}

void reg_conn_free(struct reg_conn *h)
{
    if (!h)
        return;
    curl_easy_cleanup(h->h);
    free(h);
}

/* The memory sink. */
static int membuf_begin(void *ud, uint64_t offset, int64_t length, struct runra_err **err)
{
    struct reg_membuf *b = ud;
    if (offset != 0)
        return err_set(err, EBADMSG, "partial answer to a request for a whole document");
    if (length > 0 && (uint64_t)length > b->max)
        return err_set(err, E2BIG, "answer of %lld bytes is larger than %zu", (long long)length,
                       b->max);
    b->n = 0;
    return 0;
}

static int membuf_data(void *ud, const void *p, size_t n, struct runra_err **err)
{
    struct reg_membuf *b = ud;
    if (n > b->max - b->n)
        return err_set(err, E2BIG, "answer larger than %zu bytes", b->max);
    if (b->n + n + 1 > b->cap) {
        /* Grow by doubling, up to the bound: most answers are small. */
        size_t cap = b->cap ? b->cap : 16384;
        while (cap < b->n + n + 1)
            cap *= 2;
        if (cap > b->max + 1)
            cap = b->max + 1;
        char *q = realloc(b->p, cap);
        if (!q)
            return -ENOMEM;
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

const struct reg_sink reg_membuf_sink_proto = {membuf_begin, membuf_data, NULL};

void reg_membuf_done(struct reg_membuf *b)
{
    if (!b)
        return;
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

bool reg_same_origin(const char *a, const char *b)
{
    CURLU *ua = curl_url(), *ub = curl_url();
    char *sa = NULL, *sb = NULL, *ha = NULL, *hb = NULL, *pa = NULL, *pb = NULL;
    bool same = false;
    if (ua && ub && curl_url_set(ua, CURLUPART_URL, a, 0) == CURLUE_OK &&
        curl_url_set(ub, CURLUPART_URL, b, 0) == CURLUE_OK &&
        curl_url_get(ua, CURLUPART_SCHEME, &sa, 0) == CURLUE_OK &&
        curl_url_get(ub, CURLUPART_SCHEME, &sb, 0) == CURLUE_OK &&
        curl_url_get(ua, CURLUPART_HOST, &ha, 0) == CURLUE_OK &&
        curl_url_get(ub, CURLUPART_HOST, &hb, 0) == CURLUE_OK &&
        curl_url_get(ua, CURLUPART_PORT, &pa, CURLU_DEFAULT_PORT) == CURLUE_OK &&
        curl_url_get(ub, CURLUPART_PORT, &pb, CURLU_DEFAULT_PORT) == CURLUE_OK)
        same = !strcasecmp(sa, sb) && !strcasecmp(ha, hb) && !strcmp(pa, pb);
    curl_free(sa);
    curl_free(sb);
    curl_free(ha);
    curl_free(hb);
    curl_free(pa);
    curl_free(pb);
    curl_url_cleanup(ua);
    curl_url_cleanup(ub);
    return same;
}

static void xfer_reset(struct xfer *x)
{
    for (size_t i = 0; i < x->nwww; i++)
        free(x->www[i]);
    x->nwww = 0;
    x->status = 0;
    x->clen = -1;
    x->content_range[0] = x->ctype[0] = 0;
    x->retry_after = 0;
    x->body_ok = x->overflow = false;
    x->discarded = 0;
}

static void xfer_done(struct xfer *x)
{
    xfer_reset(x);
    err_free(x->sink_err);
    x->sink_err = NULL;
}

/* "bytes a-b/total" -> a. */
static bool range_start(const char *v, uint64_t *ret)
{
    if (strncasecmp(v, "bytes ", 6) != 0)
        return false;
    char num[24];
    size_t k = strspn(v + 6, "0123456789");
    if (k == 0 || k >= sizeof(num) || v[6 + k] != '-')
        return false;
    memcpy(num, v + 6, k);
    num[k] = 0;
    return parse_u64(num, ret) == 0;
}

/* Copies a header's value (without surrounding whitespace) if it is named
 * name; returns its length, or -1 when the line is another header. */
static ssize_t header_value(const char *line, size_t n, const char *name, const char **v)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return -1;
    const char *s = line + k + 1, *e = line + n;
    while (s < e && (*s == ' ' || *s == '\t'))
        s++;
    while (e > s && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' ' || e[-1] == '\t'))
        e--;
    *v = s;
    return e - s;
}

static void copy_value(char *dst, size_t max, const char *v, ssize_t n)
{
    size_t k = (size_t)n < max - 1 ? (size_t)n : max - 1;
    memcpy(dst, v, k);
    dst[k] = 0;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nitems;
    const char *v;
    ssize_t vn;
    if (n >= 5 && !strncmp(line, "HTTP/", 5)) {
        /* A new answer (after a 1xx, say): forget the last one's headers. */
        xfer_reset(x);
        const char *sp = memchr(line, ' ', n);
        long st = 0;
        for (const char *p = sp ? sp + 1 : line + n; p < line + n && *p >= '0' && *p <= '9'; p++)
            st = st * 10 + (*p - '0');
        x->status = st < 1000 ? st : 0;
        return n;
    }
    if (n <= 2 && (line[0] == '\r' || line[0] == '\n')) {
        /* The end of an answer's headers. */
        if ((x->status != 200 && x->status != 206) || !x->sink)
            return n;
        uint64_t off = 0;
        if (x->status == 206 && !range_start(x->content_range, &off)) {
            x->sink_r = err_set(&x->sink_err, EBADMSG, "206 answer without a valid Content-Range");
            return 0;
        }
        x->sink_r = x->sink->begin(x->sink->ud, off, x->clen, &x->sink_err);
        if (x->sink_r < 0)
            return 0;
        x->body_ok = true;
        return n;
    }
    if ((vn = header_value(line, n, "content-length", &v)) >= 0) {
        char num[24];
        uint64_t u;
        copy_value(num, sizeof(num), v, vn);
        x->clen = parse_u64(num, &u) == 0 && u <= INT64_MAX ? (int64_t)u : -1;
    } else if ((vn = header_value(line, n, "content-range", &v)) >= 0) {
        copy_value(x->content_range, sizeof(x->content_range), v, vn);
    } else if ((vn = header_value(line, n, "content-type", &v)) >= 0) {
        copy_value(x->ctype, sizeof(x->ctype), v, vn);
        /* "application/json; charset=utf-8" names the type before ';'. */
        x->ctype[strcspn(x->ctype, "; ")] = 0;
    } else if ((vn = header_value(line, n, "www-authenticate", &v)) >= 0) {
        if (x->nwww < REG_WWW_AUTH_MAX && vn <= AUTH_HEADER_MAX) {
            char *s = strndup(v, (size_t)vn);
            if (s)
                x->www[x->nwww++] = s;
        }
    } else if ((vn = header_value(line, n, "retry-after", &v)) >= 0) {
        char num[24];
        uint64_t u;
        copy_value(num, sizeof(num), v, vn);
        if (parse_u64(num, &u) == 0)
            x->retry_after = u > RETRY_AFTER_MAX_S ? RETRY_AFTER_MAX_S : (unsigned)u;
    }
    return n;
}

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;
    if (x->body_ok) {
        x->sink_r = x->sink->data(x->sink->ud, p, n, &x->sink_err);
        return x->sink_r < 0 ? 0 : n;
    }
    /* An error page or a redirect's body: read a little, then stop. */
    x->discarded += n;
    if (x->discarded > REG_ERROR_BODY_MAX) {
        x->overflow = true;
        return 0;
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct xfer *x = ud;
    return (x->c->cancel && *x->c->cancel) || (x->c->stop && *x->c->stop);
}

/* The part of a URL an error may name: no query, which for a redirect to
 * a storage service can hold a signature. */
static int url_for_msg(const char *url) { return (int)strcspn(url, "?#"); }

static void wipe_slist(struct curl_slist *l)
{
    for (struct curl_slist *p = l; p; p = p->next)
        explicit_bzero(p->data, strlen(p->data));
    curl_slist_free_all(l);
}

/* One transfer of url. auth: a full "Authorization: ..." header or NULL. */
static int perform(struct reg_client *c, struct reg_conn *h, const char *url, const char *auth,
                   const char *accept, uint64_t range_from, const struct reg_sink *sink,
                   struct xfer *x, struct runra_err **err)
{
    CURL *e = h->h;
    curl_easy_reset(e);
    *x = (struct xfer){.c = c, .sink = sink, .clen = -1};
    struct curl_slist *hdrs = NULL, *t;
    char accept_hdr[512], range[32];
    if (accept) {
        snprintf(accept_hdr, sizeof(accept_hdr), "Accept: %s", accept);
        if (!(t = curl_slist_append(hdrs, accept_hdr)))
            goto nomem;
        hdrs = t;
    }
    if (auth) {
        if (!(t = curl_slist_append(hdrs, auth)))
            goto nomem;
        hdrs = t;
    }
    if (range_from > 0)
        snprintf(range, sizeof(range), "%llu-", (unsigned long long)range_from);
    h->errbuf[0] = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)REG_CONNECT_TIMEOUT_S);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)REG_LOW_SPEED_BYTES);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)REG_LOW_SPEED_TIME_S);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, USER_AGENT);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(e, CURLOPT_RANGE, range_from > 0 ? range : NULL);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(e, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, h->errbuf);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
    wipe_slist(hdrs);
    if (x->sink_r < 0) {
        int r = x->sink_r;
        if (x->sink_err && err && !*err)
            *err = TAKE_PTR(x->sink_err);
        else
            err_set(err, r, "GET %.*s", url_for_msg(url), url);
        return r;
    }
    if (rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x->overflow))
        return 0;
    const char *why = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_ABORTED_BY_CALLBACK:
        return err_set(err, ECANCELED, "pull cancelled");
    case CURLE_COULDNT_CONNECT:
        return err_set(err, ECONNREFUSED, "GET %.*s: %s", url_for_msg(url), url, why);
    case CURLE_COULDNT_RESOLVE_HOST:
        return err_set(err, EHOSTUNREACH, "GET %.*s: %s", url_for_msg(url), url, why);
    case CURLE_OPERATION_TIMEDOUT:
        return err_set(err, ETIMEDOUT, "GET %.*s: %s", url_for_msg(url), url, why);
    default:
        return err_set(err, EIO, "GET %.*s: %s", url_for_msg(url), url, why);
    }
nomem:
    curl_slist_free_all(hdrs);
    return -ENOMEM;
}

/* The Authorization header to send to the endpoint now, and the token in
 * it (to tell later whether the cache has moved on). */
static int current_auth(struct reg_client *c, char **ret_hdr, char **ret_token, bool *ret_basic)
{
    *ret_hdr = *ret_token = NULL;
    *ret_basic = false;
    int r = 0;
    pthread_mutex_lock(&c->lock);
    if (c->scheme == AUTH_BASIC && c->basic_hdr) {
        if (!(*ret_hdr = strdup(c->basic_hdr)))
            r = -ENOMEM;
        *ret_basic = true;
    } else if (c->scheme == AUTH_BEARER) {
        for (size_t i = 0; i < c->ntokens; i++)
            if (!strcmp(c->tokens[i].scope, c->last_scope)) {
                if (asprintf(ret_hdr, "Authorization: Bearer %s", c->tokens[i].token) < 0 ||
                    !(*ret_token = strdup(c->tokens[i].token))) {
                    free(*ret_hdr);
                    *ret_hdr = NULL;
                    r = -ENOMEM;
                }
                break;
            }
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

/* Called with c->lock held. */
static struct token *token_for(struct reg_client *c, const char *scope)
{
    for (size_t i = 0; i < c->ntokens; i++)
        if (!strcmp(c->tokens[i].scope, scope))
            return &c->tokens[i];
    return NULL;
}

/* Fetches a token for the challenge from its realm (Basic to the token
 * server when we have credentials). Called with c->lock held, so threads
 * that meet the same 401 at once fetch one token between them. */
static int fetch_token(struct reg_client *c, struct reg_conn *h, const struct auth_challenge *ch,
                       char **ret, struct runra_err **err)
{
    _cleanup_free_ char *url = NULL;
    struct runra_err *e = NULL;
    int r = auth_token_url(ch, c->default_scope, c->insecure, &url, &e);
    if (r < 0) {
        /* A realm we will not send credentials to is an auth failure. */
        r = err_set(err, r == -ENOMEM ? ENOMEM : EACCES, "registry %s: %s", c->host,
                    e && e->msg ? e->msg : "unusable token realm");
        err_free(e);
        return r;
    }
    struct reg_membuf buf = {.max = AUTH_TOKEN_BODY_MAX};
    struct reg_sink sink = reg_membuf_sink(&buf);
    struct xfer x;
    c->fetches++;
    r = perform(c, h, url, c->basic_hdr, NULL, 0, &sink, &x, err);
    long st = x.status;
    xfer_done(&x);
    if (r < 0) {
        reg_membuf_done(&buf);
        return err_prefix(err, "token for %s", c->host);
    }
    if (st == 401 || st == 403)
        r = err_set(err, EACCES, "token server of %s refused %s (status %ld)", c->host,
                    c->basic_hdr ? "the configured credentials" : "an anonymous token", st);
    else if (st != 200)
        r = err_set(err, st >= 500 ? EIO : EACCES, "token server of %s answered %ld", c->host, st);
    else
        r = auth_token_parse(buf.p ? buf.p : "", buf.n, ret, err);
    if (buf.p)
        explicit_bzero(buf.p, buf.n);
    reg_membuf_done(&buf);
    return r;
}

/* After a 401 from the endpoint: decides how to try again. sent_token: the
 * token that was refused (NULL when none); fresh: whether this request
 * already fetched one. 0: try again; -EACCES and friends: give up. */
static int unauthorized(struct reg_client *c, struct reg_conn *h, struct xfer *x,
                        const char *sent_token, bool sent_basic, bool *fresh,
                        struct runra_err **err)
{
    struct auth_challenge ch = {AUTH_NONE}, one;
    for (size_t i = 0; i < x->nwww; i++)
        if (auth_challenge_parse(x->www[i], strlen(x->www[i]), &one, NULL) == 0 &&
            (ch.scheme == AUTH_NONE || (one.scheme == AUTH_BEARER && ch.scheme != AUTH_BEARER)))
            ch = one;
    if (ch.scheme == AUTH_NONE)
        return err_set(err, EACCES, "%s answered 401 without a Basic or Bearer challenge",
                       c->host);
    if (ch.scheme == AUTH_BASIC) {
        if (!c->basic_hdr)
            return err_set(err, EACCES,
                           "%s requires credentials and none are configured for it", c->host);
        if (sent_basic)
            return err_set(err, EACCES, "%s refused the configured credentials", c->host);
        pthread_mutex_lock(&c->lock);
        c->scheme = AUTH_BASIC;
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    const char *scope = ch.scope[0] ? ch.scope : c->default_scope;
    pthread_mutex_lock(&c->lock);
    int r = 0;
    struct token *t = token_for(c, scope);
    if (t && (!sent_token || strcmp(t->token, sent_token) != 0)) {
        /* Another thread has a newer token for this scope already. */
    } else if (*fresh) {
        r = err_set(err, EACCES,
                    c->basic_hdr ? "%s refused a token issued for the configured credentials"
                                 : "%s requires credentials (it refused an anonymous token) and "
                                   "none are configured for it",
                    c->host);
    } else {
        char *tok = NULL;
        r = fetch_token(c, h, &ch, &tok, err);
        if (r == 0) {
            if (!t) {
                size_t slot = c->ntokens < TOKENS_MAX ? c->ntokens++ : c->next_slot++ % TOKENS_MAX;
                t = &c->tokens[slot];
                free(t->scope);
                wipe_free(t->token);
                *t = (struct token){0};
                if (!(t->scope = strdup(scope))) {
                    wipe_free(tok);
                    r = -ENOMEM;
                }
            } else {
                wipe_free(t->token);
            }
            if (r == 0) {
                t->token = tok;
                *fresh = true;
            }
        }
    }
    if (r == 0) {
        c->scheme = AUTH_BEARER;
        snprintf(c->last_scope, sizeof(c->last_scope), "%s", scope);
    }
    pthread_mutex_unlock(&c->lock);
    return r;
}

static bool is_redirect(long st)
{
    return st == 301 || st == 302 || st == 303 || st == 307 || st == 308;
}

int reg_client_get(struct reg_client *c, struct reg_conn *h, struct reg_request *rq,
                   struct runra_err **err)
{
    _cleanup_free_ char *url = NULL;
    if (asprintf(&url, "%s%s", c->base, rq->path) < 0) {
        url = NULL;
        return -ENOMEM;
    }
    bool fresh = false;
    unsigned hops = 0, auth_rounds = 0;
    for (;;) {
        /* Credentials go to the endpoint's own origin only: a redirect to
         * a storage host or CDN gets none (its URL carries its own grant). */
        bool origin = hops == 0 || reg_same_origin(url, c->base);
        _cleanup_free_ char *auth = NULL;
        char *sent_token = NULL;
        bool sent_basic = false;
        int r = origin ? current_auth(c, &auth, &sent_token, &sent_basic) : 0;
        if (r < 0)
            return r;
        struct xfer x;
        r = perform(c, h, url, auth, rq->accept, rq->range_from, rq->sink, &x, err);
        if (auth)
            explicit_bzero(auth, strlen(auth));
        if (r < 0) {
            wipe_free(sent_token);
            xfer_done(&x);
            return r;
        }
        if (is_redirect(x.status)) {
            char *loc = NULL;
            long st = x.status;
            curl_easy_getinfo(h->h, CURLINFO_REDIRECT_URL, &loc);
            wipe_free(sent_token);
            xfer_done(&x);
            if (!loc)
                return err_set(err, EIO, "%s answered %ld without a Location", c->host, st);
            if (++hops > REG_REDIRECTS_MAX)
                return err_set(err, EIO, "GET %s%s: more than %d redirects", c->host, rq->path,
                               REG_REDIRECTS_MAX);
            bool to_https = !strncasecmp(loc, "https://", 8);
            if (!to_https && strncasecmp(loc, "http://", 7))
                return err_set(err, EIO, "GET %s%s: redirect to a URL that is not http(s)",
                               c->host, rq->path);
            if (!to_https && !c->insecure)
                return err_set(err, EIO, "GET %s%s: refusing a redirect from https to http",
                               c->host, rq->path);
            char *next = strdup(loc);
            if (!next)
                return -ENOMEM;
            free(url);
            url = next;
            continue;
        }
        if (x.status == 401 && origin) {
            if (++auth_rounds > 3) {
                r = err_set(err, EACCES, "%s keeps answering 401", c->host);
            } else {
                r = unauthorized(c, h, &x, sent_token, sent_basic, &fresh, err);
            }
            wipe_free(sent_token);
            xfer_done(&x);
            if (r < 0)
                return r;
            free(url);
            if (asprintf(&url, "%s%s", c->base, rq->path) < 0) {
                url = NULL;
                return -ENOMEM;
            }
            hops = 0;
            continue;
        }
        wipe_free(sent_token);
        rq->status = x.status;
        snprintf(rq->content_type, sizeof(rq->content_type), "%s", x.ctype);
        rq->retry_after_s = x.retry_after;
        xfer_done(&x);
        return 0;
    }
}
