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

int search_match_encode(const struct search_match *m, char **ret)
{
    json_t *j = json_pack("{s:s,s:I,s:I,s:s}", "path", m->path, "line", (json_int_t)m->line,
                          "column", (json_int_t)m->column, "text", m->text);
    if (j && m->before && json_object_set_new(j, "before", strv_json(m->before)) < 0)
        goto fail;
    if (j && m->after && json_object_set_new(j, "after", strv_json(m->after)) < 0)
        goto fail;
    return msg_json_dump(j, ret);
fail:
    json_decref(j);
    return -ENOMEM;
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

static int match_decode(const char *buf, size_t len, struct search_match *ret,
                        struct runra_err **err)
{
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
