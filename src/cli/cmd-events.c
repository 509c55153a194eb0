/* `runra events`: the audit trail, one line per event (or its JSON), and
 * with -f new events as they happen. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"

const char cli_usage_events[] =
    "Usage: runra events [-f] [--sandbox ID] [--type TYPE] [--since N] [--json]\n"
    "Prints the audit trail: sandboxes created, paused, resumed, timed out and\n"
    "destroyed, every exec, file writes and removes, process starts, exposed\n"
    "ports and refused connections; oldest first.\n"
    "\n"
    "  -f, --follow      keep printing new events until ^C\n"
    "  --sandbox ID      only this sandbox's events\n"
    "  --type TYPE       only this type (exec, file.write, network.denied, ...)\n"
    "  --since N         only events after id N\n"
    "  --json            each event as runrad's JSON line\n";

/* A short summary of an event's data for the human form. */
static void summary(json_t *data, char *out, size_t n)
{
    out[0] = 0;
    size_t len = 0;
    const char *k;
    json_t *v;
    json_object_foreach(data, k, v)
    {
        char val[160];
        if (json_is_string(v))
            snprintf(val, sizeof(val), "%s", json_string_value(v));
        else if (json_is_array(v) || json_is_object(v)) {
            char *t = json_dumps(v, JSON_COMPACT);
            snprintf(val, sizeof(val), "%s", t ? t : "");
            free(t);
        } else {
            char *t = json_dumps(v, JSON_ENCODE_ANY);
            snprintf(val, sizeof(val), "%s", t ? t : "");
            free(t);
        }
        int w = snprintf(out + len, n - len, "%s%s=%s", len ? " " : "", k, val);
        if (w < 0 || (size_t)w >= n - len)
            break;
        len += (size_t)w;
    }
}

static int print_event(void *ud, const char *line)
{
    bool json = *(bool *)ud;
    if (json) {
        printf("%s\n", line);
    } else {
        json_error_t je;
        json_auto_t *j = json_loads(line, 0, &je);
        char sum[1024];
        summary(json_object_get(j, "data"), sum, sizeof(sum));
        const char *sb = json_string_value(json_object_get(j, "sandbox"));
        printf("%" JSON_INTEGER_FORMAT "  %s  %-12s  %-16s  %s\n",
               json_integer_value(json_object_get(j, "id")),
               json_string_value(json_object_get(j, "time")), sb ? sb : "-",
               json_string_value(json_object_get(j, "type")), sum);
    }
    fflush(stdout);
    return 0;
}

int cmd_events(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"follow", no_argument, NULL, 'f'},          {"sandbox", required_argument, NULL, 's'},
        {"type", required_argument, NULL, 't'},      {"since", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},            {"socket", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},            {0},
    };
    struct runra_events_opts o = {0};
    opterr = 0;
    optind = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            o.follow = true;
            break;
        case 's':
            o.sandbox = optarg;
            break;
        case 't':
            o.type = optarg;
            break;
        case 'n': {
            char *end = NULL;
            errno = 0;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno || !*optarg || *end || optarg[0] == '-')
                return cli_usage_error("events", "--since takes an event id");
            o.since = v;
            break;
        }
        case 'j':
            cli->json = true;
            break;
        case 'S':
            cli->socket = optarg;
            break;
        case 'h':
            fputs(cli_usage_events, stdout);
            return CLI_OK;
        default:
            return cli_usage_error("events", "unknown option or missing value");
        }
    }
    if (optind != argc)
        return cli_usage_error("events", "unexpected argument");
    runra_client *cl;
    if (cli_client(cli, &cl) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    bool json = cli->json;
    if (runra_events(cl, &o, print_event, &json, &e) < 0) {
        int r = cli_fail(e, "events");
        runra_error_free(e);
        return r;
    }
    return CLI_OK;
}
