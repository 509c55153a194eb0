/* FILE_READ and FILE_WRITE. Only regular files are streamed: a FIFO or a
 * device could block PID 1's loop forever or never end. Files are opened
 * O_NONBLOCK so that opening a FIFO cannot block either, then checked. */
#include "filestream.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "guest.h"
#include "path.h"
#include "proto/frame.h"
#include "proto/limits.h"
#include "proto/msg.h"

/* The most one DATA frame carries. */
#define CHUNK RUNRA_FRAME_MAX_PAYLOAD

struct file_read {
    int fd;
    char *path;
    uint64_t left; /* bytes still to send at most */
    uint64_t sent;
};

struct file_write {
    int fd;
    char *path;
    uint64_t written;
};

void file_read_free(struct file_read *r)
{
    if (!r)
        return;
    closep(&r->fd);
    free(r->path);
    free(r);
}
DEFINE_CLEANUP(struct file_read, file_read_free)

void file_write_free(struct file_write *w)
{
    if (!w)
        return;
    closep(&w->fd);
    free(w->path);
    free(w);
}
DEFINE_CLEANUP(struct file_write, file_write_free)

/* Opens abs and requires a regular file; clears O_NONBLOCK again. */
static int open_regular(const char *abs, int flags, mode_t mode, const char *op, int *ret_fd,
                        struct runra_err **err)
{
    _cleanup_close_ int fd = open(abs, flags | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, mode);
    if (fd < 0)
        return err_sys(err, errno, "open '%s'", abs);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_sys(err, errno, "%s '%s'", op, abs);
    if (S_ISDIR(st.st_mode))
        return err_sys(err, EISDIR, "%s '%s'", op, abs);
    if (!S_ISREG(st.st_mode))
        return err_set(err, EINVAL, "%s '%s': not a regular file", op, abs);
    if (fcntl(fd, F_SETFL, flags & O_APPEND) < 0)
        return err_sys(err, errno, "%s '%s'", op, abs);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int file_read_start(const char *workdir, const void *payload, size_t len, struct file_read **ret,
                    struct runra_err **err)
{
    _cleanup_(msg_file_req_freep) struct file_req *q = NULL;
    int r = msg_file_req_decode(FRAME_FILE_READ, payload, len, &q, err);
    if (r < 0)
        return r;
    _cleanup_(file_read_freep) struct file_read *fr = calloc(1, sizeof(*fr));
    if (!fr)
        return -ENOMEM;
    fr->fd = -1;
    r = path_resolve(workdir, q->path, &fr->path, err);
    if (r < 0)
        return r;
    r = open_regular(fr->path, O_RDONLY, 0, "read", &fr->fd, err);
    if (r < 0)
        return r;
    struct stat st;
    if (fstat(fr->fd, &st) < 0)
        return err_sys(err, errno, "read '%s'", fr->path);
    uint64_t size = (uint64_t)st.st_size;
    uint64_t avail = size > q->offset ? size - q->offset : 0;
    /* Refuse up front rather than silently stop at the bound. Files that
     * report size 0 (/proc) are still cut at the bound while streaming. */
    if ((q->limit == 0 || q->limit > RUNRA_FILE_MAX) && avail > RUNRA_FILE_MAX)
        return err_set(err, EFBIG, "read '%s': larger than %llu bytes; read it in ranges",
                       fr->path, (unsigned long long)RUNRA_FILE_MAX);
    if (q->offset > 0 && lseek(fr->fd, (off_t)q->offset, SEEK_SET) < 0)
        return err_sys(err, errno, "read '%s'", fr->path);
    fr->left = q->limit && q->limit < RUNRA_FILE_MAX ? q->limit : RUNRA_FILE_MAX;
    *ret = TAKE_PTR(fr);
    return 0;
}

int file_read_step(struct guest *g, uint32_t id, struct file_read *fr)
{
    if (!g->conn || guest_busy(g))
        return 0;
    if (fr->left > 0) {
        size_t want = fr->left < CHUNK ? (size_t)fr->left : CHUNK;
        uint8_t *p = conn_reserve(g->conn, want);
        if (!p)
            return 1; /* the connection is being dropped with every call */
        ssize_t n;
        do
            n = read(fr->fd, p, want);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
            _cleanup_err_ struct runra_err *err = NULL;
            int r = err_sys(&err, errno, "read '%s'", fr->path);
            guest_send_err(g, id, r, err);
            return 1;
        }
        if (n > 0) {
            conn_commit(g->conn, FRAME_DATA, id, (size_t)n);
            fr->left -= (uint64_t)n;
            fr->sent += (uint64_t)n;
            return 0;
        }
    }
    char *json = NULL;
    msg_size_encode(fr->sent, &json);
    guest_send_json(g, FRAME_RESULT, id, json);
    return 1;
}

int file_write_start(const char *workdir, const void *payload, size_t len,
                     struct file_write **ret, struct runra_err **err)
{
    _cleanup_(msg_file_req_freep) struct file_req *q = NULL;
    int r = msg_file_req_decode(FRAME_FILE_WRITE, payload, len, &q, err);
    if (r < 0)
        return r;
    _cleanup_(file_write_freep) struct file_write *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->fd = -1;
    r = path_resolve(workdir, q->path, &w->path, err);
    if (r < 0)
        return r;
    if (q->parents) {
        _cleanup_free_ char *parent = NULL;
        if (path_parent(w->path, &parent) < 0)
            return -ENOMEM;
        r = mkdir_p(parent, 0755);
        if (r < 0)
            return err_sys(err, r, "mkdir '%s'", parent);
    }
    int flags = O_WRONLY | O_CREAT | (q->append ? O_APPEND : O_TRUNC);
    r = open_regular(w->path, flags, q->mode ? q->mode : 0644, "write", &w->fd, err);
    if (r < 0)
        return r;
    /* An explicit mode is applied exactly, past the umask, and also to a
     * file that already existed: the caller said what it wants. */
    if (q->mode && fchmod(w->fd, q->mode) < 0)
        return err_sys(err, errno, "chmod '%s'", w->path);
    *ret = TAKE_PTR(w);
    return 0;
}

int file_write_data(struct guest *g, uint32_t id, struct file_write *w, const void *p, size_t len)
{
    _cleanup_err_ struct runra_err *err = NULL;
    int r = 0;
    if (len == 0) {
        int fd = TAKE_FD(w->fd);
        /* The result is the file's size after the write, which for an
         * append is more than this call's bytes. */
        struct stat st;
        uint64_t size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : w->written;
        /* close reports late write-back errors on some file systems. */
        if (close(fd) < 0 && errno != EINTR) {
            r = err_sys(&err, errno, "write '%s'", w->path);
            guest_send_err(g, id, r, err);
            return 1;
        }
        char *json = NULL;
        msg_size_encode(size, &json);
        guest_send_json(g, FRAME_RESULT, id, json);
        return 1;
    }
    if (len > RUNRA_FILE_MAX - w->written)
        r = err_set(&err, EFBIG, "write '%s': more than %llu bytes", w->path,
                    (unsigned long long)RUNRA_FILE_MAX);
    else if ((r = write_full(w->fd, p, len)) < 0)
        err_sys(&err, r, "write '%s'", w->path);
    if (r < 0) {
        guest_send_err(g, id, r, err);
        return 1;
    }
    w->written += len;
    return 0;
}
