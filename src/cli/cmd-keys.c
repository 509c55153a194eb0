/* `runra keys create NAME | ls | rm ID`: API keys for runrad's TCP listener,
 * managed over its unix socket. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char cli_usage_keys[] =
    "Usage: runra keys create NAME    make a key and print it (shown only once)\n"
    "       runra keys ls             list keys (ids and names)\n"
    "       runra keys rm ID          revoke a key\n"
    "Keys authenticate clients of `runrad --listen HOST:PORT` (RUNRA_HOST=\n"
    "http://HOST:PORT RUNRA_API_KEY=KEY); each sees only the sandboxes it\n"
    "created. Managing keys needs the unix socket.\n";

int cmd_keys(struct cli *cli, int argc, char **argv)
{
    struct cli_common co = {0};
    char **pos;
    int npos;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc, argv, NULL, 0, &co, &pos, &npos, &perr);
    if (r < 0)
        return cli_usage_error("keys", perr->msg);
    if (co.help) {
        fputs(cli_usage_keys, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    bool create = npos == 2 && !strcmp(pos[0], "create");
    bool ls = npos == 1 && !strcmp(pos[0], "ls");
    bool rm = npos == 2 && !strcmp(pos[0], "rm");
    if (!create && !ls && !rm)
        return cli_usage_error("keys", "expected create NAME, ls or rm ID");
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    struct runra_error *e = NULL;
    char *json = NULL;
    if (create)
        r = runra_key_create(c, pos[1], &json, &e);
    else if (ls)
        r = runra_key_list(c, &json, &e);
    else
        r = runra_key_remove(c, pos[1], &e);
    if (r < 0) {
        r = cli_fail(e, "keys %s", pos[0]);
        runra_error_free(e);
        return r;
    }
    if (json)
        cli_print_json(json);
    free(json);
    return CLI_OK;
}
