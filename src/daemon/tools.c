/* The sandbox tools (tools.h). Each is a row of one table: name, the
 * description a model reads, its JSON Schema and the function that runs it
 * with the manager's own calls. Texts are cut so one call cannot flood a
 * model's context: a model sees what a careful human at a terminal would. */
#include "tools.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "manager-ports.h"
#include "manager-proc.h"
#include "manager-search.h"
#include "manager.h"
#include "proto/procmsg.h"
#include "proto/search.h"

#define OUT_KEEP (16u * 1024)        /* bytes of stdout, and of stderr, a model sees */
#define READ_MAX (256u * 1024)       /* bytes of a file a model sees */
#define LIST_MAX 1000                /* entries of a directory */
#define SEARCH_MAX 200               /* matches of a search */
#define EXEC_TIMEOUT_DEFAULT_S 120
#define EXEC_TIMEOUT_MAX_S 3600

/* ---- results ---------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at p (at most n bytes), or 0. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    if (p[0] < 0x80)
        return p[0] ? 1 : 0;
    size_t len = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (p[0] >= 0xf5 || len == 0 || len > n)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    /* Overlong, surrogate and past-U+10FFFF forms. */
    if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
        (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
        return 0;
    return len;
}

/* n bytes as valid UTF-8 text: each byte of an invalid sequence (a NUL
 * included) becomes U+FFFD, since a model reads text and JSON carries only
 * valid UTF-8. Caller frees. */
static char *utf8_clean(const char *s, size_t n)
{
    char *out = malloc(3 * n + 1), *o = out;
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(p + i, n - i);
        if (k) {
            memcpy(o, p + i, k);
            o += k;
            i += k;
        } else {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
        }
    }
    *o = 0;
    return out;
}

static int result_set(struct tool_result *r, bool is_error, json_t *structured, const char *fmt,
                      ...) __attribute__((format(printf, 4, 5)));

static int result_set(struct tool_result *r, bool is_error, json_t *structured, const char *fmt,
                      ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *raw = NULL;
    int n = vasprintf(&raw, fmt, ap);
    va_end(ap);
    r->text = n < 0 ? NULL : utf8_clean(raw, (size_t)n);
    if (n >= 0)
        free(raw);
    r->is_error = is_error;
    r->structured = structured ? structured : json_object();
    if (!r->text || !r->structured) {
        free(r->text);
        r->text = NULL;
        json_decref(r->structured);
        r->structured = NULL;
        return -ENOMEM;
    }
    return 0;
}

/* A failure the model should read: "error: ..." with the reason. */
static int result_error(struct tool_result *r, int code, const struct runra_err *e)
{
    const char *msg = e && e->msg ? e->msg : strerror(code < 0 ? -code : code);
    return result_set(r, true, json_pack("{s:s}", "error", msg), "error: %s", msg);
}

void tool_result_done(struct tool_result *r)
{
    free(r->text);
    json_decref(r->structured);
    *r = (struct tool_result){0};
}

/* The tail of an output that may be long, as valid UTF-8: a model needs
 * the end (errors, the summary line) more than the start. */
static char *tail_text(const char *buf, size_t len, size_t keep)
{
    if (len <= keep)
        return utf8_clean(len ? buf : "", len);
    size_t from = len - keep;
    /* Start on a character, not inside one. */
    for (int i = 0; i < 3 && from < len && ((unsigned char)buf[from] & 0xc0) == 0x80; i++)
        from++;
    _cleanup_free_ char *tail = utf8_clean(buf + from, len - from);
    char *s = NULL;
    if (!tail || asprintf(&s, "[... %zu bytes cut ...]\n%s", from, tail) < 0)
        return NULL;
    return s;
}

/* ---- the tools ---------------------------------------------------------- */

static char **sh_argv(const char *command)
{
    char **v = calloc(4, sizeof(*v));
    if (!v || !(v[0] = strdup("/bin/sh")) || !(v[1] = strdup("-c")) || !(v[2] = strdup(command))) {
        strv_free(v);
        return NULL;
    }
    return v;
}

static int t_exec(struct manager *m, const char *id, json_t *args, struct tool_result *ret,
                  struct runra_err **err)
{
    const char *command = NULL;
    json_int_t timeout = EXEC_TIMEOUT_DEFAULT_S;
    json_error_t je;
    if (json_unpack_ex(args, &je, JSON_STRICT, "{s:s,s?I}", "command", &command, "timeout",
                       &timeout) < 0)
        return err_set(err, EINVAL, "sandbox_exec: %s", je.text);
    if (timeout < 1 || timeout > EXEC_TIMEOUT_MAX_S)
        return err_set(err, EINVAL, "sandbox_exec: timeout must be seconds in [1, %d]",
                       EXEC_TIMEOUT_MAX_S);
    char **argv = sh_argv(command);
    if (!argv)
        return -ENOMEM;
    struct exec_opts o = {.argv = argv, .timeout_ms = (uint64_t)timeout * 1000};
    struct exec_result *x = NULL;
    _cleanup_err_ struct runra_err *e = NULL;
    int r = manager_exec(m, id, &o, &x, &e);
    strv_free(argv);
    if (r < 0)
        return result_error(ret, r, e);
    _cleanup_free_ char *out = tail_text(x->out, x->out_len, OUT_KEEP);
    _cleanup_free_ char *errs = tail_text(x->errb, x->err_len, OUT_KEEP);
    char status[256];
    if (x->timed_out)
        snprintf(status, sizeof(status), "timed out after %lld s (killed)", (long long)timeout);
    else if (x->oom_killed)
        snprintf(status, sizeof(status), "killed: out of memory (exit code %d)", x->exit_code);
    else if (x->signal)
        snprintf(status, sizeof(status), "killed by signal %d", x->signal);
    else
        snprintf(status, sizeof(status), "exit code %d", x->exit_code);
    if (x->truncated)
        snprintf(status + strlen(status), sizeof(status) - strlen(status),
                 " (the output went past runra's limit; only its start was kept)");
    bool failed = x->timed_out || x->oom_killed || x->signal || x->exit_code != 0;
    r = -ENOMEM;
    if (out && errs)
        r = result_set(ret, failed,
                       json_pack("{s:i,s:i,s:s,s:s,s:b,s:b,s:I}", "exitCode", x->exit_code,
                                 "signal", x->signal, "stdout", out, "stderr", errs, "timedOut",
                                 x->timed_out, "oomKilled", x->oom_killed, "durationMs",
                                 (json_int_t)x->duration_ms),
                       "%s\nstdout:\n%s%s\nstderr:\n%s%s", status, *out ? out : "(empty)",
                       *out && out[strlen(out) - 1] != '\n' ? "\n" : "",
                       *errs ? errs : "(empty)", *errs && errs[strlen(errs) - 1] != '\n' ? "\n" : "");
    exec_result_free(x);
    return r;
}

static int t_read(struct manager *m, const char *id, json_t *args, struct tool_result *ret,
                  struct runra_err **err)
{
    const char *path = NULL;
    json_error_t je;
    if (json_unpack_ex(args, &je, JSON_STRICT, "{s:s}", "path", &path) < 0)
        return err_set(err, EINVAL, "sandbox_read_file: %s", je.text);
    struct file_rstream *st = NULL;
    _cleanup_err_ struct runra_err *e = NULL;
    int r = manager_file_read_open(m, id, path, 0, READ_MAX + 1, &st, &e);
    if (r < 0)
        return result_error(ret, r, e);
    size_t cap = READ_MAX + 2, len = 0;
    _cleanup_free_ char *buf = malloc(cap);
    if (!buf) {
        file_rstream_close(st);
        return -ENOMEM;
    }
    ssize_t n;
    while (len < cap - 1 && (n = file_rstream_read(st, buf + len, cap - 1 - len, &e)) > 0)
        len += (size_t)n;
    file_rstream_close(st);
    if (e)
        return result_error(ret, -EIO, e);
    buf[len] = 0;
    bool cut = len > READ_MAX;
    if (cut)
        len = READ_MAX;
    if (memchr(buf, 0, len))
        return result_set(ret, false, json_pack("{s:s,s:b}", "path", path, "binary", 1),
                          "%s is a binary file; its contents are not shown", path);
    buf[len] = 0;
    _cleanup_free_ char *text = utf8_clean(buf, len);
    if (!text)
        return -ENOMEM;
    return result_set(ret, false,
                      json_pack("{s:s,s:s,s:b}", "path", path, "content", text, "truncated", cut),
                      "%s%s", text,
                      cut ? "\n[... the file goes on; only its first 256 KiB are shown ...]" : "");
}

/* The directory part of path, or NULL when it has none worth making. */
static char *parent_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return NULL;
    return strndup(path, (size_t)(slash - path));
}

static int t_write(struct manager *m, const char *id, json_t *args, struct tool_result *ret,
                   struct runra_err **err)
{
    const char *path = NULL, *content = NULL;
    size_t clen = 0;
    json_error_t je;
    if (json_unpack_ex(args, &je, JSON_STRICT, "{s:s,s:s%}", "path", &path, "content", &content,
                       &clen) < 0)
        return err_set(err, EINVAL, "sandbox_write_file: %s", je.text);
    _cleanup_err_ struct runra_err *e = NULL;
    _cleanup_free_ char *dir = parent_of(path);
    struct file_info fi = {0};
    int r = 0;
    if (dir && (r = manager_file_mkdir(m, id, dir, true, 0755, &fi, &e)) < 0 && r != -EEXIST)
        return result_error(ret, r, e);
    msg_file_info_done(&fi);
    err_free(e);
    e = NULL;
    struct file_wstream *w = NULL;
    uint64_t size = 0;
    if ((r = manager_file_write_open(m, id, path, 0644, false, &w, &e)) < 0)
        return result_error(ret, r, e);
    r = file_wstream_write(w, content, clen, &e);
    if (r >= 0)
        r = file_wstream_finish(w, &size, &e);
    file_wstream_close(w);
    if (r < 0)
        return result_error(ret, r, e);
    return result_set(ret, false, json_pack("{s:s,s:I}", "path", path, "bytes", (json_int_t)size),
                      "wrote %llu bytes to %s", (unsigned long long)size, path);
}

/* A result made line by line (the text) and item by item (a JSON array
 * the caller packs into the structured form). */
struct listing {
    char *text;
    size_t len;
    FILE *f;
    json_t *items;
};

static void listing_drop(struct listing *l)
{
    if (l->f)
        fclose(l->f);
    free(l->text);
    json_decref(l->items);
    *l = (struct listing){0};
}

static int listing_open(struct listing *l)
{
    *l = (struct listing){0};
    l->f = open_memstream(&l->text, &l->len);
    l->items = json_array();
    if (!l->f || !l->items) {
        listing_drop(l);
        return -ENOMEM;
    }
    return 0;
}

/* The text into ret with structured, which has taken the items ("o"). */
static int listing_finish(struct listing *l, struct tool_result *ret, json_t *structured)
{
    fclose(l->f);
    l->f = NULL;
    l->items = NULL;
    int r = result_set(ret, false, structured, "%s", l->text ? l->text : "");
    free(l->text);
    l->text = NULL;
    return r;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct file_info *)a)->name, ((const struct file_info *)b)->name);
}

static int t_list(struct manager *m, const char *id, json_t *args, struct tool_result *ret,
                  struct runra_err **err)
{
    const char *dir = NULL;
    json_error_t je;
    if (json_unpack_ex(args, &je, JSON_STRICT, "{s?s}", "directory", &dir) < 0)
        return err_set(err, EINVAL, "sandbox_list_files: %s", je.text);
    struct file_list l = {0};
    _cleanup_err_ struct runra_err *e = NULL;
    int r = manager_file_list(m, id, dir && *dir ? dir : ".", &l, &e);
    if (r < 0)
        return result_error(ret, r, e);
    qsort(l.entries, l.n, sizeof(*l.entries), cmp_entry);
    struct listing out;
    if (listing_open(&out) < 0) {
        msg_file_list_done(&l);
        return -ENOMEM;
    }
    FILE *f = out.f;
    size_t shown = l.n > LIST_MAX ? LIST_MAX : l.n;
    for (size_t i = 0; i < shown; i++) {
        const struct file_info *fi = &l.entries[i];
        const char *type = file_type_name(fi->type);
        if (fi->type == FILE_TYPE_DIR)
            fprintf(f, "%s/\n", fi->name);
        else if (fi->type == FILE_TYPE_SYMLINK)
            fprintf(f, "%s -> %s\n", fi->name, fi->target ? fi->target : "?");
        else
            fprintf(f, "%s  (%llu bytes)\n", fi->name, (unsigned long long)fi->size);
        _cleanup_free_ char *nm = utf8_clean(fi->name, strlen(fi->name));
        json_array_append_new(out.items, json_pack("{s:s?,s:s,s:I}", "name", nm, "type", type,
                                                   "size", (json_int_t)fi->size));
    }
    if (l.n == 0)
        fputs("(empty directory)\n", f);
    if (l.n > shown || l.truncated)
        fprintf(f, "[... more entries not shown ...]\n");
    r = listing_finish(&out, ret,
                       json_pack("{s:o,s:b}", "entries", out.items, "truncated",
                                 l.n > shown || l.truncated));
    msg_file_list_done(&l);
    return r;
}

static int t_search(struct manager *m, const char *id, json_t *args, struct tool_result *ret,
                    struct runra_err **err)
{
    const char *pattern = NULL, *path = NULL;
    json_error_t je;
    if (json_unpack_ex(args, &je, JSON_STRICT, "{s:s,s?s}", "pattern", &pattern, "path",
                       &path) < 0)
        return err_set(err, EINVAL, "sandbox_search_code: %s", je.text);
    struct search_req q = {.pattern = strdup(pattern),
                           .path = path && *path ? strdup(path) : NULL,
                           .max_results = SEARCH_MAX};
    _cleanup_err_ struct runra_err *e = NULL;
    struct search_result res = {0};
    int r = !q.pattern || (path && *path && !q.path) ? -ENOMEM : 0;
    if (r >= 0)
        r = search_req_check(&q, &e);
    if (r >= 0)
        r = manager_search(m, id, &q, &res, &e);
    free(q.pattern);
    free(q.path);
    if (r < 0)
        return r == -ENOMEM ? r : result_error(ret, r, e);
    struct listing out;
    if (listing_open(&out) < 0) {
        search_result_done(&res);
        return -ENOMEM;
    }
    FILE *f = out.f;
    for (size_t i = 0; i < res.matches.n; i++) {
        const struct search_match *sm = &res.matches.v[i];
        fprintf(f, "%s:%llu: %s\n", sm->path, (unsigned long long)sm->line, sm->text);
        _cleanup_free_ char *sp = utf8_clean(sm->path, strlen(sm->path));
        _cleanup_free_ char *st = utf8_clean(sm->text, strlen(sm->text));
        json_array_append_new(out.items, json_pack("{s:s?,s:I,s:s?}", "path", sp, "line",
                                                   (json_int_t)sm->line, "text", st));
    }
    if (res.matches.n == 0)
        fprintf(f, "no matches (%llu files searched)\n",
                (unsigned long long)res.done.files_searched);
    else
        fprintf(f, "%zu matches%s\n", res.matches.n,
                res.done.truncated ? " (more were found but not shown; narrow the pattern or path)"
                                   : "");
    r = listing_finish(&out, ret,
                       json_pack("{s:o,s:b,s:I}", "matches", out.items, "truncated",
                                 res.done.truncated, "filesSearched",
                                 (json_int_t)res.done.files_searched));
    search_result_done(&res);
    return r;
}

static int t_start(struct manager *m, const char *id, json_t *args, struct tool_result *ret,
                   struct runra_err **err)
{
    const char *command = NULL;
    json_t *env = NULL;
    json_error_t je;
    if (json_unpack_ex(args, &je, JSON_STRICT, "{s:s,s?o}", "command", &command, "env", &env) < 0)
        return err_set(err, EINVAL, "sandbox_start_process: %s", je.text);
    if (env && !json_is_object(env))
        return err_set(err, EINVAL, "sandbox_start_process: env must be an object of strings");
    size_t n = env ? json_object_size(env) : 0;
    char **ev = calloc(n + 1, sizeof(*ev));
    if (!ev)
        return -ENOMEM;
    const char *k;
    json_t *v;
    size_t i = 0;
    int r = 0;
    json_object_foreach(env, k, v) {
        if (!json_is_string(v) || !*k || strchr(k, '=')) {
            r = err_set(err, EINVAL, "sandbox_start_process: env['%.64s'] must be a string "
                                     "under a name without '='", k);
            break;
        }
        if (asprintf(&ev[i++], "%s=%s", k, json_string_value(v)) < 0) {
            ev[--i] = NULL;
            r = -ENOMEM;
            break;
        }
    }
    char **argv = r >= 0 ? sh_argv(command) : NULL;
    if (r >= 0 && !argv)
        r = -ENOMEM;
    if (r < 0) {
        strv_free(ev);
        return r;
    }
    struct exec_opts o = {.argv = argv, .env = ev};
    struct proc_info pi = {0};
    _cleanup_err_ struct runra_err *e = NULL;
    r = manager_proc_start(m, id, &o, NULL, 0, 0, &pi, &e);
    strv_free(argv);
    strv_free(ev);
    if (r < 0)
        return result_error(ret, r, e);
    r = result_set(ret, false, json_pack("{s:I,s:s}", "pid", (json_int_t)pi.pid, "command", command),
                   "started in the background as pid %lld. It keeps running after this call; "
                   "runra keeps its last 1 MiB of output (redirect it to a file to read it "
                   "with sandbox_read_file)",
                   (long long)pi.pid);
    msg_proc_info_done(&pi);
    return r;
}

static int t_port(struct manager *m, const char *id, json_t *args, struct tool_result *ret,
                  struct runra_err **err)
{
    json_int_t port = 0;
    json_error_t je;
    if (json_unpack_ex(args, &je, JSON_STRICT, "{s:I}", "port", &port) < 0)
        return err_set(err, EINVAL, "sandbox_expose_port: %s", je.text);
    if (port < 1 || port > 65535)
        return err_set(err, EINVAL, "sandbox_expose_port: port must be in [1, 65535]");
    struct port_info pi = {0};
    _cleanup_err_ struct runra_err *e = NULL;
    int r = manager_port_add(m, id, (uint16_t)port, &pi, &e);
    if (r == -EEXIST) {
        /* Asking twice is fine: the answer is the same URL. */
        struct port_info *v = NULL;
        size_t n = 0;
        err_free(e);
        e = NULL;
        r = manager_port_list(m, id, &v, &n, &e);
        for (size_t i = 0; r >= 0 && i < n; i++)
            if (v[i].port == port)
                pi = v[i];
        free(v);
        if (r >= 0 && !pi.host_port)
            r = -ENOENT;
    }
    if (r < 0)
        return result_error(ret, r, e);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", pi.host_port);
    return result_set(ret, false,
                      json_pack("{s:I,s:i,s:s}", "port", port, "hostPort", pi.host_port, "url", url),
                      "port %lld in the sandbox is reachable from the host at %s (a process must "
                      "listen on it inside, on 127.0.0.1 or 0.0.0.0)",
                      (long long)port, url);
}

/* ---- the table ---------------------------------------------------------- */

struct tool {
    const char *name;
    const char *description;
    const char *schema; /* JSON Schema of the arguments */
    int (*run)(struct manager *m, const char *id, json_t *args, struct tool_result *ret,
               struct runra_err **err);
};

static const struct tool tools[] = {
    {"sandbox_exec",
     "Run a shell command (/bin/sh -c) in the sandbox, an isolated Linux machine with the "
     "project in /workspace, the working directory. Returns the exit code, stdout and stderr "
     "(long outputs keep their last 16 KiB each). Every call starts a new shell, so cd and "
     "exported variables do not carry over: chain commands with && instead. The command is "
     "killed after timeout seconds; for servers and other long-running programs use "
     "sandbox_start_process.",
     "{\"type\":\"object\",\"properties\":{"
     "\"command\":{\"type\":\"string\",\"description\":\"the shell command, e.g. "
     "\\\"npm test 2>&1 | tail -50\\\"\"},"
     "\"timeout\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":3600,\"description\":"
     "\"seconds before the command is killed (default 120)\"}},"
     "\"required\":[\"command\"],\"additionalProperties\":false}",
     t_exec},
    {"sandbox_read_file",
     "Read a text file in the sandbox. Relative paths are relative to /workspace. Returns the "
     "file's contents (its first 256 KiB); binary files are reported, not shown.",
     "{\"type\":\"object\",\"properties\":{"
     "\"path\":{\"type\":\"string\",\"description\":\"the file, e.g. src/index.ts or "
     "/etc/os-release\"}},\"required\":[\"path\"],\"additionalProperties\":false}",
     t_read},
    {"sandbox_write_file",
     "Create or overwrite a file in the sandbox with the given text; missing parent directories "
     "are created. Relative paths are relative to /workspace. Write the whole file: this "
     "replaces what was there.",
     "{\"type\":\"object\",\"properties\":{"
     "\"path\":{\"type\":\"string\",\"description\":\"the file to write\"},"
     "\"content\":{\"type\":\"string\",\"description\":\"the complete new contents\"}},"
     "\"required\":[\"path\",\"content\"],\"additionalProperties\":false}",
     t_write},
    {"sandbox_list_files",
     "List a directory in the sandbox: one entry per line, directories with a trailing /, files "
     "with their size. Defaults to /workspace. Not recursive: use sandbox_exec with find for "
     "a tree.",
     "{\"type\":\"object\",\"properties\":{"
     "\"directory\":{\"type\":\"string\",\"description\":\"the directory (default "
     "/workspace)\"}},\"additionalProperties\":false}",
     t_list},
    {"sandbox_search_code",
     "Search file contents in the sandbox with a regular expression (PCRE2 syntax, as ripgrep). "
     "Skips binary files, .git, node_modules and files .gitignore excludes. Returns matching "
     "lines as path:line: text, at most 200.",
     "{\"type\":\"object\",\"properties\":{"
     "\"pattern\":{\"type\":\"string\",\"description\":\"the regular expression, e.g. "
     "\\\"function\\\\s+login\\\"\"},"
     "\"path\":{\"type\":\"string\",\"description\":\"the file or directory to search "
     "(default /workspace)\"}},\"required\":[\"pattern\"],\"additionalProperties\":false}",
     t_search},
    {"sandbox_start_process",
     "Start a long-running command in the background in the sandbox (a dev server, a watcher, "
     "a database) and return at once with its pid. It runs in /workspace with /bin/sh -c. "
     "Pair with sandbox_expose_port to reach a server from outside.",
     "{\"type\":\"object\",\"properties\":{"
     "\"command\":{\"type\":\"string\",\"description\":\"the shell command, e.g. \\\"npm run "
     "dev > /tmp/dev.log 2>&1\\\"\"},"
     "\"env\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"},"
     "\"description\":\"extra environment variables\"}},"
     "\"required\":[\"command\"],\"additionalProperties\":false}",
     t_start},
    {"sandbox_expose_port",
     "Make a TCP port that a process in the sandbox listens on reachable from the host, and "
     "return its URL. The process must listen on 127.0.0.1 or 0.0.0.0 inside the sandbox.",
     "{\"type\":\"object\",\"properties\":{"
     "\"port\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":65535,\"description\":\"the "
     "port inside the sandbox, e.g. 3000\"}},\"required\":[\"port\"],"
     "\"additionalProperties\":false}",
     t_port},
};

int tools_parse_format(const char *s, enum tools_format *ret, struct runra_err **err)
{
    static const struct {
        const char *name;
        enum tools_format f;
    } names[] = {{"openai-chat", TOOLS_OPENAI_CHAT},
                 {"openai", TOOLS_OPENAI_CHAT},
                 {"openai-responses", TOOLS_OPENAI_RESPONSES},
                 {"anthropic", TOOLS_ANTHROPIC},
                 {"mcp", TOOLS_MCP}};
    if (!s) {
        *ret = TOOLS_OPENAI_CHAT;
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(names); i++)
        if (!strcmp(s, names[i].name)) {
            *ret = names[i].f;
            return 0;
        }
    return err_set(err, EINVAL,
                   "format must be openai-chat, openai-responses, anthropic or mcp, not '%.64s'",
                   s);
}

json_t *tools_definitions(enum tools_format f)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < ARRAY_SIZE(tools); i++) {
        const struct tool *t = &tools[i];
        json_t *schema = json_loads(t->schema, 0, NULL);
        json_t *d = NULL;
        if (!schema) {
            json_decref(arr);
            return NULL;
        }
        switch (f) {
        case TOOLS_OPENAI_CHAT:
            d = json_pack("{s:s,s:{s:s,s:s,s:o}}", "type", "function", "function", "name", t->name,
                          "description", t->description, "parameters", schema);
            break;
        case TOOLS_OPENAI_RESPONSES:
            d = json_pack("{s:s,s:s,s:s,s:o,s:b}", "type", "function", "name", t->name,
                          "description", t->description, "parameters", schema, "strict", 0);
            break;
        case TOOLS_ANTHROPIC:
            d = json_pack("{s:s,s:s,s:o}", "name", t->name, "description", t->description,
                          "input_schema", schema);
            break;
        case TOOLS_MCP:
            d = json_pack("{s:s,s:s,s:o}", "name", t->name, "description", t->description,
                          "inputSchema", schema);
            break;
        }
        if (!d || json_array_append_new(arr, d) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

int tools_call(struct manager *m, const char *id, const char *name, json_t *args,
               struct tool_result *ret, struct runra_err **err)
{
    *ret = (struct tool_result){0};
    const struct tool *t = NULL;
    for (size_t i = 0; i < ARRAY_SIZE(tools); i++)
        if (!strcmp(tools[i].name, name))
            t = &tools[i];
    if (!t)
        return err_set(err, EINVAL, "unknown tool '%.64s' (the tools are sandbox_exec, "
                                    "sandbox_read_file, sandbox_write_file, sandbox_list_files, "
                                    "sandbox_search_code, sandbox_start_process, "
                                    "sandbox_expose_port)",
                       name);
    if (!json_is_object(args))
        return err_set(err, EINVAL, "%s: arguments must be a JSON object", name);
    /* The sandbox itself must be there and usable: its absence (404), a
     * pause (409) or its death (502) are the caller's answer, not the
     * model's. Everything that fails past this point is the model's. */
    struct sandbox_info *info = NULL;
    int r = manager_get(m, id, &info, err);
    if (r < 0)
        return r;
    bool paused = !strcmp(info->state, "paused") || !strcmp(info->state, "stopped");
    bool failed = !strcmp(info->state, "failed");
    bool autoresume = info->spec->auto_resume;
    sandbox_info_free(info);
    if (failed)
        return err_set(err, EPIPE, "sandbox '%.64s' has failed", id);
    if (paused && !autoresume)
        return err_set(err, EBUSY, "sandbox '%.64s' is paused; resume it first (or create it "
                                   "with autoResume)", id);
    r = t->run(m, id, args, ret, err);
    if (r < 0)
        tool_result_done(ret);
    return r;
}
