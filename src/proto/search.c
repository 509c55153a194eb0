/* Codec for the search call. Everything decoded here is bounded by the
 * limits in search.h, and every string is copied out so no json_t leaves
 * this file. */
#include "search.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "limits.h"
#include "msg.h"

void search_req_free(struct search_req *r)
{
    if (!r)
        return;
    free(r->pattern);
    free(r->path);
    strv_free(r->globs);
    free(r);
}

int search_req_check(struct search_req *r, struct runra_err **err)
{
    if (!r->pattern || !*r->pattern)
        return err_set(err, EINVAL, "search pattern is empty");
    if (strlen(r->pattern) > SEARCH_PATTERN_MAX)
        return err_set(err, EINVAL, "search pattern longer than %d bytes", SEARCH_PATTERN_MAX);
    if (r->path) {
        int k = msg_check_path(r->path, err);
        if (k < 0)
            return k;
    }
    size_t n = strv_len(r->globs);
    if (n > SEARCH_GLOBS_MAX)
        return err_set(err, EINVAL, "at most %d globs", SEARCH_GLOBS_MAX);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(r->globs[i]);
        if (l == 0 || l > SEARCH_GLOB_MAX || !strcmp(r->globs[i], "!"))
            return err_set(err, EINVAL, "a glob must be 1 to %d bytes", SEARCH_GLOB_MAX);
    }
    if (r->max_results == 0)
        r->max_results = SEARCH_RESULTS_DEFAULT;
    if (r->max_results > SEARCH_RESULTS_MAX)
        return err_set(err, EINVAL, "maxResults must be at most %d", SEARCH_RESULTS_MAX);
    if (r->context > SEARCH_CONTEXT_MAX)
        return err_set(err, EINVAL, "contextLines must be at most %d", SEARCH_CONTEXT_MAX);
    if (r->timeout_ms == 0)
        r->timeout_ms = SEARCH_TIMEOUT_DEFAULT_MS;
    if (r->timeout_ms > SEARCH_TIMEOUT_MAX_MS)
        return err_set(err, EINVAL, "timeoutMs must be at most %u", SEARCH_TIMEOUT_MAX_MS);
    return 0;
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++)
        if (json_array_append_new(a, json_string(v[i])) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

int search_req_encode(const struct search_req *r, char **ret)
{
    json_t *j = json_pack("{s:s,s:o,s:b,s:b,s:I,s:I,s:I}", "pattern", r->pattern, "globs",
                          strv_json(r->globs), "ignoreCase", r->ignore_case, "noIgnore",
                          r->no_ignore, "maxResults", (json_int_t)r->max_results, "contextLines",
                          (json_int_t)r->context, "timeoutMs", (json_int_t)r->timeout_ms);
    if (j && r->path && json_object_set_new(j, "path", json_string(r->path)) < 0) {
        json_decref(j);
        j = NULL;
    }
    return msg_json_dump(j, ret);
}

/* A JSON array of at most max strings, each at most each_max bytes, as a
 * NULL-terminated vector (NULL for an empty or absent array). */
static int strv_decode(json_t *a, size_t max, size_t each_max, const char *what, char ***ret,
                       struct runra_err **err)
{
    *ret = NULL;
    if (!a)
        return 0;
    if (!json_is_array(a) || json_array_size(a) > max)
        return err_set(err, EINVAL, "%s must be an array of at most %zu strings", what, max);
    size_t n = json_array_size(a);
    if (n == 0)
        return 0;
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s) || json_string_length(s) > each_max ||
            strlen(json_string_value(s)) != json_string_length(s)) {
            strv_free(v);
            return err_set(err, EINVAL, "%s[%zu] must be a string of at most %zu bytes", what,
                           i, each_max);
        }
        if (!(v[i] = strdup(json_string_value(s)))) {
            strv_free(v);
            return -ENOMEM;
        }
    }
    *ret = v;
    return 0;
}

int search_req_decode(const void *buf, size_t len, struct search_req **ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    const char *pattern = NULL, *path = NULL;
    json_t *globs = NULL;
    int ic = 0, ni = 0;
    json_int_t maxr = 0, ctx = 0, tmo = 0;
    struct search_req *q = NULL;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?s,s?o,s?b,s?b,s?I,s?I,s?I}", "pattern",
                       &pattern, "path", &path, "globs", &globs, "ignoreCase", &ic, "noIgnore",
                       &ni, "maxResults", &maxr, "contextLines", &ctx, "timeoutMs", &tmo) < 0) {
        r = err_set(err, EINVAL, "invalid search request: %s", je.text);
        goto out;
    }
    if (maxr < 0 || maxr > SEARCH_RESULTS_MAX || ctx < 0 || ctx > SEARCH_CONTEXT_MAX || tmo < 0 ||
        tmo > SEARCH_TIMEOUT_MAX_MS) {
        r = err_set(err, EINVAL, "search request: a number is out of range");
        goto out;
    }
    q = calloc(1, sizeof(*q));
    if (!q || !(q->pattern = strdup(pattern)) || (path && !(q->path = strdup(path)))) {
        r = -ENOMEM;
        goto out;
    }
    r = strv_decode(globs, SEARCH_GLOBS_MAX, SEARCH_GLOB_MAX, "globs", &q->globs, err);
    if (r < 0)
        goto out;
    q->ignore_case = ic;
    q->no_ignore = ni;
    q->max_results = (uint32_t)maxr;
    q->context = (uint32_t)ctx;
    q->timeout_ms = (uint64_t)tmo;
    r = search_req_check(q, err);
    if (r < 0)
        goto out;
    *ret = TAKE_PTR(q);
out:
    search_req_free(q);
    json_decref(j);
    return r;
}

/* The match encoder writes its JSON by hand: a search may send 100000
 * records, and building each as a jansson object (allocations, a hash
 * table, a second UTF-8 pass, printf for the numbers) was a large share of
 * the guest's time. It writes what json_dumps(JSON_COMPACT) would. */
struct out {
    char *p;
    size_t n, cap;
    int err;
};

static void out_put(struct out *o, const char *s, size_t n)
{
    if (o->err)
        return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->n + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->err = -ENOMEM;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
}

/* Length of the well-formed UTF-8 sequence at s (1-4), or 0. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf5 ? 4 : 0;
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    /* Overlong forms, surrogates and code points past U+10FFFF. */
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) ||
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
        return 0;
    return n;
}

/* The short escapes JSON has, by the character they stand for. */
static const char json_escape[0x60] = {['\b'] = 'b', ['\f'] = 'f', ['\n'] = 'n', ['\r'] = 'r',
                                       ['\t'] = 't', ['"'] = '"', ['\\'] = '\\'};
/* And the other way round, with the '/' that only decoders see. */
static const char json_unescape[0x80] = {['b'] = '\b', ['f'] = '\f', ['n'] = '\n', ['r'] = '\r',
                                         ['t'] = '\t', ['"'] = '"', ['\\'] = '\\', ['/'] = '/'};

/* A JSON string; text that is not UTF-8 is EINVAL, as jansson refuses it. */
static void out_str(struct out *o, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    out_put(o, "\"", 1);
    const char *run = s;
    while (*s && !o->err) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
            s++;
            continue;
        }
        out_put(o, run, (size_t)(s - run));
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)s);
            if (n == 0) {
                o->err = -EINVAL;
                return;
            }
            out_put(o, s, n);
            s += n;
        } else {
            char e[6] = {'\\', json_escape[c]};
            size_t n = 2;
            if (!e[1]) {
                memcpy(e + 1, "u00", 3);
                e[4] = hex[c >> 4];
                e[5] = hex[c & 15];
                n = 6;
            }
            out_put(o, e, n);
            s++;
        }
        run = s;
    }
    out_put(o, run, (size_t)(s - run));
    out_put(o, "\"", 1);
}

static void out_u64(struct out *o, uint64_t v)
{
    char d[20];
    size_t i = sizeof(d);
    do {
        d[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    out_put(o, d + i, sizeof(d) - i);
}

static void out_strv(struct out *o, const char *key, char *const *v)
{
    out_put(o, key, strlen(key));
    out_put(o, "[", 1);
    for (size_t i = 0; v[i]; i++) {
        if (i)
            out_put(o, ",", 1);
        out_str(o, v[i]);
    }
    out_put(o, "]", 1);
}

int search_match_encode(const struct search_match *m, char **ret)
{
    if (!m->path || !m->text || m->line > INT64_MAX || m->column > INT64_MAX)
        return -EINVAL;
    struct out o = {0};
    out_put(&o, "{\"path\":", 8);
    out_str(&o, m->path);
    out_put(&o, ",\"line\":", 8);
    out_u64(&o, m->line);
    out_put(&o, ",\"column\":", 10);
    out_u64(&o, m->column);
    out_put(&o, ",\"text\":", 8);
    out_str(&o, m->text);
    if (m->before)
        out_strv(&o, ",\"before\":", m->before);
    if (m->after)
        out_strv(&o, ",\"after\":", m->after);
    out_put(&o, "}", 1);
    if (o.err) {
        free(o.p);
        return o.err;
    }
    *ret = o.p;
    return 0;
}

void search_match_done(struct search_match *m)
{
    free(m->path);
    free(m->text);
    strv_free(m->before);
    strv_free(m->after);
    *m = (struct search_match){0};
}

void search_matches_done(struct search_matches *l)
{
    for (size_t i = 0; i < l->n; i++)
        search_match_done(&l->v[i]);
    free(l->v);
    *l = (struct search_matches){0};
}

/* Reading match records fast. The daemon decodes every record the guest
 * streams, and with jansson that took longer than the guest took to find
 * them, so the guest waited on a full socket. Records are read here by a
 * parser that takes only the exact form search_match_encode writes and
 * hands anything else (other key orders, spaces, rare escapes, any error)
 * to the jansson decoder below, which decides as it always has. So this
 * path accepts a subset of what jansson accepts, with the same values. */
struct in {
    const char *p, *end;
};

static bool in_lit(struct in *in, const char *s)
{
    size_t n = strlen(s);
    if ((size_t)(in->end - in->p) < n || memcmp(in->p, s, n))
        return false;
    in->p += n;
    return true;
}

/* A JSON string into a new buffer; NULL when it is not in the simple form
 * (or on ENOMEM: the fallback will then fail the same way). */
static char *in_str(struct in *in)
{
    if (!in_lit(in, "\""))
        return NULL;
    const char *s = in->p, *q = s;
    while (q < in->end && *q != '"')
        q += *q == '\\' ? 2 : 1;
    if (q >= in->end)
        return NULL;
    /* Escapes only shrink, so the raw length bounds the decoded one. */
    char *out = malloc((size_t)(q - s) + 1), *o = out;
    if (!out)
        return NULL;
    while (s < in->end) {
        unsigned char c = (unsigned char)*s;
        if (c == '"') {
            *o = '\0';
            in->p = s + 1;
            return out;
        }
        if (c < 0x20)
            break;
        if (c == '\\') {
            if (s + 1 >= in->end)
                break;
            /* \u and anything unusual are the fallback's job. */
            unsigned char e = (unsigned char)s[1];
            char d = e < 0x80 ? json_unescape[e] : 0;
            if (!d)
                break;
            *o++ = d;
            s += 2;
            continue;
        }
        size_t n = c < 0x80 ? 1 : 0;
        if (c >= 0x80 && (size_t)(in->end - s) >= 4)
            n = utf8_len((const unsigned char *)s);
        if (n == 0)
            break;
        memcpy(o, s, n);
        o += n;
        s += n;
    }
    free(out);
    return NULL;
}

/* A non-negative integer as jansson writes it; false past INT64_MAX. */
static bool in_u63(struct in *in, uint64_t *ret)
{
    const char *s = in->p;
    uint64_t v = 0;
    size_t n = 0;
    while (s + n < in->end && s[n] >= '0' && s[n] <= '9' && n < 19)
        v = v * 10 + (uint64_t)(s[n++] - '0');
    if (n == 0 || (n > 1 && s[0] == '0') || (s + n < in->end && s[n] >= '0' && s[n] <= '9') ||
        v > INT64_MAX)
        return false;
    in->p = s + n;
    *ret = v;
    return true;
}

/* A JSON array of strings as a NULL-terminated vector; an empty one is
 * NULL, as strv_decode makes it. */
static bool in_strv(struct in *in, char ***ret)
{
    *ret = NULL;
    if (!in_lit(in, "["))
        return false;
    if (in_lit(in, "]"))
        return true;
    char **v = calloc(SEARCH_CONTEXT_MAX + 1, sizeof(char *));
    if (!v)
        return false;
    for (size_t n = 0;; n++) {
        if (n == SEARCH_CONTEXT_MAX || !(v[n] = in_str(in)) || strlen(v[n]) > SEARCH_TEXT_MAX)
            break;
        if (in_lit(in, "]")) {
            *ret = v;
            return true;
        }
        if (!in_lit(in, ","))
            break;
    }
    strv_free(v);
    return false;
}

/* 1 with *ret filled, 0 to let jansson decide. */
static int match_decode_fast(const char *buf, size_t len, struct search_match *ret)
{
    struct in in = {buf, buf + len};
    struct search_match m = {0};
    bool ok = in_lit(&in, "{\"path\":") && (m.path = in_str(&in)) &&
              in_lit(&in, ",\"line\":") && in_u63(&in, &m.line) &&
              in_lit(&in, ",\"column\":") && in_u63(&in, &m.column) &&
              in_lit(&in, ",\"text\":") && (m.text = in_str(&in));
    if (ok && in_lit(&in, ",\"before\":"))
        ok = in_strv(&in, &m.before);
    if (ok && in_lit(&in, ",\"after\":"))
        ok = in_strv(&in, &m.after);
    ok = ok && in_lit(&in, "}") && in.p == in.end && m.line >= 1 && m.column >= 1 &&
         m.column <= (uint64_t)SEARCH_FILE_MAX + 1 && m.path[0] &&
         strlen(m.path) <= RUNRA_PATH_MAX && strlen(m.text) <= SEARCH_TEXT_MAX;
    if (!ok) {
        search_match_done(&m);
        return 0;
    }
    *ret = m;
    return 1;
}

static int match_decode(const char *buf, size_t len, struct search_match *ret,
                        struct runra_err **err)
{
    if (match_decode_fast(buf, len, ret))
        return 0;
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    const char *path = NULL, *text = NULL;
    json_int_t line = 0, col = 0;
    json_t *before = NULL, *after = NULL;
    struct search_match m = {0};
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s:I,s:I,s:s,s?o,s?o}", "path", &path, "line",
                       &line, "column", &col, "text", &text, "before", &before, "after",
                       &after) < 0) {
        r = err_set(err, EINVAL, "invalid search match: %s", je.text);
        goto out;
    }
    if (line < 1 || col < 1 || col > (json_int_t)SEARCH_FILE_MAX + 1 || !*path ||
        strlen(path) > RUNRA_PATH_MAX || strlen(text) > SEARCH_TEXT_MAX) {
        r = err_set(err, EINVAL, "search match: a value is out of range");
        goto out;
    }
    m.line = (uint64_t)line;
    m.column = (uint64_t)col;
    if (!(m.path = strdup(path)) || !(m.text = strdup(text))) {
        r = -ENOMEM;
        goto out;
    }
    r = strv_decode(before, SEARCH_CONTEXT_MAX, SEARCH_TEXT_MAX, "before", &m.before, err);
    if (r >= 0)
        r = strv_decode(after, SEARCH_CONTEXT_MAX, SEARCH_TEXT_MAX, "after", &m.after, err);
    if (r < 0)
        goto out;
    *ret = m;
    m = (struct search_match){0};
out:
    search_match_done(&m);
    json_decref(j);
    return r;
}

int search_matches_decode(const void *buf, size_t len, size_t max, struct search_matches *ret,
                          struct runra_err **err)
{
    const char *p = buf, *end = p + len;
    if (len > RUNRA_FRAME_MAX_PAYLOAD)
        return err_set(err, E2BIG, "message too large");
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        if (stop > p) {
            if (ret->n >= max)
                return err_set(err, E2BIG, "more search matches than asked for");
            if (ret->n == ret->cap) {
                size_t cap = ret->cap ? ret->cap * 2 : 64;
                struct search_match *v = realloc(ret->v, cap * sizeof(*v));
                if (!v)
                    return -ENOMEM;
                ret->v = v;
                ret->cap = cap;
            }
            int r = match_decode(p, (size_t)(stop - p), &ret->v[ret->n], err);
            if (r < 0)
                return r;
            ret->n++;
        }
        p = nl ? nl + 1 : end;
    }
    return 0;
}

int search_done_encode(const struct search_done *d, char **ret)
{
    return msg_json_dump(json_pack("{s:b,s:I,s:I}", "truncated", d->truncated, "filesSearched",
                          (json_int_t)d->files_searched, "matches", (json_int_t)d->matches),
                ret);
}

int search_done_decode(const void *buf, size_t len, struct search_done *ret,
                       struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    int tr = 0;
    json_int_t files = 0, matches = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:b,s:I,s:I}", "truncated", &tr, "filesSearched",
                       &files, "matches", &matches) < 0)
        r = err_set(err, EINVAL, "invalid search result: %s", je.text);
    else if (files < 0 || matches < 0 || matches > SEARCH_RESULTS_MAX)
        r = err_set(err, EINVAL, "search result: a count is out of range");
    else
        *ret = (struct search_done){.truncated = tr, .files_searched = (uint64_t)files,
                                    .matches = (uint64_t)matches};
    json_decref(j);
    return r;
}
