/* The shared layer directories (layers.h). */
#include "image/layers.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/sha256.h"
#include "base/util.h"
#include "image/ref.h"

static bool sha256_ok(const char *d)
{
    return d && image_digest_ok(d) && strncmp(d, "sha256:", 7) == 0;
}

static int path_of(const char *dir, const char *digest, char *out, size_t n,
                   struct runra_err **err)
{
    if (!sha256_ok(digest))
        return err_set(err, EINVAL, "bad layer digest '%.80s'", digest);
    if ((size_t)snprintf(out, n, "%s/sha256/%s", dir, digest + 7) >= n)
        return err_set(err, ENAMETOOLONG, "layer path too long");
    return 0;
}

static bool is_dir(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

bool layers_has(const char *dir, const char *diff_id)
{
    char p[PATH_MAX];
    return path_of(dir, diff_id, p, sizeof(p), NULL) == 0 && is_dir(p);
}

int layers_chain_ids(char *const *diff_ids, size_t n, char ***ret)
{
    char **v = calloc(n + 1, sizeof(char *));
    if (!v)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!sha256_ok(diff_ids[i]))
            goto bad;
        if (i == 0) {
            v[i] = strdup(diff_ids[i]);
        } else {
            /* The OCI chain id: sha256 of "<chain below> <diff-id>". */
            char in[2 * LAYER_DIFF_ID_LEN], hex[2 * SHA256_LEN + 1];
            int k = snprintf(in, sizeof(in), "%s %s", v[i - 1], diff_ids[i]);
            sha256_hex(in, (size_t)k, hex);
            if (asprintf(&v[i], "sha256:%s", hex) < 0)
                v[i] = NULL;
        }
        if (!v[i])
            goto bad;
    }
    *ret = v;
    return 0;
bad:
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
    return -EINVAL;
}

int layers_present(const char *dir, const char *diff_id, const char *chain_id,
                   char ret_name[65])
{
    char p[PATH_MAX];
    const char *c[] = {diff_id, chain_id};
    for (size_t i = 0; i < 2; i++)
        if (path_of(dir, c[i], p, sizeof(p), NULL) == 0 && is_dir(p)) {
            snprintf(ret_name, 65, "%s", c[i] + 7);
            return 0;
        }
    return -ENOENT;
}

/* A layer that does not unpack is a bad layer (EBADMSG: a truncated
 * stream, a name that goes nowhere), unless the host ran out of something
 * or the layer went past a bound, which say so themselves. */
static int content_error(int r, struct runra_err **err)
{
    if (r == -ENOMEM || r == -ENOSPC || r == -EDQUOT || r == -EFBIG || r == -E2BIG)
        return r;
    if (err && *err)
        (*err)->code = EBADMSG;
    return -EBADMSG;
}

int layers_unpack_tmp(const char *dir, struct blob_store *blobs, const char *blob_digest,
                      const char *diff_id, const struct layer_limits *lim, char **ret_tmp,
                      struct layer_stats *ret_st, struct runra_err **err)
{
    char sub[PATH_MAX], tmp[PATH_MAX];
    if (!sha256_ok(diff_id))
        return err_set(err, EINVAL, "bad diff-id '%.80s'", diff_id);
    snprintf(sub, sizeof(sub), "%s/sha256", dir);
    if ((mkdir(dir, 0700) < 0 && errno != EEXIST) || (mkdir(sub, 0700) < 0 && errno != EEXIST))
        return err_sys(err, errno, "layer store '%s'", dir);
    /* The diff-id first: a layer that is not what the config says is
     * never unpacked at all. */
    _cleanup_close_ int fd = -1;
    int r = blob_open(blobs, blob_digest, &fd, err);
    if (r < 0)
        return r;
    char got[LAYER_DIFF_ID_LEN];
    if ((r = layer_diff_id(fd, lim->max_bytes, got, err)) < 0) {
        err_prefix(err, "layer %.19s", blob_digest);
        return content_error(r, err);
    }
    if (strcmp(got, diff_id) != 0)
        return err_set(err, EBADMSG, "layer %.80s: its content is %s, not the %s the image's "
                                     "config names", blob_digest, got, diff_id);
    if (lseek(fd, 0, SEEK_SET) < 0)
        return err_sys(err, errno, "rewind layer");
    snprintf(tmp, sizeof(tmp), "%s/tmp-XXXXXX", dir);
    if (!mkdtemp(tmp))
        return err_sys(err, errno, "layer store: temporary dir");
    /* The layer's root keeps the image's view: root-owned, 0755. */
    chmod(tmp, 0755);
    _cleanup_close_ int dfd = open(tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (dfd < 0) {
        r = err_sys(err, errno, "open %s", tmp);
        rm_rf(tmp);
        return r;
    }
    struct layer_stats st = {0};
    r = layer_unpack(fd, dfd, lim, &st, err);
    char *t = r >= 0 ? strdup(tmp) : NULL;
    if (r >= 0 && !t)
        r = -ENOMEM;
    if (r < 0) {
        layer_stats_done(&st);
        rm_rf(tmp);
        if (r == -ENOMEM)
            return r;
        err_prefix(err, "layer %.19s", blob_digest);
        return content_error(r, err);
    }
    *ret_tmp = t;
    *ret_st = st;
    return 0;
}

int layers_place(const char *dir, const char *tmp, const char *name_digest,
                 struct runra_err **err)
{
    char final[PATH_MAX];
    int r = path_of(dir, name_digest, final, sizeof(final), err);
    if (r >= 0 && rename(tmp, final) < 0) {
        /* Someone else made it meanwhile: theirs stands, ours goes. */
        if (errno != ENOTEMPTY && errno != EEXIST)
            r = err_sys(err, errno, "store layer %s", name_digest);
    }
    if (is_dir(tmp))
        rm_rf(tmp);
    return r;
}

int layers_ensure(const char *dir, struct blob_store *blobs, const char *blob_digest,
                  const char *diff_id, const struct layer_limits *lim, struct runra_err **err)
{
    if (layers_has(dir, diff_id))
        return 0;
    _cleanup_free_ char *tmp = NULL;
    struct layer_stats st = {0};
    int r = layers_unpack_tmp(dir, blobs, blob_digest, diff_id, lim, &tmp, &st, err);
    layer_stats_done(&st);
    return r < 0 ? r : layers_place(dir, tmp, diff_id, err);
}

int layers_remove(const char *dir, const char *diff_id, struct runra_err **err)
{
    char p[PATH_MAX];
    int r = path_of(dir, diff_id, p, sizeof(p), err);
    if (r < 0)
        return r;
    r = rm_rf(p);
    return r < 0 ? err_sys(err, r, "remove layer %s", diff_id) : 0;
}

static int open_beneath(int dirfd, const char *path, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                                      RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
    int fd;
    do
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    return fd < 0 ? -errno : fd;
}

/* What the layers beneath (nearest first) say path is: the first that has
 * it decides; a directory gives its owner and mode, anything else (a file,
 * a whiteout) means the directory is new here and keeps the defaults. */
static bool lower_dir(const int *lowers, size_t n, const char *path, struct stat *ret)
{
    for (size_t i = 0; i < n; i++) {
        _cleanup_close_ int fd = open_beneath(lowers[i], path, O_PATH);
        if (fd == -ENOENT)
            continue;
        if (fd < 0 || fstat(fd, ret) < 0)
            return false;
        return S_ISDIR(ret->st_mode);
    }
    return false;
}

int layers_fix_implied(const char *tmp, const struct layer_stats *st, const int *lowers,
                       size_t nlowers, struct runra_err **err)
{
    _cleanup_close_ int top = open(tmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (top < 0)
        return err_sys(err, errno, "open %s", tmp);
    for (size_t i = 0; i < st->nimplied; i++) {
        const char *path = st->implied[i];
        struct stat ls;
        if (!lower_dir(lowers, nlowers, path, &ls))
            continue;
        _cleanup_close_ int d = open_beneath(top, path, O_PATH | O_DIRECTORY);
        if (d < 0)
            continue; /* replaced later in the layer by something else */
        char self[32];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", d);
        if (fchownat(d, "", ls.st_uid, ls.st_gid, AT_EMPTY_PATH) < 0 ||
            chmod(self, ls.st_mode & 07777) < 0)
            return err_sys(err, errno, "directory '%.200s' of a layer", path);
    }
    return 0;
}
