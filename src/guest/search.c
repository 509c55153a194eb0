/* Code search inside the sandbox. The tree is walked with an explicit stack
 * of open directories (no recursion, bounded depth), never following
 * symlinks, so a symlink loop cannot trap us. Files are read whole (up to
 * SEARCH_FILE_MAX) and handed to the matcher (search-match.c); each matching
 * line is reported once, with the column of its first match. Everything
 * here reads sandbox-controlled data only. */
#include "search.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/enc.h"
#include "base/util.h"
#include "gitignore.h"
#include "guest.h"
#include "path.h"
#include "proto/frame.h"
#include "proto/limits.h"
#include "proto/msg.h"
#include "proto/search.h"
#include "search-match.h"

#define SEARCH_DEPTH_MAX 256           /* directory levels below the root */
#define SLICE_MS 20                    /* work per loop turn before yielding */
#define FLUSH_AT (256u * 1024)         /* DATA frames are sent once this full */
#define BINARY_PROBE 8192              /* a NUL in this prefix marks a binary file */
#define GITIGNORE_MAX (1u << 20)       /* larger .gitignore files are ignored */
#define DIRBUF_SIZE (32u * 1024)       /* getdents64 buffer of one open directory */

/* One open directory of the walk, its entries read with getdents64 into
 * buf (no DIR: fdopendir costs an fcntl and an fstat per directory). */
struct level {
    int fd;
    size_t rel_len;     /* its path relative to the root: s->rel[0..rel_len) */
    struct gi_list gi;  /* its .gitignore rules */
    bool has_git;       /* it holds a .git */
    char *buf;
    size_t len, pos;    /* entries in buf[pos..len) are still to do */
    bool eof;           /* getdents64 has said there are no more */
};

/* A .gitignore of a directory above the search root, in the same
 * repository. */
struct ancestor {
    struct gi_list gi;
    char *to_root;      /* the root relative to that directory */
    bool has_git;
};

struct search {
    struct search_req *req;
    struct search_matcher *matcher;
    struct gi_rule *globs;
    size_t nglobs;
    bool any_positive;
    char *prefix;        /* what reported paths start with: the root as named, or "" */
    char *file_root;     /* the root when it is a single file (absolute), else NULL */
    struct level stack[SEARCH_DEPTH_MAX + 1];
    size_t depth;
    struct ancestor *anc; /* nearest first; the last one holds the .git */
    size_t nanc;
    /* The .gitignore files in force, outermost first: anc[] from the top
     * down, then one per stack[] level (scope[i] for stack[i]). */
    struct gi_scope *scopes;
    struct gi_scope *scope;
    char *rel;           /* the current entry's path relative to the root */
    size_t rel_cap;
    uint64_t deadline;
    struct search_done st;
    bool done;
    char *chunk;         /* pending DATA payload */
    size_t chunk_len;
    uint64_t out_bytes;
    char *buf;           /* the file being searched */
    size_t buf_cap;
};

static void level_done(struct level *l)
{
    if (l->fd >= 0)
        close(l->fd);
    free(l->buf);
    gi_list_done(&l->gi);
    *l = (struct level){.fd = -1};
}

void search_free(struct search *s)
{
    if (!s)
        return;
    while (s->depth > 0)
        level_done(&s->stack[--s->depth]);
    for (size_t i = 0; i < s->nanc; i++) {
        gi_list_done(&s->anc[i].gi);
        free(s->anc[i].to_root);
    }
    free(s->anc);
    free(s->scopes);
    for (size_t i = 0; i < s->nglobs; i++)
        gi_rule_done(&s->globs[i]);
    free(s->globs);
    search_matcher_free(s->matcher);
    search_req_free(s->req);
    free(s->prefix);
    free(s->file_root);
    free(s->rel);
    free(s->chunk);
    free(s->buf);
    free(s);
}
DEFINE_CLEANUP(struct search, search_free)

static int parse_globs(struct search *s)
{
    size_t n = strv_len(s->req->globs);
    if (n == 0)
        return 0;
    s->globs = calloc(n, sizeof(*s->globs));
    if (!s->globs)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *g = s->req->globs[i];
        struct gi_rule r;
        int k = gi_rule_parse(g, strlen(g), &r);
        if (k < 0)
            return k;
        if (k == 0)
            continue;
        s->any_positive |= !r.neg;
        s->globs[s->nglobs++] = r;
    }
    return 0;
}

/* Grows *p to hold at least n bytes. */
static int reserve(char **p, size_t *cap, size_t n)
{
    if (n <= *cap)
        return 0;
    size_t c = *cap ? *cap : 256;
    while (c < n)
        c *= 2;
    char *q = realloc(*p, c);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Reads dfd/.gitignore into *gi when there is one. */
static void load_gitignore(int dfd, struct gi_list *gi)
{
    _cleanup_close_ int fd =
        openat(dfd, ".gitignore", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > GITIGNORE_MAX)
        return;
    _cleanup_free_ char *text = malloc((size_t)st.st_size + 1);
    if (!text)
        return;
    ssize_t n = read(fd, text, (size_t)st.st_size);
    if (n > 0)
        gi_list_parse(text, (size_t)n, gi);
}

static bool has_entry(int dfd, const char *name)
{
    struct stat st;
    return fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Refills l->buf; sets l->eof when the directory has no more entries. */
static int fill(struct level *l)
{
    ssize_t n = getdents64(l->fd, l->buf, DIRBUF_SIZE);
    if (n < 0)
        return -errno;
    l->len = (size_t)n;
    l->pos = 0;
    l->eof = n == 0;
    return 0;
}

/* Opens a walk level for the directory at fd (taking it over), whose
 * relative path is s->rel[0..rel_len). */
static int push_dir(struct search *s, int fd, size_t rel_len)
{
    struct level *l = &s->stack[s->depth];
    *l = (struct level){.fd = fd, .rel_len = rel_len};
    int r = (l->buf = malloc(DIRBUF_SIZE)) ? fill(l) : -ENOMEM;
    if (r < 0) {
        level_done(l);
        return r;
    }
    /* Reading on into the rest of the buffer is the read that would tell us
     * the end anyway; when it does, the buffer holds the whole directory
     * and shows whether there is a .gitignore or a .git without asking.
     * (No room for one more entry is EINVAL: then we ask.) */
    if (!l->eof) {
        ssize_t n = getdents64(fd, l->buf + l->len, DIRBUF_SIZE - l->len);
        if (n > 0)
            l->len += (size_t)n;
        l->eof = n == 0;
    }
    if (!s->req->no_ignore) {
        bool gitignore = false, git = false;
        for (size_t p = 0; l->eof && p < l->len;) {
            const struct dirent64 *de = (const struct dirent64 *)(l->buf + p);
            gitignore |= !strcmp(de->d_name, ".gitignore");
            git |= !strcmp(de->d_name, ".git");
            p += de->d_reclen;
        }
        if (gitignore || !l->eof)
            load_gitignore(fd, &l->gi);
        l->has_git = l->eof ? git : has_entry(fd, ".git");
    }
    if (s->scope)
        s->scope[s->depth] = (struct gi_scope){.rules = &l->gi,
                                               .skip = rel_len ? rel_len + 1 : 0,
                                               .repo_top = l->has_git};
    s->depth++;
    return 0;
}

/* Loads the .gitignore files of the directories above the root (a
 * canonical path) up to the repository's top, the nearest one holding a
 * .git, as git and ripgrep apply them. Outside a repository none apply:
 * ripgrep's default (it respects .gitignore files only inside a git
 * repository), and a .gitignore far up, in / or a home directory, would
 * hide files for reasons the caller cannot see. The .gitignore files
 * inside the searched tree apply with or without a repository, as they
 * always have here: an agent's workspace is often not a repository yet. */
static int load_ancestors(struct search *s, const char *root)
{
    size_t n = strlen(root);
    bool found = false;
    while (!found && n > 1) {
        size_t e = n;
        while (e > 0 && root[e - 1] != '/')
            e--;
        size_t dlen = e > 1 ? e - 1 : 1; /* the parent, without its trailing slash */
        _cleanup_free_ char *dir = strndup(root, dlen);
        if (!dir)
            return -ENOMEM;
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            break;
        struct ancestor *v = realloc(s->anc, (s->nanc + 1) * sizeof(*v));
        if (!v)
            return -ENOMEM;
        s->anc = v;
        struct ancestor *a = &s->anc[s->nanc];
        *a = (struct ancestor){0};
        if (!(a->to_root = strdup(root + e)))
            return -ENOMEM;
        s->nanc++;
        load_gitignore(fd, &a->gi);
        found = a->has_git = has_entry(fd, ".git");
        n = dlen;
    }
    if (!found) {
        for (size_t i = 0; i < s->nanc; i++) {
            gi_list_done(&s->anc[i].gi);
            free(s->anc[i].to_root);
        }
        s->nanc = 0;
    }
    return 0;
}

/* Lays out the scopes once the root is open: the ancestors from the top
 * down, then the root's level; push_dir adds the deeper ones. */
static int set_scopes(struct search *s)
{
    s->scopes = calloc(s->nanc + SEARCH_DEPTH_MAX + 1, sizeof(*s->scopes));
    if (!s->scopes)
        return -ENOMEM;
    for (size_t i = 0; i < s->nanc; i++) {
        const struct ancestor *a = &s->anc[s->nanc - 1 - i];
        s->scopes[i] = (struct gi_scope){.rules = &a->gi, .prefix = a->to_root,
                                         .repo_top = a->has_git};
    }
    s->scope = s->scopes + s->nanc;
    s->scope[0] = (struct gi_scope){.rules = &s->stack[0].gi, .repo_top = s->stack[0].has_git};
    return 0;
}

int search_start(const char *workdir, const void *payload, size_t len, struct search **ret,
                 struct runra_err **err)
{
    _cleanup_(search_freep) struct search *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int r = search_req_decode(payload, len, &s->req, err);
    if (r < 0)
        return r;
    if ((r = search_matcher_new(s->req->pattern, s->req->ignore_case, &s->matcher, err)) < 0 ||
        (r = parse_globs(s)) < 0)
        return r;
    _cleanup_free_ char *abs = NULL;
    r = path_resolve(workdir, s->req->path ? s->req->path : workdir, &abs, err);
    if (r < 0)
        return r;
    /* Reported paths start the way the caller named the root, as ripgrep's do. */
    if (s->req->path) {
        size_t n = strlen(s->req->path);
        while (n > 1 && s->req->path[n - 1] == '/')
            n--;
        s->prefix = strndup(s->req->path, n);
    } else {
        s->prefix = strdup("");
    }
    if (!s->prefix || reserve(&s->rel, &s->rel_cap, 1) < 0)
        return -ENOMEM;
    s->rel[0] = '\0';
    int fd = open(abs, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return err_sys(err, errno, "search '%s'", abs);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        r = err_sys(err, errno, "search '%s'", abs);
        close(fd);
        return r;
    }
    if (S_ISREG(st.st_mode)) {
        close(fd);
        s->file_root = TAKE_PTR(abs);
    } else if (S_ISDIR(st.st_mode)) {
        if ((r = push_dir(s, fd, 0)) < 0)
            return err_sys(err, -r, "search '%s'", abs);
        if (!s->req->no_ignore && !s->stack[0].has_git) {
            _cleanup_free_ char *real = realpath(abs, NULL);
            if (real && (r = load_ancestors(s, real)) < 0)
                return r;
        }
        if (!s->req->no_ignore && (r = set_scopes(s)) < 0)
            return r;
    } else {
        close(fd);
        return err_set(err, EINVAL, "search '%s': not a directory or regular file", abs);
    }
    s->deadline = now_ms() + s->req->timeout_ms;
    *ret = TAKE_PTR(s);
    return 0;
}

/* A reported line: cut at SEARCH_LINE_MAX on a character boundary, without
 * a trailing CR, NULs blanked, repaired to valid UTF-8. */
static char *line_text(const char *p, size_t n)
{
    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (n > SEARCH_LINE_MAX) {
        n = SEARCH_LINE_MAX;
        while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
            n--;
    }
    /* Most lines are plain ASCII and need no repair. */
    size_t i = 0;
    while (i < n && (unsigned char)p[i] - 1u < 0x7fu)
        i++;
    if (i == n)
        return strndup(p, n);
    char tmp[SEARCH_LINE_MAX];
    memcpy(tmp, p, n);
    for (i = 0; i < n; i++)
        if (tmp[i] == '\0')
            tmp[i] = ' ';
    char *out = NULL;
    size_t olen = 0;
    if (utf8_sanitize(tmp, n, &out, &olen) < 0)
        return NULL;
    return out;
}

static bool out_full(struct search *s) { return s->out_bytes >= SEARCH_OUTPUT_MAX; }

static void flush(struct guest *g, uint32_t id, struct search *s)
{
    if (s->chunk_len > 0)
        guest_send(g, FRAME_DATA, id, s->chunk, s->chunk_len);
    s->chunk_len = 0;
}

static int emit(struct guest *g, uint32_t id, struct search *s, const struct search_match *m)
{
    _cleanup_free_ char *rec = NULL;
    int r = search_match_encode(m, &rec);
    if (r < 0)
        return r;
    size_t n = strlen(rec);
    if (n + 1 > RUNRA_FRAME_MAX_PAYLOAD)
        return -E2BIG;
    if (s->out_bytes + n + 1 > SEARCH_OUTPUT_MAX) {
        s->out_bytes = SEARCH_OUTPUT_MAX;
        s->st.truncated = true;
        s->done = true;
        return 0;
    }
    if (s->chunk_len + n + 1 > RUNRA_FRAME_MAX_PAYLOAD)
        flush(g, id, s);
    if (!s->chunk && !(s->chunk = malloc(RUNRA_FRAME_MAX_PAYLOAD)))
        return -ENOMEM;
    memcpy(s->chunk + s->chunk_len, rec, n);
    s->chunk[s->chunk_len + n] = '\n';
    s->chunk_len += n + 1;
    s->out_bytes += n + 1;
    s->st.matches++;
    if (s->chunk_len >= FLUSH_AT)
        flush(g, id, s);
    return 0;
}

/* Up to want context lines before the line starting at ls (in file order)
 * or after the line ending at le. */
static char **context(const char *buf, size_t len, size_t ls, size_t le, uint32_t want,
                      bool before)
{
    if (want == 0)
        return NULL;
    char **v = calloc(want + 1, sizeof(char *));
    if (!v)
        return NULL;
    size_t n = 0;
    if (before) {
        while (n < want && ls > 0) {
            size_t pe = ls - 1;
            const char *nl = pe > 0 ? memrchr(buf, '\n', pe) : NULL;
            size_t ps = nl ? (size_t)(nl - buf) + 1 : 0;
            if (!(v[n++] = line_text(buf + ps, pe - ps)))
                goto fail;
            ls = ps;
        }
        for (size_t i = 0; i < n / 2; i++) {
            char *t = v[i];
            v[i] = v[n - 1 - i];
            v[n - 1 - i] = t;
        }
    } else {
        size_t p = le + 1;
        while (n < want && p < len) {
            const char *nl = memchr(buf + p, '\n', len - p);
            size_t e = nl ? (size_t)(nl - buf) : len;
            if (!(v[n++] = line_text(buf + p, e - p)))
                goto fail;
            p = e + 1;
        }
    }
    if (n == 0) {
        free(v);
        return NULL;
    }
    return v;
fail:
    strv_free(v);
    return NULL;
}

static bool limit_hit(struct search *s)
{
    if (s->st.matches >= s->req->max_results || out_full(s)) {
        s->st.truncated = true;
        s->done = true;
        return true;
    }
    return false;
}

/* The root as the caller named it joined with rel ("" for the root), as
 * valid UTF-8: a file name that is not becomes U+FFFD where it breaks,
 * as file watch events show it, rather than failing the whole search. */
static char *display_path(const struct search *s, const char *rel)
{
    const char *pre = s->prefix;
    _cleanup_free_ char *p = NULL;
    if (!pre[0] || !rel[0])
        p = strdup(pre[0] ? pre : rel);
    else if (asprintf(&p, "%s%s%s", pre, pre[strlen(pre) - 1] == '/' ? "" : "/", rel) < 0)
        p = NULL;
    if (!p)
        return NULL;
    char *out = NULL;
    size_t olen;
    return utf8_sanitize(p, strlen(p), &out, &olen) < 0 ? NULL : out;
}

/* Scans the file in s->buf; rel is its path for display. */
static int scan(struct guest *g, uint32_t id, struct search *s, size_t len, const char *rel)
{
    const char *buf = s->buf;
    size_t counted = 0;
    uint64_t line = 1;
    _cleanup_free_ char *path = NULL; /* made at the first match */
    struct search_cursor cur = {0};
    struct search_line hit;
    int k;
    while ((k = search_matcher_next(s->matcher, buf, len, &cur, &hit)) == 1) {
        for (const char *p = buf + counted; (p = memchr(p, '\n', (size_t)(buf + hit.start - p)));
             p++)
            line++;
        counted = hit.start;
        if (limit_hit(s))
            return 0;
        if (!path && !(path = display_path(s, rel)))
            return -ENOMEM;
        struct search_match m = {.line = line, .column = hit.match - hit.start + 1,
                                 .path = path};
        m.text = line_text(buf + hit.start, hit.end - hit.start);
        m.before = context(buf, len, hit.start, hit.end, s->req->context, true);
        m.after = context(buf, len, hit.start, hit.end, s->req->context, false);
        int r = m.text ? emit(g, id, s, &m) : -ENOMEM;
        m.path = NULL; /* borrowed */
        search_match_done(&m);
        if (r < 0)
            return r;
        if (s->done)
            return 0;
    }
    /* Match or JIT stack limits: the rest of this file's answer is unknown. */
    if (k < 0)
        s->st.truncated = true;
    return 0;
}

/* Reads and scans one regular file opened at fd. */
static int search_fd(struct guest *g, uint32_t id, struct search *s, int fd, const char *rel)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return 0;
    if (st.st_size > SEARCH_FILE_MAX) {
        s->st.truncated = true;
        return 0;
    }
    size_t want = (size_t)st.st_size + 1;
    if (want > s->buf_cap) {
        char *b = realloc(s->buf, want);
        if (!b)
            return -ENOMEM;
        s->buf = b;
        s->buf_cap = want;
    }
    size_t len = 0;
    while (len < (size_t)st.st_size) {
        ssize_t n = read(fd, s->buf + len, (size_t)st.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    s->st.files_searched++;
    if (memchr(s->buf, '\0', len < BINARY_PROBE ? len : BINARY_PROBE))
        return 0;
    return scan(g, id, s, len, rel);
}

static bool glob_excluded(const struct search *s, const char *rel, bool is_dir)
{
    bool positive_hit = false;
    for (size_t i = 0; i < s->nglobs; i++) {
        const struct gi_rule *r = &s->globs[i];
        struct gi_rule probe = *r;
        probe.neg = false;
        if (gi_rule_match(&probe, rel, is_dir) == GI_NONE)
            continue;
        if (r->neg)
            return true;
        positive_hit = true;
    }
    return !is_dir && s->any_positive && !positive_hit;
}

static bool ignored(const struct search *s, const char *name, const char *rel, bool is_dir)
{
    if (s->req->no_ignore)
        return false;
    if (is_dir && (!strcmp(name, ".git") || !strcmp(name, "node_modules")))
        return true;
    return gi_scopes_match(s->scopes, s->nanc + s->depth, rel, is_dir) == GI_IGNORE;
}

/* Handles the next entry of the deepest open directory. */
static int walk_one(struct guest *g, uint32_t id, struct search *s)
{
    struct level *top = &s->stack[s->depth - 1];
    if (top->pos >= top->len) {
        if (!top->eof && fill(top) < 0)
            top->eof = true; /* an unreadable rest is skipped, as ripgrep does */
        if (top->eof) {
            level_done(top);
            s->depth--;
        }
        return 0;
    }
    const struct dirent64 *de = (const struct dirent64 *)(top->buf + top->pos);
    top->pos += de->d_reclen;
    const char *name = de->d_name;
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return 0;
    int dfd = top->fd;
    unsigned type = de->d_type;
    if (type == DT_UNKNOWN) {
        struct stat st;
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            return 0;
        type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
    }
    /* Symlinks are never followed, which is what makes loops harmless. */
    if (type != DT_DIR && type != DT_REG)
        return 0;
    bool is_dir = type == DT_DIR;
    size_t nlen = strlen(name), base = top->rel_len ? top->rel_len + 1 : 0;
    if (reserve(&s->rel, &s->rel_cap, base + nlen + 1) < 0)
        return -ENOMEM;
    if (base)
        s->rel[top->rel_len] = '/';
    memcpy(s->rel + base, name, nlen + 1);
    const char *rel = s->rel;
    if (ignored(s, name, rel, is_dir) || glob_excluded(s, rel, is_dir))
        return 0;
    int fd = openat(dfd, name,
                    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                        (is_dir ? O_DIRECTORY : 0));
    if (fd < 0)
        return 0; /* unreadable entries are skipped, as ripgrep does */
    if (is_dir) {
        if (s->depth > SEARCH_DEPTH_MAX) {
            close(fd);
            return 0;
        }
        int r = push_dir(s, fd, base + nlen);
        return r == -ENOMEM ? r : 0;
    }
    int r = search_fd(g, id, s, fd, rel);
    close(fd);
    return r;
}

static int run_slice(struct guest *g, uint32_t id, struct search *s)
{
    uint64_t until = now_ms() + SLICE_MS;
    if (s->file_root) {
        int fd = open(s->file_root, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
        int r = fd < 0 ? 0 : search_fd(g, id, s, fd, "");
        if (fd >= 0)
            close(fd);
        s->done = true;
        return r;
    }
    unsigned n = 0;
    while (!s->done && s->depth > 0) {
        int r = walk_one(g, id, s);
        if (r < 0)
            return r;
        if (++n % 16 == 0) {
            uint64_t now = now_ms();
            if (now >= s->deadline) {
                s->st.truncated = true;
                s->done = true;
            }
            if (now >= until || guest_busy(g))
                return 0;
        }
    }
    s->done = true;
    return 0;
}

int search_step(struct guest *g, uint32_t id, struct search *s)
{
    if (!g->conn || guest_busy(g))
        return 0;
    int r = run_slice(g, id, s);
    if (r < 0) {
        guest_send_error(g, id, -r, "search failed");
        return 1;
    }
    if (!s->done)
        return 0;
    flush(g, id, s);
    char *json = NULL;
    search_done_encode(&s->st, &json);
    guest_send_json(g, FRAME_RESULT, id, json);
    return 1;
}
