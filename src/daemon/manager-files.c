/* File operations, each one guest call. Paths go to runra-init untouched:
 * it resolves them inside the sandbox's own root, so the daemon never opens
 * a path the sandbox controls. Replies are decoded strictly. */
#include <string.h>

#include "base/util.h"
#include "manager-internal.h"
#include "proto/frame.h"
#include "proto/limits.h"

struct file_rstream {
    struct manager *m;
    struct sandbox *s;
    struct guest_call *call;
    const char *what;            /* "read", "tar": for messages */
    rstream_check_fn check;      /* validates the final RESULT, or NULL */
    struct guest_frame *pending; /* a DATA frame not yet fully handed out */
    size_t off;
    bool done;
};

struct file_wstream {
    struct manager *m;
    struct sandbox *s;
    struct guest_call *call;
    bool failed;
    char *path; /* for the audit event */
};

static int start_req(struct manager *m, const char *id, uint16_t type, const struct file_req *req,
                     struct sandbox **ret_s, struct guest_call **ret_call, struct runra_err **err)
{
    int r = msg_check_path(req->path, err);
    if (r < 0)
        return r;
    if (type == FRAME_FILE_MOVE && (r = msg_check_path(req->to, err)) < 0)
        return r;
    struct sandbox *s;
    r = manager_acquire(m, id, &s, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *payload = NULL;
    r = msg_file_req_encode(type, req, &payload);
    if (r >= 0)
        r = guest_call_start(s->guest, type, payload, strlen(payload), ret_call, err);
    if (r < 0) {
        manager_release(m, s);
        return r;
    }
    *ret_s = s;
    return 0;
}

/* Runs a request that answers with one RESULT (or ERROR) frame. */
static int simple_call(struct manager *m, const char *id, uint16_t type, const struct file_req *req,
                       struct guest_frame **ret, struct runra_err **err)
{
    struct sandbox *s;
    struct guest_call *call;
    int r = start_req(m, id, type, req, &s, &call, err);
    if (r < 0)
        return r;
    struct guest_frame *f = NULL;
    for (;;) {
        r = guest_call_recv(call, now_ms() + FILE_CALL_TIMEOUT_MS, &f);
        if (r < 0 || f->type == FRAME_RESULT || f->type == FRAME_ERROR)
            break;
        free(f); /* stray frame types are ignored */
        f = NULL;
    }
    guest_call_end(call);
    manager_release(m, s);
    if (r == -ETIMEDOUT)
        return err_set(err, ETIMEDOUT, "sandbox did not answer %s in time", frame_type_name(type));
    if (r < 0)
        return err_set(err, EPIPE, "sandbox stopped during %s", frame_type_name(type));
    if (f->type == FRAME_ERROR) {
        r = guest_frame_error(f, frame_type_name(type), err);
        free(f);
        return r;
    }
    *ret = f;
    return 0;
}

static int info_call(struct manager *m, const char *id, uint16_t type, const struct file_req *req,
                     struct file_info *ret, struct runra_err **err)
{
    struct guest_frame *f = NULL;
    int r = simple_call(m, id, type, req, &f, err);
    if (r < 0)
        return r;
    r = msg_file_info_decode(f->data, f->len, ret, err);
    free(f);
    return r;
}

int manager_file_list(struct manager *m, const char *id, const char *path, struct file_list *ret,
                      struct runra_err **err)
{
    struct file_req req = {.path = (char *)path};
    struct guest_frame *f = NULL;
    int r = simple_call(m, id, FRAME_FILE_LIST, &req, &f, err);
    if (r < 0)
        return r;
    r = msg_file_list_decode(f->data, f->len, ret, err);
    free(f);
    return r;
}

int manager_file_stat(struct manager *m, const char *id, const char *path, struct file_info *ret,
                      struct runra_err **err)
{
    struct file_req req = {.path = (char *)path};
    return info_call(m, id, FRAME_FILE_STAT, &req, ret, err);
}

int manager_file_mkdir(struct manager *m, const char *id, const char *path, bool parents,
                       uint32_t mode, struct file_info *ret, struct runra_err **err)
{
    struct file_req req = {.path = (char *)path, .parents = parents, .mode = mode};
    return info_call(m, id, FRAME_FILE_MKDIR, &req, ret, err);
}

int manager_file_move(struct manager *m, const char *id, const char *from, const char *to,
                      bool overwrite, struct file_info *ret, struct runra_err **err)
{
    struct file_req req = {.path = (char *)from, .to = (char *)to, .overwrite = overwrite};
    int r = info_call(m, id, FRAME_FILE_MOVE, &req, ret, err);
    if (r >= 0)
        manager_emit(m, id, "file.move", json_pack("{s:s,s:s}", "from", from, "to", to));
    return r;
}

int manager_file_remove(struct manager *m, const char *id, const char *path, bool recursive,
                        struct runra_err **err)
{
    struct file_req req = {.path = (char *)path, .recursive = recursive};
    struct guest_frame *f = NULL;
    int r = simple_call(m, id, FRAME_FILE_REMOVE, &req, &f, err);
    free(f);
    if (r >= 0)
        manager_emit(m, id, "file.remove",
                     json_pack("{s:s,s:b}", "path", path, "recursive", recursive));
    return r;
}

/* Waits until the stream has bytes to hand out or has ended: DATA frames
 * with bytes are kept, the RESULT (checked) ends it, an ERROR fails it, and
 * stray frame types are ignored. */
static int rstream_fetch(struct file_rstream *st, struct runra_err **err)
{
    while (!st->pending && !st->done) {
        struct guest_frame *f = NULL;
        int r = guest_call_recv(st->call, now_ms() + FILE_CALL_TIMEOUT_MS, &f);
        if (r < 0)
            return err_set(err, r == -ETIMEDOUT ? ETIMEDOUT : EPIPE,
                           "sandbox stopped answering the %s", st->what);
        if (f->type == FRAME_DATA && f->len > 0) {
            st->pending = f;
            st->off = 0;
            continue;
        }
        if (f->type == FRAME_RESULT) {
            r = st->check ? st->check(f, err) : 0;
            st->done = true;
        } else if (f->type == FRAME_ERROR) {
            r = guest_frame_error(f, st->what, err);
        }
        free(f);
        if (r < 0)
            return r;
    }
    return 0;
}

int manager_rstream_start(struct manager *m, struct sandbox *s, struct guest_call *call,
                          const char *what, rstream_check_fn check, struct file_rstream **ret,
                          struct runra_err **err)
{
    struct file_rstream *st = calloc(1, sizeof(*st));
    if (!st) {
        guest_call_end(call);
        manager_release(m, s);
        return -ENOMEM;
    }
    *st = (struct file_rstream){.m = m, .s = s, .call = call, .what = what, .check = check};
    /* Wait for the first answer so errors surface before any bytes do. */
    int r = rstream_fetch(st, err);
    if (r < 0) {
        file_rstream_close(st);
        return r;
    }
    *ret = st;
    return 0;
}

static int check_size(const struct guest_frame *f, struct runra_err **err)
{
    uint64_t size;
    return msg_size_decode(f->data, f->len, &size, err);
}

int manager_file_read_open(struct manager *m, const char *id, const char *path, uint64_t offset,
                           uint64_t limit, struct file_rstream **ret, struct runra_err **err)
{
    struct file_req req = {.path = (char *)path, .offset = offset, .limit = limit};
    struct sandbox *s;
    struct guest_call *call;
    int r = start_req(m, id, FRAME_FILE_READ, &req, &s, &call, err);
    if (r < 0)
        return r;
    return manager_rstream_start(m, s, call, "read", check_size, ret, err);
}

ssize_t file_rstream_read(struct file_rstream *st, void *buf, size_t max, struct runra_err **err)
{
    int r = rstream_fetch(st, err);
    if (r < 0)
        return r;
    if (!st->pending)
        return 0;
    size_t left = st->pending->len - st->off;
    size_t n = left < max ? left : max;
    memcpy(buf, st->pending->data + st->off, n);
    st->off += n;
    if (st->off == st->pending->len) {
        free(st->pending);
        st->pending = NULL;
        st->off = 0;
    }
    return (ssize_t)n;
}

void file_rstream_close(struct file_rstream *st)
{
    if (!st)
        return;
    free(st->pending);
    guest_call_end(st->call);
    if (st->s)
        manager_release(st->m, st->s);
    free(st);
}

int manager_file_write_open(struct manager *m, const char *id, const char *path, uint32_t mode,
                            bool append, struct file_wstream **ret, struct runra_err **err)
{
    struct file_wstream *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    struct file_req req = {.path = (char *)path, .mode = mode, .append = append, .parents = true};
    int r = start_req(m, id, FRAME_FILE_WRITE, &req, &st->s, &st->call, err);
    if (r < 0) {
        free(st);
        return r;
    }
    st->m = m;
    st->path = strdup(path);
    *ret = st;
    return 0;
}

/* An early ERROR from the guest (open failed, disk full) ends the upload. */
static int check_early_error(struct file_wstream *st, struct runra_err **err)
{
    if (!guest_call_finished(st->call))
        return 0;
    struct guest_frame *f = NULL;
    int r = guest_call_recv(st->call, now_ms() + 1, &f);
    if (r < 0)
        return err_set(err, EPIPE, "sandbox stopped during the write");
    if (f->type == FRAME_ERROR)
        r = guest_frame_error(f, "write", err);
    else
        r = err_set(err, EPROTO, "sandbox ended the write early");
    free(f);
    st->failed = true;
    return r;
}

int file_wstream_write(struct file_wstream *st, const void *buf, size_t len,
                       struct runra_err **err)
{
    if (st->failed)
        return err_set(err, EIO, "write already failed");
    int r = check_early_error(st, err);
    if (r < 0)
        return r;
    const char *p = buf;
    while (len > 0) {
        size_t n = len < RUNRA_FRAME_MAX_PAYLOAD ? len : RUNRA_FRAME_MAX_PAYLOAD;
        r = guest_call_send(st->call, FRAME_DATA, p, n);
        if (r < 0) {
            st->failed = true;
            return err_set(err, EPIPE, "send to sandbox: %s", strerror(-r));
        }
        p += n;
        len -= n;
    }
    return 0;
}

int file_wstream_finish(struct file_wstream *st, uint64_t *ret_size, struct runra_err **err)
{
    if (st->failed)
        return err_set(err, EIO, "write already failed");
    int r = guest_call_send(st->call, FRAME_DATA, NULL, 0);
    if (r < 0)
        return err_set(err, EPIPE, "send to sandbox: %s", strerror(-r));
    struct guest_frame *f = NULL;
    for (;;) {
        r = guest_call_recv(st->call, now_ms() + FILE_CALL_TIMEOUT_MS, &f);
        if (r < 0)
            return err_set(err, r == -ETIMEDOUT ? ETIMEDOUT : EPIPE,
                           "sandbox did not finish the write");
        if (f->type == FRAME_RESULT || f->type == FRAME_ERROR)
            break;
        free(f);
    }
    if (f->type == FRAME_ERROR)
        r = guest_frame_error(f, "write", err);
    else
        r = msg_size_decode(f->data, f->len, ret_size, err);
    free(f);
    if (r >= 0)
        manager_emit(st->m, st->s->id, "file.write",
                     json_pack("{s:s,s:I}", "path", st->path ? st->path : "", "size",
                               (json_int_t)*ret_size));
    return r;
}

void file_wstream_close(struct file_wstream *st)
{
    if (!st)
        return;
    guest_call_end(st->call);
    if (st->s)
        manager_release(st->m, st->s);
    free(st->path);
    free(st);
}
