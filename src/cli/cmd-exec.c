/* exec and run: a command in a sandbox, its stdout and stderr passed
 * through byte for byte, and its exit code as runra's own (124 on timeout,
 * like timeout(1)). run also creates the sandbox first and destroys it after,
 * on failure and on SIGINT/SIGTERM/SIGHUP too. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* runrad refuses more stdin than this in one exec request. */
#define CLI_STDIN_MAX (16u << 20)
#define EXIT_TIMEOUT 124

const char cli_usage_exec[] =
    "Usage: runra exec [flags] ID [--] CMD [ARG...]\n"
    "Runs CMD (an argv, not a shell string) in sandbox ID; its stdout and stderr\n"
    "come out here byte for byte and runra exits with its exit code (124 when it\n"
    "timed out).\n"
    "\n"
    "  -e, --env K=V       environment variable for the command (repeatable)\n"
    "  -w, --workdir DIR   working directory inside\n"
    "  --timeout DUR       kill the command after DUR (seconds, or 500ms, 10m, 1h)\n"
    "  --max-output BYTES  output kept per stream (more is dropped, with a note)\n"
    "  -i, --interactive   pass runra's stdin to the command (read to EOF first;\n"
    "                      with -t, live, key by key)\n"
    "  -t, --tty           run the command on a pseudo-terminal and attach this\n"
    "                      terminal to it (raw mode, window size forwarded): -it\n"
    "                      for an interactive shell\n"
    "  --no-stream         wait for the command and print its output at the end\n"
    "                      (stdout, then stderr) instead of as it comes\n"
    "  --json              print runrad's whole answer (output in base64) as JSON\n"
    "                      (implies --no-stream)\n";

const char cli_usage_run[] =
    "Usage: runra run [create flags] [-i] [--exec-timeout DUR] [--] CMD [ARG...]\n"
    "Creates a sandbox, runs CMD in it, destroys it (also on failure or ^C) and\n"
    "exits with CMD's exit code. Takes every flag of `runra create`; --timeout\n"
    "bounds the sandbox and, unless --exec-timeout is given, the command too.\n";

/* Reads all of stdin (bounded): the API takes stdin in the request. */
static int read_stdin(char **ret, size_t *ret_len)
{
    size_t cap = 64 * 1024, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    for (;;) {
        if (len == cap) {
            if (cap >= CLI_STDIN_MAX) {
                free(buf);
                return -E2BIG;
            }
            cap *= 2;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                return -ENOMEM;
            }
            buf = p;
        }
        ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int r = -errno;
            free(buf);
            return r;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    if (len > CLI_STDIN_MAX) {
        free(buf);
        return -E2BIG;
    }
    *ret = buf;
    *ret_len = len;
    return 0;
}

static int stdin_for(struct runra_exec_opts *o, char **buf)
{
    size_t len = 0;
    int r = read_stdin(buf, &len);
    if (r == -E2BIG)
        return cli_failf("stdin is larger than the %u MiB an exec can carry; use `runra cp - "
                         "ID:PATH` and redirect from the file",
                         CLI_STDIN_MAX >> 20);
    if (r < 0)
        return cli_failf("reading stdin: %s", strerror(-r));
    o->stdin_data = *buf;
    o->stdin_len = len;
    return CLI_OK;
}

/* Prints the command's output and notes; returns the exit code to use. */
static int report(struct cli *cli, const struct runra_exec_result *res)
{
    if (cli->json) {
        cli_print_json(res->json);
        fflush(stdout);
    } else {
        /* stdout first, then stderr: the API hands them over separately, so
         * their interleaving is already lost. */
        int r = cli_write(STDOUT_FILENO, res->stdout_data, res->stdout_len);
        if (r >= 0)
            r = cli_write(STDERR_FILENO, res->stderr_data, res->stderr_len);
        if (r < 0 && r != -EPIPE)
            cli_failf("writing the output: %s", strerror(-r));
    }
    if (res->timed_out)
        fprintf(stderr, "runra: the command timed out and was killed\n");
    if (res->oom_killed)
        fprintf(stderr, "runra: the command was killed for running out of memory\n");
    if (res->truncated)
        fprintf(stderr, "runra: the output was truncated (exec --max-output raises the limit)\n");
    if (res->timed_out)
        return EXIT_TIMEOUT;
    if (res->exit_code >= 0 && res->exit_code <= 255)
        return res->exit_code;
    if (res->signal > 0 && res->signal < 128)
        return 128 + res->signal;
    return CLI_FAIL;
}

int cmd_exec(struct cli *cli, int argc, char **argv)
{
    struct exec_args a;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_exec(argc, argv, &a, &perr);
    if (r < 0) {
        exec_args_done(&a);
        return cli_usage_error("exec", perr->msg);
    }
    if (a.common.help) {
        exec_args_done(&a);
        fputs(cli_usage_exec, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &a.common);
    if (a.tty && (a.no_stream || cli->json || a.timeout_ms || a.max_output)) {
        exec_args_done(&a);
        return cli_usage_error("exec", "-t does not combine with --no-stream, --json, "
                                       "--timeout or --max-output");
    }

    struct runra_exec_opts o = {
        .argv = (const char *const *)a.cmd,
        .env = a.env.items,
        .n_env = a.env.n,
        .cwd = a.cwd,
        .timeout_ms = a.timeout_ms,
        .max_output_bytes = a.max_output,
    };
    _cleanup_free_ char *in = NULL;
    runra_client *c;
    int rc = CLI_OK;
    if (a.interactive && !a.tty)
        rc = stdin_for(&o, &in);
    if (rc == CLI_OK && cli_client(cli, &c) < 0)
        rc = CLI_FAIL;
    if (rc != CLI_OK) {
        exec_args_done(&a);
        return rc;
    }
    if (a.tty) {
        rc = cli_exec_tty(c, a.id, &o, a.interactive);
        exec_args_done(&a);
        return rc;
    }
    struct runra_error *e = NULL;
    struct runra_exec_result *res = NULL;
    /* Live output by default; --json wants the one buffered answer. */
    if (a.no_stream || cli->json)
        r = runra_sandbox_exec(c, a.id, &o, &res, &e);
    else
        r = cli_exec_stream(c, a.id, &o, &res, &e);
    if (r < 0) {
        cli_fail(e, "exec %s", a.id);
        runra_error_free(e);
        exec_args_done(&a);
        return CLI_FAIL;
    }
    rc = report(cli, res);
    runra_exec_result_free(res);
    exec_args_done(&a);
    return rc;
}

/* ---- run --------------------------------------------------------------- */

static void destroy(runra_client *c, const char *id)
{
    struct runra_error *e = NULL;
    runra_client_set_cancel(c, NULL, NULL);
    if (runra_sandbox_destroy(c, id, &e) < 0 && (!e || e->errnum != ENOENT))
        cli_fail(e, "run: destroying sandbox %s", id);
    runra_error_free(e);
}

int cmd_run(struct cli *cli, int argc, char **argv)
{
    struct create_args a;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_create(argc, argv, true, &a, &perr);
    if (r < 0) {
        create_args_done(&a);
        return cli_usage_error("run", perr->msg);
    }
    if (a.common.help) {
        create_args_done(&a);
        fputs(cli_usage_run, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &a.common);

    struct runra_exec_opts o = {
        .argv = (const char *const *)a.cmd,
        .timeout_ms = a.exec_timeout_ms ? a.exec_timeout_ms : a.spec.timeout_ms,
    };
    _cleanup_free_ char *in = NULL;
    runra_client *c;
    int rc = CLI_OK;
    if (a.interactive)
        rc = stdin_for(&o, &in);
    if (rc == CLI_OK && cli_client(cli, &c) < 0)
        rc = CLI_FAIL;
    if (rc != CLI_OK) {
        create_args_done(&a);
        return rc;
    }

    cli_catch_signals();
    /* The create is not canceled halfway: its answer carries the id that
     * the destroy needs. A signal during it is acted on right after. */
    struct runra_error *e = NULL;
    struct runra_sandbox *sb = NULL;
    r = runra_sandbox_create(c, &a.spec, &sb, &e);
    create_args_done(&a);
    if (r < 0) {
        cli_fail(e, "run: create");
        runra_error_free(e);
        return cli_signal_caught() ? 128 + cli_signal_caught() : CLI_FAIL;
    }

    struct runra_exec_result *res = NULL;
    if (!cli_signal_caught()) {
        runra_client_set_cancel(c, cli_signal_cancel, NULL);
        r = runra_sandbox_exec(c, sb->id, &o, &res, &e);
        runra_client_set_cancel(c, NULL, NULL);
    }
    if (cli_signal_caught())
        rc = 128 + cli_signal_caught();
    else if (r < 0) {
        cli_fail(e, "run: exec");
        rc = CLI_FAIL;
    } else
        rc = report(cli, res);
    runra_error_free(e);
    runra_exec_result_free(res);
    destroy(c, sb->id);
    runra_sandbox_free(sb);
    return rc;
}
