/* `runra port`: expose a sandbox's TCP port on the host's 127.0.0.1 and
 * print its URL; `port ls` and `port rm` list and remove them. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"

const char cli_usage_port[] =
    "Usage: runra port ID PORT       expose PORT and print its URL on 127.0.0.1\n"
    "       runra port ls ID         list exposed ports\n"
    "       runra port rm ID PORT    stop exposing PORT\n";

/* 1..65535, digits only. */
static int parse_port(const char *s, uint16_t *ret)
{
    unsigned long v = 0;
    size_t n = strlen(s);
    if (n == 0 || n > 5)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    if (v < 1 || v > 65535)
        return -EINVAL;
    *ret = (uint16_t)v;
    return 0;
}

int cmd_port(struct cli *cli, int argc, char **argv)
{
    struct cli_common co = { 0 };
    char **pos;
    int npos;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc, argv, NULL, 0, &co, &pos, &npos, &perr);
    if (r < 0)
        return cli_usage_error("port", perr->msg);
    if (co.help) {
        fputs(cli_usage_port, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    const char *verb = npos > 0 && (!strcmp(pos[0], "ls") || !strcmp(pos[0], "rm")) ? pos[0] : "";
    int want = !strcmp(verb, "ls") ? 2 : 3;
    if (!*verb)
        want = 2;
    if (npos != want)
        return cli_usage_error("port", !strcmp(verb, "ls") ? "expected ls ID"
                                       : *verb             ? "expected rm ID PORT"
                                                           : "expected ID and PORT");
    uint16_t port = 0;
    const char *id = *verb ? pos[1] : pos[0];
    if (strcmp(verb, "ls") != 0 && parse_port(pos[want - 1], &port) < 0)
        return cli_usage_error("port", "PORT must be a number within 1..65535");
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    if (!strcmp(verb, "ls")) {
        struct runra_port *v = NULL;
        size_t n = 0;
        r = runra_port_list(c, id, &v, &n, &e);
        if (r >= 0) {
            if (cli->json) {
                printf("{\"ports\":[");
                for (size_t i = 0; i < n; i++)
                    printf("%s{\"port\":%u,\"hostPort\":%u,\"url\":\"%s\"}", i ? "," : "",
                           v[i].port, v[i].host_port, v[i].url);
                printf("]}\n");
            } else {
                printf("%-6s %-9s %s\n", "PORT", "HOSTPORT", "URL");
                for (size_t i = 0; i < n; i++)
                    printf("%-6u %-9u %s\n", v[i].port, v[i].host_port, v[i].url);
            }
            free(v);
        }
    } else if (!strcmp(verb, "rm")) {
        r = runra_port_remove(c, id, port, &e);
    } else {
        struct runra_port p;
        r = runra_port_expose(c, id, port, &p, &e);
        if (r >= 0 && cli->json)
            printf("{\"port\":%u,\"hostPort\":%u,\"url\":\"%s\"}\n", p.port, p.host_port, p.url);
        else if (r >= 0)
            printf("%s\n", p.url);
    }
    if (r < 0) {
        r = cli_fail(e, "port %s%s%s", verb, *verb ? " " : "", id);
        runra_error_free(e);
        return r;
    }
    return CLI_OK;
}
