/* The tar routes: GET streams the guest's archive into a chunked response;
 * PUT streams the request body into the guest, which checks and extracts
 * it. The daemon only relays bytes. */
#include <string.h>

#include "api.h"
#include "manager-tar.h"
#include "proto/msg.h"

static int tar_path(struct MHD_Connection *c, const char **ret, struct runra_err **err)
{
    static const char *const allowed[] = {"path", NULL};
    int r = api_check_query(c, allowed, NULL, err);
    if (r < 0)
        return r;
    const char *p = api_query(c, "path");
    if (!p)
        return err_set(err, EINVAL, "query parameter 'path' is required");
    if ((r = msg_check_path(p, err)) < 0)
        return r;
    *ret = p;
    return 0;
}

static ssize_t read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    _cleanup_err_ struct runra_err *e = NULL;
    ssize_t n = file_rstream_read(cls, buf, max, &e);
    if (n == 0)
        return MHD_CONTENT_READER_END_OF_STREAM;
    /* A failure after the first byte can only cut the response short; the
     * client sees a truncated archive, which every tar reader reports. */
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n;
}

static void read_free(void *cls) { file_rstream_close(cls); }

enum MHD_Result api_tar_get(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    const char *path = NULL;
    struct file_rstream *st = NULL;
    int r = tar_path(c, &path, &e);
    if (r >= 0)
        r = manager_tar_get_open(a->m, rq->match.id, path, &st, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 256 * 1024, read_cb, st, read_free);
    if (!resp) {
        file_rstream_close(st);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/x-tar");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result api_tar_put_begin(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    const char *path = NULL;
    int r = tar_path(c, &path, &rq->upload_err);
    if (r >= 0)
        r = manager_tar_put_open(a->m, rq->match.id, path, &rq->tws, &rq->upload_err);
    /* Errors are answered once the body has been drained. */
    rq->upload_r = r;
    return MHD_YES;
}

int api_tar_put_data(struct api_req *rq, const void *p, size_t n)
{
    return tar_wstream_write(rq->tws, p, n, &rq->upload_err);
}

enum MHD_Result api_tar_put_end(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    struct tar_result res = {0};
    int r = rq->upload_r;
    if (r >= 0)
        r = tar_wstream_finish(rq->tws, &res, &rq->upload_err);
    if (r < 0)
        return api_respond_err(c, r, rq->upload_err);
    return api_respond_json(c, 200,
                            json_pack("{s:s,s:I,s:I,s:I}", "path", api_query(c, "path"),
                                      "entries", (json_int_t)res.entries, "bytes",
                                      (json_int_t)res.bytes, "skipped", (json_int_t)res.skipped));
}

void api_tar_req_done(struct api_req *rq) { tar_wstream_close(rq->tws); }
