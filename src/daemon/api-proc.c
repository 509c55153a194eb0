/* Streaming exec and the background-process routes. A stream is a chunked
 * NDJSON body fed from the guest call event by event; when the client goes
 * away (a failed write, or a hang-up seen while the command is quiet) the
 * response is dropped, which ends the guest call with CANCEL and so kills an
 * exec's tree. A log follow ends the same way and leaves the process alone.
 * Over TCP a stream also ends when the API key that let it in is revoked:
 * with an "unauthorized" error line, then the end of the response. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "base/enc.h"
#include "errmap.h"
#include "keys.h"
#include "manager-proc.h"
#include "proto/limits.h"
#include "proto/msg.h"

#define STREAM_SLICE_MS 250       /* a quiet stream checks on its client this often */
#define STREAM_BLOCK (64u * 1024) /* MHD's buffer for one stream */

struct nd {
    struct mstream *ms;
    int fd;     /* the client's socket, for the hang-up check */
    bool exec;  /* exit events carry the exec's fields */
    bool end;
    struct key_watch key; /* the API key that let the request in */
    char *line; /* the event being sent */
    size_t len, off;
};

static json_t *exit_json(const struct mstream_event *ev, bool exec)
{
    const struct exec_exit *x = &ev->exit;
    json_t *j = json_pack("{s:s,s:i,s:i,s:I,s:I,s:I}", "type", "exit", "exitCode", x->exit_code,
                          "signal", x->signal, "durationMs", (json_int_t)x->duration_ms,
                          "stdoutBytes", (json_int_t)x->stdout_bytes, "stderrBytes",
                          (json_int_t)x->stderr_bytes);
    if (j && exec) {
        json_object_set_new(j, "timedOut", json_boolean(x->timed_out));
        json_object_set_new(j, "oomKilled", json_boolean(ev->oom_killed));
        json_object_set_new(j, "truncated", json_boolean(x->truncated));
    }
    return j;
}

static json_t *error_json(int r, const struct runra_err *e)
{
    int code = e ? e->code : -r;
    const struct errmap_entry *m = errmap_lookup(code);
    _cleanup_free_ char *clean = NULL;
    size_t n = 0;
    const char *msg = e && e->msg ? e->msg : strerror(code);
    if (utf8_sanitize(msg, strlen(msg), &clean, &n) < 0)
        return NULL;
    return json_pack("{s:s,s:{s:s,s:s%}}", "type", "error", "error", "code", m->code, "message",
                     clean, n);
}

/* The next event as one NDJSON line in s->line; false when there is none
 * yet (the caller checks on the client). */
static bool next_line(struct nd *s)
{
    struct mstream_event ev = {0};
    _cleanup_err_ struct runra_err *e = NULL;
    int r;
    if (keys_watch_revoked(&s->key))
        r = err_set(&e, ENOKEY, "API key revoked");
    else
        r = mstream_next(s->ms, STREAM_SLICE_MS, &ev, &e);
    if (r == 0)
        return false;
    json_t *j = NULL;
    if (r < 0) {
        j = error_json(r, e);
        s->end = true;
    } else if (ev.kind == MS_END) {
        s->end = true;
        return true;
    } else if (ev.kind == MS_EXIT) {
        j = exit_json(&ev, s->exec);
        s->end = true;
    } else {
        char *b = NULL;
        size_t n = 0;
        if (base64_encode(ev.data, ev.len, &b, &n) >= 0) {
            j = json_pack("{s:s,s:s%}", "type", ev.kind == MS_STDOUT ? "stdout" : "stderr",
                          "data", b, n);
            free(b);
        }
    }
    mstream_event_done(&ev);
    char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!t) {
        s->end = true; /* out of memory: cut the stream rather than lie */
        return true;
    }
    size_t len = strlen(t);
    char *l = realloc(t, len + 2);
    if (!l) {
        free(t);
        s->end = true;
        return true;
    }
    l[len] = '\n';
    l[len + 1] = 0;
    free(s->line);
    s->line = l;
    s->len = len + 1;
    s->off = 0;
    return true;
}

static ssize_t nd_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct nd *s = cls;
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(buf, s->line + s->off, n);
            s->off += n;
            return (ssize_t)n;
        }
        if (s->end)
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (!next_line(s) && api_client_gone(s->fd))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void nd_free(void *cls)
{
    struct nd *s = cls;
    mstream_close(s->ms);
    free(s->line);
    free(s);
}

static enum MHD_Result respond_stream(struct api *a, struct MHD_Connection *c,
                                      struct api_req *rq, struct mstream *ms, bool exec)
{
    struct nd *s = calloc(1, sizeof(*s));
    if (!s) {
        mstream_close(ms);
        return MHD_NO;
    }
    *s = (struct nd){.ms = ms, .fd = api_conn_fd(c), .exec = exec};
    keys_watch_init(&s->key, a->keys, rq->tenant);
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, STREAM_BLOCK, nd_read, s, nd_free);
    if (!resp) {
        nd_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

enum MHD_Result api_exec_stream(struct api *a, struct MHD_Connection *c, struct api_req *rq,
                                const struct exec_opts *o)
{
    _cleanup_err_ struct runra_err *e = NULL;
    struct mstream *ms = NULL;
    int r = manager_exec_stream_open(a->m, rq->match.id, o, &ms, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return respond_stream(a, c, rq, ms, true);
}

/* The {proc} segment: a pid or a tag. */
static int proc_ref(struct api_req *rq, struct runra_err **err)
{
    int r = proc_check_ref(rq->match.proc, err);
    if (r < 0)
        return err_set(err, EINVAL, "'%.64s' is neither a pid nor a valid tag", rq->match.proc);
    return 0;
}

/* argv, env and cwd as exec takes them, checked the same way. */
static int parse_command(json_t *command, json_t *argv, json_t *env, const char *cwd, char ***av,
                         char ***ev, struct runra_err **err)
{
    if (!!command == !!argv)
        return err_set(err, EINVAL, "a process needs exactly one of 'command' or 'argv'");
    if (command) {
        if (!json_is_string(command) || !json_string_length(command) ||
            json_string_length(command) > RUNRA_ARG_MAX_BYTES)
            return err_set(err, EINVAL, "command must be a non-empty string under %u bytes",
                           RUNRA_ARG_MAX_BYTES);
        char **v = calloc(4, sizeof(char *));
        if (!v)
            return -ENOMEM;
        *av = v;
        if (!(v[0] = strdup("/bin/sh")) || !(v[1] = strdup("-c")) ||
            !(v[2] = strdup(json_string_value(command))))
            return -ENOMEM;
    } else {
        json_t *probe = json_pack("{s:O}", "argv", argv);
        char *txt = probe ? json_dumps(probe, JSON_COMPACT) : NULL;
        json_decref(probe);
        struct exec_req *req = NULL;
        int r = txt ? msg_exec_req_decode(txt, strlen(txt), &req, err) : -ENOMEM;
        free(txt);
        if (r < 0)
            return r;
        *av = TAKE_PTR(req->argv);
        msg_exec_req_free(req);
    }
    if (env) {
        if (!json_is_object(env) || json_object_size(env) > RUNRA_ENV_MAX)
            return err_set(err, EINVAL, "env must be an object of at most %d strings",
                           RUNRA_ENV_MAX);
        char **v = calloc(json_object_size(env) + 1, sizeof(char *));
        if (!v)
            return -ENOMEM;
        *ev = v;
        size_t n = 0;
        const char *k;
        json_t *val;
        json_object_foreach(env, k, val)
        {
            if (!json_is_string(val))
                return err_set(err, EINVAL, "env.%.64s must be a string", k);
            int r = msg_check_env_key(k, err);
            if (r < 0)
                return r;
            if (asprintf(&v[n], "%s=%s", k, json_string_value(val)) < 0) {
                v[n] = NULL;
                return -ENOMEM;
            }
            if ((r = msg_check_env(v[n++], err)) < 0)
                return r;
        }
    }
    if (cwd)
        return msg_check_path(cwd, err);
    return 0;
}

/* "pty": true (80x24), false, or {"cols","rows"}. */
static int parse_pty(json_t *v, uint16_t *cols, uint16_t *rows, struct runra_err **err)
{
    if (json_is_boolean(v)) {
        if (json_is_true(v)) {
            *cols = RUNRA_PTY_COLS_DEFAULT;
            *rows = RUNRA_PTY_ROWS_DEFAULT;
        }
        return 0;
    }
    json_error_t je;
    json_int_t c = 0, r = 0;
    if (!json_is_object(v) ||
        json_unpack_ex(v, &je, JSON_STRICT, "{s:I,s:I}", "cols", &c, "rows", &r) < 0)
        return err_set(err, EINVAL, "pty must be true, false or {\"cols\": N, \"rows\": N}");
    int e = proc_check_dim(c, "pty.cols", err);
    if (e >= 0)
        e = proc_check_dim(r, "pty.rows", err);
    if (e < 0)
        return e;
    *cols = (uint16_t)c;
    *rows = (uint16_t)r;
    return 0;
}

enum MHD_Result api_proc_resize(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_auto_t *j = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = proc_ref(rq, &e);
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_error_t je;
    json_int_t cols = 0, rows = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:I,s:I}", "cols", &cols, "rows", &rows) < 0)
        return api_respond_errf(c, EINVAL, "invalid resize request: %s", je.text);
    r = proc_check_dim(cols, "cols", &e);
    if (r >= 0)
        r = proc_check_dim(rows, "rows", &e);
    if (r >= 0)
        r = manager_proc_resize(a->m, rq->match.id, rq->match.proc, (uint16_t)cols,
                                (uint16_t)rows, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_json(c, 200, json_pack("{s:I,s:I}", "cols", cols, "rows", rows));
}

enum MHD_Result api_proc_start(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_auto_t *j = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_error_t je;
    json_t *command = NULL, *argv = NULL, *env = NULL, *pty = NULL;
    const char *cwd = NULL, *tag = NULL;
    const char *user = NULL;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s?o,s?o,s?o,s?s,s?s,s?o,s?s}", "command", &command,
                       "argv", &argv, "env", &env, "cwd", &cwd, "tag", &tag, "pty", &pty, "user",
                       &user) < 0)
        return api_respond_errf(c, EINVAL, "invalid process request: %s", je.text);
    char **av = NULL, **ev = NULL;
    uint16_t cols = 0, rows = 0;
    r = parse_command(command, argv, env, cwd, &av, &ev, &e);
    if (r >= 0 && user)
        r = msg_check_user(user, &e);
    if (r >= 0 && tag)
        r = proc_check_tag(tag, &e);
    if (r >= 0 && pty)
        r = parse_pty(pty, &cols, &rows, &e);
    struct proc_info pi = {0};
    if (r >= 0) {
        struct exec_opts o = {.argv = av, .env = ev, .cwd = cwd, .user = user};
        r = manager_proc_start(a->m, rq->match.id, &o, tag, cols, rows, &pi, &e);
    }
    strv_free(av);
    strv_free(ev);
    if (r < 0)
        return api_respond_err(c, r, e);
    enum MHD_Result ret = api_respond_json(c, 201, msg_proc_info_json(&pi));
    msg_proc_info_done(&pi);
    return ret;
}

enum MHD_Result api_proc_list(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    struct proc_list l = {0};
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = manager_proc_list(a->m, rq->match.id, &l, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < l.n; i++)
        json_array_append_new(arr, msg_proc_info_json(&l.v[i]));
    msg_proc_list_done(&l);
    return api_respond_json(c, 200, arr ? json_pack("{s:o}", "processes", arr) : NULL);
}

enum MHD_Result api_proc_logs(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    static const char *const allowed[] = {"follow", "tail", NULL};
    _cleanup_err_ struct runra_err *e = NULL;
    bool follow = false;
    uint64_t tail = 0;
    struct mstream *ms = NULL;
    int r = api_check_query(c, allowed, NULL, &e);
    if (r >= 0)
        r = api_query_bool(c, "follow", &follow, &e);
    if (r >= 0)
        r = api_query_u64(c, "tail", &tail, &e);
    if (r >= 0)
        r = proc_ref(rq, &e);
    if (r >= 0)
        r = manager_proc_logs_open(a->m, rq->match.id, rq->match.proc, tail, follow, &ms, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return respond_stream(a, c, rq, ms, false);
}

enum MHD_Result api_proc_stdin(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    static const char *const allowed[] = {"close", NULL};
    _cleanup_err_ struct runra_err *e = NULL;
    bool close_in = false;
    int r = api_check_query(c, allowed, NULL, &e);
    if (r >= 0)
        r = api_query_bool(c, "close", &close_in, &e);
    if (r >= 0)
        r = proc_ref(rq, &e);
    if (r >= 0 && rq->body_len > RUNRA_STDIN_MAX)
        r = err_set(&e, E2BIG, "stdin over %u bytes in one request", RUNRA_STDIN_MAX);
    if (r >= 0)
        r = manager_proc_stdin(a->m, rq->match.id, rq->match.proc, rq->body, rq->body_len,
                               close_in, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_json(c, 200, json_pack("{s:I}", "written", (json_int_t)rq->body_len));
}

enum MHD_Result api_proc_signal(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_auto_t *j = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = proc_ref(rq, &e);
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_error_t je;
    json_t *sv = NULL;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o}", "signal", &sv) < 0)
        return api_respond_errf(c, EINVAL, "invalid signal request: %s", je.text);
    int sig = 0;
    r = api_parse_signal(sv, &sig, &e);
    if (r >= 0)
        r = manager_proc_signal(a->m, rq->match.id, rq->match.proc, sig, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_json(c, 200, json_pack("{s:i}", "signal", sig));
}

/* A wait ends early when its client leaves or its API key is revoked. */
struct waiter {
    int fd;
    struct key_watch key;
};

static bool wait_gone(void *ud)
{
    struct waiter *w = ud;
    return keys_watch_revoked(&w->key) || api_client_gone(w->fd);
}

enum MHD_Result api_proc_wait(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_auto_t *j = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = proc_ref(rq, &e);
    if (r >= 0 && rq->body_len > 0)
        r = api_body_json(rq, &j, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_int_t timeout = 0;
    json_error_t je;
    if (j && json_unpack_ex(j, &je, JSON_STRICT, "{s?I}", "timeoutMs", &timeout) < 0)
        return api_respond_errf(c, EINVAL, "invalid wait request: %s", je.text);
    if (timeout < 0 || (uint64_t)timeout > RUNRA_TIMEOUT_MAX_MS)
        return api_respond_errf(c, EINVAL, "timeoutMs must be 0 to %llu",
                                (unsigned long long)RUNRA_TIMEOUT_MAX_MS);
    struct waiter w = {.fd = api_conn_fd(c)};
    keys_watch_init(&w.key, a->keys, rq->tenant);
    struct exec_exit x = {0};
    r = manager_proc_wait(a->m, rq->match.id, rq->match.proc, (uint64_t)timeout, wait_gone, &w,
                          &x, &e);
    if (r == -ECANCELED && w.key.revoked)
        return api_respond_errf(c, ENOKEY, "API key revoked");
    if (r == -ECANCELED)
        return MHD_NO; /* the client left; nobody to answer */
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_json(
        c, 200,
        json_pack("{s:i,s:i,s:I,s:I,s:I}", "exitCode", x.exit_code, "signal", x.signal,
                  "durationMs", (json_int_t)x.duration_ms, "stdoutBytes",
                  (json_int_t)x.stdout_bytes, "stderrBytes", (json_int_t)x.stderr_bytes));
}
