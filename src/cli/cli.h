/* What the CLI's command files share: the invocation's context (global
 * flags and the lazily connected client), the command table's shape, and
 * the helpers that print errors and JSON the same way everywhere. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "args.h"
#include "base/macro.h"
#include "runra/runra.h"

/* Exit codes: exec and run exit with the command's own code instead. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

struct cli {
    const char *argv0;
    const char *socket;   /* --socket, else $RUNRA_SOCKET, else the default */
    bool json;            /* --json */
    runra_client *client; /* connected by cli_client() on first use */
};

struct cli_command {
    const char *name;
    int (*run)(struct cli *cli, int argc, char **argv);
    const char *summary;
    const char *usage;
};

/* Commands (argv[0] is the command's name). */
int cmd_create(struct cli *cli, int argc, char **argv);
int cmd_ls(struct cli *cli, int argc, char **argv);
int cmd_inspect(struct cli *cli, int argc, char **argv);
int cmd_rm(struct cli *cli, int argc, char **argv);
int cmd_pause(struct cli *cli, int argc, char **argv);
int cmd_resume(struct cli *cli, int argc, char **argv);
extern const char cli_usage_pause[], cli_usage_resume[];
int cmd_exec(struct cli *cli, int argc, char **argv);
int cmd_run(struct cli *cli, int argc, char **argv);
int cmd_cp(struct cli *cli, int argc, char **argv);
/* cmd-cp-dir.c: directories as tar streams; path/dst is the directory itself. */
int cli_cp_dir_upload(runra_client *c, const char *src, const char *id, const char *path);
int cli_cp_dir_download(runra_client *c, const char *id, const char *path, const char *dst);
int cmd_files(struct cli *cli, int argc, char **argv);
int cmd_health(struct cli *cli, int argc, char **argv);
int cmd_version(struct cli *cli, int argc, char **argv);
int cmd_help(struct cli *cli, int argc, char **argv);
int cmd_search(struct cli *cli, int argc, char **argv);
extern const char cli_usage_search[];

extern const char cli_usage_create[], cli_usage_ls[], cli_usage_inspect[], cli_usage_rm[],
    cli_usage_exec[], cli_usage_run[], cli_usage_cp[], cli_usage_files[], cli_usage_health[],
    cli_usage_version[], cli_usage_help[];

/* Background processes and live output (cmd-proc.c). */
int cmd_ps(struct cli *cli, int argc, char **argv);
int cmd_start(struct cli *cli, int argc, char **argv);
int cmd_logs(struct cli *cli, int argc, char **argv);
int cmd_kill(struct cli *cli, int argc, char **argv);
/* cmd-keys.c */
int cmd_keys(struct cli *cli, int argc, char **argv);
extern const char cli_usage_keys[];
/* cmd-events.c */
int cmd_events(struct cli *cli, int argc, char **argv);
extern const char cli_usage_events[];
/* cmd-net.c */
int cmd_net(struct cli *cli, int argc, char **argv);
extern const char cli_usage_net[];
/* Signals (output.c): INT, TERM and HUP set a flag and interrupt waits;
 * cli_signal_cancel fits runra_client_set_cancel. */
void cli_catch_signals(void);
int cli_signal_caught(void); /* the signal, or 0 */
int cli_signal_cancel(void *userdata);
/* cmd-agent.c */
int cmd_agent(struct cli *cli, int argc, char **argv);
extern const char cli_usage_agent[];
/* cmd-tools.c */
int cmd_tools(struct cli *cli, int argc, char **argv);
int cmd_mcp(struct cli *cli, int argc, char **argv);
extern const char cli_usage_tools[], cli_usage_mcp[];
/* cmd-image.c: pull, images, rmi, and `image` grouping them. */
int cmd_pull(struct cli *cli, int argc, char **argv);
int cmd_images(struct cli *cli, int argc, char **argv);
int cmd_rmi(struct cli *cli, int argc, char **argv);
int cmd_image(struct cli *cli, int argc, char **argv);
extern const char cli_usage_pull[], cli_usage_images[], cli_usage_rmi[], cli_usage_image[];
/* cmd-port.c */
int cmd_port(struct cli *cli, int argc, char **argv);
extern const char cli_usage_port[];
int cmd_wait(struct cli *cli, int argc, char **argv);
extern const char cli_usage_ps[], cli_usage_start[], cli_usage_logs[], cli_usage_kill[],
    cli_usage_wait[];
/* Parses "CMD [opts] ID PID|TAG" (cmd-proc.c): 0 with *ret_pos set, -1 when
 * --help was printed, or CLI_USAGE after printing the error. */
int cli_two_args(const char *cmd, const char *usage, int argc, char **argv,
                 const struct simple_opt *opts, size_t n_opts, struct cli *cli,
                 char ***ret_pos);
/* cmd-attach.c: exec -t (a pty process, attached, killed when the session
 * ends; returns its exit code) and attach. */
int cli_exec_tty(runra_client *c, const char *id, const struct runra_exec_opts *o,
                 bool send_stdin);
int cmd_attach(struct cli *cli, int argc, char **argv);
extern const char cli_usage_attach[];
/* exec's default: output written as it arrives; the result has no output. */
int cli_exec_stream(runra_client *c, const char *id, const struct runra_exec_opts *o,
                    struct runra_exec_result **ret, struct runra_error **err);

/* The command table (main.c) and the top-level usage. */
extern const struct cli_command cli_commands[];
void cli_print_main_usage(FILE *f);
const struct cli_command *cli_find_command(const char *name);

/* Folds a command's own --json/--socket into the globals. */
void cli_apply_common(struct cli *cli, const struct cli_common *co);

/* The client, connected; starts runrad when nothing answers on a unix
 * socket (connect.c). Prints the error itself; returns -errno. */
int cli_client(struct cli *cli, runra_client **ret);

/* "runra: <cmd>: <msg>" and a hint at --help; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *msg);
/* "runra: <context>: <the error's message>"; returns CLI_FAIL. */
int cli_fail(const struct runra_error *e, const char *fmt, ...) _printf_(2, 3);
/* "runra: <message>"; returns CLI_FAIL. */
int cli_failf(const char *fmt, ...) _printf_(1, 2);
/* Prints JSON text indented, or as it is when it does not parse. */
int cli_print_json(const char *text);
/* inspect of several things: one prints its object, several print one
 * array (collected in all, printed by _end), so the output is always a
 * single JSON document. */
void cli_json_each(json_t *all, size_t total, const char *text);
void cli_json_each_end(json_t *all, size_t total);
/* Writes all of a buffer to an fd; -errno. */
int cli_write(int fd, const void *p, size_t n);
