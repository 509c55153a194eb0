/* Path helpers for file calls. Nothing here decides access: runra-init
 * already runs inside the sandbox's root, which is the only boundary. */
#include "path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proto/limits.h"

int path_resolve(const char *workdir, const char *p, char **ret, struct runra_err **err)
{
    int r = msg_check_path(p, err);
    if (r < 0)
        return r;
    char *s = NULL;
    if (p[0] == '/')
        s = strdup(p);
    else if (asprintf(&s, "%s%s%s", workdir, workdir[strlen(workdir) - 1] == '/' ? "" : "/", p) < 0)
        s = NULL;
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

/* Length of abs without trailing slashes, keeping a lone "/". */
static size_t trimmed_len(const char *abs)
{
    size_t n = strlen(abs);
    while (n > 1 && abs[n - 1] == '/')
        n--;
    return n;
}

int path_parent(const char *abs, char **ret)
{
    size_t n = trimmed_len(abs);
    while (n > 0 && abs[n - 1] != '/')
        n--;
    while (n > 1 && abs[n - 1] == '/')
        n--;
    char *s = n == 0 ? strdup("/") : strndup(abs, n);
    if (!s)
        return -ENOMEM;
    *ret = s;
    return 0;
}

int path_display(const char *abs, char **ret)
{
    size_t n = trimmed_len(abs);
    size_t b = n;
    while (b > 0 && abs[b - 1] != '/')
        b--;
    const char *base = abs + b;
    size_t blen = n - b;
    char *s = NULL;
    bool whole = blen == 0 || (blen == 1 && base[0] == '.') ||
                 (blen == 2 && base[0] == '.' && base[1] == '.');
    if (whole) {
        /* "/", "x/." or "x/..": the entry is a directory, resolve all of it. */
        s = realpath(abs, NULL);
    } else {
        _cleanup_free_ char *parent = NULL;
        if (path_parent(abs, &parent) < 0)
            return -ENOMEM;
        _cleanup_free_ char *rp = realpath(parent, NULL);
        if (rp && asprintf(&s, "%s%s%.*s", rp, strcmp(rp, "/") ? "/" : "", (int)blen, base) < 0)
            s = NULL;
    }
    if (!s && !(s = strndup(abs, n)))
        return -ENOMEM;
    *ret = s;
    return 0;
}

static enum file_type type_of(mode_t m)
{
    if (S_ISREG(m))
        return FILE_TYPE_FILE;
    if (S_ISDIR(m))
        return FILE_TYPE_DIR;
    if (S_ISLNK(m))
        return FILE_TYPE_SYMLINK;
    return FILE_TYPE_OTHER;
}

/* Fills fi from st; takes ownership of path. */
static int fill(int dfd, const char *name, const struct stat *st, char *path, struct file_info *ret)
{
    struct file_info fi = {
        .path = path,
        .type = type_of(st->st_mode),
        .size = (uint64_t)st->st_size,
        .mode = st->st_mode & 07777,
        .mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000,
        .uid = st->st_uid,
        .gid = st->st_gid,
    };
    const char *slash = strrchr(path, '/');
    fi.name = strdup(slash && slash[1] ? slash + 1 : path);
    if (!fi.name) {
        msg_file_info_done(&fi);
        return -ENOMEM;
    }
    if (S_ISLNK(st->st_mode)) {
        char t[RUNRA_PATH_MAX + 1];
        ssize_t n = readlinkat(dfd, name, t, sizeof(t));
        /* A target longer than a sandbox path is reported as missing rather
         * than cut, since a cut target would name some other file. */
        if (n >= 0 && (size_t)n < sizeof(t) && !(fi.target = strndup(t, (size_t)n))) {
            msg_file_info_done(&fi);
            return -ENOMEM;
        }
    }
    *ret = fi;
    return 0;
}

int path_info(const char *abs, struct file_info *ret, struct runra_err **err)
{
    struct stat st;
    if (lstat(abs, &st) < 0)
        return err_sys(err, errno, "stat '%s'", abs);
    char *disp = NULL;
    if (path_display(abs, &disp) < 0)
        return -ENOMEM;
    return fill(AT_FDCWD, abs, &st, disp, ret);
}

int path_info_at(int dfd, const char *dir, const char *name, struct file_info *ret)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return -errno;
    char *p = NULL;
    if (asprintf(&p, "%s%s%s", dir, strcmp(dir, "/") ? "/" : "", name) < 0)
        return -ENOMEM;
    return fill(dfd, name, &st, p, ret);
}
