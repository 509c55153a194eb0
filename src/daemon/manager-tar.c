/* TAR_GET and TAR_PUT calls. Each stream holds its sandbox (acquired) for
 * as long as the HTTP response or upload lasts. */
#include "manager-tar.h"

#include <string.h>

#include "base/util.h"
#include "manager-internal.h"
#include "proto/frame.h"
#include "proto/limits.h"

/* Checking and extracting a large archive happens after its last byte
 * arrived, so the final answer may take longer than a file call's. */
#define TAR_FINISH_TIMEOUT_MS (10u * 60 * 1000)

struct tar_wstream {
    struct manager *m;
    struct sandbox *s;
    struct guest_call *call;
    bool failed;
};

static int start(struct manager *m, const char *id, uint16_t type, const char *path,
                 struct sandbox **ret_s, struct guest_call **ret_call, struct runra_err **err)
{
    int r = msg_check_path(path, err);
    if (r < 0)
        return r;
    struct sandbox *s;
    if ((r = manager_acquire(m, id, &s, err)) < 0)
        return r;
    _cleanup_free_ char *payload = NULL;
    r = msg_tar_req_encode(path, &payload);
    if (r >= 0)
        r = guest_call_start(s->guest, type, payload, strlen(payload), ret_call, err);
    if (r < 0) {
        manager_release(m, s);
        return r;
    }
    *ret_s = s;
    return 0;
}

static int check_result(const struct guest_frame *f, struct runra_err **err)
{
    struct tar_result res;
    return msg_tar_result_decode(f->data, f->len, &res, err);
}

int manager_tar_get_open(struct manager *m, const char *id, const char *path,
                         struct file_rstream **ret, struct runra_err **err)
{
    struct sandbox *s;
    struct guest_call *call;
    int r = start(m, id, FRAME_TAR_GET, path, &s, &call, err);
    if (r < 0)
        return r;
    return manager_rstream_start(m, s, call, "tar", check_result, ret, err);
}

int manager_tar_put_open(struct manager *m, const char *id, const char *path,
                         struct tar_wstream **ret, struct runra_err **err)
{
    struct tar_wstream *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int r = start(m, id, FRAME_TAR_PUT, path, &st->s, &st->call, err);
    if (r < 0) {
        free(st);
        return r;
    }
    st->m = m;
    *ret = st;
    return 0;
}

/* An early ERROR from the guest (the directory could not be made, the disk
 * is full, the archive is too large) ends the upload. */
static int final_frame(struct tar_wstream *st, uint64_t deadline, struct tar_result *ret,
                       struct runra_err **err)
{
    struct guest_frame *f = NULL;
    int r;
    for (;;) {
        r = guest_call_recv(st->call, deadline, &f);
        if (r < 0)
            return err_set(err, r == -ETIMEDOUT ? ETIMEDOUT : EPIPE,
                           "sandbox did not finish the tar upload");
        if (f->type == FRAME_RESULT || f->type == FRAME_ERROR)
            break;
        free(f);
    }
    struct tar_result res = {0};
    if (f->type == FRAME_ERROR)
        r = guest_frame_error(f, "tar", err);
    else
        r = msg_tar_result_decode(f->data, f->len, &res, err);
    free(f);
    if (r >= 0 && ret)
        *ret = res;
    return r;
}

int tar_wstream_write(struct tar_wstream *st, const void *buf, size_t len,
                      struct runra_err **err)
{
    if (st->failed)
        return err_set(err, EIO, "tar upload already failed");
    if (guest_call_finished(st->call)) {
        st->failed = true;
        int r = final_frame(st, now_ms() + 1, NULL, err);
        return r < 0 ? r : err_set(err, EPROTO, "sandbox ended the tar upload early");
    }
    const char *p = buf;
    while (len > 0) {
        size_t n = len < RUNRA_FRAME_MAX_PAYLOAD ? len : RUNRA_FRAME_MAX_PAYLOAD;
        int r = guest_call_send(st->call, FRAME_DATA, p, n);
        if (r < 0) {
            st->failed = true;
            return err_set(err, EPIPE, "send to sandbox: %s", strerror(-r));
        }
        p += n;
        len -= n;
    }
    return 0;
}

int tar_wstream_finish(struct tar_wstream *st, struct tar_result *ret, struct runra_err **err)
{
    if (st->failed)
        return err_set(err, EIO, "tar upload already failed");
    if (!guest_call_finished(st->call)) {
        int r = guest_call_send(st->call, FRAME_DATA, NULL, 0);
        if (r < 0)
            return err_set(err, EPIPE, "send to sandbox: %s", strerror(-r));
    }
    return final_frame(st, now_ms() + TAR_FINISH_TIMEOUT_MS, ret, err);
}

void tar_wstream_close(struct tar_wstream *st)
{
    if (!st)
        return;
    guest_call_end(st->call);
    if (st->s)
        manager_release(st->m, st->s);
    free(st);
}
