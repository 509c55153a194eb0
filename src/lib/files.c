/* The file calls. Reads and writes move raw bytes (no JSON, no base64) and
 * can stream to or from an fd, so a large file costs a buffer, not its size
 * in memory; the rest are small JSON calls returning FileInfo. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "json-build.h"
#include "json-read.h"

#define ERROR_BODY_MAX (64u * 1024)

static const char *const type_names[] = {
    [RUNRA_FILE_REGULAR] = "file",
    [RUNRA_FILE_DIR] = "dir",
    [RUNRA_FILE_SYMLINK] = "symlink",
    [RUNRA_FILE_OTHER] = "other",
};

void runra_free(void *p)
{
    free(p);
}

const char *runra_file_type_name(enum runra_file_type t)
{
    return (unsigned)t < ARRAY_SIZE(type_names) ? type_names[t] : "other";
}

static void info_done(struct runra_file_info *fi)
{
    free(fi->name);
    free(fi->path);
    free(fi->target);
    free(fi->json);
    *fi = (struct runra_file_info){ 0 };
}

void runra_file_info_free(struct runra_file_info *fi)
{
    if (!fi)
        return;
    info_done(fi);
    free(fi);
}
DEFINE_CLEANUP(struct runra_file_info, runra_file_info_free)

void runra_file_list_free(struct runra_file_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        info_done(&l->entries[i]);
    free(l->entries);
    free(l->path);
    free(l->json);
    free(l);
}
DEFINE_CLEANUP(struct runra_file_list, runra_file_list_free)

static int decode_info(json_t *o, struct runra_file_info *fi, struct runra_error **err)
{
    if (!json_is_object(o))
        return lib_err_set(err, EPROTO, "runrad's answer: a file entry is not an object");
    _cleanup_free_ char *type = NULL;
    int r = jr_string(o, "name", &fi->name, err);
    if (r >= 0)
        r = jr_string(o, "path", &fi->path, err);
    if (r >= 0)
        r = jr_string(o, "type", &type, err);
    if (r >= 0)
        r = jr_u64(o, "size", &fi->size, err);
    int64_t mode = 0, uid = 0, gid = 0;
    if (r >= 0)
        r = jr_i64(o, "mode", &mode, err);
    if (r >= 0)
        r = jr_i64(o, "mtimeMs", &fi->mtime_ms, err);
    if (r >= 0)
        r = jr_i64(o, "uid", &uid, err);
    if (r >= 0)
        r = jr_i64(o, "gid", &gid, err);
    if (r >= 0)
        r = jr_string(o, "target", &fi->target, err);
    if (r < 0)
        return r;
    if (mode < 0 || mode > 07777 || uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
        return lib_err_set(err, EPROTO, "runrad's answer: mode, uid or gid out of range");
    fi->mode = (uint32_t)mode;
    fi->uid = (uint32_t)uid;
    fi->gid = (uint32_t)gid;
    fi->type = RUNRA_FILE_OTHER;
    for (size_t i = 0; type && i < ARRAY_SIZE(type_names); i++)
        if (strcmp(type, type_names[i]) == 0)
            fi->type = (enum runra_file_type)i;
    return 0;
}

static int decode_info_one(json_t *o, char **text, struct runra_file_info **ret,
                           struct runra_error **err)
{
    _cleanup_(runra_file_info_freep) struct runra_file_info *fi = calloc(1, sizeof(*fi));
    if (!fi)
        return lib_err_set(err, ENOMEM, "out of memory");
    int r = decode_info(o, fi, err);
    if (r < 0)
        return r;
    fi->json = TAKE_PTR(*text);
    *ret = TAKE_PTR(fi);
    return 0;
}

/* "/v1/sandboxes/<id>/files<suffix>?path=<path>" */
static int target(struct buf *t, const char *id, const char *suffix, const char *path,
                  struct runra_error **err)
{
    if (!path || !*path)
        return lib_err_set(err, EINVAL, "empty path");
    int r = client_target(t, id, suffix, err);
    if (r < 0)
        return r;
    if (url_append_query(t, "path", path) < 0)
        return lib_err_set(err, ENOMEM, "out of memory");
    return 0;
}

/* A JSON call about one path that answers with FileInfo (ret may be NULL). */
static int info_call(runra_client *c, const char *method, const char *id, const char *suffix,
                     const char *path, json_t *body, struct runra_file_info **ret,
                     struct runra_error **err)
{
    struct buf t = { 0 };
    int r = path ? target(&t, id, suffix, path, err) : client_target(&t, id, suffix, err);
    json_auto_t *o = NULL;
    _cleanup_free_ char *text = NULL;
    if (r >= 0)
        r = client_call(c, method, t.data, body, ret ? &o : NULL, ret ? &text : NULL, err);
    buf_done(&t);
    if (r < 0 || !ret)
        return r;
    return decode_info_one(o, &text, ret, err);
}

int runra_file_stat(runra_client *c, const char *id, const char *path,
                    struct runra_file_info **ret, struct runra_error **err)
{
    return info_call(c, "GET", id, "/files/stat", path, NULL, ret, err);
}

int runra_file_mkdir(runra_client *c, const char *id, const char *path, bool parents,
                     uint32_t mode, struct runra_file_info **ret, struct runra_error **err)
{
    json_auto_t *body = json_object();
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    if (!path || !*path)
        return lib_err_set(err, EINVAL, "empty path");
    int r = jb_str(body, "path", path, err);
    if (r >= 0 && parents)
        r = jb_bool(body, "parents", 1, err);
    if (r >= 0 && mode)
        r = jb_u64(body, "mode", mode, err);
    if (r < 0)
        return r;
    return info_call(c, "POST", id, "/files/mkdir", NULL, body, ret, err);
}

int runra_file_move(runra_client *c, const char *id, const char *from, const char *to,
                    bool overwrite, struct runra_file_info **ret, struct runra_error **err)
{
    json_auto_t *body = json_object();
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    if (!from || !*from || !to || !*to)
        return lib_err_set(err, EINVAL, "empty path");
    int r = jb_str(body, "from", from, err);
    if (r >= 0)
        r = jb_str(body, "to", to, err);
    if (r >= 0 && overwrite)
        r = jb_bool(body, "overwrite", 1, err);
    if (r < 0)
        return r;
    return info_call(c, "POST", id, "/files/move", NULL, body, ret, err);
}

int runra_file_remove(runra_client *c, const char *id, const char *path, bool recursive,
                      struct runra_error **err)
{
    struct buf t = { 0 };
    int r = target(&t, id, "/files", path, err);
    if (r >= 0 && recursive && url_append_query(&t, "recursive", "true") < 0)
        r = lib_err_set(err, ENOMEM, "out of memory");
    if (r >= 0)
        r = client_call(c, "DELETE", t.data, NULL, NULL, NULL, err);
    buf_done(&t);
    return r;
}

int runra_file_list(runra_client *c, const char *id, const char *path,
                    struct runra_file_list **ret, struct runra_error **err)
{
    struct buf t = { 0 };
    int r = target(&t, id, "/files/list", path, err);
    json_auto_t *o = NULL;
    _cleanup_free_ char *text = NULL;
    if (r >= 0)
        r = client_call(c, "GET", t.data, NULL, &o, &text, err);
    buf_done(&t);
    if (r < 0)
        return r;

    json_t *arr = json_object_get(o, "entries");
    if (!json_is_array(arr))
        return lib_err_set(err, EPROTO, "runrad's answer has no 'entries' array");
    _cleanup_(runra_file_list_freep) struct runra_file_list *l = calloc(1, sizeof(*l));
    if (!l || !(l->entries = calloc(json_array_size(arr) + 1, sizeof(*l->entries))))
        return lib_err_set(err, ENOMEM, "out of memory");
    r = jr_string(o, "path", &l->path, err);
    if (r >= 0)
        r = jr_bool(o, "truncated", &l->truncated, err);
    if (r < 0)
        return r;
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        l->n = i + 1;
        r = decode_info(v, &l->entries[i], err);
        if (r < 0)
            return r;
    }
    l->json = TAKE_PTR(text);
    *ret = TAKE_PTR(l);
    return 0;
}

static int read_common(runra_client *c, const char *id, const char *path, int fd,
                       size_t max_bytes, struct http_response *resp, struct runra_error **err)
{
    struct buf t = { 0 };
    int r = target(&t, id, "/files", path, err);
    if (r < 0) {
        buf_done(&t);
        return r;
    }
    struct http_request req = { .method = "GET", .target = t.data, .body_fd = -1 };
    /* Error bodies share the buffer, so it always has room for one. */
    resp->sink_fd = fd;
    resp->body.max = fd >= 0 ? ERROR_BODY_MAX
                   : max_bytes && max_bytes < ERROR_BODY_MAX ? ERROR_BODY_MAX
                                                             : max_bytes;
    struct runra_error *e = NULL;
    r = client_exchange(c, &req, resp, &e);
    buf_done(&t);
    if (r == -E2BIG && fd < 0 && e && !e->http_status) {
        runra_error_free(e);
        return lib_err_set(err, E2BIG, "'%s' is larger than %zu bytes", path, max_bytes);
    }
    if (r < 0) {
        if (err && !*err)
            *err = e;
        else
            runra_error_free(e);
        return r;
    }
    if (fd < 0 && max_bytes && resp->body.len > max_bytes)
        return lib_err_set(err, E2BIG, "'%s' is larger than %zu bytes", path, max_bytes);
    return 0;
}

int runra_file_read(runra_client *c, const char *id, const char *path, size_t max_bytes,
                    void **ret_data, size_t *ret_len, struct runra_error **err)
{
    struct http_response resp = { 0 };
    int r = read_common(c, id, path, -1, max_bytes, &resp, err);
    char *data = NULL;
    size_t len = 0;
    if (r >= 0 && buf_steal(&resp.body, &data, &len) < 0)
        r = lib_err_set(err, ENOMEM, "out of memory");
    buf_done(&resp.body);
    if (r < 0)
        return r;
    *ret_data = data;
    *ret_len = len;
    return 0;
}

int runra_file_read_fd(runra_client *c, const char *id, const char *path, int fd,
                       uint64_t *ret_bytes, struct runra_error **err)
{
    if (fd < 0)
        return lib_err_set(err, EBADF, "read_fd: bad fd");
    struct http_response resp = { 0 };
    int r = read_common(c, id, path, fd, 0, &resp, err);
    buf_done(&resp.body);
    if (r < 0)
        return r;
    if (ret_bytes)
        *ret_bytes = resp.sink_bytes;
    return 0;
}

static int write_common(runra_client *c, const char *id, const char *path, const void *data,
                        size_t len, int fd, const struct runra_write_opts *opts,
                        uint64_t *ret_size, struct runra_error **err)
{
    struct buf t = { 0 };
    int r = target(&t, id, "/files", path, err);
    if (r >= 0 && opts && opts->mode) {
        char mode[16];
        snprintf(mode, sizeof(mode), "%" PRIo32, opts->mode & 07777);
        if (url_append_query(&t, "mode", mode) < 0)
            r = lib_err_set(err, ENOMEM, "out of memory");
    }
    if (r >= 0 && opts && opts->append && url_append_query(&t, "append", "true") < 0)
        r = lib_err_set(err, ENOMEM, "out of memory");
    if (r < 0) {
        buf_done(&t);
        return r;
    }
    struct http_request req = {
        .method = "PUT",
        .target = t.data,
        .content_type = "application/octet-stream",
        .body = fd >= 0 ? NULL : data ? data : "",
        .body_len = len,
        .body_fd = fd,
    };
    struct http_response resp = { .body = { .max = ERROR_BODY_MAX }, .sink_fd = -1 };
    r = client_exchange(c, &req, &resp, err);
    buf_done(&t);
    json_auto_t *o = NULL;
    if (r >= 0 && ret_size) {
        r = jr_parse_object(resp.body.data ? resp.body.data : "", resp.body.len, &o, err);
        uint64_t size = 0;
        if (r >= 0)
            r = jr_u64(o, "size", &size, err);
        if (r >= 0)
            *ret_size = size;
    }
    buf_done(&resp.body);
    return r;
}

int runra_file_write(runra_client *c, const char *id, const char *path, const void *data,
                     size_t len, const struct runra_write_opts *opts, uint64_t *ret_size,
                     struct runra_error **err)
{
    if (!data && len)
        return lib_err_set(err, EINVAL, "write: no data");
    return write_common(c, id, path, data, len, -1, opts, ret_size, err);
}

int runra_file_write_fd(runra_client *c, const char *id, const char *path, int fd,
                        const struct runra_write_opts *opts, uint64_t *ret_size,
                        struct runra_error **err)
{
    if (fd < 0)
        return lib_err_set(err, EBADF, "write_fd: bad fd");
    return write_common(c, id, path, NULL, 0, fd, opts, ret_size, err);
}
