/* The files routes. Reads stream the guest's DATA frames straight into a
 * chunked response and uploads stream the request body into DATA frames, so
 * a large file is never held whole in the daemon. */
#include <string.h>

#include "api.h"
#include "proto/limits.h"
#include "proto/msg.h"

static const char *const q_path[] = {"path", NULL};

json_t *api_file_info_json(const struct file_info *fi)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:I,s:i,s:I,s:I,s:I}", "name", fi->name, "path", fi->path,
                          "type", file_type_name(fi->type), "size", (json_int_t)fi->size, "mode",
                          (int)fi->mode, "mtimeMs", (json_int_t)fi->mtime_ms, "uid",
                          (json_int_t)fi->uid, "gid", (json_int_t)fi->gid);
    if (j && fi->target)
        json_object_set_new(j, "target", json_string(fi->target));
    return j;
}

static int need_path(struct MHD_Connection *c, const char *const *allowed, const char **ret,
                     struct runra_err **err)
{
    int r = api_check_query(c, allowed, NULL, err);
    if (r < 0)
        return r;
    const char *p = api_query(c, "path");
    if (!p)
        return err_set(err, EINVAL, "query parameter 'path' is required");
    r = msg_check_path(p, err);
    if (r < 0)
        return r;
    *ret = p;
    return 0;
}

static ssize_t read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct file_rstream *st = cls;
    _cleanup_err_ struct runra_err *e = NULL;
    ssize_t n = file_rstream_read(st, buf, max, &e);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n;
}

static void read_free(void *cls) { file_rstream_close(cls); }

enum MHD_Result api_file_read(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    static const char *const allowed[] = {"path", "offset", "limit", NULL};
    _cleanup_err_ struct runra_err *e = NULL;
    const char *path = NULL;
    uint64_t offset = 0, limit = 0;
    struct file_rstream *st = NULL;
    int r = need_path(c, allowed, &path, &e);
    if (r >= 0)
        r = api_query_u64(c, "offset", &offset, &e);
    if (r >= 0)
        r = api_query_u64(c, "limit", &limit, &e);
    if (r >= 0)
        r = manager_file_read_open(a->m, rq->match.id, path, offset, limit, &st, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256 * 1024, read_cb, st, read_free);
    if (!resp) {
        file_rstream_close(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/octet-stream");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int parse_mode(struct MHD_Connection *c, uint32_t *ret, struct runra_err **err)
{
    const char *m = api_query(c, "mode");
    if (!m)
        return 0;
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(m, &end, 8);
    if (!*m || *end || errno || v > 07777)
        return err_set(err, EINVAL, "mode must be octal permission bits, like 644");
    *ret = (uint32_t)v;
    return 0;
}

enum MHD_Result api_file_write_begin(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    static const char *const allowed[] = {"path", "mode", "append", NULL};
    const char *path = NULL;
    uint32_t mode = 0;
    bool append = false;
    int r = need_path(c, allowed, &path, &rq->upload_err);
    if (r >= 0)
        r = parse_mode(c, &mode, &rq->upload_err);
    if (r >= 0)
        r = api_query_bool(c, "append", &append, &rq->upload_err);
    if (r >= 0)
        r = manager_file_write_open(a->m, rq->match.id, path, mode, append, &rq->ws,
                                    &rq->upload_err);
    /* Errors are answered once the body has been drained, so the client
     * sees the reason rather than a reset connection. */
    rq->upload_r = r;
    return MHD_YES;
}

enum MHD_Result api_file_write_end(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    uint64_t size = 0;
    int r = rq->upload_r;
    if (r >= 0)
        r = file_wstream_finish(rq->ws, &size, &rq->upload_err);
    if (r < 0)
        return api_respond_err(c, r, rq->upload_err);
    return api_respond_json(
        c, 200, json_pack("{s:s,s:I}", "path", api_query(c, "path"), "size", (json_int_t)size));
}

enum MHD_Result api_file_remove(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    static const char *const allowed[] = {"path", "recursive", NULL};
    _cleanup_err_ struct runra_err *e = NULL;
    const char *path = NULL;
    bool recursive = false;
    int r = need_path(c, allowed, &path, &e);
    if (r >= 0)
        r = api_query_bool(c, "recursive", &recursive, &e);
    if (r >= 0)
        r = manager_file_remove(a->m, rq->match.id, path, recursive, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_empty(c, 204);
}

enum MHD_Result api_file_list(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    const char *path = NULL;
    struct file_list l = {0};
    int r = need_path(c, q_path, &path, &e);
    if (r >= 0)
        r = manager_file_list(a->m, rq->match.id, path, &l, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_t *arr = json_array();
    for (size_t i = 0; i < l.n; i++)
        json_array_append_new(arr, api_file_info_json(&l.entries[i]));
    enum MHD_Result ret = api_respond_json(
        c, 200, json_pack("{s:s,s:o,s:b}", "path", path, "entries", arr, "truncated", l.truncated));
    msg_file_list_done(&l);
    return ret;
}

static enum MHD_Result info_response(struct MHD_Connection *c, int r, struct file_info *fi,
                                     struct runra_err *e)
{
    if (r < 0)
        return api_respond_err(c, r, e);
    enum MHD_Result ret = api_respond_json(c, 200, api_file_info_json(fi));
    msg_file_info_done(fi);
    return ret;
}

enum MHD_Result api_file_stat(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    const char *path = NULL;
    struct file_info fi = {0};
    int r = need_path(c, q_path, &path, &e);
    if (r >= 0)
        r = manager_file_stat(a->m, rq->match.id, path, &fi, &e);
    return info_response(c, r, &fi, e);
}

enum MHD_Result api_file_mkdir(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_t *j = NULL;
    struct file_info fi = {0};
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    const char *path = NULL;
    int parents = 0, mode = 0;
    json_error_t je;
    if (r >= 0 && json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?b,s?i}", "path", &path, "parents",
                                 &parents, "mode", &mode) < 0)
        r = err_set(&e, EINVAL, "invalid mkdir request: %s", je.text);
    if (r >= 0 && (mode < 0 || mode > 07777))
        r = err_set(&e, EINVAL, "mode must be permission bits (0 to 07777)");
    if (r >= 0)
        r = manager_file_mkdir(a->m, rq->match.id, path, parents, (uint32_t)mode, &fi, &e);
    json_decref(j);
    return info_response(c, r, &fi, e);
}

enum MHD_Result api_file_move(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_t *j = NULL;
    struct file_info fi = {0};
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    const char *from = NULL, *to = NULL;
    int overwrite = 0;
    json_error_t je;
    if (r >= 0 && json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s:s,s?b}", "from", &from, "to", &to,
                                 "overwrite", &overwrite) < 0)
        r = err_set(&e, EINVAL, "invalid move request: %s", je.text);
    if (r >= 0)
        r = manager_file_move(a->m, rq->match.id, from, to, overwrite, &fi, &e);
    json_decref(j);
    return info_response(c, r, &fi, e);
}
