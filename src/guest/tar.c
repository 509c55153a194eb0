/* Tar calls. The archive is only ever handled by src/tar/tarx.c, which
 * confines every entry to the target directory; this file moves bytes. */
#include "tar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "guest.h"
#include "path.h"
#include "proto/frame.h"
#include "proto/tarmsg.h"
#include "tar/tarx.h"

struct tar_get {
    struct guest *g;
    uint32_t id;
    struct tarx_pack *pack;
};

struct tar_put {
    int spool; /* the uploaded archive, -1 once handed to the unpacker */
    int root;
    uint64_t spooled;
    struct tarx_unpack *unpack;
};

void tar_get_free(struct tar_get *t)
{
    if (!t)
        return;
    tarx_pack_free(t->pack);
    free(t);
}
DEFINE_CLEANUP(struct tar_get, tar_get_free)

void tar_put_free(struct tar_put *t)
{
    if (!t)
        return;
    closep(&t->spool);
    closep(&t->root);
    tarx_unpack_free(t->unpack);
    free(t);
}
DEFINE_CLEANUP(struct tar_put, tar_put_free)

static int open_dir(const char *workdir, const void *payload, size_t len, bool create,
                    char **ret_abs, int *ret_fd, struct runra_err **err)
{
    _cleanup_free_ char *path = NULL, *abs = NULL;
    int r = msg_tar_req_decode(payload, len, &path, err);
    if (r < 0)
        return r;
    if ((r = path_resolve(workdir, path, &abs, err)) < 0)
        return r;
    if (create && (r = mkdir_p(abs, 0755)) < 0)
        return err_sys(err, -r, "mkdir '%s'", abs);
    int fd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return err_sys(err, errno, "open '%s'", abs);
    *ret_fd = fd;
    *ret_abs = TAKE_PTR(abs);
    return 0;
}

/* DATA frames of at most one frame's payload; the packer hands over 1 MiB. */
static int send_data(void *userdata, const void *p, size_t len)
{
    struct tar_get *t = userdata;
    if (!t->g->conn)
        return -EPIPE;
    guest_send(t->g, FRAME_DATA, t->id, p, len);
    return 0;
}

int tar_get_start(struct guest *g, uint32_t id, const void *payload, size_t len,
                  struct tar_get **ret, struct runra_err **err)
{
    _cleanup_free_ char *abs = NULL;
    int fd = -1;
    int r = open_dir(g->workdir, payload, len, false, &abs, &fd, err);
    if (r < 0)
        return r;
    _cleanup_(tar_get_freep) struct tar_get *t = calloc(1, sizeof(*t));
    if (!t) {
        close(fd);
        return -ENOMEM;
    }
    t->g = g;
    t->id = id;
    if ((r = tarx_pack_new(fd, send_data, t, &t->pack, err)) < 0)
        return r;
    *ret = TAKE_PTR(t);
    return 0;
}

int tar_get_step(struct guest *g, uint32_t id, struct tar_get *t)
{
    if (!g->conn)
        return 1;
    if (guest_busy(g))
        return 0;
    _cleanup_err_ struct runra_err *err = NULL;
    int r = tarx_pack_step(t->pack, &err);
    if (r < 0) {
        guest_send_err(g, id, r, err);
        return 1;
    }
    if (r == 0)
        return 0;
    struct tar_result res;
    tarx_pack_stats(t->pack, &res);
    char *json = NULL;
    msg_tar_result_encode(&res, &json);
    guest_send_json(g, FRAME_RESULT, id, json);
    return 1;
}

int tar_put_start(struct guest *g, const void *payload, size_t len, struct tar_put **ret,
                  struct runra_err **err)
{
    _cleanup_(tar_put_freep) struct tar_put *t = calloc(1, sizeof(*t));
    if (!t)
        return -ENOMEM;
    t->spool = t->root = -1;
    _cleanup_free_ char *abs = NULL;
    int r = open_dir(g->workdir, payload, len, true, &abs, &t->root, err);
    if (r < 0)
        return r;
    /* An unnamed file on the target's own file system: the archive counts
     * against the sandbox's disk, not against runra-init's memory. */
    t->spool = openat(t->root, ".", O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
    if (t->spool < 0 && (errno == EOPNOTSUPP || errno == EISDIR))
        t->spool = memfd_create("runra-tar", MFD_CLOEXEC);
    if (t->spool < 0)
        return err_sys(err, errno, "spool the archive in '%s'", abs);
    *ret = TAKE_PTR(t);
    return 0;
}

int tar_put_data(struct guest *g, uint32_t id, struct tar_put *t, const void *p, size_t len)
{
    _cleanup_err_ struct runra_err *err = NULL;
    int r = 0;
    if (t->unpack)
        return 0; /* DATA past the end: ignored */
    if (len == 0) {
        r = tarx_unpack_new(TAKE_FD(t->spool), TAKE_FD(t->root), &t->unpack, &err);
    } else if (len > RUNRA_TAR_MAX - t->spooled) {
        r = err_set(&err, E2BIG, "archive larger than %llu bytes",
                    (unsigned long long)RUNRA_TAR_MAX);
    } else if ((r = write_full(t->spool, p, len)) < 0) {
        err_sys(&err, -r, "spool the archive");
    } else {
        t->spooled += len;
    }
    if (r < 0) {
        guest_send_err(g, id, r, err);
        return 1;
    }
    return 0;
}

int tar_put_step(struct guest *g, uint32_t id, struct tar_put *t)
{
    if (!t->unpack)
        return 2;
    if (!g->conn)
        return 1;
    if (guest_busy(g))
        return 0;
    _cleanup_err_ struct runra_err *err = NULL;
    int r = tarx_unpack_step(t->unpack, &err);
    if (r < 0) {
        guest_send_err(g, id, r, err);
        return 1;
    }
    if (r == 0)
        return 0;
    struct tar_result res;
    tarx_unpack_stats(t->unpack, &res);
    char *json = NULL;
    msg_tar_result_encode(&res, &json);
    guest_send_json(g, FRAME_RESULT, id, json);
    return 1;
}
