/* Tar transfer and file watch: raw tar streams between an fd and a
 * directory in a sandbox, and a watch's NDJSON events into an fd. Packing,
 * unpacking and inotify run inside the sandbox; these calls only
 * move the archive's bytes, never holding it in memory. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "json-read.h"

#define ERROR_BODY_MAX (64u * 1024)

static int tar_target(struct buf *t, const char *id, const char *path, struct runra_error **err)
{
    if (!path || !*path)
        return lib_err_set(err, EINVAL, "empty path");
    int r = client_target(t, id, "/files/tar", err);
    if (r < 0)
        return r;
    if (url_append_query(t, "path", path) < 0)
        return lib_err_set(err, ENOMEM, "out of memory");
    return 0;
}

int runra_tar_download_fd(runra_client *c, const char *id, const char *path, int fd,
                          uint64_t *ret_bytes, struct runra_error **err)
{
    if (fd < 0)
        return lib_err_set(err, EBADF, "tar download: bad fd");
    struct buf t = { 0 };
    int r = tar_target(&t, id, path, err);
    if (r < 0) {
        buf_done(&t);
        return r;
    }
    struct http_request req = { .method = "GET", .target = t.data, .body_fd = -1 };
    struct http_response resp = { .body = { .max = ERROR_BODY_MAX }, .sink_fd = fd };
    r = client_exchange(c, &req, &resp, err);
    buf_done(&t);
    buf_done(&resp.body);
    if (r < 0)
        return r;
    if (ret_bytes)
        *ret_bytes = resp.sink_bytes;
    return 0;
}

int runra_tar_upload_fd(runra_client *c, const char *id, const char *path, int fd,
                        struct runra_tar_result *ret, struct runra_error **err)
{
    if (fd < 0)
        return lib_err_set(err, EBADF, "tar upload: bad fd");
    struct buf t = { 0 };
    int r = tar_target(&t, id, path, err);
    if (r < 0) {
        buf_done(&t);
        return r;
    }
    struct http_request req = {
        .method = "PUT",
        .target = t.data,
        .content_type = "application/x-tar",
        .body_fd = fd,
    };
    struct http_response resp = { .body = { .max = ERROR_BODY_MAX }, .sink_fd = -1 };
    r = client_exchange(c, &req, &resp, err);
    buf_done(&t);
    json_auto_t *o = NULL;
    struct runra_tar_result res = { 0 };
    if (r >= 0)
        r = jr_parse_object(resp.body.data ? resp.body.data : "", resp.body.len, &o, err);
    if (r >= 0)
        r = jr_u64(o, "entries", &res.entries, err);
    if (r >= 0)
        r = jr_u64(o, "bytes", &res.bytes, err);
    if (r >= 0)
        r = jr_u64(o, "skipped", &res.skipped, err);
    buf_done(&resp.body);
    if (r >= 0 && ret)
        *ret = res;
    return r;
}

int runra_file_watch_fd(runra_client *c, const char *id, const char *path, bool recursive,
                        int fd, struct runra_error **err)
{
    if (fd < 0)
        return lib_err_set(err, EBADF, "watch: bad fd");
    struct buf t = { 0 };
    int r = path && *path ? client_target(&t, id, "/files/watch", err)
                          : lib_err_set(err, EINVAL, "empty path");
    if (r >= 0 && (url_append_query(&t, "path", path) < 0 ||
                   (recursive && url_append_query(&t, "recursive", "true") < 0)))
        r = lib_err_set(err, ENOMEM, "out of memory");
    if (r < 0) {
        buf_done(&t);
        return r;
    }
    struct http_request req = { .method = "GET", .target = t.data, .body_fd = -1 };
    struct http_response resp = { .body = { .max = ERROR_BODY_MAX }, .sink_fd = fd };
    r = client_exchange(c, &req, &resp, err);
    buf_done(&t);
    buf_done(&resp.body);
    return r;
}
