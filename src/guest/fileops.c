/* stat, list, mkdir, remove, move. Error messages name the operation and the
 * resolved path ("mkdir '/w/a': File exists"). Removal never crosses into
 * another mount and refuses "/", because a stray bind mount inside a tree
 * (or the root itself) is never what an agent meant to delete. */
#include "fileops.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "path.h"
#include "proto/frame.h"
#include "proto/limits.h"
#include "proto/msg.h"

/* Deeper trees are refused by remove rather than recursed into, so a
 * hostile tree cannot exhaust PID 1's stack. */
#define REMOVE_DEPTH_MAX 4096

static int info_json(const char *abs, char **ret, struct runra_err **err)
{
    struct file_info fi = {0};
    int r = path_info(abs, &fi, err);
    if (r < 0)
        return r;
    r = msg_file_info_encode(&fi, ret);
    msg_file_info_done(&fi);
    return r;
}

static int do_stat(const char *workdir, const struct file_req *q, char **ret,
                   struct runra_err **err)
{
    _cleanup_free_ char *abs = NULL;
    int r = path_resolve(workdir, q->path, &abs, err);
    if (r < 0)
        return r;
    return info_json(abs, ret, err);
}

/* A max-heap of names keeps the RUNRA_LIST_MAX smallest names of a directory
 * of any size in bounded memory, so a truncated listing is still the first
 * entries in sorted order. */
struct names {
    char **v;
    size_t n;
};

static void heap_swap(char **v, size_t a, size_t b)
{
    char *t = v[a];
    v[a] = v[b];
    v[b] = t;
}

static void heap_up(char **v, size_t i)
{
    while (i > 0 && strcmp(v[(i - 1) / 2], v[i]) < 0) {
        heap_swap(v, (i - 1) / 2, i);
        i = (i - 1) / 2;
    }
}

static void heap_down(char **v, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && strcmp(v[l], v[m]) > 0)
            m = l;
        if (r < n && strcmp(v[r], v[m]) > 0)
            m = r;
        if (m == i)
            return;
        heap_swap(v, i, m);
        i = m;
    }
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_done(struct names *ns)
{
    for (size_t i = 0; i < ns->n; i++)
        free(ns->v[i]);
    free(ns->v);
}

/* Reads the directory's names, keeping the smallest RUNRA_LIST_MAX. */
static int read_names(int dfd, struct names *ret, bool *ret_truncated)
{
    int fd = dup(dfd);
    if (fd < 0)
        return -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -errno;
    }
    struct names ns = {.v = NULL};
    size_t cap = 0;
    bool truncated = false;
    int r = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (!de) {
            r = errno ? -errno : 0;
            break;
        }
        const char *name = de->d_name;
        if (!strcmp(name, ".") || !strcmp(name, ".."))
            continue;
        if (ns.n == RUNRA_LIST_MAX) {
            truncated = true;
            if (strcmp(name, ns.v[0]) >= 0)
                continue;
            char *s = strdup(name);
            if (!s) {
                r = -ENOMEM;
                break;
            }
            free(ns.v[0]);
            ns.v[0] = s;
            heap_down(ns.v, ns.n, 0);
            continue;
        }
        if (ns.n == cap) {
            size_t ncap = cap ? cap * 2 : 64;
            if (ncap > RUNRA_LIST_MAX)
                ncap = RUNRA_LIST_MAX;
            char **nv = realloc(ns.v, ncap * sizeof(char *));
            if (!nv) {
                r = -ENOMEM;
                break;
            }
            ns.v = nv;
            cap = ncap;
        }
        if (!(ns.v[ns.n] = strdup(name))) {
            r = -ENOMEM;
            break;
        }
        heap_up(ns.v, ns.n++);
    }
    closedir(d);
    if (r < 0) {
        names_done(&ns);
        return r;
    }
    if (ns.n)
        qsort(ns.v, ns.n, sizeof(char *), cmp_name);
    *ret = ns;
    *ret_truncated = truncated;
    return 0;
}

static int do_list(const char *workdir, const struct file_req *q, char **ret,
                   struct runra_err **err)
{
    _cleanup_free_ char *abs = NULL;
    int r = path_resolve(workdir, q->path, &abs, err);
    if (r < 0)
        return r;
    _cleanup_close_ int dfd = open(abs, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return err_sys(err, errno, "list '%s'", abs);
    /* The directory itself was opened following symlinks, so its display
     * path is the fully resolved one. */
    _cleanup_free_ char *dir = realpath(abs, NULL);
    if (!dir && !(dir = strdup(abs)))
        return -ENOMEM;

    struct names ns = {0};
    bool truncated = false;
    r = read_names(dfd, &ns, &truncated);
    if (r < 0)
        return err_sys(err, r, "list '%s'", abs);

    struct file_list l = {.truncated = truncated};
    l.entries = calloc(ns.n ? ns.n : 1, sizeof(struct file_info));
    if (!l.entries) {
        names_done(&ns);
        return -ENOMEM;
    }
    for (size_t i = 0; i < ns.n && r >= 0; i++) {
        r = path_info_at(dfd, dir, ns.v[i], &l.entries[l.n]);
        if (r >= 0)
            l.n++;
        else if (r != -ENOMEM)
            r = 0; /* the entry vanished meanwhile: leave it out */
    }
    names_done(&ns);

    /* The listing must fit one frame: shrink it proportionally until it does
     * and say so. Each round at least drops one entry, so this ends. */
    _cleanup_free_ char *json = NULL;
    while (r >= 0) {
        r = msg_file_list_encode(&l, &json);
        if (r < 0 || strlen(json) <= RUNRA_FRAME_MAX_PAYLOAD)
            break;
        size_t len = strlen(json);
        free(json);
        json = NULL;
        if (l.n == 0) {
            r = -E2BIG;
            break;
        }
        size_t keep = (size_t)((double)l.n * (RUNRA_FRAME_MAX_PAYLOAD * 0.95) / (double)len);
        if (keep >= l.n)
            keep = l.n - 1;
        while (l.n > keep)
            msg_file_info_done(&l.entries[--l.n]);
        l.truncated = true;
    }
    msg_file_list_done(&l);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(json);
    return 0;
}

static int do_mkdir(const char *workdir, const struct file_req *q, char **ret,
                    struct runra_err **err)
{
    _cleanup_free_ char *abs = NULL;
    int r = path_resolve(workdir, q->path, &abs, err);
    if (r < 0)
        return r;
    mode_t mode = q->mode ? q->mode : 0755;
    if (q->parents) {
        _cleanup_free_ char *parent = NULL;
        if (path_parent(abs, &parent) < 0)
            return -ENOMEM;
        r = mkdir_p(parent, 0755);
        if (r < 0)
            return err_sys(err, r, "mkdir '%s'", parent);
    }
    if (mkdir(abs, mode) < 0) {
        int e = errno;
        struct stat st;
        if (!(e == EEXIST && q->parents && stat(abs, &st) == 0 && S_ISDIR(st.st_mode)))
            return err_sys(err, e, "mkdir '%s'", abs);
    } else if (q->mode && chmod(abs, mode) < 0) {
        /* The umask narrowed an explicitly asked mode; set it exactly. */
        return err_sys(err, errno, "chmod '%s'", abs);
    }
    return info_json(abs, ret, err);
}

/* The mount a path is on (not following a final symlink), from statx. */
static int mount_of(int dfd, const char *name, int flags, uint64_t *ret)
{
    struct statx sx;
    if (statx(dfd, name, flags | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) < 0)
        return -errno;
    /* Kernels before 5.8 do not report mount ids; the device then stands in,
     * which catches every mount of another file system. */
    *ret = (sx.stx_mask & STATX_MNT_ID) ? sx.stx_mnt_id
                                        : ((uint64_t)sx.stx_dev_major << 32 | sx.stx_dev_minor);
    return 0;
}

/* Removes name (a directory) under dfd with everything in it. Keeps going
 * past failures, to remove what it can, and returns the first one. */
static int remove_tree(int dfd, const char *name, uint64_t mnt, int depth)
{
    if (depth > REMOVE_DEPTH_MAX)
        return -ELOOP;
    int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    uint64_t m;
    int r = mount_of(fd, "", AT_EMPTY_PATH, &m);
    if (r < 0 || m != mnt) {
        close(fd);
        return r < 0 ? r : -EBUSY;
    }
    DIR *d = fdopendir(fd);
    if (!d) {
        r = -errno;
        close(fd);
        return r;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        bool is_dir = de->d_type == DT_DIR;
        if (de->d_type == DT_UNKNOWN) {
            struct stat st;
            is_dir = fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                     S_ISDIR(st.st_mode);
        }
        int k = is_dir ? remove_tree(dirfd(d), de->d_name, mnt, depth + 1)
                       : (unlinkat(dirfd(d), de->d_name, 0) < 0 ? -errno : 0);
        if (k < 0 && k != -ENOENT && r == 0)
            r = k;
    }
    closedir(d);
    if (unlinkat(dfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT && r == 0)
        r = -errno;
    return r;
}

static int do_remove(const char *workdir, const struct file_req *q, char **ret,
                     struct runra_err **err)
{
    _cleanup_free_ char *abs = NULL;
    int r = path_resolve(workdir, q->path, &abs, err);
    if (r < 0)
        return r;
    struct stat st;
    if (lstat(abs, &st) < 0)
        return err_sys(err, errno, "remove '%s'", abs);
    if (S_ISDIR(st.st_mode)) {
        _cleanup_free_ char *real = realpath(abs, NULL);
        if (real && !strcmp(real, "/"))
            return err_set(err, EPERM, "remove '%s': refusing to remove the root directory", abs);
        if (!q->recursive) {
            if (rmdir(abs) < 0)
                return err_sys(err, errno, "remove '%s'", abs);
        } else {
            uint64_t self, parent;
            _cleanup_free_ char *up = NULL;
            if (asprintf(&up, "%s/..", abs) < 0)
                return -ENOMEM;
            r = mount_of(AT_FDCWD, abs, 0, &self);
            if (r >= 0)
                r = mount_of(AT_FDCWD, up, 0, &parent);
            if (r < 0)
                return err_sys(err, r, "remove '%s'", abs);
            if (self != parent)
                return err_set(err, EBUSY, "remove '%s': is a mount point", abs);
            r = remove_tree(AT_FDCWD, abs, self, 0);
            if (r == -EBUSY)
                return err_set(err, EBUSY, "remove '%s': a mount point lies inside", abs);
            if (r < 0)
                return err_sys(err, r, "remove '%s'", abs);
        }
    } else if (unlink(abs) < 0) {
        return err_sys(err, errno, "remove '%s'", abs);
    }
    if (!(*ret = strdup("{}")))
        return -ENOMEM;
    return 0;
}

static int do_move(const char *workdir, const struct file_req *q, char **ret,
                   struct runra_err **err)
{
    _cleanup_free_ char *from = NULL, *to = NULL;
    int r = path_resolve(workdir, q->path, &from, err);
    if (r >= 0)
        r = path_resolve(workdir, q->to, &to, err);
    if (r < 0)
        return r;
    if (renameat2(AT_FDCWD, from, AT_FDCWD, to, q->overwrite ? 0 : RENAME_NOREPLACE) < 0)
        return err_sys(err, errno, "move '%s' to '%s'", from, to);
    return info_json(to, ret, err);
}

int fileops_run(const char *workdir, uint16_t type, const void *payload, size_t len,
                char **ret_json, struct runra_err **err)
{
    _cleanup_(msg_file_req_freep) struct file_req *q = NULL;
    int r = msg_file_req_decode(type, payload, len, &q, err);
    if (r < 0)
        return r;
    switch (type) {
    case FRAME_FILE_STAT:
        return do_stat(workdir, q, ret_json, err);
    case FRAME_FILE_LIST:
        return do_list(workdir, q, ret_json, err);
    case FRAME_FILE_MKDIR:
        return do_mkdir(workdir, q, ret_json, err);
    case FRAME_FILE_REMOVE:
        return do_remove(workdir, q, ret_json, err);
    case FRAME_FILE_MOVE:
        return do_move(workdir, q, ret_json, err);
    default:
        return err_set(err, EINVAL, "frame type %u is not a file call", type);
    }
}
