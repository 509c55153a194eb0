/* Image blob store (blob.h). Temporary files live in <dir>/tmp, on the same
 * file system as their final place, and are opened O_TMPFILE where the file
 * system can: a crash then leaves nothing behind; elsewhere a named temp
 * file that the next open of the store removes. */
#include "image/blob.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/sha256.h"
#include "image/hash.h"
#include "base/util.h"
#include "image/ref.h"

struct blob_store {
    int dirfd; /* the store */
};

struct blob_writer {
    struct blob_store *s;
    char hex[2 * SHA256_LEN + 1];
    int fd;
    char tmpname[64]; /* "" when O_TMPFILE */
    uint64_t size, max;
    struct image_hash h;
};

int blob_store_open(const char *dir, struct blob_store **ret, struct runra_err **err)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return err_sys(err, errno, "blob store '%s'", dir);
    struct blob_store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
    if (s->dirfd < 0 || (mkdirat(s->dirfd, "sha256", 0700) < 0 && errno != EEXIST)) {
        int r = err_sys(err, errno, "blob store '%s'", dir);
        blob_store_free(s);
        return r;
    }
    /* Leftovers of interrupted writes go. */
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
    rm_rf(tmp);
    if (mkdirat(s->dirfd, "tmp", 0700) < 0 && errno != EEXIST) {
        int r = err_sys(err, errno, "blob store '%s'", dir);
        blob_store_free(s);
        return r;
    }
    *ret = s;
    return 0;
}

void blob_store_free(struct blob_store *s)
{
    if (!s)
        return;
    if (s->dirfd >= 0)
        close(s->dirfd);
    free(s);
}

/* "sha256:<hex>" -> hex, or -EINVAL (only sha256 is stored). */
static int hex_of(const char *digest, char out[2 * SHA256_LEN + 1], struct runra_err **err)
{
    if (!image_digest_ok(digest) || strncmp(digest, "sha256:", 7) != 0)
        return err_set(err, EINVAL, "bad blob digest '%.80s' (want sha256:<64 hex>)", digest);
    memcpy(out, digest + 7, 2 * SHA256_LEN + 1);
    return 0;
}

int blob_writer_new(struct blob_store *s, const char *digest, uint64_t max,
                    struct blob_writer **ret, struct runra_err **err)
{
    struct blob_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    int r = digest ? hex_of(digest, w->hex, err) : 0;
    if (r < 0) {
        free(w);
        return r;
    }
    w->s = s;
    w->max = max;
    image_hash_init(&w->h);
    _cleanup_close_ int tmpdir = openat(s->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    w->fd = tmpdir < 0 ? -1 : openat(tmpdir, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0644);
    if (w->fd < 0 && tmpdir >= 0 && (errno == EOPNOTSUPP || errno == EISDIR)) {
        snprintf(w->tmpname, sizeof(w->tmpname), "tmp/%.16s-XXXXXX", w->hex);
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", s->dirfd, w->tmpname);
        w->fd = mkostemp(path, O_CLOEXEC);
        if (w->fd >= 0)
            snprintf(w->tmpname, sizeof(w->tmpname), "tmp/%s", strrchr(path, '/') + 1);
    }
    if (w->fd < 0) {
        r = err_sys(err, errno, "blob store: temporary file");
        free(w);
        return r;
    }
    *ret = w;
    return 0;
}

int blob_writer_write(struct blob_writer *w, const void *p, size_t n, struct runra_err **err)
{
    if (n > w->max - w->size)
        return err_set(err, EFBIG, "blob sha256:%.12s... is larger than %llu bytes", w->hex,
                       (unsigned long long)w->max);
    image_hash_update(&w->h, p, n);
    for (size_t off = 0; off < n;) {
        ssize_t k = write(w->fd, (const char *)p + off, n - off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return err_sys(err, errno, "blob store: write");
        off += (size_t)k;
    }
    w->size += n;
    return 0;
}

uint64_t blob_writer_size(const struct blob_writer *w) { return w->size; }

void blob_writer_abort(struct blob_writer *w)
{
    if (!w)
        return;
    if (w->tmpname[0])
        unlinkat(w->s->dirfd, w->tmpname, 0);
    close(w->fd);
    free(w);
}

int blob_writer_commit(struct blob_writer *w, struct runra_err **err)
{
    uint8_t sum[SHA256_LEN];
    char got[2 * SHA256_LEN + 1];
    image_hash_final(&w->h, sum);
    for (size_t i = 0; i < SHA256_LEN; i++)
        snprintf(got + 2 * i, 3, "%02x", sum[i]);
    int r = 0;
    char final[96];
    if (!w->hex[0]) /* stored under whatever digest it has */
        memcpy(w->hex, got, sizeof(got));
    snprintf(final, sizeof(final), "sha256/%s", w->hex);
    if (strcmp(got, w->hex) != 0) {
        r = err_set(err, EBADMSG, "blob digest mismatch: wanted sha256:%s, got sha256:%s", w->hex,
                    got);
    } else if (fsync(w->fd) < 0) {
        r = err_sys(err, errno, "blob store: sync");
    } else if (w->tmpname[0]) {
        if (renameat(w->s->dirfd, w->tmpname, w->s->dirfd, final) < 0)
            r = err_sys(err, errno, "blob store: store");
        else
            w->tmpname[0] = 0;
    } else {
        char self[64];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", w->fd);
        if (linkat(AT_FDCWD, self, w->s->dirfd, final, AT_SYMLINK_FOLLOW) < 0 && errno != EEXIST)
            r = err_sys(err, errno, "blob store: store");
    }
    blob_writer_abort(w);
    return r;
}

int blob_writer_commit_any(struct blob_writer *w, char ret_digest[BLOB_DIGEST_LEN],
                           struct runra_err **err)
{
    char hex[2 * SHA256_LEN + 1];
    struct image_hash h = w->h;
    uint8_t sum[SHA256_LEN];
    image_hash_final(&h, sum);
    for (size_t i = 0; i < SHA256_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
    int r = blob_writer_commit(w, err);
    if (r >= 0)
        snprintf(ret_digest, BLOB_DIGEST_LEN, "sha256:%s", hex);
    return r;
}

bool blob_has(struct blob_store *s, const char *digest)
{
    char hex[2 * SHA256_LEN + 1], path[96];
    if (hex_of(digest, hex, NULL) < 0)
        return false;
    snprintf(path, sizeof(path), "sha256/%s", hex);
    return faccessat(s->dirfd, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0;
}

int blob_open(struct blob_store *s, const char *digest, int *ret_fd, struct runra_err **err)
{
    char hex[2 * SHA256_LEN + 1], path[96];
    int r = hex_of(digest, hex, err);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "sha256/%s", hex);
    int fd = openat(s->dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return err_sys(err, errno, "blob %s", digest);
    *ret_fd = fd;
    return 0;
}

int blob_remove(struct blob_store *s, const char *digest, struct runra_err **err)
{
    char hex[2 * SHA256_LEN + 1], path[96];
    int r = hex_of(digest, hex, err);
    if (r < 0)
        return r;
    snprintf(path, sizeof(path), "sha256/%s", hex);
    if (unlinkat(s->dirfd, path, 0) < 0)
        return err_sys(err, errno, "remove blob %s", digest);
    return 0;
}
