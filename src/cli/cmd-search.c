/* runra search: code search in a sandbox, printed like ripgrep
 * (path:line:column:text, or grouped under a heading per file on a
 * terminal). Exits 0 when something matched, 1 when nothing did and 2 on an
 * error, as grep and rg do. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define SEARCH_CLI_GLOBS_MAX 64

const char cli_usage_search[] =
    "Usage: runra search [-i] [-g GLOB]... [-C N] [--max N] [--no-ignore] [--json]\n"
    "                    ID PATTERN [PATH]\n"
    "Searches files in sandbox ID for PATTERN (a PCRE2 regex), inside the sandbox.\n"
    "Binary files, .git, node_modules and what .gitignore excludes are skipped.\n"
    "\n"
    "  -i, --ignore-case   match case-insensitively\n"
    "  -g, --glob GLOB     only files matching GLOB; '!GLOB' excludes (repeatable)\n"
    "  -C, --context N     show N lines before and after each match\n"
    "  --max N             report at most N matches (default 1000)\n"
    "  --no-ignore         also search .git, node_modules and ignored files\n"
    "  --json              print the API's JSON answer\n"
    "Exit status: 0 if a line matched, 1 if none did, 2 on an error.\n";

struct search_args {
    const char *pos[3];
    int npos;
    const char *globs[SEARCH_CLI_GLOBS_MAX + 1];
    size_t nglobs;
    bool ignore_case, no_ignore, help;
    uint64_t max, context;
};

static int need_value(int argc, char **argv, int *i, const char **ret)
{
    if (*i + 1 >= argc)
        return cli_usage_error("search", "an option needs a value");
    *ret = argv[++*i];
    return 0;
}

static int parse(struct cli *cli, int argc, char **argv, struct search_args *a)
{
    bool opts_done = false;
    for (int i = 1; i < argc; i++) {
        const char *s = argv[i], *v = NULL;
        _cleanup_err_ struct runra_err *e = NULL;
        if (opts_done || s[0] != '-' || !s[1]) {
            if (a->npos == 3)
                return cli_usage_error("search", "too many arguments");
            a->pos[a->npos++] = s;
        } else if (!strcmp(s, "--")) {
            opts_done = true;
        } else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
            a->help = true;
        } else if (!strcmp(s, "-i") || !strcmp(s, "--ignore-case")) {
            a->ignore_case = true;
        } else if (!strcmp(s, "--no-ignore")) {
            a->no_ignore = true;
        } else if (!strcmp(s, "--json")) {
            cli->json = true;
        } else if (!strcmp(s, "--socket")) {
            if (need_value(argc, argv, &i, &cli->socket))
                return CLI_USAGE;
        } else if (!strcmp(s, "-g") || !strcmp(s, "--glob")) {
            if (need_value(argc, argv, &i, &v))
                return CLI_USAGE;
            if (a->nglobs == SEARCH_CLI_GLOBS_MAX)
                return cli_usage_error("search", "too many globs");
            a->globs[a->nglobs++] = v;
        } else if (!strcmp(s, "-C") || !strcmp(s, "--context") || !strcmp(s, "--max")) {
            if (need_value(argc, argv, &i, &v))
                return CLI_USAGE;
            uint64_t *dst = !strcmp(s, "--max") ? &a->max : &a->context;
            if (cli_parse_count(v, dst, &e) < 0 && strcmp(v, "0") != 0)
                return cli_usage_error("search", e && e->msg ? e->msg : "bad number");
            if (!strcmp(v, "0"))
                *dst = 0;
        } else {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown option '%s'", s);
            return cli_usage_error("search", msg);
        }
    }
    if (!a->help && a->npos < 2)
        return cli_usage_error("search", "search takes ID PATTERN [PATH]");
    return 0;
}

static void print_context(char *const *v, const char *path, uint64_t first, bool heading)
{
    for (size_t i = 0; v && v[i]; i++) {
        if (heading)
            printf("%" PRIu64 "-%s\n", first + i, v[i]);
        else
            printf("%s-%" PRIu64 "-%s\n", path, first + i, v[i]);
    }
}

static size_t count(char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

struct printer {
    bool heading;
    char *last; /* the path of the previous match */
};

/* One match as ripgrep prints it: under a path heading on a terminal,
 * path:line:column:text otherwise. */
static int print_match(void *ud, const struct runra_search_match *m)
{
    struct printer *p = ud;
    bool heading = p->heading;
    if (heading && (!p->last || strcmp(p->last, m->path) != 0)) {
        printf("%s%s\n", p->last ? "\n" : "", m->path);
        free(p->last);
        p->last = strdup(m->path);
    }
    print_context(m->before, m->path, m->line - count(m->before), heading);
    if (heading)
        printf("%" PRIu64 ":%" PRIu64 ":%s\n", m->line, m->column, m->text);
    else
        printf("%s:%" PRIu64 ":%" PRIu64 ":%s\n", m->path, m->line, m->column, m->text);
    print_context(m->after, m->path, m->line + 1, heading);
    return 0;
}

int cmd_search(struct cli *cli, int argc, char **argv)
{
    struct search_args a = { 0 };
    int rc = parse(cli, argc, argv, &a);
    if (rc)
        return rc;
    if (a.help) {
        fputs(cli_usage_search, stdout);
        return CLI_OK;
    }
    runra_client *c = NULL;
    if (cli_client(cli, &c) < 0)
        return CLI_USAGE;
    struct runra_search_opts o = {
        .path = a.npos > 2 ? a.pos[2] : NULL,
        .globs = a.nglobs ? a.globs : NULL,
        .ignore_case = a.ignore_case,
        .no_ignore = a.no_ignore,
        .max_results = (uint32_t)(a.max > 100000 ? 100000 : a.max),
        .context_lines = (uint32_t)(a.context > 20 ? 20 : a.context),
    };
    struct runra_error *e = NULL;
    struct runra_search_result *res = NULL;
    /* Matches are printed as the sandbox finds them; --json wants the one
     * document. */
    struct printer pr = { .heading = isatty(STDOUT_FILENO) };
    int r = cli->json ? runra_search(c, a.pos[0], a.pos[1], &o, &res, &e)
                      : runra_search_stream(c, a.pos[0], a.pos[1], &o, print_match, &pr, &res, &e);
    free(pr.last);
    if (r < 0) {
        fflush(stdout);
        cli_fail(e, "search");
        runra_error_free(e);
        return CLI_USAGE;
    }
    if (cli->json)
        cli_print_json(res->json);
    if (res->truncated)
        fprintf(stderr, "runra: search results were truncated (a limit was reached)\n");
    rc = res->n > 0 ? CLI_OK : CLI_FAIL;
    runra_search_result_free(res);
    return rc;
}
