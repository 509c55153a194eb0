/* Live output and background processes: exec's streaming path, and ps,
 * start, logs, kill and wait. Output is written byte for byte as it
 * arrives; wait exits with the process's own code. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

const char cli_usage_ps[] =
    "Usage: runra ps [--json] ID\n"
    "Lists the background processes of sandbox ID (running and recently exited).\n";

const char cli_usage_start[] =
    "Usage: runra start [--tag T] [-t] [-e K=V] [-w DIR] ID -- CMD [ARG...]\n"
    "Starts CMD in sandbox ID in the background and prints its pid. It keeps\n"
    "running after runra exits; name it later by pid or by tag.\n"
    "\n"
    "  --tag T             a name for it, unique among running processes\n"
    "  -t, --tty           run it on a pseudo-terminal (80x24 until a client\n"
    "                      attaches with `runra attach` and sends its size)\n"
    "  -e, --env K=V       environment variable (repeatable)\n"
    "  -w, --workdir DIR   working directory inside\n";

const char cli_usage_logs[] =
    "Usage: runra logs [-f] [--tail BYTES] ID PID|TAG\n"
    "Prints what a background process wrote (the last 1 MiB is kept).\n"
    "\n"
    "  -f, --follow        keep printing new output until the process exits\n"
    "  --tail BYTES        only the last BYTES bytes of what is kept\n";

const char cli_usage_kill[] =
    "Usage: runra kill [-s SIG] ID PID|TAG\n"
    "Sends a signal (default TERM; a name like KILL or SIGHUP, or a number).\n";

const char cli_usage_wait[] =
    "Usage: runra wait [--timeout DUR] ID PID|TAG\n"
    "Waits for a background process to exit and exits with its exit code.\n";

/* Writes each chunk to our own stdout or stderr as it comes. */
static int write_chunk(void *ud, enum runra_stream s, const void *p, size_t n)
{
    int r = cli_write(s == RUNRA_STREAM_STDERR ? STDERR_FILENO : STDOUT_FILENO, p, n);
    /* A closed stdout (runra exec ... | head) stops the command, as a
     * pipeline would. */
    return r < 0 ? 1 : 0;
}

int cli_exec_stream(runra_client *c, const char *id, const struct runra_exec_opts *o,
                    struct runra_exec_result **ret, struct runra_error **err)
{
    signal(SIGPIPE, SIG_IGN);
    return runra_sandbox_exec_stream(c, id, o, write_chunk, NULL, ret, err);
}

static int exit_code_of(const struct runra_exec_result *x)
{
    if (x->exit_code >= 0 && x->exit_code <= 255)
        return x->exit_code;
    return x->signal > 0 ? 128 + x->signal : CLI_FAIL;
}

/* Parses "ID PID|TAG" after the options. */
int cli_two_args(const char *cmd, const char *usage, int argc, char **argv,
                    const struct simple_opt *opts, size_t n_opts, struct cli *cli,
                    char ***ret_pos)
{
    struct cli_common co = { 0 };
    char **pos;
    int npos;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc, argv, opts, n_opts, &co, &pos, &npos, &perr);
    if (r >= 0 && !co.help && npos != 2)
        r = err_set(&perr, EINVAL, "expected ID and PID|TAG");
    if (r < 0)
        return cli_usage_error(cmd, perr->msg);
    if (co.help) {
        fputs(usage, stdout);
        return -1;
    }
    cli_apply_common(cli, &co);
    *ret_pos = pos;
    return 0;
}

int cmd_ps(struct cli *cli, int argc, char **argv)
{
    struct cli_common co = { 0 };
    char **pos;
    int npos;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc, argv, NULL, 0, &co, &pos, &npos, &perr);
    if (r >= 0 && !co.help && npos != 1)
        r = err_set(&perr, EINVAL, "expected one sandbox ID");
    if (r < 0)
        return cli_usage_error("ps", perr->msg);
    if (co.help) {
        fputs(cli_usage_ps, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    struct runra_process_list *l = NULL;
    if (runra_process_list(c, pos[0], &l, &e) < 0) {
        r = cli_fail(e, "ps %s", pos[0]);
        runra_error_free(e);
        return r;
    }
    if (cli->json) {
        cli_print_json(l->json);
    } else {
        printf("%-8s %-16s %-8s %-5s %s\n", "PID", "TAG", "STATE", "EXIT", "COMMAND");
        for (size_t i = 0; i < l->n; i++) {
            const struct runra_process *p = &l->items[i];
            char code[16] = "-";
            if (!p->running)
                snprintf(code, sizeof(code), "%d", p->exit_code);
            printf("%-8" PRId64 " %-16s %-8s %-5s", p->pid, p->tag ? p->tag : "-",
                   p->running ? "running" : "exited", code);
            for (size_t j = 0; p->argv && p->argv[j]; j++)
                printf(" %s", p->argv[j]);
            putchar('\n');
        }
    }
    runra_process_list_free(l);
    return CLI_OK;
}

int cmd_start(struct cli *cli, int argc, char **argv)
{
    struct cli_common co = { 0 };
    struct kv_vec env = { 0 };
    const char *tag = NULL, *cwd = NULL;
    bool tty = false;
    const struct simple_opt opts[] = {
        { .name = "tag", .has_arg = true, .value = &tag },
        { .name = "tty", .short_name = 't', .flag = &tty },
        { .name = "env", .short_name = 'e', .has_arg = true, .kv = &env },
        { .name = "workdir", .short_name = 'w', .has_arg = true, .value = &cwd },
    };
    char **pos;
    int npos;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc, argv, opts, ARRAY_SIZE(opts), &co, &pos, &npos, &perr);
    if (r >= 0 && !co.help && npos < 2)
        r = err_set(&perr, EINVAL, "expected ID -- CMD [ARG...]");
    if (r < 0) {
        kv_vec_done(&env);
        return cli_usage_error("start", perr->msg);
    }
    if (co.help) {
        kv_vec_done(&env);
        fputs(cli_usage_start, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    runra_client *c;
    if (cli_client(cli, &c) < 0) {
        kv_vec_done(&env);
        return CLI_FAIL;
    }
    /* cli_parse_simple leaves the positionals NULL-terminated. */
    struct runra_process_opts o = {
        .argv = (const char *const *)(pos + 1),
        .env = env.items,
        .n_env = env.n,
        .cwd = cwd,
        .tag = tag,
        .pty_cols = tty ? 80 : 0,
        .pty_rows = tty ? 24 : 0,
    };
    struct runra_error *e = NULL;
    struct runra_process *p = NULL;
    r = runra_process_start(c, pos[0], &o, &p, &e);
    kv_vec_done(&env);
    if (r < 0) {
        r = cli_fail(e, "start in %s", pos[0]);
        runra_error_free(e);
        return r;
    }
    printf("%" PRId64 "\n", p->pid);
    runra_process_free(p);
    return CLI_OK;
}

int cmd_logs(struct cli *cli, int argc, char **argv)
{
    bool follow = false;
    const char *tail_s = NULL;
    const struct simple_opt opts[] = {
        { .name = "follow", .short_name = 'f', .flag = &follow },
        { .name = "tail", .has_arg = true, .value = &tail_s },
    };
    char **pos;
    int r = cli_two_args("logs", cli_usage_logs, argc, argv, opts, ARRAY_SIZE(opts), cli, &pos);
    if (r != 0)
        return r < 0 ? CLI_OK : r;
    uint64_t tail = 0;
    _cleanup_err_ struct runra_err *perr = NULL;
    if (tail_s && cli_parse_count(tail_s, &tail, &perr) < 0)
        return cli_usage_error("logs", perr->msg);
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    signal(SIGPIPE, SIG_IGN);
    struct runra_error *e = NULL;
    struct runra_exec_result *x = NULL;
    r = runra_process_logs(c, pos[0], pos[1], tail, follow, write_chunk, NULL, &x, &e);
    if (r < 0 && r != -ECANCELED) {
        r = cli_fail(e, "logs %s %s", pos[0], pos[1]);
        runra_error_free(e);
        return r;
    }
    runra_error_free(e);
    runra_exec_result_free(x);
    return CLI_OK;
}

/* "TERM", "SIGTERM" or "15". */
static int parse_signal(const char *s, int *ret)
{
    uint64_t n;
    if (s[0] >= '0' && s[0] <= '9') {
        if (cli_parse_count(s, &n, NULL) < 0 || n >= (uint64_t)NSIG)
            return -EINVAL;
        *ret = (int)n;
        return 0;
    }
    if (!strncmp(s, "SIG", 3))
        s += 3;
    for (int i = 1; i < NSIG; i++) {
        const char *ab = sigabbrev_np(i);
        if (ab && !strcmp(ab, s)) {
            *ret = i;
            return 0;
        }
    }
    return -EINVAL;
}

int cmd_kill(struct cli *cli, int argc, char **argv)
{
    const char *sig_s = NULL;
    const struct simple_opt opts[] = {
        { .name = "signal", .short_name = 's', .has_arg = true, .value = &sig_s },
    };
    char **pos;
    int r = cli_two_args("kill", cli_usage_kill, argc, argv, opts, ARRAY_SIZE(opts), cli, &pos);
    if (r != 0)
        return r < 0 ? CLI_OK : r;
    int sig = SIGTERM;
    if (sig_s && parse_signal(sig_s, &sig) < 0)
        return cli_usage_error("kill", "unknown signal");
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    if (runra_process_signal(c, pos[0], pos[1], sig, &e) < 0) {
        r = cli_fail(e, "kill %s %s", pos[0], pos[1]);
        runra_error_free(e);
        return r;
    }
    return CLI_OK;
}

int cmd_wait(struct cli *cli, int argc, char **argv)
{
    const char *timeout_s = NULL;
    const struct simple_opt opts[] = {
        { .name = "timeout", .has_arg = true, .value = &timeout_s },
    };
    char **pos;
    int r = cli_two_args("wait", cli_usage_wait, argc, argv, opts, ARRAY_SIZE(opts), cli, &pos);
    if (r != 0)
        return r < 0 ? CLI_OK : r;
    uint64_t timeout = 0;
    _cleanup_err_ struct runra_err *perr = NULL;
    if (timeout_s && cli_parse_duration_ms(timeout_s, &timeout, &perr) < 0)
        return cli_usage_error("wait", perr->msg);
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    struct runra_exec_result *x = NULL;
    if (runra_process_wait(c, pos[0], pos[1], timeout, &x, &e) < 0) {
        r = cli_fail(e, "wait %s %s", pos[0], pos[1]);
        runra_error_free(e);
        return r;
    }
    if (cli->json)
        cli_print_json(x->json);
    r = exit_code_of(x);
    runra_exec_result_free(x);
    return r;
}
