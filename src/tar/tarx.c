/* Tar packing and confined unpacking. Trusts nothing in an archive: names
 * are made relative and canonical with ".." refused, symlink targets must
 * stay beneath the root, hardlinks must name an entry beneath it, devices,
 * fifos and sockets are skipped and setuid/setgid/sticky bits dropped.
 *
 * Why extraction cannot leave the root: every path is walked one component
 * at a time from root_fd with openat(O_NOFOLLOW | O_DIRECTORY), names never
 * hold "..", and the final component is created with O_CREAT | O_EXCL |
 * O_NOFOLLOW, mkdirat, symlinkat or linkat (which follow nothing). A symlink
 * made by an earlier entry, or one a process in the sandbox swaps in
 * meanwhile, makes the walk fail with ELOOP/ENOTDIR instead of redirecting
 * it. The first pass also refuses names that pass through an earlier
 * symlink entry, so such an archive is rejected before anything is written. */
#include "tarx.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"

/* The most one step reads from a file or an archive. */
#define STEP_BYTES (1u << 20)
/* Headers one step of the checking pass reads. */
#define STEP_HEADERS 256
/* What the packer hands to its sink at once. */
#define SINK_CHUNK (1u << 20)

/* ---- pure name checks ---- */

int tarx_name_clean(const char *name, char **ret, struct runra_err **err)
{
    size_t n = strlen(name);
    if (n == 0)
        return err_set(err, EINVAL, "entry with an empty name");
    if (n > RUNRA_TAR_NAME_MAX)
        return err_set(err, ENAMETOOLONG, "entry name longer than %u bytes",
                       (unsigned)RUNRA_TAR_NAME_MAX);
    if (name[0] == '/')
        return err_set(err, EINVAL, "entry '%s': absolute name", name);
    char *out = malloc(n + 2);
    if (!out)
        return -ENOMEM;
    size_t o = 0;
    const char *p = name;
    while (*p) {
        const char *s = strchr(p, '/');
        size_t len = s ? (size_t)(s - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            free(out);
            return err_set(err, EINVAL, "entry '%s': '..' in the name", name);
        }
        if (len > NAME_MAX) {
            free(out);
            return err_set(err, ENAMETOOLONG, "entry '%s': a component over %d bytes", name,
                           NAME_MAX);
        }
        if (len > 0 && !(len == 1 && p[0] == '.')) {
            if (o > 0)
                out[o++] = '/';
            memcpy(out + o, p, len);
            o += len;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    if (o == 0)
        out[o++] = '.';
    out[o] = 0;
    *ret = out;
    return 0;
}

bool tarx_symlink_inside(const char *name, const char *target)
{
    if (!target[0] || target[0] == '/')
        return false;
    /* The depth of the directory holding the link. */
    long depth = 0;
    if (strcmp(name, ".") != 0)
        for (const char *p = name; *p; p++)
            depth += *p == '/';
    bool descended = false;
    const char *p = target;
    while (*p) {
        const char *s = strchr(p, '/');
        size_t len = s ? (size_t)(s - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.') {
            /* ".." after a name could climb out of whatever that name
             * resolves to (another symlink), so only leading ones count. */
            if (descended || --depth < 0)
                return false;
        } else if (len > 0 && !(len == 1 && p[0] == '.')) {
            descended = true;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    return true;
}

/* ---- a small string set: the symlink entries seen by the checking pass ---- */

struct strset {
    char **slot;
    size_t cap, n;
    size_t bytes; /* of the names held, bounded by RUNRA_TAR_LINK_NAMES_MAX */
};

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
    return h;
}

static bool strset_has(const struct strset *set, const char *s, size_t n)
{
    if (!set->cap)
        return false;
    for (size_t i = hash(s, n) & (set->cap - 1);; i = (i + 1) & (set->cap - 1)) {
        const char *v = set->slot[i];
        if (!v)
            return false;
        if (strlen(v) == n && memcmp(v, s, n) == 0)
            return true;
    }
}

static int strset_add(struct strset *set, const char *s)
{
    if (strset_has(set, s, strlen(s)))
        return 0;
    /* A few hundred KiB of gzip can hold 100,000 long symlink names; what
     * the checker remembers of them is bounded like everything else. */
    if (set->bytes + strlen(s) + 1 + 2 * sizeof(char *) > RUNRA_TAR_LINK_NAMES_MAX)
        return -E2BIG;
    if ((set->n + 1) * 2 > set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        char **slot = calloc(cap, sizeof(*slot));
        if (!slot)
            return -ENOMEM;
        for (size_t i = 0; i < set->cap; i++) {
            char *v = set->slot[i];
            if (!v)
                continue;
            size_t j = hash(v, strlen(v)) & (cap - 1);
            while (slot[j])
                j = (j + 1) & (cap - 1);
            slot[j] = v;
        }
        free(set->slot);
        set->slot = slot;
        set->cap = cap;
    }
    char *v = strdup(s);
    if (!v)
        return -ENOMEM;
    size_t j = hash(v, strlen(v)) & (set->cap - 1);
    while (set->slot[j])
        j = (j + 1) & (set->cap - 1);
    set->slot[j] = v;
    set->n++;
    set->bytes += strlen(v) + 1 + 2 * sizeof(char *);
    return 0;
}

static void strset_done(struct strset *set)
{
    for (size_t i = 0; i < set->cap; i++)
        free(set->slot[i]);
    free(set->slot);
    *set = (struct strset){0};
}

/* The first symlink entry that name passes through, as a length, or 0. */
static size_t through_symlink(const struct strset *links, const char *name)
{
    for (const char *p = strchr(name, '/'); p; p = strchr(p + 1, '/'))
        if (strset_has(links, name, (size_t)(p - name)))
            return (size_t)(p - name);
    return 0;
}

/* ---- packing ---- */

struct level {
    DIR *d;
    char *rel; /* "" for the root, else "a/b/" */
};

struct tarx_pack {
    struct archive *a;
    struct archive_entry *e;
    tarx_sink sink;
    void *userdata;
    int sink_r;
    uint8_t *out; /* SINK_CHUNK bytes gathered for the sink */
    size_t out_len;
    struct level stack[RUNRA_TAR_DEPTH_MAX];
    size_t depth;
    int file_fd; /* the regular file being written, or -1 */
    char *file_name;
    uint64_t file_left;
    uint8_t *buf; /* STEP_BYTES */
    struct tar_result res;
    bool closed;
};

static int flush_out(struct tarx_pack *p)
{
    if (p->out_len == 0 || p->sink_r < 0)
        return p->sink_r;
    p->sink_r = p->sink(p->userdata, p->out, p->out_len);
    p->out_len = 0;
    return p->sink_r;
}

static la_ssize_t pack_write_cb(struct archive *a, void *ud, const void *buf, size_t n)
{
    struct tarx_pack *p = ud;
    const uint8_t *b = buf;
    size_t left = n;
    while (left > 0) {
        size_t take = SINK_CHUNK - p->out_len < left ? SINK_CHUNK - p->out_len : left;
        memcpy(p->out + p->out_len, b, take);
        p->out_len += take;
        b += take;
        left -= take;
        if (p->out_len == SINK_CHUNK && flush_out(p) < 0) {
            archive_set_error(a, -p->sink_r, "sending the archive failed");
            return -1;
        }
    }
    return (la_ssize_t)n;
}

void tarx_pack_free(struct tarx_pack *p)
{
    if (!p)
        return;
    if (p->a)
        archive_write_free(p->a); /* frees without flushing when not closed */
    archive_entry_free(p->e);
    for (size_t i = 0; i < p->depth; i++) {
        closedir(p->stack[i].d);
        free(p->stack[i].rel);
    }
    closep(&p->file_fd);
    free(p->file_name);
    free(p->out);
    free(p->buf);
    free(p);
}
DEFINE_CLEANUP(struct tarx_pack, tarx_pack_free)

static int archive_fail(struct archive *a, const char *what, struct runra_err **err)
{
    int e = archive_errno(a);
    const char *msg = archive_error_string(a);
    return err_set(err, e > 0 ? e : EIO, "%s: %s", what, msg ? msg : "archive error");
}

int tarx_pack_new(int root_fd, tarx_sink sink, void *userdata, struct tarx_pack **ret,
                  struct runra_err **err)
{
    _cleanup_close_ int fd = root_fd;
    _cleanup_(tarx_pack_freep) struct tarx_pack *p = calloc(1, sizeof(*p));
    if (!p)
        return -ENOMEM;
    p->file_fd = -1;
    p->sink = sink;
    p->userdata = userdata;
    p->out = malloc(SINK_CHUNK);
    p->buf = malloc(STEP_BYTES);
    p->a = archive_write_new();
    p->e = archive_entry_new();
    if (!p->out || !p->buf || !p->a || !p->e)
        return -ENOMEM;
    /* Restricted pax: plain ustar headers, plus a pax header only where
     * ustar falls short (long names, large sizes). A name the C locale cannot
     * convert is written as its raw bytes with hdrcharset=BINARY. */
    if (archive_write_set_format_pax_restricted(p->a) != ARCHIVE_OK ||
        archive_write_open2(p->a, p, NULL, pack_write_cb, NULL, NULL) != ARCHIVE_OK)
        return archive_fail(p->a, "start the archive", err);
    DIR *d = fdopendir(fd);
    if (!d)
        return err_sys(err, errno, "open the directory");
    fd = -1;
    p->stack[0] = (struct level){.d = d, .rel = strdup("")};
    p->depth = 1;
    if (!p->stack[0].rel)
        return -ENOMEM;
    *ret = TAKE_PTR(p);
    return 0;
}

/* Streams one piece of the open file into the archive. */
static int pack_file_data(struct tarx_pack *p, struct runra_err **err)
{
    size_t want = p->file_left < STEP_BYTES ? (size_t)p->file_left : STEP_BYTES;
    ssize_t n = 0;
    if (want > 0) {
        do
            n = read(p->file_fd, p->buf, want);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            return err_sys(err, errno, "read '%s'", p->file_name);
    }
    if (n > 0) {
        if (archive_write_data(p->a, p->buf, (size_t)n) < 0)
            return archive_fail(p->a, p->file_name, err);
        p->file_left -= (uint64_t)n;
        p->res.bytes += (uint64_t)n;
        return 0;
    }
    /* At the end, or the file shrank: the archive pads the entry with zeros
     * to the size its header announced. */
    closep(&p->file_fd);
    p->file_fd = -1;
    if (archive_write_finish_entry(p->a) < ARCHIVE_WARN)
        return archive_fail(p->a, p->file_name, err);
    return 0;
}

static int pack_entry(struct tarx_pack *p, struct level *lv, const char *name,
                      struct runra_err **err)
{
    int dfd = dirfd(lv->d);
    _cleanup_free_ char *rel = NULL;
    if (asprintf(&rel, "%s%s", lv->rel, name) < 0)
        return -ENOMEM;
    if (strlen(rel) > RUNRA_TAR_NAME_MAX)
        return err_set(err, ENAMETOOLONG, "'%s': name longer than %u bytes", rel,
                       (unsigned)RUNRA_TAR_NAME_MAX);
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return 0; /* removed meanwhile */
        return err_sys(err, errno, "stat '%s'", rel);
    }
    _cleanup_close_ int fd = -1;
    char target[RUNRA_TAR_NAME_MAX + 1];
    if (S_ISREG(st.st_mode)) {
        /* Open first and describe what was opened, not what was stat'ed. */
        fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return errno == ENOENT ? 0 : err_sys(err, errno, "open '%s'", rel);
        if (fstat(fd, &st) < 0)
            return err_sys(err, errno, "stat '%s'", rel);
        if (!S_ISREG(st.st_mode))
            return 0;
    } else if (S_ISDIR(st.st_mode)) {
        if (p->depth >= RUNRA_TAR_DEPTH_MAX)
            return err_set(err, E2BIG, "'%s': deeper than %d directories", rel,
                           RUNRA_TAR_DEPTH_MAX);
        fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return errno == ENOENT ? 0 : err_sys(err, errno, "open '%s'", rel);
    } else if (S_ISLNK(st.st_mode)) {
        ssize_t n = readlinkat(dfd, name, target, sizeof(target) - 1);
        if (n < 0)
            return errno == ENOENT ? 0 : err_sys(err, errno, "readlink '%s'", rel);
        target[n] = 0;
    } else {
        p->res.skipped++;
        return 0;
    }
    if (p->res.entries >= RUNRA_TAR_ENTRIES_MAX)
        return err_set(err, E2BIG, "more than %u entries", RUNRA_TAR_ENTRIES_MAX);

    archive_entry_clear(p->e);
    archive_entry_copy_pathname(p->e, rel);
    archive_entry_set_mode(p->e, st.st_mode & (S_IFMT | 07777));
    archive_entry_set_mtime(p->e, st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
    archive_entry_set_uid(p->e, st.st_uid);
    archive_entry_set_gid(p->e, st.st_gid);
    archive_entry_set_size(p->e, S_ISREG(st.st_mode) ? st.st_size : 0);
    if (S_ISLNK(st.st_mode))
        archive_entry_copy_symlink(p->e, target);
    if (archive_write_header(p->a, p->e) < ARCHIVE_WARN)
        return archive_fail(p->a, rel, err);
    p->res.entries++;

    if (S_ISREG(st.st_mode)) {
        p->file_fd = TAKE_FD(fd);
        p->file_left = (uint64_t)st.st_size;
        free(p->file_name);
        p->file_name = TAKE_PTR(rel);
        return 0;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = fdopendir(fd);
        if (!d)
            return err_sys(err, errno, "open '%s'", rel);
        fd = -1;
        char *prefix = NULL;
        if (asprintf(&prefix, "%s/", rel) < 0) {
            closedir(d);
            return -ENOMEM;
        }
        p->stack[p->depth++] = (struct level){.d = d, .rel = prefix};
    }
    return 0;
}

int tarx_pack_step(struct tarx_pack *p, struct runra_err **err)
{
    if (p->closed)
        return 1;
    int r;
    if (p->file_fd >= 0)
        r = pack_file_data(p, err);
    else if (p->depth == 0) {
        if (archive_write_close(p->a) != ARCHIVE_OK)
            return archive_fail(p->a, "finish the archive", err);
        r = flush_out(p);
        if (r < 0)
            return err_set(err, -r, "sending the archive failed");
        p->closed = true;
        return 1;
    } else {
        struct level *lv = &p->stack[p->depth - 1];
        errno = 0;
        struct dirent *de = readdir(lv->d);
        if (!de) {
            if (errno)
                return err_sys(err, errno, "read directory '%s'", lv->rel);
            closedir(lv->d);
            free(lv->rel);
            p->depth--;
            return 0;
        }
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            return 0;
        r = pack_entry(p, lv, de->d_name, err);
    }
    if (r >= 0 && p->sink_r < 0)
        r = err_set(err, -p->sink_r, "sending the archive failed");
    return r < 0 ? r : 0;
}

void tarx_pack_stats(const struct tarx_pack *p, struct tar_result *ret) { *ret = p->res; }

/* ---- unpacking ---- */

enum pass { PASS_CHECK, PASS_EXTRACT, PASS_DONE };

struct tarx_unpack {
    int afd;
    int root;
    struct archive *a;
    enum pass pass;
    struct strset links;
    uint64_t seen; /* headers read in this pass */
    int out_fd;    /* the regular file being written, or -1 */
    char *cur;     /* the current entry's clean name */
    uint32_t cur_mode;
    struct timespec cur_mtime[2];
    uint8_t *buf;  /* STEP_BYTES */
    struct tar_result res;
};

void tarx_unpack_free(struct tarx_unpack *u)
{
    if (!u)
        return;
    if (u->a)
        archive_read_free(u->a);
    closep(&u->afd);
    closep(&u->root);
    closep(&u->out_fd);
    strset_done(&u->links);
    free(u->cur);
    free(u->buf);
    free(u);
}
DEFINE_CLEANUP(struct tarx_unpack, tarx_unpack_free)

static int open_reader(struct tarx_unpack *u, struct runra_err **err)
{
    if (u->a)
        archive_read_free(u->a);
    u->a = NULL;
    if (lseek(u->afd, 0, SEEK_SET) < 0)
        return err_sys(err, errno, "rewind the archive");
    u->a = archive_read_new();
    if (!u->a)
        return -ENOMEM;
    /* tar (ustar, pax, GNU) only, plain or gzip: a small, well-trodden
     * part of libarchive, and the only formats the API promises. */
    if (archive_read_support_format_tar(u->a) != ARCHIVE_OK ||
        archive_read_support_filter_gzip(u->a) != ARCHIVE_OK ||
        archive_read_open_fd(u->a, u->afd, 64 * 1024) != ARCHIVE_OK)
        return err_set(err, EINVAL, "not a tar archive: %s",
                       archive_error_string(u->a) ? archive_error_string(u->a) : "unreadable");
    u->seen = 0;
    return 0;
}

int tarx_unpack_new(int archive_fd, int root_fd, struct tarx_unpack **ret,
                    struct runra_err **err)
{
    _cleanup_close_ int afd = archive_fd, root = root_fd;
    _cleanup_(tarx_unpack_freep) struct tarx_unpack *u = calloc(1, sizeof(*u));
    if (!u)
        return -ENOMEM;
    u->afd = TAKE_FD(afd);
    u->root = TAKE_FD(root);
    u->out_fd = -1;
    u->buf = malloc(STEP_BYTES);
    if (!u->buf)
        return -ENOMEM;
    int r = open_reader(u, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(u);
    return 0;
}

void tarx_unpack_stats(const struct tarx_unpack *u, struct tar_result *ret) { *ret = u->res; }

/* Reads the next header: 1 with *ret_e set, 0 at the end, or -errno. */
static int next_header(struct tarx_unpack *u, struct archive_entry **ret_e,
                       struct runra_err **err)
{
    int r = archive_read_next_header(u->a, ret_e);
    if (r == ARCHIVE_EOF)
        return 0;
    /* ARCHIVE_WARN covers names the C locale cannot convert; the raw bytes
     * are used as they are. */
    if (r < ARCHIVE_WARN)
        return err_set(err, EINVAL, "corrupt or truncated archive after %llu entries: %s",
                       (unsigned long long)u->seen,
                       archive_error_string(u->a) ? archive_error_string(u->a) : "unreadable");
    u->seen++;
    return 1;
}

/* The checks of the first pass, for one entry. */
static int check_entry(struct tarx_unpack *u, struct archive_entry *e, struct runra_err **err)
{
    const char *raw = archive_entry_pathname(e);
    if (!raw)
        return err_set(err, EINVAL, "entry #%llu has no name", (unsigned long long)u->seen);
    _cleanup_free_ char *name = NULL;
    int r = tarx_name_clean(raw, &name, err);
    if (r < 0)
        return r;
    if (u->seen > RUNRA_TAR_ENTRIES_MAX)
        return err_set(err, E2BIG, "archive has more than %u entries", RUNRA_TAR_ENTRIES_MAX);
    size_t through = through_symlink(&u->links, name);
    if (through)
        return err_set(err, EINVAL, "entry '%s': passes through the symlink '%.*s'", raw,
                       (int)through, name);
    const char *hard = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    if (hard) {
        _cleanup_free_ char *t = NULL;
        _cleanup_err_ struct runra_err *te = NULL;
        if (tarx_name_clean(hard, &t, &te) < 0 || !strcmp(t, "."))
            return err_set(err, EINVAL, "entry '%s': hardlink to '%s' outside the target", raw,
                           hard);
        if ((through = through_symlink(&u->links, t)) != 0 || strset_has(&u->links, t, strlen(t)))
            return err_set(err, EINVAL, "entry '%s': hardlink through the symlink '%s'", raw, t);
    } else if (type == AE_IFLNK) {
        const char *target = archive_entry_symlink(e);
        if (!target || strlen(target) > RUNRA_TAR_NAME_MAX ||
            !tarx_symlink_inside(name, target))
            return err_set(err, EINVAL, "entry '%s': symlink to '%s' leaves the target", raw,
                           target ? target : "");
        if ((r = strset_add(&u->links, name)) < 0)
            return r == -E2BIG ? err_set(err, E2BIG, "entry '%s': more symlinks than %u bytes of names",
                                         raw, RUNRA_TAR_LINK_NAMES_MAX)
                               : r;
    } else if (type == AE_IFREG) {
        if (archive_entry_size(e) < 0 || (uint64_t)archive_entry_size(e) > RUNRA_TAR_ENTRY_MAX)
            return err_set(err, EFBIG, "entry '%s': larger than %llu bytes", raw,
                           (unsigned long long)RUNRA_TAR_ENTRY_MAX);
    }
    if (archive_read_data_skip(u->a) < ARCHIVE_WARN)
        return err_set(err, EINVAL, "entry '%s': corrupt or truncated archive: %s", raw,
                       archive_error_string(u->a) ? archive_error_string(u->a) : "unreadable");
    return 0;
}

/* Opens the directory at clean relative path rel beneath the root, one
 * component at a time without following symlinks; creates missing ones
 * when create is set. */
static int walk(int root, const char *rel, bool create, int *ret_fd)
{
    _cleanup_close_ int fd = fcntl(root, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return -errno;
    if (!strcmp(rel, "."))
        goto done;
    char comp[NAME_MAX + 1];
    for (const char *p = rel; *p;) {
        const char *s = strchr(p, '/');
        size_t len = s ? (size_t)(s - p) : strlen(p);
        if (len == 0 || len > NAME_MAX)
            return -EINVAL;
        memcpy(comp, p, len);
        comp[len] = 0;
        if (create && mkdirat(fd, comp, 0755) < 0 && errno != EEXIST)
            return -errno;
        int nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (nfd < 0)
            return -errno;
        closep(&fd);
        fd = nfd;
        p += len;
        if (*p == '/')
            p++;
    }
done:
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* Splits a clean name into its parent ("." at the top) and last component. */
static int split(const char *name, char **ret_parent, const char **ret_base)
{
    const char *s = strrchr(name, '/');
    char *parent = s ? strndup(name, (size_t)(s - name)) : strdup(".");
    if (!parent)
        return -ENOMEM;
    *ret_parent = parent;
    *ret_base = s ? s + 1 : name;
    return 0;
}

/* Makes room for a new non-directory: an old file or symlink goes; an old
 * directory stays and the entry fails. */
static int clear_slot(int pfd, const char *base)
{
    if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT)
        return -errno;
    return 0;
}

static int extract_entry(struct tarx_unpack *u, struct archive_entry *e, const char **ret_op)
{
    const char *base;
    _cleanup_free_ char *parent = NULL;
    _cleanup_close_ int pfd = -1, fd = -1;
    *ret_op = "create parent directories";
    int r = split(u->cur, &parent, &base);
    if (r < 0)
        return r;
    if ((r = walk(u->root, parent, true, &pfd)) < 0)
        return r;
    uint32_t perm = archive_entry_perm(e) & 0777; /* no setuid, setgid or sticky */
    const char *hard = archive_entry_hardlink(e);
    mode_t type = archive_entry_filetype(e);
    if (hard) {
        _cleanup_free_ char *t = NULL, *tparent = NULL;
        _cleanup_close_ int tfd = -1;
        const char *tbase;
        *ret_op = "hardlink";
        if ((r = tarx_name_clean(hard, &t, NULL)) < 0 || !strcmp(t, "."))
            return -EINVAL;
        if ((r = split(t, &tparent, &tbase)) < 0 || (r = walk(u->root, tparent, false, &tfd)) < 0)
            return r;
        if ((r = clear_slot(pfd, base)) < 0)
            return r;
        return linkat(tfd, tbase, pfd, base, 0) < 0 ? -errno : 0;
    }
    switch (type) {
    case AE_IFDIR:
        *ret_op = "mkdir";
        if (!strcmp(u->cur, "."))
            return 0;
        bool made = mkdirat(pfd, base, 0700) == 0;
        if (!made && errno != EEXIST)
            return -errno;
        fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        /* A directory that was already there keeps its mode: an archive
         * must not open up, say, an existing ~/.ssh on a host download.
         * The owner keeps write access so the entries inside can follow. */
        if (!made)
            return 0;
        return fchmod(fd, perm | S_IRWXU) < 0 ? -errno : 0;
    case AE_IFLNK:
        *ret_op = "symlink";
        if ((r = clear_slot(pfd, base)) < 0)
            return r;
        return symlinkat(archive_entry_symlink(e), pfd, base) < 0 ? -errno : 0;
    case AE_IFREG:
        *ret_op = "create";
        if ((r = clear_slot(pfd, base)) < 0)
            return r;
        u->out_fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (u->out_fd < 0)
            return -errno;
        u->cur_mode = perm;
        u->cur_mtime[0] = (struct timespec){.tv_nsec = UTIME_OMIT};
        u->cur_mtime[1] = (struct timespec){archive_entry_mtime(e), archive_entry_mtime_nsec(e)};
        return 0;
    default:
        /* Devices, fifos and sockets are never created. */
        u->res.skipped++;
        return 0;
    }
}

static int extract_fail(struct tarx_unpack *u, int r, const char *op, struct runra_err **err)
{
    return err_set(err, r < 0 ? -r : r,
                   "entry '%s': %s: %s; %llu entries (%llu bytes) were extracted before it",
                   u->cur ? u->cur : "?", op, strerror(r < 0 ? -r : r),
                   (unsigned long long)u->res.entries, (unsigned long long)u->res.bytes);
}

static int extract_data(struct tarx_unpack *u, struct runra_err **err)
{
    la_ssize_t n = archive_read_data(u->a, u->buf, STEP_BYTES);
    if (n < 0)
        return err_set(err, EINVAL, "entry '%s': corrupt archive: %s", u->cur,
                       archive_error_string(u->a) ? archive_error_string(u->a) : "unreadable");
    if (n > 0) {
        int r = write_full(u->out_fd, u->buf, (size_t)n);
        if (r < 0)
            return extract_fail(u, r, "write", err);
        u->res.bytes += (uint64_t)n;
        return 0;
    }
    if (fchmod(u->out_fd, u->cur_mode) < 0 || futimens(u->out_fd, u->cur_mtime) < 0)
        return extract_fail(u, -errno, "set mode", err);
    int fd = TAKE_FD(u->out_fd);
    if (close(fd) < 0 && errno != EINTR)
        return extract_fail(u, -errno, "close", err);
    u->res.entries++;
    return 0;
}

int tarx_unpack_step(struct tarx_unpack *u, struct runra_err **err)
{
    struct archive_entry *e;
    int r;
    switch (u->pass) {
    case PASS_CHECK:
        for (int i = 0; i < STEP_HEADERS; i++) {
            r = next_header(u, &e, err);
            if (r < 0)
                return r;
            if (r == 0) {
                u->pass = PASS_EXTRACT;
                return open_reader(u, err);
            }
            if ((r = check_entry(u, e, err)) < 0)
                return r;
        }
        return 0;
    case PASS_EXTRACT:
        if (u->out_fd >= 0)
            return extract_data(u, err);
        r = next_header(u, &e, err);
        if (r < 0)
            return r;
        if (r == 0) {
            u->pass = PASS_DONE;
            return 1;
        }
        free(u->cur);
        u->cur = NULL;
        if ((r = tarx_name_clean(archive_entry_pathname(e), &u->cur, err)) < 0)
            return r;
        const char *op = "extract";
        uint64_t skipped = u->res.skipped;
        r = extract_entry(u, e, &op);
        if (r < 0)
            return extract_fail(u, r, op, err);
        /* A regular file counts once its data is written. */
        if (u->out_fd < 0 && u->res.skipped == skipped)
            u->res.entries++;
        return 0;
    case PASS_DONE:
        break;
    }
    return 1;
}
