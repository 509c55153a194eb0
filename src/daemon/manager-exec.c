/* Buffered exec: one guest call, stdin sent up front, output gathered up to
 * the cap. The daemon enforces the cap and the deadline itself rather than
 * trusting the guest to: a guest that floods or never answers costs bounded
 * memory and bounded time. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "manager-internal.h"
#include "proto/frame.h"
#include "proto/limits.h"

void exec_result_free(struct exec_result *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->errb);
    free(r);
}

/* The sandbox env with the request's entries laid over it. */
/* True when "K=V" strings in v set key (klen bytes). */
static bool strv_sets(char **v, const char *key, size_t klen)
{
    for (size_t j = 0; v && v[j]; j++)
        if (!strncmp(v[j], key, klen) && v[j][klen] == '=')
            return true;
    return false;
}

/* True when key (klen bytes) is one of l's keys. */
static bool kv_has(const struct kv_list *l, const char *key, size_t klen)
{
    for (size_t k = 0; k < l->n; k++)
        if (strlen(l->items[k].key) == klen && !strncmp(l->items[k].key, key, klen))
            return true;
    return false;
}

static int add_kv(char **v, size_t *n, const struct kv *kv)
{
    if (asprintf(&v[*n], "%s=%s", kv->key, kv->value) < 0) {
        v[*n] = NULL;
        return -ENOMEM;
    }
    (*n)++;
    return 0;
}

int manager_env_merge(struct manager *m, struct sandbox *s, char **over, char ***ret)
{
    pthread_mutex_lock(&m->lock);
    const struct kv_list *base = &s->spec->env, *sec = &s->spec->secrets;
    char **net = s->net_env;
    size_t nb = base->n, ns = sec->n, no = strv_len(over), nn = strv_len(net);
    char **v = calloc(nn + nb + ns + no + 1, sizeof(char *));
    int r = v ? 0 : -ENOMEM;
    size_t n = 0;
    /* Layers, each overriding the ones before: the network's proxy
     * variables, the sandbox's env, its secrets, the request's env. */
    for (size_t i = 0; r >= 0 && i < nn; i++) {
        size_t klen = strcspn(net[i], "=");
        if (strv_sets(over, net[i], klen) || kv_has(base, net[i], klen) ||
            kv_has(sec, net[i], klen))
            continue;
        if (!(v[n++] = strdup(net[i])))
            r = -ENOMEM;
    }
    for (size_t i = 0; r >= 0 && i < nb; i++) {
        const char *k = base->items[i].key;
        if (strv_sets(over, k, strlen(k)) || kv_has(sec, k, strlen(k)))
            continue;
        r = add_kv(v, &n, &base->items[i]);
    }
    for (size_t i = 0; r >= 0 && i < ns; i++) {
        const char *k = sec->items[i].key;
        if (!strv_sets(over, k, strlen(k)))
            r = add_kv(v, &n, &sec->items[i]);
    }
    pthread_mutex_unlock(&m->lock);
    for (size_t j = 0; r >= 0 && j < no; j++)
        if (!(v[n++] = strdup(over[j])))
            r = -ENOMEM;
    if (r < 0) {
        strv_free(v);
        return r;
    }
    *ret = v;
    return 0;
}

static int append(char **buf, size_t *len, size_t cap, const void *data, size_t n, bool *trunc)
{
    size_t room = *len < cap ? cap - *len : 0;
    size_t take = n < room ? n : room;
    if (take < n)
        *trunc = true;
    if (take == 0)
        return 0;
    char *nb = realloc(*buf, *len + take + 1);
    if (!nb)
        return -ENOMEM;
    memcpy(nb + *len, data, take);
    *len += take;
    nb[*len] = 0;
    *buf = nb;
    return 0;
}

int manager_exec(struct manager *m, const char *id, const struct exec_opts *o,
                 struct exec_result **ret, struct runra_err **err)
{
    uint64_t t0 = now_ns();
    struct sandbox *s;
    int r = manager_acquire(m, id, &s, err);
    if (r < 0)
        return r;
    struct exec_result *res = calloc(1, sizeof(*res));
    char **env = NULL;
    char *payload = NULL;
    struct guest_call *call = NULL;
    if (!res) {
        r = -ENOMEM;
        goto out;
    }
    r = manager_env_merge(m, s, o->env, &env);
    if (r < 0)
        goto out;
    uint64_t timeout = o->timeout_ms ? o->timeout_ms : m->cfg.exec_timeout_ms;
    uint64_t cap = o->max_output ? o->max_output : m->cfg.max_output;
    struct exec_req req = {.argv = o->argv,
                           .env = env,
                           .cwd = (char *)o->cwd,
                           .user = (char *)(o->user ? o->user : s->spec->user),
                           .timeout_ms = timeout,
                           .max_output = cap,
                           .stdin_pipe = o->has_stdin};
    r = msg_exec_req_encode(&req, &payload);
    if (r < 0)
        goto out;
    if (strlen(payload) > RUNRA_FRAME_MAX_PAYLOAD) {
        r = err_set(err, E2BIG, "command, env and cwd together exceed %u bytes",
                    RUNRA_FRAME_MAX_PAYLOAD);
        goto out;
    }
    uint64_t oom_before = 0;
    s->ops->oom_kills(s->box, &oom_before, NULL);
    uint64_t start = now_ms();
    r = guest_call_start(s->guest, FRAME_EXEC, payload, strlen(payload), &call, err);
    if (r < 0)
        goto out;
    if (o->has_stdin) {
        const char *p = o->stdin_data;
        size_t left = o->stdin_len;
        while (r >= 0 && left > 0) {
            size_t n = left < RUNRA_FRAME_MAX_PAYLOAD ? left : RUNRA_FRAME_MAX_PAYLOAD;
            r = guest_call_send(call, FRAME_STDIN, p, n);
            p += n;
            left -= n;
        }
        if (r >= 0)
            r = guest_call_send(call, FRAME_STDIN, NULL, 0);
        if (r < 0) {
            r = err_set(err, EPIPE, "send stdin to sandbox: %s", strerror(-r));
            goto out;
        }
    }
    /* The guest kills the tree at the timeout; past a grace period the
     * daemon cancels, and past a second one it stops waiting. */
    uint64_t deadline = timeout ? start + timeout + EXEC_GRACE_MS : 0;
    bool cancelled = false;
    for (;;) {
        struct guest_frame *f = NULL;
        r = guest_call_recv(call, deadline, &f);
        if (r == -ETIMEDOUT && !cancelled) {
            guest_call_send(call, FRAME_CANCEL, NULL, 0);
            cancelled = true;
            deadline = now_ms() + EXEC_GRACE_MS;
            continue;
        }
        if (r == -ETIMEDOUT) {
            res->timed_out = true;
            res->exit_code = 128 + SIGKILL;
            res->signal = SIGKILL;
            res->duration_ms = now_ms() - start;
            r = 0;
            break;
        }
        if (r < 0) {
            r = err_set(err, EPIPE, "sandbox stopped during exec");
            break;
        }
        if (f->type == FRAME_STDOUT || f->type == FRAME_STDERR) {
            bool is_out = f->type == FRAME_STDOUT;
            r = append(is_out ? &res->out : &res->errb, is_out ? &res->out_len : &res->err_len,
                       cap, f->data, f->len, &res->truncated);
            free(f);
            if (r < 0)
                break;
            continue;
        }
        if (f->type == FRAME_EXIT) {
            struct exec_exit x;
            r = msg_exec_exit_decode(f->data, f->len, &x, err);
            free(f);
            if (r < 0)
                break;
            res->exit_code = x.exit_code;
            res->signal = x.signal;
            res->timed_out = x.timed_out || cancelled;
            res->truncated = res->truncated || x.truncated;
            res->oom_killed = x.oom_killed && !res->timed_out;
            res->duration_ms = now_ms() - start;
            break;
        }
        if (f->type == FRAME_ERROR) {
            r = guest_frame_error(f, "exec", err);
            free(f);
            break;
        }
        free(f); /* nothing else belongs to an exec call */
    }
    /* The OOM killer may have picked a child (a shell's command) rather than
     * the main process, so any OOM kill in the sandbox during the exec
     * counts; concurrent execs in one sandbox may both see it. */
    if (r >= 0 && !res->timed_out) {
        uint64_t oom_after = 0;
        if (s->ops->oom_kills(s->box, &oom_after, NULL) >= 0 && oom_after > oom_before)
            res->oom_killed = true;
    }
out:
    guest_call_end(call);
    free(payload);
    strv_free(env);
    manager_release(m, s);
    if (r < 0) {
        exec_result_free(res);
        return r;
    }
    manager_note_exec((now_ns() - t0) / 1000);
    manager_emit_exec(m, id, o->argv, o->cwd, res->exit_code, res->signal, res->duration_ms,
                      res->out_len, res->err_len, res->timed_out, res->oom_killed);
    *ret = res;
    return 0;
}

void manager_emit_exec(struct manager *m, const char *id, char **argv, const char *cwd,
                       int exit_code, int sig, uint64_t duration_ms, uint64_t out_bytes,
                       uint64_t err_bytes, bool timed_out, bool oom)
{
    json_t *av = json_array();
    for (size_t i = 0; av && argv && argv[i]; i++)
        json_array_append_new(av, json_string(argv[i]));
    manager_emit(m, id, "exec",
                 json_pack("{s:o,s:o,s:i,s:i,s:I,s:I,s:I,s:b,s:b}", "argv",
                           av ? av : json_array(), "cwd", cwd ? json_string(cwd) : json_null(),
                           "exitCode", exit_code, "signal", sig, "durationMs",
                           (json_int_t)duration_ms, "stdoutBytes", (json_int_t)out_bytes,
                           "stderrBytes", (json_int_t)err_bytes, "timedOut", timed_out,
                           "oomKilled", oom));
    if (oom)
        manager_emit(m, id, "limit.oom", json_pack("{s:s}", "during", "exec"));
}
