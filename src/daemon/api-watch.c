/* GET files/watch: NDJSON events, chunked, until the client goes. In
 * thread-per-connection mode the content callback may block but not return
 * 0, so it waits for events in slices and between them peeks at the
 * client's socket: a closed client ends the response, which cancels the
 * guest call and frees its inotify watches. The guest's first event,
 * {"type":"ready"}, is already waiting when the response starts, so the
 * headers (which libmicrohttpd sends with the first body bytes) go at once.
 * Over TCP the response also ends, between two lines, once the API key
 * that let it in is revoked. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "keys.h"
#include "manager-watch.h"
#include "proto/msg.h"

#define WATCH_SLICE_MS 250

struct watch_resp {
    struct watch_stream *st;
    int client_fd;
    struct key_watch key;
    bool mid_line; /* the last bytes sent did not end a line */
};

static ssize_t read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct watch_resp *w = cls;
    for (;;) {
        if (!w->mid_line && keys_watch_revoked(&w->key))
            return MHD_CONTENT_READER_END_OF_STREAM;
        _cleanup_err_ struct runra_err *e = NULL;
        ssize_t n = watch_stream_read(w->st, buf, max, WATCH_SLICE_MS, &e);
        if (n > 0) {
            w->mid_line = buf[n - 1] != '\n';
            return n;
        }
        if (n != -ETIMEDOUT)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (w->client_fd >= 0 && api_client_gone(w->client_fd))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void read_free(void *cls)
{
    struct watch_resp *w = cls;
    watch_stream_close(w->st);
    free(w);
}

enum MHD_Result api_watch(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    static const char *const allowed[] = {"path", "recursive", NULL};
    _cleanup_err_ struct runra_err *e = NULL;
    bool recursive = false;
    int r = api_check_query(c, allowed, NULL, &e);
    const char *path = api_query(c, "path");
    if (r >= 0 && !path)
        r = err_set(&e, EINVAL, "query parameter 'path' is required");
    if (r >= 0)
        r = msg_check_path(path, &e);
    if (r >= 0)
        r = api_query_bool(c, "recursive", &recursive, &e);
    struct watch_resp *w = NULL;
    if (r >= 0 && !(w = calloc(1, sizeof(*w))))
        r = -ENOMEM;
    if (r >= 0)
        r = manager_watch_open(a->m, rq->match.id, path, recursive, &w->st, &e);
    if (r < 0) {
        free(w);
        return api_respond_err(c, r, e);
    }
    w->client_fd = api_conn_fd(c);
    keys_watch_init(&w->key, a->keys, rq->tenant);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, read_cb, w, read_free);
    if (!resp) {
        read_free(w);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
