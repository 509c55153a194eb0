/* Streaming exec and background processes (manager-proc.h). The guest is
 * hostile here as everywhere: each call has a deadline or a liveness check
 * on the client, exits are decoded strictly, and a stream holds one sandbox
 * reference that a destroy wakes (EPIPE) rather than waits on forever. */
#include "manager-proc.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "manager-internal.h"
#include "proto/frame.h"
#include "proto/limits.h"

#define PROC_CALL_TIMEOUT_MS (30u * 1000) /* a process call other than wait and follow */
#define FIRST_FRAME_MS 100                /* how long an exec stream waits for a start error */
#define WAIT_SLICE_MS 250                 /* a wait checks on its client this often */

struct mstream {
    struct manager *m;
    struct sandbox *s;
    struct guest_call *call;
    struct guest_frame *first; /* read while opening, handed out first */
    bool exec;
    bool cancelled, done;
    uint64_t start_ms, deadline_ms; /* deadline: 0 = none */
    uint64_t oom_before;
    char **argv; /* an exec's, for its audit event */
    char *cwd;
};

void mstream_event_done(struct mstream_event *ev)
{
    free(ev->f);
    ev->f = NULL;
}

void mstream_close(struct mstream *st)
{
    if (!st)
        return;
    free(st->first);
    strv_free(st->argv);
    free(st->cwd);
    guest_call_end(st->call);
    if (st->s)
        manager_release(st->m, st->s);
    free(st);
}

/* Opens a call on a held sandbox; on failure releases it. */
static int open_call(struct manager *m, const char *id, uint16_t type, const char *payload,
                     struct mstream **ret, struct runra_err **err)
{
    struct mstream *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    int r = manager_acquire(m, id, &st->s, err);
    if (r < 0) {
        free(st);
        return r;
    }
    st->m = m;
    r = guest_call_start(st->s->guest, type, payload, strlen(payload), &st->call, err);
    if (r < 0) {
        mstream_close(st);
        return r;
    }
    *ret = st;
    return 0;
}

int manager_exec_stream_open(struct manager *m, const char *id, const struct exec_opts *o,
                             struct mstream **ret, struct runra_err **err)
{
    struct sandbox *s;
    int r = manager_acquire(m, id, &s, err);
    if (r < 0)
        return r;
    char **env = NULL;
    r = manager_env_merge(m, s, o->env, &env);
    _cleanup_free_ char *user = o->user ? strdup(o->user) : s->spec->user ? strdup(s->spec->user) : NULL;
    manager_release(m, s);
    if (r < 0)
        return r;
    uint64_t timeout = o->timeout_ms ? o->timeout_ms : manager_config(m)->exec_timeout_ms;
    struct exec_req req = {.argv = o->argv,
                           .env = env,
                           .cwd = (char *)o->cwd,
                           .user = user,
                           .timeout_ms = timeout,
                           .max_output = o->max_output,
                           .stdin_pipe = o->has_stdin};
    _cleanup_free_ char *payload = NULL;
    r = msg_exec_req_encode(&req, &payload);
    strv_free(env);
    if (r < 0)
        return r;
    if (strlen(payload) > RUNRA_FRAME_MAX_PAYLOAD)
        return err_set(err, E2BIG, "command, env and cwd together exceed %u bytes",
                       RUNRA_FRAME_MAX_PAYLOAD);
    struct mstream *st = NULL;
    r = open_call(m, id, FRAME_EXEC, payload, &st, err);
    if (r < 0)
        return r;
    st->exec = true;
    st->argv = strv_dup(o->argv);
    st->cwd = o->cwd ? strdup(o->cwd) : NULL;
    st->s->ops->oom_kills(st->s->box, &st->oom_before, NULL);
    st->start_ms = now_ms();
    st->deadline_ms = timeout ? st->start_ms + timeout + EXEC_GRACE_MS : 0;
    if (o->has_stdin) {
        const char *p = o->stdin_data;
        size_t left = o->stdin_len;
        while (r >= 0 && left > 0) {
            size_t n = left < RUNRA_FRAME_MAX_PAYLOAD ? left : RUNRA_FRAME_MAX_PAYLOAD;
            r = guest_call_send(st->call, FRAME_STDIN, p, n);
            p += n;
            left -= n;
        }
        if (r >= 0)
            r = guest_call_send(st->call, FRAME_STDIN, NULL, 0);
        if (r < 0) {
            mstream_close(st);
            return err_set(err, EPIPE, "send stdin to sandbox: %s", strerror(-r));
        }
    }
    /* A start error (bad cwd, argv[0] not found is an exit code instead)
     * comes back at once; catching it here gives the client a real HTTP
     * error instead of a 200 whose stream says "error". */
    struct guest_frame *f = NULL;
    r = guest_call_recv(st->call, now_ms() + FIRST_FRAME_MS, &f);
    if (r == 0 && f->type == FRAME_ERROR) {
        r = guest_frame_error(f, "exec", err);
        free(f);
        mstream_close(st);
        return r;
    }
    if (r == 0)
        st->first = f;
    else if (r != -ETIMEDOUT) {
        mstream_close(st);
        return err_set(err, EPIPE, "sandbox stopped during exec");
    }
    *ret = st;
    return 0;
}

int manager_proc_logs_open(struct manager *m, const char *id, const char *ref, uint64_t tail,
                           bool follow, struct mstream **ret, struct runra_err **err)
{
    struct proc_ref_req q = {.ref = (char *)ref, .tail = tail, .follow = follow};
    _cleanup_free_ char *payload = NULL;
    int r = msg_proc_ref_encode(&q, &payload);
    if (r < 0)
        return r;
    struct mstream *st = NULL;
    r = open_call(m, id, FRAME_PROC_LOGS, payload, &st, err);
    if (r < 0)
        return r;
    /* The guest answers a known process with an empty DATA at once, an
     * unknown one with ERROR. */
    struct guest_frame *f = NULL;
    r = guest_call_recv(st->call, now_ms() + PROC_CALL_TIMEOUT_MS, &f);
    if (r < 0) {
        mstream_close(st);
        return r == -ETIMEDOUT ? err_set(err, ETIMEDOUT, "sandbox did not answer")
                               : err_set(err, EPIPE, "sandbox stopped");
    }
    if (f->type == FRAME_ERROR) {
        r = guest_frame_error(f, "logs", err);
        free(f);
        mstream_close(st);
        return r;
    }
    if (f->type == FRAME_DATA && f->len == 0)
        free(f);
    else
        st->first = f;
    *ret = st;
    return 0;
}

static void synth_timeout(struct mstream *st, struct mstream_event *ev)
{
    *ev = (struct mstream_event){.kind = MS_EXIT};
    ev->exit.timed_out = true;
    ev->exit.exit_code = 128 + SIGKILL;
    ev->exit.signal = SIGKILL;
    ev->exit.duration_ms = now_ms() - st->start_ms;
    st->done = true;
}

int mstream_next(struct mstream *st, uint64_t wait_ms, struct mstream_event *ev,
                 struct runra_err **err)
{
    if (st->done) {
        *ev = (struct mstream_event){.kind = MS_END};
        return 1;
    }
    struct guest_frame *f = TAKE_PTR(st->first);
    if (!f) {
        uint64_t now = now_ms(), until = now + wait_ms;
        if (st->deadline_ms && st->deadline_ms < until)
            until = st->deadline_ms;
        int r = guest_call_recv(st->call, until, &f);
        if (r == -ETIMEDOUT) {
            if (!st->deadline_ms || now_ms() < st->deadline_ms)
                return 0;
            /* The guest kills the tree at the timeout; past a grace period
             * the daemon cancels, and past a second one stops waiting. */
            if (!st->cancelled) {
                guest_call_send(st->call, FRAME_CANCEL, NULL, 0);
                st->cancelled = true;
                st->deadline_ms = now_ms() + EXEC_GRACE_MS;
                return 0;
            }
            synth_timeout(st, ev);
            return 1;
        }
        if (r < 0) {
            st->done = true;
            return err_set(err, EPIPE, "the sandbox stopped");
        }
    }
    switch (f->type) {
    case FRAME_STDOUT:
    case FRAME_STDERR:
        *ev = (struct mstream_event){.kind = f->type == FRAME_STDOUT ? MS_STDOUT : MS_STDERR,
                                     .data = f->data,
                                     .len = f->len,
                                     .f = f};
        return 1;
    case FRAME_EXIT: {
        *ev = (struct mstream_event){.kind = MS_EXIT};
        int r = msg_exec_exit_decode(f->data, f->len, &ev->exit, err);
        free(f);
        st->done = true;
        if (r < 0)
            return r;
        if (st->exec) {
            ev->exit.timed_out = ev->exit.timed_out || st->cancelled;
            ev->exit.duration_ms = now_ms() - st->start_ms;
            manager_note_exec(ev->exit.duration_ms * 1000);
            uint64_t oom_after = 0;
            if (ev->exit.oom_killed && !ev->exit.timed_out)
                ev->oom_killed = true;
            if (!ev->exit.timed_out &&
                st->s->ops->oom_kills(st->s->box, &oom_after, NULL) >= 0 &&
                oom_after > st->oom_before)
                ev->oom_killed = true;
            manager_emit_exec(st->m, st->s->id, st->argv, st->cwd, ev->exit.exit_code,
                              ev->exit.signal, ev->exit.duration_ms, ev->exit.stdout_bytes,
                              ev->exit.stderr_bytes, ev->exit.timed_out, ev->oom_killed);
        }
        return 1;
    }
    case FRAME_RESULT:
        free(f);
        st->done = true;
        *ev = (struct mstream_event){.kind = MS_END};
        return 1;
    case FRAME_ERROR: {
        int r = guest_frame_error(f, st->exec ? "exec" : "logs", err);
        free(f);
        st->done = true;
        return r;
    }
    default:
        free(f); /* nothing else belongs to these calls */
        return 0;
    }
}

/* One request frame, one final answer: RESULT (its payload returned), or
 * EXIT for a wait. deadline 0: checks gone() every WAIT_SLICE_MS instead. */
static int call_once(struct manager *m, const char *id, uint16_t type, const char *payload,
                     uint64_t deadline, bool (*gone)(void *), void *ud,
                     struct guest_frame **ret, struct runra_err **err)
{
    struct mstream *st = NULL;
    int r = open_call(m, id, type, payload, &st, err);
    if (r < 0)
        return r;
    struct guest_frame *f = NULL;
    for (;;) {
        uint64_t until = now_ms() + WAIT_SLICE_MS;
        if (deadline && deadline < until)
            until = deadline;
        r = guest_call_recv(st->call, until, &f);
        if (r == -ETIMEDOUT) {
            if (deadline && now_ms() >= deadline) {
                r = err_set(err, ETIMEDOUT, "timed out");
                break;
            }
            if (gone && gone(ud)) {
                r = -ECANCELED;
                break;
            }
            continue;
        }
        if (r < 0) {
            r = err_set(err, EPIPE, "the sandbox stopped");
            break;
        }
        if (f->type == FRAME_ERROR) {
            r = guest_frame_error(f, frame_type_name(type), err);
            free(f);
            break;
        }
        if (f->type == FRAME_RESULT || f->type == FRAME_EXIT) {
            *ret = f;
            break;
        }
        free(f);
    }
    mstream_close(st);
    return r;
}

int manager_proc_start(struct manager *m, const char *id, const struct exec_opts *o,
                       const char *tag, uint16_t cols, uint16_t rows, struct proc_info *ret,
                       struct runra_err **err)
{
    struct sandbox *s;
    int r = manager_acquire(m, id, &s, err);
    if (r < 0)
        return r;
    char **env = NULL;
    r = manager_env_merge(m, s, o->env, &env);
    _cleanup_free_ char *user = o->user ? strdup(o->user) : s->spec->user ? strdup(s->spec->user) : NULL;
    manager_release(m, s);
    if (r < 0)
        return r;
    struct exec_req req = {.argv = o->argv, .env = env, .cwd = (char *)o->cwd, .user = user};
    struct proc_start_req q = {
        .exec = &req, .tag = (char *)tag, .pty = cols && rows, .cols = cols, .rows = rows};
    _cleanup_free_ char *payload = NULL;
    r = msg_proc_start_encode(&q, &payload);
    strv_free(env);
    if (r < 0)
        return r;
    if (strlen(payload) > RUNRA_FRAME_MAX_PAYLOAD)
        return err_set(err, E2BIG, "command, env and cwd together exceed %u bytes",
                       RUNRA_FRAME_MAX_PAYLOAD);
    struct guest_frame *f = NULL;
    r = call_once(m, id, FRAME_PROC_START, payload, now_ms() + PROC_CALL_TIMEOUT_MS, NULL, NULL,
                  &f, err);
    if (r < 0)
        return r;
    r = f->type == FRAME_RESULT ? msg_proc_info_decode(f->data, f->len, ret, err)
                                : err_set(err, EPROTO, "unexpected answer to a process start");
    free(f);
    if (r >= 0) {
        json_t *av = json_array();
        for (size_t i = 0; av && ret->argv && ret->argv[i]; i++)
            json_array_append_new(av, json_string(ret->argv[i]));
        manager_emit(m, id, "process.start",
                     json_pack("{s:I,s:o,s:o,s:b}", "pid", (json_int_t)ret->pid, "tag",
                               ret->tag ? json_string(ret->tag) : json_null(), "argv",
                               av ? av : json_array(), "pty", ret->pty));
    }
    return r;
}

int manager_proc_list(struct manager *m, const char *id, struct proc_list *ret,
                      struct runra_err **err)
{
    struct guest_frame *f = NULL;
    int r = call_once(m, id, FRAME_PROC_LIST, "{}", now_ms() + PROC_CALL_TIMEOUT_MS, NULL, NULL,
                      &f, err);
    if (r < 0)
        return r;
    r = f->type == FRAME_RESULT ? msg_proc_list_decode(f->data, f->len, ret, err)
                                : err_set(err, EPROTO, "unexpected answer to a process list");
    free(f);
    return r;
}

static int simple(struct manager *m, const char *id, uint16_t type, const struct proc_ref_req *q,
                  struct runra_err **err)
{
    _cleanup_free_ char *payload = NULL;
    int r = msg_proc_ref_encode(q, &payload);
    if (r < 0)
        return r;
    struct guest_frame *f = NULL;
    r = call_once(m, id, type, payload, now_ms() + PROC_CALL_TIMEOUT_MS, NULL, NULL, &f, err);
    if (r < 0)
        return r;
    if (f->type != FRAME_RESULT)
        r = err_set(err, EPROTO, "unexpected answer from the sandbox");
    free(f);
    return r;
}

int manager_proc_stdin(struct manager *m, const char *id, const char *ref, const void *data,
                       size_t len, bool close_stdin, struct runra_err **err)
{
    const uint8_t *p = data;
    int r = 0;
    /* In chunks; the guest refuses a chunk while too much waits unread. */
    do {
        size_t n = len < RUNRA_PROC_STDIN_CHUNK ? len : RUNRA_PROC_STDIN_CHUNK;
        struct proc_ref_req q = {.ref = (char *)ref,
                                 .data = (uint8_t *)p,
                                 .data_len = n,
                                 .close = close_stdin && n == len};
        r = simple(m, id, FRAME_PROC_STDIN, &q, err);
        p += n;
        len -= n;
    } while (r >= 0 && len > 0);
    return r;
}

int manager_proc_signal(struct manager *m, const char *id, const char *ref, int sig,
                        struct runra_err **err)
{
    struct proc_ref_req q = {.ref = (char *)ref, .signal = sig};
    return simple(m, id, FRAME_PROC_SIGNAL, &q, err);
}

int manager_proc_resize(struct manager *m, const char *id, const char *ref, uint16_t cols,
                        uint16_t rows, struct runra_err **err)
{
    struct proc_ref_req q = {.ref = (char *)ref, .cols = cols, .rows = rows};
    return simple(m, id, FRAME_PROC_RESIZE, &q, err);
}

int manager_proc_wait(struct manager *m, const char *id, const char *ref, uint64_t timeout_ms,
                      bool (*gone)(void *ud), void *ud, struct exec_exit *ret,
                      struct runra_err **err)
{
    struct proc_ref_req q = {.ref = (char *)ref};
    _cleanup_free_ char *payload = NULL;
    int r = msg_proc_ref_encode(&q, &payload);
    if (r < 0)
        return r;
    struct guest_frame *f = NULL;
    r = call_once(m, id, FRAME_PROC_WAIT, payload, timeout_ms ? now_ms() + timeout_ms : 0, gone,
                  ud, &f, err);
    if (r == -ETIMEDOUT)
        return err_set(err, ETIMEDOUT, "process '%s' still running after %llu ms", ref,
                       (unsigned long long)timeout_ms);
    if (r < 0)
        return r;
    r = f->type == FRAME_EXIT ? msg_exec_exit_decode(f->data, f->len, ret, err)
                              : err_set(err, EPROTO, "unexpected answer to a wait");
    free(f);
    return r;
}
