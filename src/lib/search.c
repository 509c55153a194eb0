/* runra_search: one JSON call, the answer decoded into typed matches. The
 * answer comes from runrad over the caller's own socket, but is still
 * checked field by field rather than trusted to have the right shape. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "json-build.h"
#include "json-read.h"

static void strv_free_(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

void runra_search_result_free(struct runra_search_result *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++) {
        struct runra_search_match *m = &r->matches[i];
        free(m->path);
        free(m->text);
        strv_free_(m->before);
        strv_free_(m->after);
    }
    free(r->matches);
    free(r->json);
    free(r);
}
DEFINE_CLEANUP(struct runra_search_result, runra_search_result_free)

static int strv(json_t *o, const char *key, char ***ret, struct runra_error **err)
{
    json_t *a = json_object_get(o, key);
    if (!a)
        return 0;
    if (!json_is_array(a))
        return lib_err_set(err, EPROTO, "runrad's answer: '%s' is not an array", key);
    char **v = calloc(json_array_size(a) + 1, sizeof(char *));
    if (!v)
        return lib_err_set(err, ENOMEM, "out of memory");
    *ret = v;
    for (size_t i = 0; i < json_array_size(a); i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s))
            return lib_err_set(err, EPROTO, "runrad's answer: '%s' holds a non-string", key);
        if (!(v[i] = strdup(json_string_value(s))))
            return lib_err_set(err, ENOMEM, "out of memory");
    }
    return 0;
}

static int decode_match(json_t *o, struct runra_search_match *m, struct runra_error **err)
{
    if (!json_is_object(o))
        return lib_err_set(err, EPROTO, "runrad's answer: a match is not an object");
    int r = jr_string(o, "path", &m->path, err);
    if (r >= 0)
        r = jr_string(o, "text", &m->text, err);
    if (r >= 0)
        r = jr_u64(o, "line", &m->line, err);
    if (r >= 0)
        r = jr_u64(o, "column", &m->column, err);
    if (r >= 0)
        r = strv(o, "before", &m->before, err);
    if (r >= 0)
        r = strv(o, "after", &m->after, err);
    if (r >= 0 && (!m->path || !m->text))
        r = lib_err_set(err, EPROTO, "runrad's answer: a match lacks 'path' or 'text'");
    return r;
}

int runra_search(runra_client *c, const char *id, const char *pattern,
                 const struct runra_search_opts *o, struct runra_search_result **ret,
                 struct runra_error **err)
{
    static const struct runra_search_opts none = { 0 };
    if (!o)
        o = &none;
    if (!pattern || !*pattern)
        return lib_err_set(err, EINVAL, "empty search pattern");
    json_auto_t *body = json_object();
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    int r = jb_str(body, "pattern", pattern, err);
    if (r >= 0 && o->path)
        r = jb_str(body, "path", o->path, err);
    if (r >= 0 && o->globs && o->globs[0])
        r = jb_strv(body, "glob", o->globs, err);
    if (r >= 0 && o->ignore_case)
        r = jb_bool(body, "ignoreCase", 1, err);
    if (r >= 0 && o->no_ignore)
        r = jb_bool(body, "noIgnore", 1, err);
    if (r >= 0 && o->max_results)
        r = jb_u64(body, "maxResults", o->max_results, err);
    if (r >= 0 && o->context_lines)
        r = jb_u64(body, "contextLines", o->context_lines, err);
    if (r >= 0 && o->timeout_ms)
        r = jb_u64(body, "timeoutMs", o->timeout_ms, err);
    struct buf t = { 0 };
    if (r >= 0)
        r = client_target(&t, id, "/search", err);
    json_auto_t *ans = NULL;
    _cleanup_free_ char *text = NULL;
    if (r >= 0)
        r = client_call(c, "POST", t.data, body, &ans, &text, err);
    buf_done(&t);
    if (r < 0)
        return r;
    json_t *arr = json_object_get(ans, "matches");
    if (!json_is_array(arr))
        return lib_err_set(err, EPROTO, "runrad's answer has no 'matches' array");
    _cleanup_(runra_search_result_freep) struct runra_search_result *res = calloc(1, sizeof(*res));
    if (!res || !(res->matches = calloc(json_array_size(arr) + 1, sizeof(*res->matches))))
        return lib_err_set(err, ENOMEM, "out of memory");
    r = jr_bool(ans, "truncated", &res->truncated, err);
    if (r >= 0)
        r = jr_u64(ans, "filesSearched", &res->files_searched, err);
    if (r < 0)
        return r;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        res->n = i + 1;
        if ((r = decode_match(v, &res->matches[i], err)) < 0)
            return r;
    }
    res->json = TAKE_PTR(text);
    *ret = TAKE_PTR(res);
    return 0;
}
