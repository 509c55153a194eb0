/* WATCH calls. A watch holds its sandbox until the stream is closed. */
#include "manager-watch.h"

#include <string.h>

#include "base/util.h"
#include "manager-internal.h"
#include "proto/frame.h"
#include "proto/watchmsg.h"

struct watch_stream {
    struct manager *m;
    struct sandbox *s;
    struct guest_call *call;
    struct guest_frame *pending;
    size_t off;
};

void watch_stream_close(struct watch_stream *st)
{
    if (!st)
        return;
    free(st->pending);
    guest_call_end(st->call); /* CANCEL: the guest closes its inotify fd */
    if (st->s)
        manager_release(st->m, st->s);
    free(st);
}

/* The next frame: DATA (kept), or the call's end as an error. */
static int next(struct watch_stream *st, uint64_t deadline, bool *ret_empty,
                struct runra_err **err)
{
    struct guest_frame *f = NULL;
    int r = guest_call_recv(st->call, deadline, &f);
    if (r == -ETIMEDOUT)
        return r;
    if (r < 0)
        return err_set(err, EPIPE, "sandbox stopped the watch");
    if (f->type == FRAME_DATA) {
        *ret_empty = f->len == 0;
        if (f->len > 0) {
            st->pending = f;
            st->off = 0;
        } else {
            free(f);
        }
        return 0;
    }
    if (f->type == FRAME_ERROR)
        r = guest_frame_error(f, "watch", err);
    else
        r = err_set(err, EPROTO, "sandbox ended the watch with an unexpected frame");
    free(f);
    return r;
}

int manager_watch_open(struct manager *m, const char *id, const char *path, bool recursive,
                       struct watch_stream **ret, struct runra_err **err)
{
    int r = msg_check_path(path, err);
    if (r < 0)
        return r;
    struct watch_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->m = m;
    _cleanup_free_ char *payload = NULL;
    if ((r = manager_acquire(m, id, &st->s, err)) < 0) {
        free(st);
        return r;
    }
    r = msg_watch_req_encode(path, recursive, &payload);
    if (r >= 0)
        r = guest_call_start(st->s->guest, FRAME_WATCH, payload, strlen(payload), &st->call, err);
    bool empty = false;
    if (r >= 0) {
        r = next(st, now_ms() + FILE_CALL_TIMEOUT_MS, &empty, err);
        if (r == -ETIMEDOUT)
            r = err_set(err, ETIMEDOUT, "sandbox did not start the watch in time");
        else if (r >= 0 && !st->pending)
            r = err_set(err, EPROTO, "sandbox did not confirm the watch");
    }
    if (r < 0) {
        watch_stream_close(st);
        return r;
    }
    *ret = st;
    return 0;
}

ssize_t watch_stream_read(struct watch_stream *st, void *buf, size_t max, uint64_t wait_ms,
                          struct runra_err **err)
{
    uint64_t deadline = now_ms() + wait_ms;
    while (!st->pending) {
        bool empty = false;
        int r = next(st, deadline, &empty, err);
        if (r < 0)
            return r;
    }
    size_t left = st->pending->len - st->off;
    size_t n = left < max ? left : max;
    memcpy(buf, st->pending->data + st->off, n);
    st->off += n;
    if (st->off == st->pending->len) {
        free(st->pending);
        st->pending = NULL;
    }
    return (ssize_t)n;
}
