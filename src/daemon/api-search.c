/* POST /v1/sandboxes/{id}/search: strict request parsing into a
 * search_req, and the collected matches as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "keys.h"
#include "manager-search.h"
#include "proto/msg.h"

/* "glob" is one string or an array of strings. */
static int parse_globs(json_t *g, char ***ret, struct runra_err **err)
{
    *ret = NULL;
    if (!g)
        return 0;
    size_t n = json_is_string(g) ? 1 : json_is_array(g) ? json_array_size(g) : SIZE_MAX;
    if (n == SIZE_MAX || n > SEARCH_GLOBS_MAX)
        return err_set(err, EINVAL, "glob must be a string or an array of at most %d strings",
                       SEARCH_GLOBS_MAX);
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_string(g) ? g : json_array_get(g, i);
        if (!json_is_string(s) || strlen(json_string_value(s)) != json_string_length(s)) {
            strv_free(v);
            return err_set(err, EINVAL, "glob[%zu] must be a string", i);
        }
        if (!(v[i] = strdup(json_string_value(s)))) {
            strv_free(v);
            return -ENOMEM;
        }
    }
    *ret = v;
    return 0;
}

static json_t *strv_json(char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++)
        json_array_append_new(a, json_string(v[i]));
    return a;
}

static json_t *result_json(const struct search_result *res)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < res->matches.n; i++) {
        const struct search_match *m = &res->matches.v[i];
        json_t *o = json_pack("{s:s,s:I,s:I,s:s}", "path", m->path, "line", (json_int_t)m->line,
                              "column", (json_int_t)m->column, "text", m->text);
        if (o && m->before)
            json_object_set_new(o, "before", strv_json(m->before));
        if (o && m->after)
            json_object_set_new(o, "after", strv_json(m->after));
        if (!o || json_array_append_new(arr, o) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    if (!arr)
        return NULL;
    return json_pack("{s:o,s:b,s:I}", "matches", arr, "truncated", res->done.truncated,
                     "filesSearched", (json_int_t)res->done.files_searched);
}

/* A streamed search: one JSON line per match, as the guest finds them, then
 * {"done":true,...}; an error after the first line is an {"error":...} line.
 * Over TCP, a revoked API key ends it with such a line, checked between
 * lines; a search quiet in the guest ends with its own timeout. */
struct sstream {
    struct search_stream *st;
    struct key_watch key; /* the API key that let the request in */
    struct search_matches batch;
    size_t next;    /* the next record of batch to send */
    bool over;      /* the summary line is out */
    char *line;
    size_t len, off;
};

static void ss_set_line(struct sstream *s, char *text)
{
    free(s->line);
    s->line = text;
    s->len = text ? strlen(text) : 0;
    s->off = 0;
}

/* Fills s->line with the next line; false at the end. */
static bool ss_next_line(struct sstream *s)
{
    if (!s->over && keys_watch_revoked(&s->key)) {
        s->over = true;
        search_matches_done(&s->batch);
        s->next = 0;
        char *t = strdup("{\"error\":{\"code\":\"unauthorized\","
                         "\"message\":\"API key revoked\"}}\n");
        ss_set_line(s, t);
        return t != NULL;
    }
    while (s->next >= s->batch.n && !s->over) {
        search_matches_done(&s->batch);
        s->next = 0;
        _cleanup_err_ struct runra_err *e = NULL;
        struct search_done done = {0};
        int r = manager_search_next(s->st, &s->batch, &done, &e);
        s->over = r <= 0;
        if (r == 0) {
            char *t = NULL;
            if (asprintf(&t, "{\"done\":true,\"truncated\":%s,\"filesSearched\":%llu,"
                             "\"matches\":%llu}\n",
                         done.truncated ? "true" : "false",
                         (unsigned long long)done.files_searched,
                         (unsigned long long)done.matches) < 0)
                t = NULL;
            ss_set_line(s, t);
            return t != NULL;
        }
        if (r < 0) {
            json_t *j = json_pack("{s:{s:s,s:s}}", "error", "code", "search_failed", "message",
                                  e && e->msg ? e->msg : strerror(-r));
            char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
            json_decref(j);
            char *l = NULL;
            if (t && asprintf(&l, "%s\n", t) < 0)
                l = NULL;
            free(t);
            ss_set_line(s, l);
            return l != NULL;
        }
    }
    if (s->next >= s->batch.n)
        return false;
    char *rec = NULL;
    if (search_match_encode(&s->batch.v[s->next++], &rec) < 0)
        return false;
    size_t n = strlen(rec);
    char *l = realloc(rec, n + 2);
    if (!l) {
        free(rec);
        return false;
    }
    l[n] = '\n';
    l[n + 1] = 0;
    ss_set_line(s, l);
    return true;
}

static ssize_t ss_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct sstream *s = cls;
    size_t out = 0;
    (void)pos;
    /* Many small records per call: one MHD write per record would cost
     * more than the records. */
    while (out < max) {
        if (s->off >= s->len && !ss_next_line(s))
            break;
        size_t n = s->len - s->off < max - out ? s->len - s->off : max - out;
        memcpy(buf + out, s->line + s->off, n);
        s->off += n;
        out += n;
        /* Flush what is ready rather than wait for the next guest frame. */
        if (s->off >= s->len && s->next >= s->batch.n && !s->over)
            break;
    }
    if (out == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    return (ssize_t)out;
}

static void ss_free(void *cls)
{
    struct sstream *s = cls;
    manager_search_close(s->st);
    search_matches_done(&s->batch);
    free(s->line);
    free(s);
}

static enum MHD_Result respond_search_stream(struct api *a, struct MHD_Connection *c,
                                             struct api_req *rq, struct search_stream *st)
{
    struct sstream *s = calloc(1, sizeof(*s));
    if (!s) {
        manager_search_close(st);
        return MHD_NO;
    }
    s->st = st;
    keys_watch_init(&s->key, a->keys, rq->tenant);
    /* The first answer decides between an HTTP error (a bad pattern or
     * path fails at once) and a 200 stream. */
    _cleanup_err_ struct runra_err *e = NULL;
    struct search_done done = {0};
    int r = manager_search_next(st, &s->batch, &done, &e);
    if (r < 0) {
        ss_free(s);
        return api_respond_err(c, r, e);
    }
    if (r == 0) {
        s->over = true;
        char *t = NULL;
        if (asprintf(&t, "{\"done\":true,\"truncated\":%s,\"filesSearched\":%llu,"
                         "\"matches\":0}\n",
                     done.truncated ? "true" : "false",
                     (unsigned long long)done.files_searched) < 0)
            t = NULL;
        ss_set_line(s, t);
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, ss_read, s, ss_free);
    if (!resp) {
        ss_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result api_search(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_t *j = NULL;
    _cleanup_(search_req_freep) struct search_req *req = calloc(1, sizeof(*req));
    struct search_result res = {0};
    int r = req ? api_check_query(c, NULL, NULL, &e) : -ENOMEM;
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    const char *pattern = NULL, *path = NULL;
    json_t *glob = NULL;
    int ic = 0, ni = 0, stream = 0;
    json_int_t maxr = 0, ctx = 0, tmo = 0;
    json_error_t je;
    if (r >= 0 &&
        json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?s,s?o,s?b,s?b,s?I,s?I,s?I,s?b}", "pattern",
                       &pattern, "path", &path, "glob", &glob, "ignoreCase", &ic, "noIgnore", &ni,
                       "maxResults", &maxr, "contextLines", &ctx, "timeoutMs", &tmo, "stream",
                       &stream) < 0)
        r = err_set(&e, EINVAL, "invalid search request: %s", je.text);
    if (r >= 0 && (maxr < 1 || maxr > SEARCH_RESULTS_MAX) && maxr != 0)
        r = err_set(&e, EINVAL, "maxResults must be 1 to %d", SEARCH_RESULTS_MAX);
    if (r >= 0 && (ctx < 0 || ctx > SEARCH_CONTEXT_MAX))
        r = err_set(&e, EINVAL, "contextLines must be 0 to %d", SEARCH_CONTEXT_MAX);
    if (r >= 0 && (tmo < 0 || tmo > SEARCH_TIMEOUT_MAX_MS))
        r = err_set(&e, EINVAL, "timeoutMs must be 1 to %u", SEARCH_TIMEOUT_MAX_MS);
    if (r >= 0 && (strlen(pattern) > SEARCH_PATTERN_MAX))
        r = err_set(&e, EINVAL, "pattern longer than %d bytes", SEARCH_PATTERN_MAX);
    if (r >= 0 && (!(req->pattern = strdup(pattern)) || (path && !(req->path = strdup(path)))))
        r = -ENOMEM;
    if (r >= 0)
        r = parse_globs(glob, &req->globs, &e);
    if (r >= 0) {
        req->ignore_case = ic;
        req->no_ignore = ni;
        req->max_results = (uint32_t)maxr;
        req->context = (uint32_t)ctx;
        req->timeout_ms = (uint64_t)tmo;
        if (stream) {
            struct search_stream *st = NULL;
            r = manager_search_open(a->m, rq->match.id, req, &st, &e);
            json_decref(j);
            if (r < 0)
                return api_respond_err(c, r, e);
            return respond_search_stream(a, c, rq, st);
        }
        r = manager_search(a->m, rq->match.id, req, &res, &e);
    }
    json_decref(j);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_t *out = result_json(&res);
    search_result_done(&res);
    if (!out)
        return api_respond_err(c, -ENOMEM, NULL);
    return api_respond_json(c, 200, out);
}
