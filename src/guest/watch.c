/* File watch with inotify. Every watched directory is in a table from
 * watch descriptor to its absolute path; a recursive watch adds new
 * subdirectories as they appear and reports what was created in them before
 * their watch was in place. Events are batched into DATA frames, repeated
 * writes to one file within a batch coalesce, and a rename inside the tree
 * becomes one event when inotify delivers both halves together. */
#include "watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/enc.h"
#include "base/util.h"
#include "buf.h"
#include "guest.h"
#include "path.h"
#include "proto/frame.h"
#include "proto/watchmsg.h"

#define MASK                                                                                       \
    (IN_CREATE | IN_DELETE | IN_MODIFY | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF |           \
     IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)
/* A DATA frame is sent once this much NDJSON is gathered. */
#define BATCH_MAX (256u * 1024)
/* How deep a recursive watch descends. */
#define WATCH_DEPTH_MAX 128

struct wdir {
    int wd;
    char *path;
};

struct fwatch {
    int ifd;
    bool recursive;
    bool full; /* RUNRA_WATCH_DIRS_MAX reached: overflow was reported */
    struct wdir *dirs;
    size_t n, cap;
    struct buf out;
    char *last_write; /* the path of the last write event in this batch */
};

void watch_free(struct fwatch *w)
{
    if (!w)
        return;
    closep(&w->ifd); /* drops every inotify watch at once */
    for (size_t i = 0; i < w->n; i++)
        free(w->dirs[i].path);
    free(w->dirs);
    buf_done(&w->out);
    free(w->last_write);
    free(w);
}
DEFINE_CLEANUP(struct fwatch, watch_free)

int watch_fd(const struct fwatch *w) { return w->ifd; }

size_t watch_count(const struct guest *g)
{
    size_t n = 0;
    for (size_t i = 0; i < RUNRA_CALLS_MAX; i++)
        n += g->calls[i].kind == CALL_WATCH;
    return n;
}

static struct wdir *find_wd(struct fwatch *w, int wd)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->dirs[i].wd == wd)
            return &w->dirs[i];
    return NULL;
}

/* Appends one NDJSON event line. */
static int emit(struct fwatch *w, const char *type, const char *path, bool is_dir,
                const char *from)
{
    _cleanup_free_ char *p = NULL, *f = NULL;
    size_t pn = 0, fn = 0;
    if (path && utf8_sanitize(path, strlen(path), &p, &pn) < 0)
        return -ENOMEM;
    if (from && utf8_sanitize(from, strlen(from), &f, &fn) < 0)
        return -ENOMEM;
    json_t *j = path ? json_pack("{s:s,s:s%,s:b}", "type", type, "path", p, pn, "isDir", is_dir)
                     : json_pack("{s:s}", "type", type);
    if (j && f)
        json_object_set_new(j, "from", json_stringn(f, fn));
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return -ENOMEM;
    int r = buf_append(&w->out, s, strlen(s));
    if (r >= 0)
        r = buf_append(&w->out, "\n", 1);
    free(s);
    return r;
}

static int add_tree(struct fwatch *w, const char *path, int depth, bool report);

/* Watches one directory; with recursive, its subdirectories too. report
 * emits create events for what is already inside (a directory that was
 * just created may have filled before its watch existed). */
static int add_dir(struct fwatch *w, const char *path, int depth, bool report)
{
    if (w->n >= RUNRA_WATCH_DIRS_MAX) {
        if (!w->full)
            emit(w, "overflow", NULL, false, NULL);
        w->full = true;
        return -E2BIG;
    }
    int wd = inotify_add_watch(w->ifd, path, MASK);
    if (wd < 0)
        return -errno;
    if (!find_wd(w, wd)) {
        if (w->n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 16;
            struct wdir *d = realloc(w->dirs, cap * sizeof(*d));
            if (!d)
                return -ENOMEM;
            w->dirs = d;
            w->cap = cap;
        }
        char *p = strdup(path);
        if (!p)
            return -ENOMEM;
        w->dirs[w->n++] = (struct wdir){.wd = wd, .path = p};
    }
    if (!w->recursive && !report)
        return 0;
    return add_tree(w, path, depth, report);
}

static int add_tree(struct fwatch *w, const char *path, int depth, bool report)
{
    if (depth >= WATCH_DEPTH_MAX)
        return 0;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -errno;
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -ENOMEM;
    }
    int r = 0;
    struct dirent *de;
    while (r >= 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        _cleanup_free_ char *child = NULL;
        if (asprintf(&child, "%s/%s", strcmp(path, "/") ? path : "", de->d_name) < 0) {
            r = -ENOMEM;
            break;
        }
        bool is_dir = S_ISDIR(st.st_mode);
        if (report)
            r = emit(w, "create", child, is_dir, NULL);
        if (r >= 0 && is_dir && w->recursive) {
            r = add_dir(w, child, depth + 1, report);
            if (r == -ENOENT || r == -ENOTDIR || r == -E2BIG)
                r = 0; /* gone meanwhile, or the limit (already reported) */
        }
    }
    closedir(d);
    return r;
}

int watch_start(struct guest *g, uint32_t id, const void *payload, size_t len,
                struct fwatch **ret, struct runra_err **err)
{
    _cleanup_free_ char *path = NULL, *abs = NULL;
    bool recursive = false;
    int r = msg_watch_req_decode(payload, len, &path, &recursive, err);
    if (r < 0)
        return r;
    if (watch_count(g) >= RUNRA_WATCHERS_MAX)
        return err_set(err, EBUSY, "this sandbox already has %d watchers", RUNRA_WATCHERS_MAX);
    if ((r = path_resolve(g->workdir, path, &abs, err)) < 0)
        return r;
    struct stat st;
    if (stat(abs, &st) < 0)
        return err_sys(err, errno, "watch '%s'", abs);
    if (!S_ISDIR(st.st_mode))
        return err_sys(err, ENOTDIR, "watch '%s'", abs);
    _cleanup_(watch_freep) struct fwatch *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    w->recursive = recursive;
    w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (w->ifd < 0)
        return err_sys(err, errno, "inotify");
    r = add_dir(w, abs, 0, false);
    if (r == -E2BIG)
        return err_set(err, E2BIG, "watch '%s': more than %d directories", abs,
                       RUNRA_WATCH_DIRS_MAX);
    if (r < 0)
        return err_sys(err, -r, "watch '%s'", abs);
    static const char ready[] = "{\"type\":\"ready\"}\n";
    guest_send(g, FRAME_DATA, id, ready, sizeof(ready) - 1);
    *ret = TAKE_PTR(w);
    return 0;
}

/* A directory moved or went away: forget its watch and those beneath it
 * when it left the tree; rename their paths when it moved within it. */
static void rebase(struct fwatch *w, const char *from, const char *to)
{
    size_t fl = strlen(from);
    for (size_t i = 0; i < w->n; i++) {
        char *p = w->dirs[i].path;
        if (strncmp(p, from, fl) != 0 || (p[fl] != '/' && p[fl] != 0))
            continue;
        if (!to) {
            /* Its IN_IGNORED drops the entry. */
            inotify_rm_watch(w->ifd, w->dirs[i].wd);
            continue;
        }
        char *np = NULL;
        if (asprintf(&np, "%s%s", to, p + fl) < 0)
            np = NULL;
        if (np) {
            free(p);
            w->dirs[i].path = np;
        }
    }
}

static void drop_wd(struct fwatch *w, int wd)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->dirs[i].wd == wd) {
            free(w->dirs[i].path);
            w->dirs[i] = w->dirs[--w->n];
            return;
        }
}

static void flush(struct guest *g, uint32_t id, struct fwatch *w)
{
    while (buf_len(&w->out) > 0) {
        size_t n = buf_len(&w->out);
        if (n > RUNRA_FRAME_MAX_PAYLOAD) {
            /* Split on a line boundary so each frame holds whole events. */
            n = RUNRA_FRAME_MAX_PAYLOAD;
            const uint8_t *h = buf_head(&w->out);
            while (n > 0 && h[n - 1] != '\n')
                n--;
            if (n == 0)
                n = RUNRA_FRAME_MAX_PAYLOAD;
        }
        guest_send(g, FRAME_DATA, id, buf_head(&w->out), n);
        buf_consume(&w->out, n);
    }
    free(w->last_write);
    w->last_write = NULL;
}

static int handle(struct fwatch *w, const struct inotify_event *ev, const struct inotify_event **pending_from,
                  char **pending_path)
{
    if (ev->mask & IN_Q_OVERFLOW)
        return emit(w, "overflow", NULL, false, NULL);
    if (ev->mask & IN_IGNORED) {
        drop_wd(w, ev->wd);
        return 0;
    }
    struct wdir *d = find_wd(w, ev->wd);
    if (!d || !ev->len)
        return 0; /* IN_DELETE_SELF / IN_MOVE_SELF: the parent reports it */
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "%s/%s", strcmp(d->path, "/") ? d->path : "", ev->name) < 0)
        return -ENOMEM;
    bool is_dir = ev->mask & IN_ISDIR;
    int r = 0;
    if (ev->mask & IN_MOVED_FROM) {
        free(*pending_path);
        *pending_path = TAKE_PTR(path);
        *pending_from = ev;
        return 0;
    }
    if (ev->mask & IN_MOVED_TO) {
        if (*pending_from && (*pending_from)->cookie == ev->cookie) {
            r = emit(w, "rename", path, is_dir, *pending_path);
            if (is_dir)
                rebase(w, *pending_path, path);
            free(*pending_path);
            *pending_path = NULL;
            *pending_from = NULL;
            return r;
        }
        r = emit(w, "create", path, is_dir, NULL);
        if (r >= 0 && is_dir && w->recursive)
            add_dir(w, path, 0, true);
        return r;
    }
    if (ev->mask & IN_CREATE) {
        r = emit(w, "create", path, is_dir, NULL);
        if (r >= 0 && is_dir && w->recursive)
            add_dir(w, path, 0, true);
        return r;
    }
    if (ev->mask & IN_DELETE)
        return emit(w, "remove", path, is_dir, NULL);
    if (ev->mask & IN_MODIFY) {
        if (w->last_write && !strcmp(w->last_write, path))
            return 0;
        r = emit(w, "write", path, is_dir, NULL);
        free(w->last_write);
        w->last_write = TAKE_PTR(path);
        return r;
    }
    return 0;
}

int watch_step(struct guest *g, uint32_t id, struct fwatch *w)
{
    if (!g->conn)
        return 1;
    /* 64 KiB of events per step; aligned as inotify requires. */
    static char ev_buf[64 * 1024] __attribute__((aligned(__alignof__(struct inotify_event))));
    while (!guest_busy(g) && buf_len(&w->out) < BATCH_MAX) {
        ssize_t n = read(w->ifd, ev_buf, sizeof(ev_buf));
        if (n <= 0)
            break;
        const struct inotify_event *pending_from = NULL;
        char *pending_path = NULL;
        int r = 0;
        for (char *p = ev_buf; r >= 0 && p < ev_buf + n;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            r = handle(w, ev, &pending_from, &pending_path);
            p += sizeof(*ev) + ev->len;
        }
        /* A move whose other half is outside the tree is a removal. */
        if (r >= 0 && pending_path) {
            bool is_dir = pending_from->mask & IN_ISDIR;
            r = emit(w, "remove", pending_path, is_dir, NULL);
            if (is_dir)
                rebase(w, pending_path, NULL);
        }
        free(pending_path);
        if (r < 0) {
            guest_send_error(g, id, -r, "watch failed");
            return 1;
        }
    }
    flush(g, id, w);
    return 0;
}
