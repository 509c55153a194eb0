/* Codec for the background-process frames. Like msg.c: strict JSON (unknown
 * keys, duplicates and out-of-range values are errors), every list and
 * string bounded, and nothing of jansson's escapes to the callers. */
#include "procmsg.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

#include "../base/enc.h"
#include "limits.h"
#include "msg.h"

int proc_check_tag(const char *tag, struct runra_err **err)
{
    size_t n = strlen(tag);
    bool digits = true;
    if (n == 0 || n > RUNRA_PROC_TAG_MAX)
        return err_set(err, EINVAL, "a tag must be 1 to %d bytes", RUNRA_PROC_TAG_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = tag[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok)
            return err_set(err, EINVAL, "a tag may only hold letters, digits, '_', '-' and '.'");
        if (c < '0' || c > '9')
            digits = false;
    }
    if (digits)
        return err_set(err, EINVAL, "a tag must not be all digits (that names a pid)");
    return 0;
}

int proc_check_dim(int64_t v, const char *what, struct runra_err **err)
{
    if (v < 1 || v > RUNRA_PTY_DIM_MAX)
        return err_set(err, EINVAL, "%s must be 1 to %d", what, RUNRA_PTY_DIM_MAX);
    return 0;
}

int proc_check_ref(const char *ref, struct runra_err **err)
{
    size_t n = strlen(ref);
    bool digits = n > 0 && n <= 10;
    for (size_t i = 0; digits && i < n; i++)
        digits = ref[i] >= '0' && ref[i] <= '9';
    if (digits)
        return 0;
    return proc_check_tag(ref, err);
}

int msg_proc_start_encode(const struct proc_start_req *r, char **ret)
{
    _cleanup_free_ char *x = NULL;
    int e = msg_exec_req_encode(r->exec, &x);
    if (e < 0)
        return e;
    json_t *ej = json_loads(x, 0, NULL);
    if (!ej)
        return -ENOMEM;
    json_t *j = json_pack("{s:o}", "exec", ej);
    if (j && r->tag)
        json_object_set_new(j, "tag", json_string(r->tag));
    if (j && r->pty)
        json_object_set_new(j, "pty", json_pack("{s:i,s:i}", "cols", r->cols, "rows", r->rows));
    return msg_json_dump(j, ret);
}

int msg_proc_start_decode(const void *buf, size_t len, struct proc_start_req *ret,
                          struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    json_t *ej = NULL, *pty = NULL;
    const char *tag = NULL;
    struct proc_start_req q = {0};
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o,s?s,s?o}", "exec", &ej, "tag", &tag, "pty",
                       &pty) < 0) {
        r = err_set(err, EINVAL, "bad process start request: %s", je.text);
        goto out;
    }
    if (tag && (r = proc_check_tag(tag, err)) < 0)
        goto out;
    if (pty) {
        json_int_t cols = 0, rows = 0;
        if (json_unpack_ex(pty, &je, JSON_STRICT, "{s:I,s:I}", "cols", &cols, "rows", &rows) <
            0) {
            r = err_set(err, EINVAL, "bad pty: %s", je.text);
            goto out;
        }
        if ((r = proc_check_dim(cols, "cols", err)) < 0 ||
            (r = proc_check_dim(rows, "rows", err)) < 0)
            goto out;
        q.pty = true;
        q.cols = (uint16_t)cols;
        q.rows = (uint16_t)rows;
    }
    char *txt = json_dumps(ej, JSON_COMPACT);
    r = txt ? msg_exec_req_decode(txt, strlen(txt), &q.exec, err) : -ENOMEM;
    free(txt);
    if (r < 0)
        goto out;
    if (tag && !(q.tag = strdup(tag))) {
        r = -ENOMEM;
        goto out;
    }
    *ret = q;
    q = (struct proc_start_req){0};
out:
    msg_proc_start_done(&q);
    json_decref(j);
    return r;
}

void msg_proc_start_done(struct proc_start_req *r)
{
    msg_exec_req_free(r->exec);
    free(r->tag);
    *r = (struct proc_start_req){0};
}

int msg_proc_ref_encode(const struct proc_ref_req *r, char **ret)
{
    json_t *j = json_pack("{s:s}", "ref", r->ref);
    if (!j)
        return -ENOMEM;
    if (r->tail)
        json_object_set_new(j, "tail", json_integer((json_int_t)r->tail));
    if (r->follow)
        json_object_set_new(j, "follow", json_true());
    if (r->signal)
        json_object_set_new(j, "signal", json_integer(r->signal));
    if (r->close)
        json_object_set_new(j, "close", json_true());
    if (r->cols || r->rows) {
        json_object_set_new(j, "cols", json_integer(r->cols));
        json_object_set_new(j, "rows", json_integer(r->rows));
    }
    if (r->data_len) {
        char *b = NULL;
        size_t n = 0;
        if (base64_encode(r->data, r->data_len, &b, &n) < 0) {
            json_decref(j);
            return -ENOMEM;
        }
        json_object_set_new(j, "data", json_stringn(b, n));
        free(b);
    }
    return msg_json_dump(j, ret);
}

int msg_proc_ref_decode(const void *buf, size_t len, struct proc_ref_req *ret,
                        struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    const char *ref = NULL, *data = NULL;
    json_int_t tail = 0, cols = -1, rows = -1;
    int follow = 0, sig = 0, close_in = 0;
    struct proc_ref_req q = {0};
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?I,s?b,s?i,s?b,s?s,s?I,s?I}", "ref", &ref,
                       "tail", &tail, "follow", &follow, "signal", &sig, "close", &close_in,
                       "data", &data, "cols", &cols, "rows", &rows) < 0) {
        r = err_set(err, EINVAL, "bad process request: %s", je.text);
        goto out;
    }
    if ((r = proc_check_ref(ref, err)) < 0)
        goto out;
    if ((cols != -1 || rows != -1) && ((r = proc_check_dim(cols, "cols", err)) < 0 ||
                                       (r = proc_check_dim(rows, "rows", err)) < 0))
        goto out;
    if (cols != -1) {
        q.cols = (uint16_t)cols;
        q.rows = (uint16_t)rows;
    }
    if (tail < 0 || (sig != 0 && (sig < 1 || sig >= NSIG))) {
        r = err_set(err, EINVAL, "tail or signal out of range");
        goto out;
    }
    if (data) {
        r = base64_decode(data, strlen(data), &q.data, &q.data_len);
        if (r < 0) {
            r = err_set(err, EINVAL, "stdin data is not base64");
            goto out;
        }
        if (q.data_len > RUNRA_PROC_STDIN_CHUNK) {
            r = err_set(err, E2BIG, "stdin chunk over %u bytes", RUNRA_PROC_STDIN_CHUNK);
            goto out;
        }
    }
    if (!(q.ref = strdup(ref))) {
        r = -ENOMEM;
        goto out;
    }
    q.tail = (uint64_t)tail;
    q.follow = follow;
    q.signal = sig;
    q.close = close_in;
    *ret = q;
    q = (struct proc_ref_req){0};
out:
    msg_proc_ref_done(&q);
    json_decref(j);
    return r;
}

void msg_proc_ref_done(struct proc_ref_req *r)
{
    free(r->ref);
    free(r->data);
    *r = (struct proc_ref_req){0};
}

json_t *msg_proc_info_json(const struct proc_info *p)
{
    json_t *argv = json_array();
    for (size_t i = 0; argv && p->argv && p->argv[i]; i++)
        json_array_append_new(argv, json_string(p->argv[i]));
    json_t *j = json_pack("{s:I,s:o,s:s,s:I}", "pid", (json_int_t)p->pid, "argv", argv, "state",
                          p->running ? "running" : "exited", "startedMs",
                          (json_int_t)p->started_ms);
    if (!j)
        return NULL;
    json_object_set_new(j, "tag", p->tag ? json_string(p->tag) : json_null());
    json_object_set_new(j, "pty", json_boolean(p->pty));
    if (!p->running) {
        json_object_set_new(j, "exitCode", json_integer(p->exit_code));
        json_object_set_new(j, "signal", json_integer(p->signal));
        json_object_set_new(j, "exitedMs", json_integer((json_int_t)p->exited_ms));
    } else {
        json_object_set_new(j, "exitCode", json_null());
        json_object_set_new(j, "signal", json_null());
        json_object_set_new(j, "exitedMs", json_null());
    }
    return j;
}

int msg_proc_info_encode(const struct proc_info *p, char **ret)
{
    return msg_json_dump(msg_proc_info_json(p), ret);
}

static int info_from_json(json_t *j, struct proc_info *ret, struct runra_err **err)
{
    json_error_t je;
    json_int_t pid = 0, started = 0;
    json_t *argv = NULL, *tag = NULL, *code = NULL, *sig = NULL, *exited = NULL;
    const char *state = NULL;
    int pty = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:I,s:o,s:s,s:I,s:o,s:b,s:o,s:o,s:o}", "pid", &pid,
                       "argv", &argv, "state", &state, "startedMs", &started, "tag", &tag,
                       "pty", &pty, "exitCode", &code, "signal", &sig, "exitedMs", &exited) < 0)
        return err_set(err, EPROTO, "bad process info: %s", je.text);
    struct proc_info p = {.pid = pid, .started_ms = started, .pty = pty};
    if (pid <= 0 || pid > INT32_MAX || !json_is_array(argv) ||
        json_array_size(argv) > RUNRA_ARGV_MAX || (!json_is_null(tag) && !json_is_string(tag)))
        return err_set(err, EPROTO, "bad process info");
    if (!strcmp(state, "running")) {
        p.running = true;
    } else if (!strcmp(state, "exited")) {
        if (!json_is_integer(code) || !json_is_integer(sig) || !json_is_integer(exited) ||
            json_integer_value(code) < 0 || json_integer_value(code) > 255 ||
            json_integer_value(sig) < 0 || json_integer_value(sig) >= NSIG)
            return err_set(err, EPROTO, "bad process exit info");
        p.exit_code = (int)json_integer_value(code);
        p.signal = (int)json_integer_value(sig);
        p.exited_ms = json_integer_value(exited);
    } else {
        return err_set(err, EPROTO, "bad process state");
    }
    if (json_is_string(tag) && (json_string_length(tag) > RUNRA_PROC_TAG_MAX ||
                                !(p.tag = strdup(json_string_value(tag)))))
        return err_set(err, EPROTO, "bad process tag");
    p.argv = calloc(json_array_size(argv) + 1, sizeof(char *));
    if (!p.argv) {
        msg_proc_info_done(&p);
        return -ENOMEM;
    }
    size_t i;
    json_t *v;
    json_array_foreach(argv, i, v)
    {
        if (!json_is_string(v) || json_string_length(v) > RUNRA_ARG_MAX_BYTES ||
            !(p.argv[i] = strdup(json_string_value(v)))) {
            msg_proc_info_done(&p);
            return err_set(err, EPROTO, "bad process argv");
        }
    }
    *ret = p;
    return 0;
}

int msg_proc_info_decode(const void *buf, size_t len, struct proc_info *ret,
                         struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r >= 0)
        r = info_from_json(j, ret, err);
    json_decref(j);
    return r;
}

void msg_proc_info_done(struct proc_info *p)
{
    free(p->tag);
    strv_free(p->argv);
    *p = (struct proc_info){0};
}

int msg_proc_list_encode(const struct proc_list *l, char **ret)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < l->n; i++)
        json_array_append_new(a, msg_proc_info_json(&l->v[i]));
    return msg_json_dump(a ? json_pack("{s:o}", "processes", a) : NULL, ret);
}

int msg_proc_list_decode(const void *buf, size_t len, struct proc_list *ret,
                         struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    json_t *a = NULL;
    struct proc_list l = {0};
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:o}", "processes", &a) < 0 || !json_is_array(a) ||
        json_array_size(a) > RUNRA_PROCS_KEPT) {
        json_decref(j);
        return err_set(err, EPROTO, "bad process list");
    }
    l.v = calloc(json_array_size(a) + 1, sizeof(*l.v));
    if (!l.v) {
        json_decref(j);
        return -ENOMEM;
    }
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        if (!json_is_object(v)) {
            r = err_set(err, EPROTO, "bad process list");
            break;
        }
        r = info_from_json(v, &l.v[i], err);
        if (r < 0)
            break;
        l.n++;
    }
    json_decref(j);
    if (r < 0) {
        msg_proc_list_done(&l);
        return r;
    }
    *ret = l;
    return 0;
}

void msg_proc_list_done(struct proc_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        msg_proc_info_done(&l->v[i]);
    free(l->v);
    *l = (struct proc_list){0};
}
