/* The VM cache's upkeep (cache.h). */
#include "backend/vm/cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/util.h"

struct entry {
    char *key;
    int64_t used;
};

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n > k && !strcmp(s + n - k, suffix);
}

static int by_use_desc(const void *a, const void *b)
{
    const struct entry *x = a, *y = b;
    return (x->used < y->used) - (x->used > y->used);
}

static void remove_at(const char *dir, const char *name)
{
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) < sizeof(path))
        rm_rf(path);
}

int vm_cache_prune(const char *dir, const char *keep, size_t kept, int64_t now_s,
                   int64_t max_mark_age_s, size_t *ret_pruned, struct runra_err **err)
{
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) {
            *ret_pruned = 0;
            return 0;
        }
        return err_sys(err, errno, "open %s", dir);
    }
    int dfd = dirfd(d);
    struct entry *all = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    struct dirent *e;
    while (r >= 0 && (e = readdir(d))) {
        const char *name = e->d_name;
        struct stat st;
        if (name[0] == '.' || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        if (S_ISDIR(st.st_mode) && (!strncmp(name, "build.", 6) || has_suffix(name, ".new"))) {
            remove_at(dir, name);
        } else if (S_ISREG(st.st_mode) &&
                   (has_suffix(name, ".wanted") || has_suffix(name, ".failed"))) {
            if (now_s - (int64_t)st.st_mtim.tv_sec > max_mark_age_s)
                unlinkat(dfd, name, 0);
        } else if (S_ISREG(st.st_mode) && (has_suffix(name, ".snap") || has_suffix(name, ".disk") ||
                                           has_suffix(name, ".snap.tmp"))) {
            unlinkat(dfd, name, 0);
        } else if (S_ISDIR(st.st_mode) && strcmp(name, keep)) {
            char snap[NAME_MAX + 8];
            snprintf(snap, sizeof(snap), "%s/snap", name);
            struct stat ss;
            /* Half a template (no snapshot) goes first. */
            int64_t used = fstatat(dfd, snap, &ss, AT_SYMLINK_NOFOLLOW) == 0
                               ? (int64_t)ss.st_mtim.tv_sec
                               : INT64_MIN;
            if (n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct entry *m = reallocarray(all, ncap, sizeof(*m));
                if (!m) {
                    r = -ENOMEM;
                    break;
                }
                all = m;
                cap = ncap;
            }
            if (!(all[n].key = strdup(name))) {
                r = -ENOMEM;
                break;
            }
            all[n++].used = used;
        }
    }
    closedir(d);
    size_t gone = 0;
    if (r >= 0 && n > 0)
        qsort(all, n, sizeof(*all), by_use_desc);
    /* keep is one of the kept: the others are the kept - 1 used last. */
    for (size_t i = 0; i < n; i++) {
        if (r >= 0 && i + 1 >= kept) {
            remove_at(dir, all[i].key);
            gone++;
        }
        free(all[i].key);
    }
    free(all);
    if (r < 0)
        return err_sys(err, r, "prune %s", dir);
    *ret_pruned = gone;
    return 0;
}

static int pwrite_all(int fd, const char *buf, size_t len, off_t pos)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, buf, len, pos);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? -errno : -EIO;
        buf += w;
        len -= (size_t)w;
        pos += w;
    }
    return 0;
}

/* Copies [pos, end) of in to out at the same offsets: copy_file_range,
 * or, once the kernel will not (another filesystem), *plain read and
 * write. */
static int copy_range(int in, int out, off_t pos, off_t end, bool *plain, struct runra_err **err)
{
    char buf[64 * 1024];
    while (pos < end) {
        size_t want = (size_t)(end - pos);
        ssize_t n;
        if (!*plain) {
            loff_t src = pos, dst = pos;
            n = copy_file_range(in, &src, out, &dst, want, 0);
            if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == ENOSYS ||
                          errno == EINVAL)) {
                *plain = true;
                continue;
            }
        } else {
            n = pread(in, buf, want < sizeof(buf) ? want : sizeof(buf), pos);
            int w = n > 0 ? pwrite_all(out, buf, (size_t)n, pos) : 0;
            if (w < 0)
                return err_sys(err, w, "write a disk copy");
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return err_sys(err, errno, "copy a disk");
        if (n == 0)
            return err_set(err, EIO, "a disk ended early");
        pos += n;
    }
    return 0;
}

int vm_sparse_copy(int in, int out, uint64_t size, struct runra_err **err)
{
    bool plain = false;
    for (off_t pos = 0; pos < (off_t)size;) {
        off_t data = lseek(in, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO) /* no data past pos */
            break;
        off_t hole = data < 0 ? -1 : lseek(in, data, SEEK_HOLE);
        if (hole < 0)
            return err_sys(err, errno, "read a disk");
        if (hole > (off_t)size)
            hole = (off_t)size;
        int r = copy_range(in, out, data, hole, &plain, err);
        if (r < 0)
            return r;
        pos = hole;
    }
    if (ftruncate(out, (off_t)size) < 0)
        return err_sys(err, errno, "size a disk copy");
    return 0;
}
