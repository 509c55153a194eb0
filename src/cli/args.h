/* The pure half of the CLI: argv into typed request structs, and the small
 * value parsers under them (K=V, ID:PATH, durations, sizes, modes). No I/O,
 * so all of it is unit-tested; errors carry a message for "runra: ...". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "runra/runra.h"

/* Owned key/value pairs, laid out as the library takes them. */
struct kv_vec {
    struct runra_kv *items;
    size_t n;
};
/* Parses "KEY=VALUE" (KEY non-empty; VALUE may be empty or hold '=') and
 * appends it; a repeated key replaces the earlier value. */
int kv_vec_add(struct kv_vec *v, const char *s, struct runra_err **err);
void kv_vec_done(struct kv_vec *v);

/* "ID:PATH" names a path in a sandbox; anything else is a host path. A host
 * path that holds ':' can be written "./a:b". Returns 1 for a sandbox path
 * (filling ret_id and ret_path), 0 for a host path, -EINVAL for "ID:" or
 * ":PATH". */
int cli_split_remote(const char *s, char **ret_id, char **ret_path, struct runra_err **err);

/* "30" or "30s", "1.5", "500ms", "2m", "1h" into milliseconds. */
int cli_parse_duration_ms(const char *s, uint64_t *ret, struct runra_err **err);
/* Megabytes: "512", "512m", "512MB", "2g", "2GB" (case-insensitive). */
int cli_parse_size_mb(const char *s, uint64_t *ret, struct runra_err **err);
/* A positive decimal count. */
int cli_parse_count(const char *s, uint64_t *ret, struct runra_err **err);
/* Octal permission bits: "644", "0755". */
int cli_parse_mode(const char *s, uint32_t *ret, struct runra_err **err);

/* The options every command takes. */
struct cli_common {
    bool json;
    bool help;
    const char *socket;
};

/* `runra create` and `runra run`. The spec's lists point into env and meta;
 * its strings point into argv. */
#define CLI_NET_RULES_MAX 256

struct create_args {
    struct cli_common common;
    struct runra_sandbox_spec spec;
    const char *allow[CLI_NET_RULES_MAX + 1]; /* --allow, NULL-terminated */
    size_t nallow;
    const char *deny[CLI_NET_RULES_MAX + 1];
    size_t ndeny;
    struct kv_vec env;
    struct kv_vec meta;
    bool interactive;  /* run -i */
    uint64_t exec_timeout_ms; /* run: the command's own bound */
    char **cmd;        /* run: the command, NULL-terminated (points into argv) */
};
/* run: options, then "--" (optional) and the command. */
int cli_parse_create(int argc, char **argv, bool run, struct create_args *a,
                     struct runra_err **err);
void create_args_done(struct create_args *a);

/* `runra exec [opts] ID [opts] [--] CMD [ARG...]` */
struct exec_args {
    struct cli_common common;
    const char *id;
    struct kv_vec env;
    const char *cwd;
    uint64_t timeout_ms;
    uint64_t max_output;
    bool interactive;
    bool tty;       /* -t: a pseudo-terminal, attached over a WebSocket */
    bool no_stream; /* --no-stream: one buffered answer instead of live output */
    char **cmd; /* NULL-terminated, points into argv */
};
int cli_parse_exec(int argc, char **argv, struct exec_args *a, struct runra_err **err);
void exec_args_done(struct exec_args *a);

/* Commands whose options are flags over positional arguments (ls, rm, cp,
 * files ...). Options may come anywhere; "--" ends them. */
struct simple_opt {
    const char *name; /* long name */
    char short_name;  /* or 0 */
    bool has_arg;
    const char **value; /* has_arg: receives the argument (the last one wins) */
    bool *flag;         /* !has_arg: set to true */
    /* Repeatable K=V: appended here instead (has_arg must be true). */
    struct kv_vec *kv;
};
/* Parses argv[1..] (argv[0] is the command's name) and points *ret_pos at
 * the positional arguments, *ret_npos their count. */
int cli_parse_simple(int argc, char **argv, const struct simple_opt *opts, size_t n_opts,
                     struct cli_common *common, char ***ret_pos, int *ret_npos,
                     struct runra_err **err);
