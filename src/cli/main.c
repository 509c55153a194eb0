/* runra, the command-line client: global flags, then one command from the
 * table below. Commands live one group per file (cmd-*.c) and only parse
 * argv and print; librunra does the talking. */
#include <string.h>

#include "cli.h"

const struct cli_command cli_commands[] = {
    { "create", cmd_create, "create a sandbox and print its id", cli_usage_create },
    { "ls", cmd_ls, "list sandboxes", cli_usage_ls },
    { "inspect", cmd_inspect, "show a sandbox as JSON", cli_usage_inspect },
    { "rm", cmd_rm, "destroy sandboxes", cli_usage_rm },
    { "pause", cmd_pause, "stop every process of a sandbox, keeping its state", cli_usage_pause },
    { "resume", cmd_resume, "let a paused sandbox run on", cli_usage_resume },
    { "exec", cmd_exec, "run a command in a sandbox", cli_usage_exec },
    { "run", cmd_run, "create, exec, destroy in one go", cli_usage_run },
    { "start", cmd_start, "start a background process and print its pid", cli_usage_start },
    { "ps", cmd_ps, "list a sandbox's background processes", cli_usage_ps },
    { "logs", cmd_logs, "print (or follow) a background process's output", cli_usage_logs },
    { "kill", cmd_kill, "send a signal to a background process", cli_usage_kill },
    { "attach", cmd_attach, "attach this terminal to a background process", cli_usage_attach },
    { "wait", cmd_wait, "wait for a background process and exit with its code", cli_usage_wait },
    { "cp", cmd_cp, "copy a file between the host and a sandbox", cli_usage_cp },
    { "files", cmd_files, "list, read, write and manage files in a sandbox", cli_usage_files },
    { "pull", cmd_pull, "pull an image from a registry, with progress", cli_usage_pull },
    { "images", cmd_images, "list stored images", cli_usage_images },
    { "rmi", cmd_rmi, "remove images", cli_usage_rmi },
    { "image", cmd_image, "manage images (ls, pull, rm, inspect, import, prune)",
      cli_usage_image },
    { "keys", cmd_keys, "manage API keys for the TCP listener", cli_usage_keys },
    { "events", cmd_events, "print the audit trail (-f to follow)", cli_usage_events },
    { "net", cmd_net, "show or change a sandbox's network policy; list what it refused",
      cli_usage_net },
    { "port", cmd_port, "expose a sandbox's TCP port on 127.0.0.1 (ls, rm)", cli_usage_port },
    { "search", cmd_search, "search file contents in a sandbox (regex)", cli_usage_search },
    { "tools", cmd_tools, "print the sandbox tools' definitions for a model API", cli_usage_tools },
    { "mcp", cmd_mcp, "serve the sandbox tools to an MCP client over stdio", cli_usage_mcp },
    { "agent", cmd_agent, "run a coding agent (Claude Code, Codex, OpenCode) in a sandbox",
      cli_usage_agent },
    { "health", cmd_health, "check runrad", cli_usage_health },
    { "version", cmd_version, "print versions", cli_usage_version },
    { "help", cmd_help, "show help for a command", cli_usage_help },
    { 0 },
};

const struct cli_command *cli_find_command(const char *name)
{
    for (const struct cli_command *c = cli_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return NULL;
}

void cli_print_main_usage(FILE *f)
{
    fputs("Usage: runra [--socket PATH] [--json] COMMAND [ARG...]\n"
          "Runs commands in isolated sandboxes managed by runrad.\n"
          "\n"
          "Commands:\n",
          f);
    for (const struct cli_command *c = cli_commands; c->name; c++)
        fprintf(f, "  %-9s %s\n", c->name, c->summary);
    fputs("\n"
          "Global flags:\n"
          "  --socket PATH   runrad's socket or http://host:port (default: $RUNRA_SOCKET,\n"
          "                  else " RUNRA_DEFAULT_SOCKET ")\n"
          "  --json          print data as JSON\n"
          "\n"
          "Environment: RUNRA_SOCKET, RUNRA_API_KEY (for http), RUNRA_NO_AUTOSTART (do not\n"
          "start runrad when nothing answers on the socket).\n"
          "Run 'runra COMMAND --help' for a command's flags.\n",
          f);
}

int main(int argc, char **argv)
{
    struct cli cli = { .argv0 = argv[0] };
    int i = 1;
    /* Global flags come before the command; each command also accepts
     * --json and --socket itself. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--json") == 0)
            cli.json = true;
        else if (strcmp(a, "--socket") == 0) {
            if (++i >= argc)
                return cli_usage_error(NULL, "option '--socket' needs a value");
            cli.socket = argv[i];
        } else if (strncmp(a, "--socket=", 9) == 0)
            cli.socket = a + 9;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_print_main_usage(stdout);
            return CLI_OK;
        } else if (strcmp(a, "--version") == 0)
            return cmd_version(&cli, 1, (char *[]){ (char *)"version", NULL });
        else {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown option '%s'", a);
            return cli_usage_error(NULL, msg);
        }
    }
    if (i >= argc) {
        cli_print_main_usage(stderr);
        return CLI_USAGE;
    }
    const struct cli_command *cmd = cli_find_command(argv[i]);
    if (!cmd) {
        char msg[160];
        snprintf(msg, sizeof(msg), "unknown command '%s'", argv[i]);
        return cli_usage_error(NULL, msg);
    }
    int rc = cmd->run(&cli, argc - i, argv + i);
    runra_client_free(cli.client);
    /* Output goes through stdio; a failed flush (a full disk, a closed
     * pipe) must not pass for success. */
    if (fflush(stdout) != 0 && rc == CLI_OK)
        rc = CLI_FAIL;
    return rc;
}
