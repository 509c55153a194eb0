/* `runra net ID`: show a sandbox's network (policy, addresses), what it
 * refused (--denied), or change the policy (--mode, --allow, --deny). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"

const char cli_usage_net[] =
    "Usage: runra net ID                          show the policy and addresses\n"
    "       runra net ID --denied                 list refused connections and queries\n"
    "       runra net ID --mode M [--allow R]... [--deny R]...   replace the policy\n"
    "M is none, allowlist or open; R a domain, *.domain, IP or CIDR, optionally\n"
    "with :PORT or :LO-HI. Changes apply to new connections at once.\n";

static void print_denied(const char *text)
{
    json_error_t je;
    json_auto_t *j = json_loads(text, 0, &je);
    json_t *a = json_object_get(j, "denied");
    size_t i;
    json_t *d;
    json_array_foreach(a, i, d)
    {
        time_t t = (time_t)(json_integer_value(json_object_get(d, "timeMs")) / 1000);
        struct tm tm;
        char ts[32];
        gmtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
        const char *name = json_string_value(json_object_get(d, "name"));
        const char *ip = json_string_value(json_object_get(d, "ip"));
        printf("%s  %-5s %s%s%s%s:%lld  %s\n", ts,
               json_string_value(json_object_get(d, "proto")), name ? name : "",
               name && ip ? " (" : "", ip ? ip : "", name && ip ? ")" : "",
               (long long)json_integer_value(json_object_get(d, "port")),
               json_string_value(json_object_get(d, "reason")));
    }
}

int cmd_net(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"denied", no_argument, NULL, 'd'}, {"mode", required_argument, NULL, 'm'},
        {"allow", required_argument, NULL, 'a'}, {"deny", required_argument, NULL, 'x'},
        {"json", no_argument, NULL, 'j'}, {"socket", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'}, {0},
    };
    const char *allow[CLI_NET_RULES_MAX + 1] = {0}, *deny[CLI_NET_RULES_MAX + 1] = {0};
    size_t na = 0, nd = 0;
    bool denied = false;
    struct runra_network n = {0};
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd':
            denied = true;
            break;
        case 'm':
            n.mode = optarg;
            break;
        case 'a':
        case 'x':
            if ((c == 'a' ? na : nd) >= CLI_NET_RULES_MAX)
                return cli_usage_error("net", "too many rules");
            if (c == 'a')
                allow[na++] = optarg;
            else
                deny[nd++] = optarg;
            break;
        case 'j':
            cli->json = true;
            break;
        case 's':
            cli->socket = optarg;
            break;
        case 'h':
            fputs(cli_usage_net, stdout);
            return CLI_OK;
        default:
            return cli_usage_error("net", "unknown option or missing value");
        }
    }
    if (optind + 1 != argc)
        return cli_usage_error("net", "expected one sandbox ID");
    const char *id = argv[optind];
    if ((na || nd) && !n.mode)
        return cli_usage_error("net", "--allow and --deny need --mode");
    if (denied && n.mode)
        return cli_usage_error("net", "--denied only shows; it does not combine with --mode");
    runra_client *cl;
    if (cli_client(cli, &cl) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    if (n.mode) {
        n.allow = na ? allow : NULL;
        n.deny = nd ? deny : NULL;
        if (runra_sandbox_set_network(cl, id, &n, &e) < 0) {
            int r = cli_fail(e, "net %s", id);
            runra_error_free(e);
            return r;
        }
    }
    char *text = NULL;
    if (runra_sandbox_network(cl, id, denied, &text, &e) < 0) {
        int r = cli_fail(e, "net %s", id);
        runra_error_free(e);
        return r;
    }
    if (denied && !cli->json)
        print_denied(text);
    else
        cli_print_json(text);
    free(text);
    return CLI_OK;
}
