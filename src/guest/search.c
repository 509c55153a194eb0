/* Code search inside the sandbox. The tree is walked with an explicit stack
 * of open directories (no recursion, bounded depth), never following
 * symlinks, so a symlink loop cannot trap us. Files are read whole (up to
 * SEARCH_FILE_MAX) and scanned with PCRE2 (JIT when the kernel allows it) in
 * multiline mode; each matching line is reported once, with the column of
 * its first match. Everything here reads sandbox-controlled data only. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "search.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pcre2.h>
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

#define SEARCH_DEPTH_MAX 256           /* directory levels below the root */
#define SLICE_MS 20                    /* work per loop turn before yielding */
#define FLUSH_AT (256u * 1024)         /* DATA frames are sent once this full */
#define BINARY_PROBE 8192              /* a NUL in this prefix marks a binary file */
#define GITIGNORE_MAX (1u << 20)       /* larger .gitignore files are ignored */
#define JIT_STACK_MAX (1u << 20)

struct level {
    DIR *d;
    char *rel;          /* relative to the root, "" for the root itself */
    struct gi_list gi;  /* this directory's .gitignore rules */
};

struct search {
    struct search_req *req;
    pcre2_code *re;
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jit;
    struct gi_rule *globs;
    size_t nglobs;
    bool any_positive;
    char *prefix;        /* what reported paths start with: the root as named, or "" */
    char *file_root;     /* the root when it is a single file (absolute), else NULL */
    struct level stack[SEARCH_DEPTH_MAX + 1];
    size_t depth;
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
    if (l->d)
        closedir(l->d);
    free(l->rel);
    gi_list_done(&l->gi);
    *l = (struct level){0};
}

void search_free(struct search *s)
{
    if (!s)
        return;
    while (s->depth > 0)
        level_done(&s->stack[--s->depth]);
    for (size_t i = 0; i < s->nglobs; i++)
        gi_rule_done(&s->globs[i]);
    free(s->globs);
    pcre2_match_data_free(s->md);
    pcre2_match_context_free(s->mctx);
    pcre2_jit_stack_free(s->jit);
    pcre2_code_free(s->re);
    search_req_free(s->req);
    free(s->prefix);
    free(s->file_root);
    free(s->chunk);
    free(s->buf);
    free(s);
}
DEFINE_CLEANUP(struct search, search_free)

static int compile(struct search *s, struct runra_err **err)
{
    uint32_t opts = PCRE2_MULTILINE | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    if (s->req->ignore_case)
        opts |= PCRE2_CASELESS;
    int code;
    PCRE2_SIZE off;
    s->re = pcre2_compile((PCRE2_SPTR)s->req->pattern, PCRE2_ZERO_TERMINATED, opts, &code, &off,
                          NULL);
    if (!s->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        return err_set(err, EINVAL, "invalid regex at offset %zu: %s", (size_t)off, (char *)msg);
    }
    /* JIT needs executable memory; where that is refused the interpreter
     * gives the same answers, only slower. */
    if (pcre2_jit_compile(s->re, PCRE2_JIT_COMPLETE) == 0) {
        s->jit = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL);
    }
    s->mctx = pcre2_match_context_create(NULL);
    s->md = pcre2_match_data_create_from_pattern(s->re, NULL);
    if (!s->mctx || !s->md)
        return -ENOMEM;
    if (s->jit)
        pcre2_jit_stack_assign(s->mctx, NULL, s->jit);
    return 0;
}

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

/* Reads dfd/.gitignore into l->gi when there is one. */
static void load_gitignore(int dfd, struct level *l)
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
        gi_list_parse(text, (size_t)n, &l->gi);
}

static int push_dir(struct search *s, int fd, char *rel)
{
    struct level *l = &s->stack[s->depth];
    *l = (struct level){.rel = rel};
    if (!s->req->no_ignore)
        load_gitignore(fd, l);
    l->d = fdopendir(fd);
    if (!l->d) {
        int e = errno;
        close(fd);
        level_done(l);
        return -e;
    }
    s->depth++;
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
    if ((r = compile(s, err)) < 0 || (r = parse_globs(s)) < 0)
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
    if (!s->prefix)
        return -ENOMEM;
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
        char *rel = strdup("");
        if (!rel) {
            close(fd);
            return -ENOMEM;
        }
        if ((r = push_dir(s, fd, rel)) < 0)
            return err_sys(err, -r, "search '%s'", abs);
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
    char tmp[SEARCH_LINE_MAX];
    memcpy(tmp, p, n);
    for (size_t i = 0; i < n; i++)
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

/* The root as the caller named it joined with rel ("" for the root). */
static char *display_path(const struct search *s, const char *rel)
{
    const char *pre = s->prefix;
    if (!pre[0] || !rel[0])
        return strdup(pre[0] ? pre : rel);
    char *p = NULL;
    bool slash = pre[strlen(pre) - 1] == '/';
    return asprintf(&p, "%s%s%s", pre, slash ? "" : "/", rel) < 0 ? NULL : p;
}

/* Scans the file in s->buf; rel is its path for display. */
static int scan(struct guest *g, uint32_t id, struct search *s, size_t len, const char *display)
{
    const char *buf = s->buf;
    size_t off = 0, counted = 0;
    uint64_t line = 1;
    while (off <= len) {
        int rc = pcre2_match(s->re, (PCRE2_SPTR)buf, len, off, 0, s->md, s->mctx);
        if (rc == PCRE2_ERROR_NOMATCH)
            break;
        if (rc < 0) {
            /* Match or JIT stack limits: this file's answer is unknown. */
            s->st.truncated = true;
            break;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
        size_t ms = ov[0], me = ov[1];
        if (ms == len && len > 0 && buf[len - 1] == '\n')
            break; /* the empty "line" after the final newline */
        const char *nl = ms > 0 ? memrchr(buf, '\n', ms) : NULL;
        size_t ls = nl ? (size_t)(nl - buf) + 1 : 0;
        nl = memchr(buf + ms, '\n', len - ms);
        size_t le = nl ? (size_t)(nl - buf) : len;
        if (me > le && ms < le) {
            /* The match ran past the line (\s, [^x]): ask again within it,
             * since results are lines. */
            rc = pcre2_match(s->re, (PCRE2_SPTR)buf + ls, le - ls, ms - ls, 0, s->md, s->mctx);
            if (rc < 0) {
                off = le + 1;
                continue;
            }
            ms = ls + pcre2_get_ovector_pointer(s->md)[0];
        } else if (me > le) {
            /* A match that starts on the newline itself belongs to no line. */
            off = le + 1;
            continue;
        }
        for (const char *p = buf + counted; (p = memchr(p, '\n', (size_t)(buf + ls - p)));
             p++)
            line++;
        counted = ls;
        if (limit_hit(s))
            return 0;
        struct search_match m = {.line = line, .column = ms - ls + 1};
        m.text = line_text(buf + ls, le - ls);
        m.path = display_path(s, display);
        m.before = context(buf, len, ls, le, s->req->context, true);
        m.after = context(buf, len, ls, le, s->req->context, false);
        int r = m.text && m.path ? emit(g, id, s, &m) : -ENOMEM;
        search_match_done(&m);
        if (r < 0)
            return r;
        off = le + 1;
    }
    return 0;
}

/* Reads and scans one regular file opened at fd. */
static int search_fd(struct guest *g, uint32_t id, struct search *s, int fd, const char *display)
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
    return scan(g, id, s, len, display);
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
    /* The deepest .gitignore with an opinion decides, as in git. */
    for (size_t i = s->depth; i-- > 0;) {
        const struct level *l = &s->stack[i];
        if (l->gi.n == 0)
            continue;
        size_t skip = l->rel[0] ? strlen(l->rel) + 1 : 0;
        enum gi_verdict v = gi_list_match(&l->gi, rel + skip, is_dir);
        if (v != GI_NONE)
            return v == GI_IGNORE;
    }
    return false;
}

/* Handles the next entry of the deepest open directory. */
static int walk_one(struct guest *g, uint32_t id, struct search *s)
{
    struct level *top = &s->stack[s->depth - 1];
    struct dirent *de = readdir(top->d);
    if (!de) {
        level_done(top);
        s->depth--;
        return 0;
    }
    const char *name = de->d_name;
    if (!strcmp(name, ".") || !strcmp(name, ".."))
        return 0;
    int dfd = dirfd(top->d);
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
    _cleanup_free_ char *rel = NULL;
    if (asprintf(&rel, "%s%s%s", top->rel, top->rel[0] ? "/" : "", name) < 0)
        return -ENOMEM;
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
        int r = push_dir(s, fd, rel);
        if (r >= 0)
            rel = NULL;
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
