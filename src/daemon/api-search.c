/* POST /v1/sandboxes/{id}/search: strict request parsing into a
 * search_req, and the collected matches as JSON. */
#include <string.h>

#include "api.h"
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
    int ic = 0, ni = 0;
    json_int_t maxr = 0, ctx = 0, tmo = 0;
    json_error_t je;
    if (r >= 0 &&
        json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?s,s?o,s?b,s?b,s?I,s?I,s?I}", "pattern",
                       &pattern, "path", &path, "glob", &glob, "ignoreCase", &ic, "noIgnore", &ni,
                       "maxResults", &maxr, "contextLines", &ctx, "timeoutMs", &tmo) < 0)
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
