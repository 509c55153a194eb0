/* Streaming exec and background processes. Streams arrive as NDJSON
 * events; each whole line is decoded here (bounded) and its output handed to
 * the caller's callback as raw bytes, so nothing is held but one line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/enc.h"
#include "client.h"
#include "error.h"
#include "exec.h"
#include "json-build.h"
#include "json-read.h"
#include "ndjson.h"

#define LINE_MAX_BYTES (4u << 20) /* one NDJSON event; output chunks are far smaller */

struct ndsink {
    struct ndlines nd;
    runra_output_fn fn;
    void *ud;
    struct runra_exec_result *exit; /* filled by the exit event */
    bool got_exit;
    bool stopped;                   /* the callback asked to stop */
    struct runra_error *err;        /* a bad event or an error event */
};

static int on_event(struct ndsink *s, const char *p, size_t n)
{
    json_error_t je;
    json_auto_t *o = json_loadb(p, n, 0, &je);
    const char *type = json_string_value(json_object_get(o, "type"));
    if (!type)
        return lib_err_set(&s->err, EPROTO, "runrad sent a malformed stream event");
    if (!strcmp(type, "stdout") || !strcmp(type, "stderr")) {
        json_t *d = json_object_get(o, "data");
        unsigned char *raw = NULL;
        size_t len = 0;
        if (!json_is_string(d) ||
            base64_decode(json_string_value(d), json_string_length(d), &raw, &len) < 0)
            return lib_err_set(&s->err, EPROTO, "runrad sent output that is not base64");
        int r = s->fn ? s->fn(s->ud, !strcmp(type, "stdout") ? RUNRA_STREAM_STDOUT
                                                              : RUNRA_STREAM_STDERR,
                              raw, len)
                      : 0;
        free(raw);
        if (r != 0) {
            s->stopped = true;
            return -ECANCELED;
        }
        return 0;
    }
    if (!strcmp(type, "exit")) {
        struct runra_exec_result *x = s->exit;
        int r = jr_int(o, "exitCode", &x->exit_code, &s->err);
        if (r >= 0)
            r = jr_int(o, "signal", &x->signal, &s->err);
        if (r >= 0)
            r = jr_u64(o, "durationMs", &x->duration_ms, &s->err);
        if (r >= 0)
            r = jr_bool(o, "timedOut", &x->timed_out, &s->err);
        if (r >= 0)
            r = jr_bool(o, "oomKilled", &x->oom_killed, &s->err);
        if (r >= 0)
            r = jr_bool(o, "truncated", &x->truncated, &s->err);
        if (r >= 0)
            r = jr_dump(o, &x->json, &s->err);
        s->got_exit = r >= 0;
        return r;
    }
    if (!strcmp(type, "error")) {
        json_t *e = json_object_get(o, "error");
        lib_err_api(&s->err, 500, json_string_value(json_object_get(e, "code")),
                    json_string_value(json_object_get(e, "message")));
        return -(s->err ? s->err->errnum : EIO);
    }
    return 0; /* an event type this client does not know yet */
}

static int nd_line(void *ud, const char *p, size_t n) { return on_event(ud, p, n); }

/* Runs a streaming request: body (JSON, may be NULL) to target, events to s. */
static int run_stream(runra_client *c, const char *method, const char *target, json_t *body,
                      struct ndsink *s, struct runra_error **err)
{
    _cleanup_free_ char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    if (body && !text)
        return lib_err_set(err, ENOMEM, "encoding the request");
    struct http_request req = {.method = method,
                               .target = target,
                               .content_type = "application/json",
                               .body = text,
                               .body_len = text ? strlen(text) : 0,
                               .body_fd = -1};
    s->nd = (struct ndlines){.max = LINE_MAX_BYTES,
                             .what = "an event",
                             .on_line = nd_line,
                             .userdata = s,
                             .err = &s->err};
    struct http_response resp = {.body = {.max = CLIENT_JSON_MAX},
                                 .sink_fd = -1,
                                 .sink_cb = ndlines_feed,
                                 .sink_userdata = &s->nd};
    struct runra_error *e = NULL;
    int r = client_exchange(c, &req, &resp, &e);
    buf_done(&resp.body);
    ndlines_done(&s->nd);
    if (s->stopped) {
        /* The caller stopped reading: drop the connection, which tells
         * runrad to end the call (and kill an exec's tree). */
        http_conn_close(&c->conn);
        runra_error_free(e);
        runra_error_free(s->err);
        return lib_err_set(err, ECANCELED, "stopped by the output callback");
    }
    if (s->err) {
        runra_error_free(e);
        http_conn_close(&c->conn);
        int n = s->err->errnum;
        if (err)
            *err = s->err;
        else
            runra_error_free(s->err);
        return -n;
    }
    if (r < 0) {
        if (err)
            *err = e;
        else
            runra_error_free(e);
        return r;
    }
    return 0;
}

int runra_sandbox_exec_stream(runra_client *c, const char *id, const struct runra_exec_opts *opts,
                              runra_output_fn on_output, void *userdata,
                              struct runra_exec_result **ret, struct runra_error **err)
{
    if (!opts)
        return lib_err_set(err, EINVAL, "exec: no options");
    json_auto_t *body = json_object();
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    int r = lib_exec_opts_json(opts, body, err);
    if (r >= 0)
        r = jb_bool(body, "stream", 1, err);
    if (r < 0)
        return r;
    struct buf t = {0};
    r = client_target(&t, id, "/exec", err);
    if (r < 0) {
        buf_done(&t);
        return r;
    }
    struct runra_exec_result *res = calloc(1, sizeof(*res));
    if (!res) {
        buf_done(&t);
        return lib_err_set(err, ENOMEM, "out of memory");
    }
    struct ndsink s = {.fn = on_output, .ud = userdata, .exit = res};
    r = run_stream(c, "POST", t.data, body, &s, err);
    buf_done(&t);
    if (r >= 0 && !s.got_exit)
        r = lib_err_set(err, EPROTO, "runrad's stream ended without the exit");
    if (r < 0) {
        runra_exec_result_free(res);
        return r;
    }
    if (ret)
        *ret = res;
    else
        runra_exec_result_free(res);
    return 0;
}

/* A pid or a tag goes into a URL as it is; anything else is refused rather
 * than escaped, since runrad would refuse it anyway. */
int client_proc_target(struct buf *t, const char *id, const char *ref, const char *suffix,
                       struct runra_error **err)
{
    size_t n = ref ? strlen(ref) : 0;
    if (n == 0 || n > 63 || strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789_.-") != n)
        return lib_err_set(err, EINVAL, "'%s' is neither a pid nor a valid tag", ref ? ref : "");
    int r = client_target(t, id, "/processes/", err);
    if (r >= 0 && (buf_append_str(t, ref) < 0 || buf_append_str(t, suffix) < 0))
        r = lib_err_set(err, ENOMEM, "out of memory");
    return r;
}

static int process_from_json(json_t *o, struct runra_process *p, struct runra_error **err)
{
    _cleanup_free_ char *state = NULL;
    int r = jr_i64(o, "pid", &p->pid, err);
    if (r >= 0)
        r = jr_string(o, "tag", &p->tag, err);
    if (r >= 0)
        r = jr_string(o, "state", &state, err);
    if (r >= 0)
        r = jr_int(o, "exitCode", &p->exit_code, err);
    if (r >= 0)
        r = jr_int(o, "signal", &p->signal, err);
    if (r >= 0)
        r = jr_i64(o, "startedMs", &p->started_ms, err);
    if (r >= 0)
        r = jr_i64(o, "exitedMs", &p->exited_ms, err);
    if (r >= 0)
        r = jr_bool(o, "pty", &p->pty, err);
    if (r < 0)
        return r;
    p->running = state && !strcmp(state, "running");
    json_t *a = json_object_get(o, "argv");
    size_t n = json_is_array(a) ? json_array_size(a) : 0;
    p->argv = calloc(n + 1, sizeof(char *));
    if (!p->argv)
        return lib_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s || !(p->argv[i] = strdup(s)))
            return lib_err_set(err, EPROTO, "runrad's answer: a bad argv");
    }
    return 0;
}

static void process_done(struct runra_process *p)
{
    free(p->tag);
    for (size_t i = 0; p->argv && p->argv[i]; i++)
        free(p->argv[i]);
    free(p->argv);
}

void runra_process_free(struct runra_process *p)
{
    if (!p)
        return;
    process_done(p);
    free(p);
}

void runra_process_list_free(struct runra_process_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        process_done(&l->items[i]);
    free(l->items);
    free(l->json);
    free(l);
}

int runra_process_start(runra_client *c, const char *id, const struct runra_process_opts *o,
                        struct runra_process **ret, struct runra_error **err)
{
    if (!o || !!o->command == !!o->argv)
        return lib_err_set(err, EINVAL, "process: set exactly one of command and argv");
    json_auto_t *body = json_object();
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    int r = jb_str(body, "command", o->command, err);
    if (r >= 0)
        r = jb_strv(body, "argv", o->argv, err);
    if (r >= 0)
        r = jb_kv(body, "env", o->env, o->n_env, err);
    if (r >= 0)
        r = jb_str(body, "cwd", o->cwd, err);
    if (r >= 0)
        r = jb_str(body, "tag", o->tag, err);
    if (r >= 0 && (o->pty_cols || o->pty_rows)) {
        json_t *pty = json_pack("{s:I,s:I}", "cols", (json_int_t)o->pty_cols, "rows",
                                (json_int_t)o->pty_rows);
        if (!pty || json_object_set_new(body, "pty", pty) < 0)
            r = lib_err_set(err, ENOMEM, "out of memory");
    }
    struct buf t = {0};
    if (r >= 0)
        r = client_target(&t, id, "/processes", err);
    json_auto_t *ans = NULL;
    if (r >= 0)
        r = client_call(c, "POST", t.data, body, &ans, NULL, err);
    buf_done(&t);
    if (r < 0)
        return r;
    struct runra_process *p = calloc(1, sizeof(*p));
    if (!p)
        return lib_err_set(err, ENOMEM, "out of memory");
    r = process_from_json(ans, p, err);
    if (r < 0) {
        runra_process_free(p);
        return r;
    }
    *ret = p;
    return 0;
}

int runra_process_list(runra_client *c, const char *id, struct runra_process_list **ret,
                       struct runra_error **err)
{
    struct buf t = {0};
    int r = client_target(&t, id, "/processes", err);
    json_auto_t *ans = NULL;
    _cleanup_free_ char *text = NULL;
    if (r >= 0)
        r = client_call(c, "GET", t.data, NULL, &ans, &text, err);
    buf_done(&t);
    if (r < 0)
        return r;
    json_t *a = json_object_get(ans, "processes");
    if (!json_is_array(a))
        return lib_err_set(err, EPROTO, "runrad's answer: no process list");
    struct runra_process_list *l = calloc(1, sizeof(*l));
    if (!l || !(l->items = calloc(json_array_size(a) + 1, sizeof(*l->items)))) {
        free(l);
        return lib_err_set(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < json_array_size(a); i++) {
        l->n++;
        r = process_from_json(json_array_get(a, i), &l->items[i], err);
        if (r < 0) {
            runra_process_list_free(l);
            return r;
        }
    }
    l->json = TAKE_PTR(text);
    *ret = l;
    return 0;
}

int runra_process_logs(runra_client *c, const char *id, const char *ref, uint64_t tail,
                       bool follow, runra_output_fn on_output, void *userdata,
                       struct runra_exec_result **ret_exit, struct runra_error **err)
{
    struct buf t = {0};
    int r = client_proc_target(&t, id, ref, "/logs", err);
    if (r >= 0 && buf_printf(&t, "?tail=%llu&follow=%s", (unsigned long long)tail,
                             follow ? "true" : "false") < 0)
        r = lib_err_set(err, ENOMEM, "out of memory");
    struct runra_exec_result *res = r >= 0 ? calloc(1, sizeof(*res)) : NULL;
    if (r >= 0 && !res)
        r = lib_err_set(err, ENOMEM, "out of memory");
    struct ndsink s = {.fn = on_output, .ud = userdata, .exit = res};
    if (r >= 0)
        r = run_stream(c, "GET", t.data, NULL, &s, err);
    buf_done(&t);
    if (r >= 0 && ret_exit && s.got_exit)
        *ret_exit = TAKE_PTR(res);
    runra_exec_result_free(res);
    return r;
}

int runra_process_stdin(runra_client *c, const char *id, const char *ref, const void *data,
                        size_t len, bool close_stdin, struct runra_error **err)
{
    struct buf t = {0};
    int r = client_proc_target(&t, id, ref, close_stdin ? "/stdin?close=true" : "/stdin", err);
    if (r < 0) {
        buf_done(&t);
        return r;
    }
    struct http_request req = {.method = "POST",
                               .target = t.data,
                               .content_type = "application/octet-stream",
                               .body = data ? data : "",
                               .body_len = len,
                               .body_fd = -1};
    struct http_response resp = {.body = {.max = CLIENT_JSON_MAX}, .sink_fd = -1};
    r = client_exchange(c, &req, &resp, err);
    buf_done(&resp.body);
    buf_done(&t);
    return r;
}

int runra_process_signal(runra_client *c, const char *id, const char *ref, int sig,
                         struct runra_error **err)
{
    struct buf t = {0};
    json_auto_t *body = json_pack("{s:i}", "signal", sig);
    int r = body ? client_proc_target(&t, id, ref, "/signal", err)
                 : lib_err_set(err, ENOMEM, "out of memory");
    if (r >= 0)
        r = client_call(c, "POST", t.data, body, NULL, NULL, err);
    buf_done(&t);
    return r;
}

int runra_process_resize(runra_client *c, const char *id, const char *ref, unsigned cols,
                         unsigned rows, struct runra_error **err)
{
    struct buf t = {0};
    json_auto_t *body = json_pack("{s:I,s:I}", "cols", (json_int_t)cols, "rows", (json_int_t)rows);
    int r = body ? client_proc_target(&t, id, ref, "/resize", err)
                 : lib_err_set(err, ENOMEM, "out of memory");
    if (r >= 0)
        r = client_call(c, "POST", t.data, body, NULL, NULL, err);
    buf_done(&t);
    return r;
}

int runra_process_wait(runra_client *c, const char *id, const char *ref, uint64_t timeout_ms,
                       struct runra_exec_result **ret, struct runra_error **err)
{
    struct buf t = {0};
    json_auto_t *body = json_object();
    int r = body ? client_proc_target(&t, id, ref, "/wait", err)
                 : lib_err_set(err, ENOMEM, "out of memory");
    if (r >= 0 && timeout_ms)
        r = jb_u64(body, "timeoutMs", timeout_ms, err);
    json_auto_t *ans = NULL;
    _cleanup_free_ char *text = NULL;
    if (r >= 0)
        r = client_call(c, "POST", t.data, body, &ans, &text, err);
    buf_done(&t);
    if (r < 0)
        return r;
    struct runra_exec_result *res = calloc(1, sizeof(*res));
    if (!res)
        return lib_err_set(err, ENOMEM, "out of memory");
    r = jr_int(ans, "exitCode", &res->exit_code, err);
    if (r >= 0)
        r = jr_int(ans, "signal", &res->signal, err);
    if (r >= 0)
        r = jr_u64(ans, "durationMs", &res->duration_ms, err);
    if (r < 0) {
        runra_exec_result_free(res);
        return r;
    }
    res->json = TAKE_PTR(text);
    *ret = res;
    return 0;
}
