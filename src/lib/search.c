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
#include "ndjson.h"

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
    /* A streamed search's summary counts matches it does not hold. */
    for (size_t i = 0; r->matches && i < r->n; i++) {
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

static int search_body(const char *pattern, const struct runra_search_opts *o, json_t **ret,
                       struct runra_error **err)
{
    static const struct runra_search_opts none = { 0 };
    if (!o)
        o = &none;
    if (!pattern || !*pattern)
        return lib_err_set(err, EINVAL, "empty search pattern");
    json_t *body = json_object();
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
    if (r < 0) {
        json_decref(body);
        return r;
    }
    *ret = body;
    return 0;
}

static void match_done(struct runra_search_match *m)
{
    free(m->path);
    free(m->text);
    strv_free_(m->before);
    strv_free_(m->after);
    *m = (struct runra_search_match){ 0 };
}

#define SEARCH_LINE_MAX (1u << 20) /* one streamed record; records are far smaller */

struct ssink {
    struct ndlines nd;
    runra_search_fn fn;
    void *ud;
    struct runra_search_result *res;
    bool got_done, stopped;
    struct runra_error *err;
};

static int ss_line(struct ssink *s, const char *p, size_t n)
{
    json_error_t je;
    json_auto_t *o = json_loadb(p, n, 0, &je);
    if (!json_is_object(o))
        return lib_err_set(&s->err, EPROTO, "runrad sent a malformed search record");
    json_t *e = json_object_get(o, "error");
    if (e) {
        lib_err_api(&s->err, 500, json_string_value(json_object_get(e, "code")),
                    json_string_value(json_object_get(e, "message")));
        return -(s->err ? s->err->errnum : EIO);
    }
    if (json_object_get(o, "done")) {
        int r = jr_bool(o, "truncated", &s->res->truncated, &s->err);
        if (r >= 0)
            r = jr_u64(o, "filesSearched", &s->res->files_searched, &s->err);
        s->got_done = r >= 0;
        return r;
    }
    struct runra_search_match m = { 0 };
    int r = decode_match(o, &m, &s->err);
    if (r >= 0) {
        s->res->n++;
        if (s->fn && s->fn(s->ud, &m) != 0) {
            s->stopped = true;
            r = -ECANCELED;
        }
    }
    match_done(&m);
    return r;
}

static int ss_nd_line(void *ud, const char *p, size_t n) { return ss_line(ud, p, n); }

int runra_search_stream(runra_client *c, const char *id, const char *pattern,
                        const struct runra_search_opts *o, runra_search_fn on_match,
                        void *userdata, struct runra_search_result **ret,
                        struct runra_error **err)
{
    json_auto_t *body = NULL;
    int r = search_body(pattern, o, &body, err);
    if (r >= 0)
        r = jb_bool(body, "stream", 1, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *text = json_dumps(body, JSON_COMPACT);
    struct buf t = { 0 };
    if (!text)
        return lib_err_set(err, ENOMEM, "out of memory");
    if ((r = client_target(&t, id, "/search", err)) < 0) {
        buf_done(&t);
        return r;
    }
    _cleanup_(runra_search_result_freep) struct runra_search_result *res = calloc(1, sizeof(*res));
    if (!res) {
        buf_done(&t);
        return lib_err_set(err, ENOMEM, "out of memory");
    }
    struct ssink s = { .fn = on_match, .ud = userdata, .res = res };
    s.nd = (struct ndlines){ .max = SEARCH_LINE_MAX,
                             .what = "a search record",
                             .on_line = ss_nd_line,
                             .userdata = &s,
                             .err = &s.err };
    struct http_request req = { .method = "POST",
                                .target = t.data,
                                .content_type = "application/json",
                                .body = text,
                                .body_len = strlen(text),
                                .body_fd = -1 };
    struct http_response resp = { .body = { .max = CLIENT_JSON_MAX },
                                  .sink_fd = -1,
                                  .sink_cb = ndlines_feed,
                                  .sink_userdata = &s.nd };
    struct runra_error *e = NULL;
    r = client_exchange(c, &req, &resp, &e);
    buf_done(&t);
    buf_done(&resp.body);
    ndlines_done(&s.nd);
    if (s.stopped || s.err) {
        /* Mid-stream: the connection cannot carry another request. */
        http_conn_close(&c->conn);
        runra_error_free(e);
        if (s.stopped) {
            runra_error_free(s.err);
            return lib_err_set(err, ECANCELED, "stopped by the match callback");
        }
        int n = s.err->errnum;
        if (err)
            *err = s.err;
        else
            runra_error_free(s.err);
        return -n;
    }
    if (r < 0) {
        if (err)
            *err = e;
        else
            runra_error_free(e);
        return r;
    }
    if (!s.got_done)
        return lib_err_set(err, EPROTO, "runrad's search stream ended without its summary");
    if (ret)
        *ret = TAKE_PTR(res);
    return 0;
}

int runra_search(runra_client *c, const char *id, const char *pattern,
                 const struct runra_search_opts *o, struct runra_search_result **ret,
                 struct runra_error **err)
{
    json_auto_t *body = NULL;
    int r = search_body(pattern, o, &body, err);
    if (r < 0)
        return r;
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
