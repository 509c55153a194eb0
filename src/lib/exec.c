/* POST /v1/sandboxes/{id}/exec. The library always asks for base64 output
 * and decodes it, so stdout and stderr come back byte-exact whatever the
 * command printed; an answer in utf8 is taken as it is. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "base/enc.h"
#include "client.h"
#include "exec.h"
#include "error.h"
#include "json-build.h"
#include "json-read.h"

void runra_exec_result_free(struct runra_exec_result *r)
{
    if (!r)
        return;
    free(r->stdout_data);
    free(r->stderr_data);
    free(r->json);
    free(r);
}
DEFINE_CLEANUP(struct runra_exec_result, runra_exec_result_free)

int lib_exec_opts_json(const struct runra_exec_opts *o, json_t *body, struct runra_error **err)
{
    if (!!o->command == !!o->argv)
        return lib_err_set(err, EINVAL, "exec: set exactly one of command and argv");
    if (o->argv && !o->argv[0])
        return lib_err_set(err, EINVAL, "exec: argv is empty");
    int r = jb_str(body, "command", o->command, err);
    if (r >= 0)
        r = jb_strv(body, "argv", o->argv, err);
    if (r >= 0)
        r = jb_kv(body, "env", o->env, o->n_env, err);
    if (r >= 0)
        r = jb_str(body, "cwd", o->cwd, err);
    if (r >= 0 && o->stdin_data)
        r = jb_strn(body, "stdin", o->stdin_data, o->stdin_len, err);
    if (r >= 0 && o->timeout_ms)
        r = jb_u64(body, "timeoutMs", o->timeout_ms, err);
    if (r >= 0 && o->max_output_bytes)
        r = jb_u64(body, "maxOutputBytes", o->max_output_bytes, err);
    if (r >= 0)
        r = jb_str(body, "encoding", "base64", err);
    return r;
}

/* Reads one output stream, decoding it when the answer says base64. */
static int output(json_t *o, const char *key, bool b64, char **ret, size_t *ret_len,
                  struct runra_error **err)
{
    json_t *v = json_object_get(o, key);
    const char *s = "";
    size_t n = 0;
    if (v && !json_is_null(v)) {
        if (!json_is_string(v))
            return lib_err_set(err, EPROTO, "runrad's answer: '%s' is not a string", key);
        s = json_string_value(v);
        n = json_string_length(v);
    }
    if (b64) {
        unsigned char *d = NULL;
        int r = base64_decode(s, n, &d, ret_len);
        if (r >= 0)
            *ret = (char *)d;
        if (r == -EINVAL)
            return lib_err_set(err, EPROTO, "runrad's answer: '%s' is not valid base64", key);
        if (r < 0)
            return lib_err_set(err, -r, "decoding '%s'", key);
        return 0;
    }
    char *d = malloc(n + 1);
    if (!d)
        return lib_err_set(err, ENOMEM, "out of memory");
    memcpy(d, s, n);
    d[n] = '\0';
    *ret = d;
    *ret_len = n;
    return 0;
}

/* "signal" is a number; a name ("SIGKILL") is accepted too, in case the
 * daemon ever spells it so. */
static int read_signal(json_t *o, int *ret, struct runra_error **err)
{
    json_t *v = json_object_get(o, "signal");
    if (json_is_string(v)) {
        const char *name = json_string_value(v);
        if (strncmp(name, "SIG", 3) == 0)
            name += 3;
        for (int s = 1; s < NSIG; s++) {
            const char *abbrev = sigabbrev_np(s);
            if (abbrev && strcmp(abbrev, name) == 0) {
                *ret = s;
                return 0;
            }
        }
        return 0;
    }
    return jr_int(o, "signal", ret, err);
}

static int decode(json_t *o, struct runra_exec_result *res, struct runra_error **err)
{
    _cleanup_free_ char *encoding = NULL;
    int r = jr_string(o, "encoding", &encoding, err);
    if (r < 0)
        return r;
    bool b64 = encoding && strcmp(encoding, "base64") == 0;
    if (encoding && !b64 && strcmp(encoding, "utf8") != 0)
        return lib_err_set(err, EPROTO, "runrad's answer: unknown encoding '%s'", encoding);

    res->exit_code = -1;
    r = jr_int(o, "exitCode", &res->exit_code, err);
    if (r >= 0)
        r = read_signal(o, &res->signal, err);
    if (r >= 0)
        r = jr_u64(o, "durationMs", &res->duration_ms, err);
    if (r >= 0)
        r = jr_bool(o, "timedOut", &res->timed_out, err);
    if (r >= 0)
        r = jr_bool(o, "oomKilled", &res->oom_killed, err);
    if (r >= 0)
        r = jr_bool(o, "truncated", &res->truncated, err);
    if (r >= 0)
        r = output(o, "stdout", b64, &res->stdout_data, &res->stdout_len, err);
    if (r >= 0)
        r = output(o, "stderr", b64, &res->stderr_data, &res->stderr_len, err);
    if (r < 0)
        return r;
    /* A command killed by a signal with no exit code reads like a shell's. */
    if (res->exit_code < 0 && res->signal > 0)
        res->exit_code = 128 + res->signal;
    return 0;
}

int runra_sandbox_exec(runra_client *c, const char *id, const struct runra_exec_opts *opts,
                       struct runra_exec_result **ret, struct runra_error **err)
{
    if (!opts)
        return lib_err_set(err, EINVAL, "exec: no options");
    json_auto_t *body = json_object();
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    int r = lib_exec_opts_json(opts, body, err);
    if (r < 0)
        return r;

    struct buf t = { 0 };
    r = client_target(&t, id, "/exec", err);
    json_auto_t *o = NULL;
    _cleanup_free_ char *text = NULL;
    if (r >= 0)
        r = client_call(c, "POST", t.data, body, &o, &text, err);
    buf_done(&t);
    if (r < 0)
        return r;

    _cleanup_(runra_exec_result_freep) struct runra_exec_result *res = calloc(1, sizeof(*res));
    if (!res)
        return lib_err_set(err, ENOMEM, "out of memory");
    r = decode(o, res, err);
    if (r < 0)
        return r;
    res->json = TAKE_PTR(text);
    *ret = TAKE_PTR(res);
    return 0;
}
