/* How the CLI talks back: one-line errors on stderr that start "runra: ",
 * and JSON on stdout indented for people and still one document for jq. */
#include <errno.h>
#include <signal.h>
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "base/util.h"
#include "cli.h"

int cli_usage_error(const char *cmd, const char *msg)
{
    if (cmd)
        fprintf(stderr, "runra: %s: %s\nTry 'runra %s --help'.\n", cmd, msg, cmd);
    else
        fprintf(stderr, "runra: %s\nTry 'runra help'.\n", msg);
    return CLI_USAGE;
}

int cli_fail(const struct runra_error *e, const char *fmt, ...)
{
    fputs("runra: ", stderr);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputs(": ", stderr);
    }
    fprintf(stderr, "%s\n", e && e->message ? e->message : "failed");
    return CLI_FAIL;
}

int cli_failf(const char *fmt, ...)
{
    fputs("runra: ", stderr);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_FAIL;
}

int cli_print_json(const char *text)
{
    json_error_t je;
    json_auto_t *v = json_loads(text ? text : "null", JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!v) {
        printf("%s\n", text ? text : "null");
        return 0;
    }
    if (json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY) < 0)
        return -EIO;
    fputc('\n', stdout);
    return 0;
}

void cli_json_each(json_t *all, size_t total, const char *text)
{
    if (total == 1) {
        cli_print_json(text);
        return;
    }
    json_error_t je;
    json_t *v = text ? json_loads(text, 0, &je) : NULL;
    if (v)
        json_array_append_new(all, v);
}

void cli_json_each_end(json_t *all, size_t total)
{
    if (total <= 1)
        return;
    _cleanup_free_ char *s = json_dumps(all, JSON_COMPACT);
    cli_print_json(s);
}

int cli_write(int fd, const void *p, size_t n)
{
    return n ? write_full(fd, p, n) : 0;
}

void cli_apply_common(struct cli *cli, const struct cli_common *co)
{
    if (co->json)
        cli->json = true;
    if (co->socket)
        cli->socket = co->socket;
}

static volatile sig_atomic_t caught;

static void on_signal(int sig) { caught = sig; }

void cli_catch_signals(void)
{
    /* SIGINT, SIGTERM and SIGHUP only set a flag; without SA_RESTART they
     * also interrupt the library's waits (and ours), which then ask
     * cli_signal_cancel and give up, so a command cleans up (destroys the
     * sandbox it made) before it exits. */
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    /* A closed stdout must not kill us before the cleanup. */
    signal(SIGPIPE, SIG_IGN);
}

int cli_signal_caught(void) { return caught; }

int cli_signal_cancel(void *userdata)
{
    (void)userdata;
    return caught != 0;
}
