/* POST /v1/sandboxes/{id}/exec: strict request parsing into exec_opts, and
 * the result as JSON, with output either repaired to valid UTF-8 or base64. */
#include <string.h>

#include "api.h"
#include "base/enc.h"
#include "proto/limits.h"
#include "proto/msg.h"

static json_t *output_json(const char *buf, size_t len, bool b64)
{
    _cleanup_free_ char *s = NULL;
    size_t n = 0;
    int r = b64 ? base64_encode(buf ? buf : "", len, &s, &n)
                : utf8_sanitize(buf ? buf : "", len, &s, &n);
    return r < 0 ? NULL : json_stringn(s, n);
}

enum MHD_Result api_exec(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_t *j = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_error_t je;
    const char *command = NULL, *cwd = NULL, *encoding = NULL, *user = NULL;
    json_t *argv = NULL, *env = NULL, *stdin_j = NULL, *timeout = NULL, *maxout = NULL;
    char **av = NULL, **ev = NULL;
    struct exec_result *res = NULL;
    enum MHD_Result ret;
    bool b64 = false;
    int stream = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s?s,s?o,s?o,s?s,s?o,s?o,s?o,s?s,s?b,s?s}",
                       "command", &command, "argv", &argv, "env", &env, "cwd", &cwd, "stdin",
                       &stdin_j, "timeoutMs", &timeout, "maxOutputBytes", &maxout, "encoding",
                       &encoding, "stream", &stream, "user", &user) < 0) {
        r = err_set(&e, EINVAL, "invalid exec request: %s", je.text);
        goto out;
    }
    if (user && (r = msg_check_user(user, &e)) < 0)
        goto out;
    if (!!command == !!argv) {
        r = err_set(&e, EINVAL, "exec needs exactly one of 'command' or 'argv'");
        goto out;
    }
    if (encoding && !(b64 = !strcmp(encoding, "base64")) && strcmp(encoding, "utf8") != 0) {
        r = err_set(&e, EINVAL, "encoding must be 'utf8' or 'base64'");
        goto out;
    }
    if (command) {
        if (!*command || strlen(command) > RUNRA_ARG_MAX_BYTES) {
            r = err_set(&e, EINVAL, "command must be a non-empty string under %u bytes",
                        RUNRA_ARG_MAX_BYTES);
            goto out;
        }
        av = calloc(4, sizeof(char *));
        if (!av || !(av[0] = strdup("/bin/sh")) || !(av[1] = strdup("-c")) ||
            !(av[2] = strdup(command))) {
            r = -ENOMEM;
            goto out;
        }
    } else {
        /* Reuse the guest codec's checks for argv by round-tripping through
         * an exec_req: one definition of what a valid argv is. */
        json_t *probe = json_pack("{s:O}", "argv", argv);
        char *txt = probe ? json_dumps(probe, JSON_COMPACT) : NULL;
        json_decref(probe);
        struct exec_req *req = NULL;
        r = txt ? msg_exec_req_decode(txt, strlen(txt), &req, &e) : -ENOMEM;
        free(txt);
        if (r < 0)
            goto out;
        av = TAKE_PTR(req->argv);
        msg_exec_req_free(req);
    }
    if (env) {
        if (!json_is_object(env) || json_object_size(env) > RUNRA_ENV_MAX) {
            r = err_set(&e, EINVAL, "env must be an object of at most %d strings", RUNRA_ENV_MAX);
            goto out;
        }
        ev = calloc(json_object_size(env) + 1, sizeof(char *));
        if (!ev) {
            r = -ENOMEM;
            goto out;
        }
        size_t n = 0;
        const char *k;
        json_t *v;
        json_object_foreach(env, k, v)
        {
            if (!json_is_string(v)) {
                r = err_set(&e, EINVAL, "env.%.64s must be a string", k);
                goto out;
            }
            if ((r = msg_check_env_key(k, &e)) < 0)
                goto out;
            if (asprintf(&ev[n], "%s=%s", k, json_string_value(v)) < 0) {
                r = -ENOMEM;
                goto out;
            }
            if ((r = msg_check_env(ev[n++], &e)) < 0)
                goto out;
        }
    }
    if (cwd && (r = msg_check_path(cwd, &e)) < 0)
        goto out;
    struct exec_opts o = {.argv = av, .env = ev, .cwd = cwd, .user = user};
    if (stdin_j) {
        if (!json_is_string(stdin_j) || json_string_length(stdin_j) > RUNRA_STDIN_MAX) {
            r = err_set(&e, EINVAL, "stdin must be a string of at most %u bytes", RUNRA_STDIN_MAX);
            goto out;
        }
        o.has_stdin = true;
        o.stdin_data = json_string_value(stdin_j);
        o.stdin_len = json_string_length(stdin_j);
    }
    if (timeout) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) <= 0 ||
            (uint64_t)json_integer_value(timeout) > RUNRA_TIMEOUT_MAX_MS) {
            r = err_set(&e, EINVAL, "timeoutMs must be a positive integer up to %llu",
                        (unsigned long long)RUNRA_TIMEOUT_MAX_MS);
            goto out;
        }
        o.timeout_ms = (uint64_t)json_integer_value(timeout);
    }
    if (maxout) {
        if (!json_is_integer(maxout) || json_integer_value(maxout) <= 0 ||
            (uint64_t)json_integer_value(maxout) > RUNRA_OUTPUT_MAX) {
            r = err_set(&e, EINVAL, "maxOutputBytes must be a positive integer up to %u",
                        RUNRA_OUTPUT_MAX);
            goto out;
        }
        o.max_output = (uint64_t)json_integer_value(maxout);
    }
    /* Streaming is asked for in the body or by accepting NDJSON. */
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    if (stream || (accept && strstr(accept, "application/x-ndjson"))) {
        ret = api_exec_stream(a, c, rq, &o);
        goto streamed;
    }
    r = manager_exec(a->m, rq->match.id, &o, &res, &e);
out:
    if (r < 0) {
        ret = api_respond_err(c, r, e);
    } else {
        json_t *out = output_json(res->out, res->out_len, b64);
        json_t *errj = output_json(res->errb, res->err_len, b64);
        ret = api_respond_json(
            c, 200,
            (out && errj) ? json_pack("{s:i,s:i,s:o,s:o,s:I,s:b,s:b,s:b,s:s}", "exitCode",
                                      res->exit_code, "signal", res->signal, "stdout", out,
                                      "stderr", errj, "durationMs", (json_int_t)res->duration_ms,
                                      "timedOut", res->timed_out, "oomKilled", res->oom_killed,
                                      "truncated", res->truncated, "encoding",
                                      b64 ? "base64" : "utf8")
                          : NULL);
    }
streamed:
    exec_result_free(res);
    strv_free(av);
    strv_free(ev);
    json_decref(j);
    return ret;
}
