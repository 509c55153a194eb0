/* The sandbox lifecycle commands: create, ls, inspect, rm. Each parses its
 * flags into a request, makes one library call per sandbox, and prints. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "cli.h"
#include "format.h"

const char cli_usage_create[] =
    "Usage: runra create [flags]\n"
    "Creates a sandbox and prints its id.\n"
    "\n"
    "  --image IMG         root filesystem image (default: host)\n"
    "  --cpu N             CPU cores, fractions allowed (e.g. 0.5)\n"
    "  --memory MB         memory limit in MB (or 512m, 2g)\n"
    "  --pids N            process limit\n"
    "  --disk MB           disk limit in MB (or 2g)\n"
    "  --timeout DUR       lifetime: seconds, or 500ms, 10m, 1h; then it is destroyed\n"
    "  -e, --env K=V       environment for every command (repeatable)\n"
    "  --meta K=V          metadata label (repeatable)\n"
    "  -w, --workdir DIR   working directory inside (default: /workspace)\n"
    "  --backend NAME      isolation backend (default: ns)\n"
    "  --auto-resume       work on it while paused resumes it (else: an error)\n"
    "  --persist           keep its disk across host reboots; resume restarts it\n"
    "  --on-timeout WHAT   at --timeout: destroy (default) or pause it\n"
    "  --net MODE          network: none (default), allowlist or open\n"
    "  --allow RULE        allow a domain, *.domain, IP or CIDR, optionally :PORT or\n"
    "                      :LO-HI (repeatable; implies --net allowlist)\n"
    "  --deny RULE         deny one, also in open mode (repeatable)\n"
    "  --json              print the whole sandbox as JSON\n";

const char cli_usage_ls[] =
    "Usage: runra ls [--meta K=V]... [--json]\n"
    "Lists sandboxes, optionally only those whose metadata matches every K=V.\n";

const char cli_usage_inspect[] =
    "Usage: runra inspect ID...\n"
    "Prints a sandbox as JSON (several: a JSON array).\n";

const char cli_usage_rm[] =
    "Usage: runra rm ID...\n"
    "Destroys sandboxes. Exits 1 if any of them could not be destroyed.\n";

int cmd_create(struct cli *cli, int argc, char **argv)
{
    struct create_args a;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_create(argc, argv, false, &a, &perr);
    if (r < 0) {
        create_args_done(&a);
        return cli_usage_error("create", perr->msg);
    }
    if (a.common.help) {
        create_args_done(&a);
        fputs(cli_usage_create, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &a.common);
    runra_client *c;
    if (cli_client(cli, &c) < 0) {
        create_args_done(&a);
        return CLI_FAIL;
    }
    struct runra_error *e = NULL;
    struct runra_sandbox *sb = NULL;
    r = runra_sandbox_create(c, &a.spec, &sb, &e);
    create_args_done(&a);
    if (r < 0) {
        cli_fail(e, "create");
        runra_error_free(e);
        return CLI_FAIL;
    }
    if (cli->json)
        cli_print_json(sb->json);
    else
        printf("%s\n", sb->id);
    runra_sandbox_free(sb);
    return CLI_OK;
}

static void print_table(const struct runra_sandbox_list *l)
{
    struct table t;
    table_init(&t, 6);
    static const char *const head[] = { "ID", "STATE", "IMAGE", "CPU", "MEMORY", "CREATED" };
    table_add(&t, head);
    int64_t now = (int64_t)wall_ms();
    for (size_t i = 0; i < l->n; i++) {
        const struct runra_sandbox *s = &l->items[i];
        char cpu[32], mem[32], age[32];
        fmt_cpu(s->resources.cpu, cpu, sizeof(cpu));
        fmt_mb(s->resources.memory_mb, mem, sizeof(mem));
        fmt_age(s->created_at, now, age, sizeof(age));
        const char *row[] = { s->id, s->state, s->image, cpu, mem, age };
        table_add(&t, row);
    }
    table_print(&t, stdout);
    table_done(&t);
}

int cmd_ls(struct cli *cli, int argc, char **argv)
{
    struct kv_vec meta = { 0 };
    struct cli_common co = { 0 };
    const struct simple_opt opts[] = {
        { .name = "meta", .has_arg = true, .kv = &meta },
    };
    char **pos;
    int npos;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc, argv, opts, ARRAY_SIZE(opts), &co, &pos, &npos, &perr);
    if (r >= 0 && npos > 0 && !co.help)
        r = err_set(&perr, EINVAL, "unexpected argument '%s'", pos[0]);
    if (r < 0) {
        kv_vec_done(&meta);
        return cli_usage_error("ls", perr->msg);
    }
    if (co.help) {
        kv_vec_done(&meta);
        fputs(cli_usage_ls, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    runra_client *c;
    if (cli_client(cli, &c) < 0) {
        kv_vec_done(&meta);
        return CLI_FAIL;
    }
    struct runra_error *e = NULL;
    struct runra_sandbox_list *l = NULL;
    r = runra_sandbox_list(c, meta.items, meta.n, &l, &e);
    kv_vec_done(&meta);
    if (r < 0) {
        cli_fail(e, "ls");
        runra_error_free(e);
        return CLI_FAIL;
    }
    if (cli->json)
        cli_print_json(l->json);
    else
        print_table(l);
    runra_sandbox_list_free(l);
    return CLI_OK;
}

/* Parses "CMD [--json] ID..." for inspect and rm. */
static int ids_args(struct cli *cli, int argc, char **argv, const char *usage, char ***ret_ids,
                    int *ret_n)
{
    struct cli_common co = { 0 };
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc, argv, NULL, 0, &co, ret_ids, ret_n, &perr);
    if (r >= 0 && *ret_n == 0 && !co.help)
        r = err_set(&perr, EINVAL, "no sandbox id given");
    if (r < 0)
        return cli_usage_error(argv[0], perr->msg);
    if (co.help) {
        fputs(usage, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    return -1;
}

int cmd_inspect(struct cli *cli, int argc, char **argv)
{
    char **ids;
    int n;
    int done = ids_args(cli, argc, argv, cli_usage_inspect, &ids, &n);
    if (done >= 0)
        return done;
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;

    int rc = CLI_OK;
    json_auto_t *all = json_array();
    for (int i = 0; i < n; i++) {
        struct runra_error *e = NULL;
        struct runra_sandbox *sb = NULL;
        if (runra_sandbox_get(c, ids[i], &sb, &e) < 0) {
            cli_fail(e, "inspect %s", ids[i]);
            runra_error_free(e);
            rc = CLI_FAIL;
            continue;
        }
        cli_json_each(all, (size_t)n, sb->json);
        runra_sandbox_free(sb);
    }
    cli_json_each_end(all, (size_t)n);
    return rc;
}

const char cli_usage_pause[] =
    "Usage: runra pause ID...\n"
    "Stops every process of each sandbox (the cgroup freezer); memory, files and\n"
    "background processes are kept for `runra resume`.\n";

const char cli_usage_resume[] =
    "Usage: runra resume ID...\n"
    "Lets a paused sandbox's processes run on from where they stopped.\n";

static int pause_resume(struct cli *cli, int argc, char **argv, bool pause)
{
    char **ids;
    int n;
    int done = ids_args(cli, argc, argv, pause ? cli_usage_pause : cli_usage_resume, &ids, &n);
    if (done >= 0)
        return done;
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    int rc = CLI_OK;
    for (int i = 0; i < n; i++) {
        struct runra_error *e = NULL;
        int r = pause ? runra_sandbox_pause(c, ids[i], &e) : runra_sandbox_resume(c, ids[i], &e);
        if (r < 0) {
            cli_fail(e, "%s %s", pause ? "pause" : "resume", ids[i]);
            runra_error_free(e);
            rc = CLI_FAIL;
        }
    }
    return rc;
}

int cmd_pause(struct cli *cli, int argc, char **argv) { return pause_resume(cli, argc, argv, true); }

int cmd_resume(struct cli *cli, int argc, char **argv)
{
    return pause_resume(cli, argc, argv, false);
}

int cmd_rm(struct cli *cli, int argc, char **argv)
{
    char **ids;
    int n;
    int done = ids_args(cli, argc, argv, cli_usage_rm, &ids, &n);
    if (done >= 0)
        return done;
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    int rc = CLI_OK;
    for (int i = 0; i < n; i++) {
        struct runra_error *e = NULL;
        if (runra_sandbox_destroy(c, ids[i], &e) < 0) {
            cli_fail(e, "rm %s", ids[i]);
            runra_error_free(e);
            rc = CLI_FAIL;
        }
    }
    return rc;
}
