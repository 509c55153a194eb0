/* The informational commands: health (is runrad up, what does the host
 * offer), version (this runra and, if reachable, runrad) and help. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char cli_usage_health[] =
    "Usage: runra health [--json]\n"
    "Asks runrad whether it is healthy and what this host offers.\n";

const char cli_usage_version[] =
    "Usage: runra version [--json]\n"
    "Prints runra's version and, when it is running, runrad's.\n";

const char cli_usage_help[] =
    "Usage: runra help [COMMAND]\n"
    "Prints the overview, or one command's usage.\n";

/* Commands without flags of their own: only --json, --socket, --help. */
static int no_args(struct cli *cli, int argc, char **argv, const char *usage)
{
    struct cli_common co = { 0 };
    char **pos;
    int npos;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc, argv, NULL, 0, &co, &pos, &npos, &perr);
    if (r >= 0 && npos > 0 && !co.help)
        r = err_set(&perr, EINVAL, "unexpected argument '%s'", pos[0]);
    if (r < 0)
        return cli_usage_error(argv[0], perr->msg);
    if (co.help) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    return -1;
}

int cmd_health(struct cli *cli, int argc, char **argv)
{
    int done = no_args(cli, argc, argv, cli_usage_health);
    if (done >= 0)
        return done;
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    struct runra_health *h = NULL;
    if (runra_health(c, &h, &e) < 0) {
        cli_fail(e, "health");
        runra_error_free(e);
        return CLI_FAIL;
    }
    if (cli->json)
        cli_print_json(h->json);
    else {
        printf("status: %s\nversion: %s\n", h->status ? h->status : "-",
               h->version ? h->version : "-");
        for (size_t i = 0; i < h->n_backends; i++)
            printf("backend %s: %s\n", h->backends[i].name,
                   h->backends[i].available ? "available" : "unavailable");
        printf("cgroup: %s\nlandlock: %d\nsocket: %s\n", h->cgroup ? h->cgroup : "-",
               h->landlock, runra_client_endpoint(c));
    }
    bool ok = h->status && strcmp(h->status, "ok") == 0;
    runra_health_free(h);
    return ok ? CLI_OK : CLI_FAIL;
}

int cmd_version(struct cli *cli, int argc, char **argv)
{
    int done = no_args(cli, argc, argv, cli_usage_version);
    if (done >= 0)
        return done;
    /* The daemon's version is a bonus: asked only of a runrad that is
     * already up, never started for it. */
    const char *endpoint = cli->socket ? cli->socket : getenv("RUNRA_SOCKET");
    runra_client *c = NULL;
    struct runra_health *h = NULL;
    struct runra_error *e = NULL;
    if (runra_client_new(endpoint, &c, &e) >= 0 && runra_client_connect(c, &e) >= 0)
        (void)runra_health(c, &h, &e);
    runra_error_free(e);
    runra_client_free(c);
    const char *server = h && h->version ? h->version : NULL;
    if (cli->json) {
        json_auto_t *v = json_pack("{s:s,s:s?}", "client", runra_version(), "server", server);
        _cleanup_free_ char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
        cli_print_json(s);
    } else {
        printf("runra %s\n", runra_version());
        printf("runrad %s\n", server ? server : "(not running)");
    }
    runra_health_free(h);
    return CLI_OK;
}

int cmd_help(struct cli *cli, int argc, char **argv)
{
    if (argc < 2) {
        cli_print_main_usage(stdout);
        return CLI_OK;
    }
    const struct cli_command *cmd = cli_find_command(argv[1]);
    if (!cmd) {
        char msg[160];
        snprintf(msg, sizeof(msg), "unknown command '%s'", argv[1]);
        return cli_usage_error(NULL, msg);
    }
    fputs(cmd->usage, stdout);
    return CLI_OK;
}
