/* Image layer unpacking (layer.h). libarchive reads and decompresses; every
 * file system change is made here, relative to the layer directory's fd. */
#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/sha256.h"
#include "image/hash.h"
#include "base/util.h"
#include "tar/tarx.h"

#define WH_PREFIX ".wh."
#define WH_OPAQUE ".wh..wh..opq"
#define ID_MAX 65535
#define CHUNK (128u * 1024)

static int open_beneath(int dirfd, const char *path, uint64_t resolve, int flags)
{
    struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC),
                           .resolve = resolve | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV};
    int fd;
    do
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    return fd < 0 ? -errno : fd;
}

void layer_stats_done(struct layer_stats *st)
{
    if (!st)
        return;
    for (size_t i = 0; i < st->nimplied; i++)
        free(st->implied[i]);
    free(st->implied);
    st->implied = NULL;
    st->nimplied = 0;
}

#define IMPLIED_MAX 65536

static int implied_add(struct layer_stats *st, const char *path)
{
    if (st->nimplied >= IMPLIED_MAX)
        return 0; /* past this, the defaults stand */
    char **v = realloc(st->implied, (st->nimplied + 1) * sizeof(char *));
    if (!v)
        return -ENOMEM;
    st->implied = v;
    if (!(v[st->nimplied] = strdup(path)))
        return -ENOMEM;
    st->nimplied++;
    return 0;
}

/* The layer names the directory after all: its entry says what it is. */
static void implied_drop(struct layer_stats *st, const char *path)
{
    for (size_t i = 0; i < st->nimplied; i++)
        if (!strcmp(st->implied[i], path)) {
            free(st->implied[i]);
            st->implied[i] = st->implied[--st->nimplied];
            return;
        }
}

/* The directory that holds the entry named by the clean path rel, made if
 * missing (0755, root, and noted in st); *ret_base points at the last
 * component. Symlinks on the way are followed only within the layer
 * (RESOLVE_IN_ROOT). */
static int parent_of(int dirfd, char *rel, struct layer_stats *st, const char **ret_base,
                     int *ret_fd, struct runra_err **err)
{
    char *slash = strrchr(rel, '/');
    if (!slash) {
        *ret_base = rel;
        *ret_fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        return *ret_fd < 0 ? err_sys(err, errno, "dup") : 0;
    }
    *slash = 0;
    *ret_base = slash + 1;
    int fd = open_beneath(dirfd, rel, RESOLVE_IN_ROOT, O_PATH | O_DIRECTORY);
    if (fd == -ENOENT) {
        /* Make the missing ones, one component at a time. */
        _cleanup_close_ int cur = fcntl(dirfd, F_DUPFD_CLOEXEC, 3);
        char *p = rel;
        while (cur >= 0 && p && *p) {
            char *next = strchr(p, '/');
            if (next)
                *next = 0;
            bool made = mkdirat(cur, p, 0755) == 0;
            if (!made && errno != EEXIST) {
                int r = err_sys(err, errno, "make directory '%s'", rel);
                if (next)
                    *next = '/';
                *slash = '/';
                return r;
            }
            /* rel ends at this component for now: its path in the layer. */
            if (made && implied_add(st, rel) < 0) {
                if (next)
                    *next = '/';
                *slash = '/';
                return -ENOMEM;
            }
            int n = open_beneath(cur, p, RESOLVE_IN_ROOT, O_PATH | O_DIRECTORY);
            if (next)
                *next = '/';
            if (n < 0) {
                *slash = '/';
                return err_sys(err, n, "directory '%s'", rel);
            }
            close(cur);
            cur = n;
            p = next ? next + 1 : NULL;
        }
        fd = TAKE_FD(cur);
    }
    *slash = '/';
    if (fd < 0)
        return err_sys(err, fd, "directory of '%s'", rel);
    *ret_fd = fd;
    return 0;
}

/* Removes what is at base in pfd unless it is a directory; a directory
 * there may only be replaced by a directory. */
static int clear_slot(int pfd, const char *base, bool want_dir, const char *name,
                      struct runra_err **err)
{
    struct stat st;
    if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : err_sys(err, errno, "'%s'", name);
    if (S_ISDIR(st.st_mode)) {
        if (want_dir)
            return 1; /* keep it */
        return err_set(err, EINVAL, "layer entry '%s' replaces a directory of the same layer",
                       name);
    }
    if (unlinkat(pfd, base, 0) < 0)
        return err_sys(err, errno, "replace '%s'", name);
    return 0;
}

static int set_meta(int pfd, const char *base, struct archive_entry *e, bool symlink,
                    const char *name, struct runra_err **err)
{
    la_int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);
    if (uid < 0 || uid > ID_MAX || gid < 0 || gid > ID_MAX)
        return err_set(err, EINVAL, "layer entry '%s': owner %lld:%lld is beyond %d", name,
                       (long long)uid, (long long)gid, ID_MAX);
    if (fchownat(pfd, base, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW) < 0)
        return err_sys(err, errno, "chown '%s'", name);
    if (!symlink && fchmodat(pfd, base, archive_entry_perm(e) & 07777, 0) < 0)
        return err_sys(err, errno, "chmod '%s'", name);
    struct timespec ts[2] = {{.tv_sec = archive_entry_mtime(e)}, {.tv_sec = archive_entry_mtime(e)}};
    utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);
    return 0;
}

/* user.* extended attributes, the only namespace a layer may set. */
static void set_xattrs(int fd, struct archive_entry *e)
{
    const char *xn;
    const void *xv;
    size_t xs;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK)
        if (xn && !strncmp(xn, "user.", 5) && xs <= 64 * 1024)
            fsetxattr(fd, xn, xv, xs, 0);
}

static int write_file(struct archive *a, int pfd, const char *base, struct archive_entry *e,
                      const struct layer_limits *lim, struct layer_stats *st, const char *name,
                      struct runra_err **err)
{
    la_int64_t size = archive_entry_size(e);
    if (size < 0 || (uint64_t)size > lim->max_bytes - st->bytes)
        return err_set(err, EFBIG, "layer entry '%s': past the layer's %llu bytes", name,
                       (unsigned long long)lim->max_bytes);
    _cleanup_close_ int fd =
        openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(err, errno, "create '%s'", name);
    _cleanup_free_ char *buf = malloc(CHUNK);
    if (!buf)
        return -ENOMEM;
    uint64_t got = 0;
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, CHUNK);
        if (n < 0)
            return err_set(err, EIO, "layer entry '%s': %s", name, archive_error_string(a));
        if (n == 0)
            break;
        got += (uint64_t)n;
        if (got > (uint64_t)size)
            return err_set(err, EIO, "layer entry '%s': more data than its size", name);
        for (la_ssize_t off = 0; off < n;) {
            ssize_t w = write(fd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0)
                return err_sys(err, errno, "write '%s'", name);
            off += w;
        }
    }
    st->bytes += got;
    set_xattrs(fd, e);
    return 0;
}

static int one_entry(struct archive *a, struct archive_entry *e, int dirfd,
                     const struct layer_limits *lim, struct layer_stats *st,
                     struct runra_err **err)
{
    const char *raw = archive_entry_pathname(e);
    if (!raw)
        return err_set(err, EINVAL, "layer entry without a name");
    _cleanup_free_ char *rel = NULL;
    int r = tarx_name_clean(raw, &rel, err);
    if (r < 0)
        return err_prefix(err, "layer entry '%.200s'", raw);
    if (!strcmp(rel, "."))
        return 0; /* the root itself */
    _cleanup_close_ int pfd = -1;
    const char *base = NULL;
    if ((r = parent_of(dirfd, rel, st, &base, &pfd, err)) < 0)
        return r;
    mode_t type = archive_entry_filetype(e);

    /* Whiteouts, as overlayfs spells them. */
    if (!strcmp(base, WH_OPAQUE)) {
        if (type != AE_IFREG)
            return err_set(err, EINVAL, "layer entry '%s': opaque marker is not a file", rel);
        char self[32];
        snprintf(self, sizeof(self), "/proc/self/fd/%d", pfd);
        _cleanup_close_ int real = open(self, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        /* Both spellings: trusted.* for an overlay the host mounts, user.*
         * for one a sandbox's user namespace mounts (userxattr). */
        if (real < 0 || fsetxattr(real, "trusted.overlay.opaque", "y", 1, 0) < 0 ||
            fsetxattr(real, "user.overlay.opaque", "y", 1, 0) < 0)
            return err_sys(err, errno, "mark '%s' opaque", rel);
        return 0;
    }
    if (!strncmp(base, WH_PREFIX, strlen(WH_PREFIX))) {
        const char *victim = base + strlen(WH_PREFIX);
        if (!*victim || !strcmp(victim, ".") || !strcmp(victim, "..") || strchr(victim, '/'))
            return err_set(err, EINVAL, "layer entry '%s': bad whiteout", rel);
        /* A whiteout hides only what lower layers have (the OCI rule): a
         * file this layer already made stays, and itself hides theirs. */
        struct stat vst;
        if (fstatat(pfd, victim, &vst, AT_SYMLINK_NOFOLLOW) == 0)
            return 0;
        if ((r = clear_slot(pfd, victim, false, rel, err)) < 0)
            return r;
        if (mknodat(pfd, victim, S_IFCHR | 0000, makedev(0, 0)) < 0)
            return err_sys(err, errno, "whiteout '%s'", rel);
        return 0;
    }

    const char *hard = archive_entry_hardlink(e);
    if (hard) {
        _cleanup_free_ char *target = NULL;
        if ((r = tarx_name_clean(hard, &target, err)) < 0)
            return err_prefix(err, "layer entry '%s': hard link target", rel);
        /* Only an earlier entry, by a path without symlinks on the way. */
        _cleanup_close_ int tfd = open_beneath(dirfd, target, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
                                               O_PATH | O_NOFOLLOW);
        if (tfd < 0)
            return err_sys(err, tfd, "layer entry '%s': hard link to '%s'", rel, target);
        struct stat ts;
        if (fstat(tfd, &ts) < 0 || S_ISDIR(ts.st_mode))
            return err_set(err, EINVAL, "layer entry '%s': hard link to a directory", rel);
        if ((r = clear_slot(pfd, base, false, rel, err)) < 0)
            return r;
        if (linkat(tfd, "", pfd, base, AT_EMPTY_PATH) < 0)
            return err_sys(err, errno, "hard link '%s'", rel);
        return 0;
    }

    switch (type) {
    case AE_IFDIR:
        implied_drop(st, rel);
        if ((r = clear_slot(pfd, base, true, rel, err)) < 0)
            return r;
        if (r == 0 && mkdirat(pfd, base, 0700) < 0)
            return err_sys(err, errno, "make directory '%s'", rel);
        if ((r = set_meta(pfd, base, e, false, rel, err)) < 0)
            return r;
        {
            _cleanup_close_ int dfd = open_beneath(pfd, base, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS,
                                                   O_RDONLY | O_DIRECTORY);
            if (dfd >= 0)
                set_xattrs(dfd, e);
        }
        return 0;
    case AE_IFREG:
        if ((r = clear_slot(pfd, base, false, rel, err)) < 0)
            return r;
        if ((r = write_file(a, pfd, base, e, lim, st, rel, err)) < 0)
            return r;
        return set_meta(pfd, base, e, false, rel, err);
    case AE_IFLNK: {
        const char *target = archive_entry_symlink(e);
        if (!target || !*target || strlen(target) > 4095)
            return err_set(err, EINVAL, "layer entry '%s': bad symlink target", rel);
        if ((r = clear_slot(pfd, base, false, rel, err)) < 0)
            return r;
        /* Any target: a symlink is never followed while unpacking, and
         * inside the sandbox it resolves within the sandbox's root. */
        if (symlinkat(target, pfd, base) < 0)
            return err_sys(err, errno, "symlink '%s'", rel);
        return set_meta(pfd, base, e, true, rel, err);
    }
    case AE_IFIFO:
        if ((r = clear_slot(pfd, base, false, rel, err)) < 0)
            return r;
        if (mkfifoat(pfd, base, 0600) < 0)
            return err_sys(err, errno, "fifo '%s'", rel);
        return set_meta(pfd, base, e, false, rel, err);
    case AE_IFCHR:
    case AE_IFBLK:
        st->skipped_devices++; /* never: a device node would be the host's device */
        return 0;
    default:
        return err_set(err, EINVAL, "layer entry '%s': unsupported type", rel);
    }
}

int layer_unpack(int fd, int dirfd, const struct layer_limits *lim, struct layer_stats *ret,
                 struct runra_err **err)
{
    struct layer_stats st = {0};
    struct archive *a = archive_read_new();
    if (!a)
        return -ENOMEM;
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_none(a);
    archive_read_support_format_tar(a);
    int r = 0;
    if (archive_read_open_fd(a, fd, CHUNK) != ARCHIVE_OK) {
        r = err_set(err, EINVAL, "layer: %s", archive_error_string(a));
        goto out;
    }
    for (;;) {
        struct archive_entry *e;
        int ar = archive_read_next_header(a, &e);
        if (ar == ARCHIVE_EOF)
            break;
        if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
            r = err_set(err, EINVAL, "layer: %s", archive_error_string(a));
            goto out;
        }
        if (++st.entries > lim->max_entries) {
            r = err_set(err, EFBIG, "layer: more than %llu entries",
                        (unsigned long long)lim->max_entries);
            goto out;
        }
        if ((r = one_entry(a, e, dirfd, lim, &st, err)) < 0)
            goto out;
    }
    if (ret) {
        *ret = st;
        st = (struct layer_stats){0};
    }
out:
    layer_stats_done(&st);
    archive_read_free(a);
    return r;
}

int layer_diff_id(int fd, uint64_t max_bytes, char out[LAYER_DIFF_ID_LEN],
                  struct runra_err **err)
{
    struct archive *a = archive_read_new();
    if (!a)
        return -ENOMEM;
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_filter_none(a);
    archive_read_support_format_raw(a);
    int r = 0;
    struct archive_entry *e;
    _cleanup_free_ char *buf = malloc(CHUNK);
    if (!buf) {
        r = -ENOMEM;
        goto out;
    }
    if (archive_read_open_fd(a, fd, CHUNK) != ARCHIVE_OK ||
        archive_read_next_header(a, &e) != ARCHIVE_OK) {
        r = err_set(err, EINVAL, "layer: %s", archive_error_string(a));
        goto out;
    }
    struct image_hash h;
    image_hash_init(&h);
    uint64_t total = 0;
    for (;;) {
        la_ssize_t n = archive_read_data(a, buf, CHUNK);
        if (n < 0) {
            r = err_set(err, EIO, "layer: %s", archive_error_string(a));
            goto out;
        }
        if (n == 0)
            break;
        total += (uint64_t)n;
        if (total > max_bytes) {
            r = err_set(err, EFBIG, "layer: larger than %llu bytes once decompressed",
                        (unsigned long long)max_bytes);
            goto out;
        }
        image_hash_update(&h, buf, (size_t)n);
    }
    uint8_t sum[SHA256_LEN];
    image_hash_final(&h, sum);
    memcpy(out, "sha256:", 7);
    for (size_t i = 0; i < SHA256_LEN; i++)
        snprintf(out + 7 + 2 * i, 3, "%02x", sum[i]);
out:
    archive_read_free(a);
    return r;
}
