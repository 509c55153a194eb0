/* runra files: the file API one call per subcommand (ls, cat, write, stat,
 * mkdir, rm, mv). cat and write stream through stdout and stdin. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "format.h"

const char cli_usage_files[] =
    "Usage: runra files COMMAND ID ...\n"
    "Works on files inside sandbox ID (relative paths start at its workdir).\n"
    "\n"
    "  ls ID [PATH] [--json]              list a directory\n"
    "  cat ID PATH                        print a file (raw bytes)\n"
    "  write ID PATH [--append] [--mode MODE]\n"
    "                                     write stdin to a file (parents created)\n"
    "  stat ID PATH [--json]              show one entry\n"
    "  mkdir ID PATH [-p] [--mode MODE] [--json]\n"
    "                                     make a directory (-p: with parents)\n"
    "  rm ID PATH [-r]                    remove a file (-r: a whole tree)\n"
    "  mv ID FROM TO [-f]                 move or rename (-f: replace TO)\n"
    "  watch ID PATH [-r]                 print file events as NDJSON until interrupted\n"
    "                                     (-r: the whole tree)\n";

struct files_args {
    bool parents, recursive, append, force;
    const char *mode;
};

static void print_info_line(const struct runra_file_info *fi, struct table *t)
{
    char mode[11], size[32], uid[16], gid[16], when[32] = "-";
    fmt_mode(fi->type, fi->mode, mode);
    snprintf(size, sizeof(size), "%" PRIu64, fi->size);
    snprintf(uid, sizeof(uid), "%" PRIu32, fi->uid);
    snprintf(gid, sizeof(gid), "%" PRIu32, fi->gid);
    time_t secs = (time_t)(fi->mtime_ms / 1000);
    struct tm tm;
    if (localtime_r(&secs, &tm))
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M", &tm);
    _cleanup_free_ char *name = NULL;
    const char *shown = fi->name ? fi->name : fi->path;
    if (fi->target && asprintf(&name, "%s -> %s", shown, fi->target) < 0)
        name = NULL;
    const char *row[] = { mode, uid, gid, size, when, name ? name : shown };
    table_add(t, row);
}

static int do_ls(struct cli *cli, runra_client *c, const char *id, const char *path)
{
    struct runra_error *e = NULL;
    struct runra_file_list *l = NULL;
    if (runra_file_list(c, id, path, &l, &e) < 0) {
        cli_fail(e, "files ls %s", path);
        runra_error_free(e);
        return CLI_FAIL;
    }
    if (cli->json)
        cli_print_json(l->json);
    else {
        struct table t;
        table_init(&t, 6);
        for (size_t i = 0; i < l->n; i++)
            print_info_line(&l->entries[i], &t);
        table_print(&t, stdout);
        table_done(&t);
        if (l->truncated)
            fprintf(stderr, "runra: the listing was truncated\n");
    }
    runra_file_list_free(l);
    return CLI_OK;
}

static void print_info(const struct runra_file_info *fi)
{
    char mode[11];
    fmt_mode(fi->type, fi->mode, mode);
    printf("path: %s\n", fi->path ? fi->path : "-");
    printf("type: %s\n", runra_file_type_name(fi->type));
    printf("size: %" PRIu64 "\n", fi->size);
    printf("mode: %04" PRIo32 " (%s)\n", fi->mode, mode);
    printf("uid: %" PRIu32 "\ngid: %" PRIu32 "\n", fi->uid, fi->gid);
    printf("mtimeMs: %" PRId64 "\n", fi->mtime_ms);
    if (fi->target)
        printf("target: %s\n", fi->target);
}

static int info_result(struct cli *cli, int r, struct runra_file_info *fi, struct runra_error *e,
                       const char *what, const char *path, bool print)
{
    if (r < 0) {
        cli_fail(e, "files %s %s", what, path);
        runra_error_free(e);
        return CLI_FAIL;
    }
    if (cli->json)
        cli_print_json(fi->json);
    else if (print)
        print_info(fi);
    runra_file_info_free(fi);
    return CLI_OK;
}

static int run_sub(struct cli *cli, runra_client *c, const char *sub, char **pos, int npos,
                   const struct files_args *fa, uint32_t mode)
{
    const char *id = pos[0];
    struct runra_error *e = NULL;
    struct runra_file_info *fi = NULL;
    int r;

    if (strcmp(sub, "ls") == 0)
        return do_ls(cli, c, id, npos > 1 ? pos[1] : ".");
    if (strcmp(sub, "cat") == 0) {
        r = runra_file_read_fd(c, id, pos[1], STDOUT_FILENO, NULL, &e);
        if (r < 0) {
            cli_fail(e, "files cat %s", pos[1]);
            runra_error_free(e);
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    if (strcmp(sub, "write") == 0) {
        struct runra_write_opts wo = { .mode = mode, .append = fa->append };
        r = runra_file_write_fd(c, id, pos[1], STDIN_FILENO, &wo, NULL, &e);
        if (r < 0) {
            cli_fail(e, "files write %s", pos[1]);
            runra_error_free(e);
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    if (strcmp(sub, "stat") == 0) {
        r = runra_file_stat(c, id, pos[1], &fi, &e);
        return info_result(cli, r, fi, e, sub, pos[1], true);
    }
    if (strcmp(sub, "mkdir") == 0) {
        r = runra_file_mkdir(c, id, pos[1], fa->parents, mode, cli->json ? &fi : NULL, &e);
        return info_result(cli, r, fi, e, sub, pos[1], false);
    }
    if (strcmp(sub, "mv") == 0) {
        r = runra_file_move(c, id, pos[1], pos[2], fa->force, cli->json ? &fi : NULL, &e);
        return info_result(cli, r, fi, e, sub, pos[1], false);
    }
    if (strcmp(sub, "watch") == 0) {
        runra_client_set_timeout_ms(c, 0);
        r = runra_file_watch_fd(c, id, pos[1], fa->recursive, STDOUT_FILENO, &e);
        if (r < 0) {
            cli_fail(e, "files watch %s", pos[1]);
            runra_error_free(e);
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    /* rm */
    r = runra_file_remove(c, id, pos[1], fa->recursive, &e);
    if (r < 0) {
        cli_fail(e, "files rm %s", pos[1]);
        runra_error_free(e);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cmd_files(struct cli *cli, int argc, char **argv)
{
    static const struct {
        const char *name;
        int min_pos, max_pos; /* counting ID */
    } subs[] = {
        { "ls", 1, 2 },    { "cat", 2, 2 }, { "write", 2, 2 }, { "stat", 2, 2 },
        { "mkdir", 2, 2 }, { "rm", 2, 2 },  { "mv", 3, 3 }, { "watch", 2, 2 },
    };
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(cli_usage_files, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    const char *sub = argv[1];
    size_t k = 0;
    while (k < ARRAY_SIZE(subs) && strcmp(subs[k].name, sub) != 0)
        k++;
    if (k == ARRAY_SIZE(subs)) {
        char msg[128];
        snprintf(msg, sizeof(msg), "unknown subcommand '%s'", sub);
        return cli_usage_error("files", msg);
    }

    struct files_args fa = { 0 };
    struct cli_common co = { 0 };
    const struct simple_opt opts[] = {
        { .name = "parents", .short_name = 'p', .flag = &fa.parents },
        { .name = "recursive", .short_name = 'r', .flag = &fa.recursive },
        { .name = "append", .short_name = 'a', .flag = &fa.append },
        { .name = "force", .short_name = 'f', .flag = &fa.force },
        { .name = "mode", .short_name = 'm', .has_arg = true, .value = &fa.mode },
    };
    char **pos;
    int npos;
    uint32_t mode = 0;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc - 1, argv + 1, opts, ARRAY_SIZE(opts), &co, &pos, &npos, &perr);
    if (r >= 0 && !co.help && (npos < subs[k].min_pos || npos > subs[k].max_pos))
        r = err_set(&perr, EINVAL, "files %s takes %s", sub,
                    subs[k].min_pos == 3 ? "ID FROM TO"
                    : subs[k].max_pos == 2 && subs[k].min_pos == 1 ? "ID [PATH]"
                                                                   : "ID PATH");
    if (r >= 0 && fa.mode)
        r = cli_parse_mode(fa.mode, &mode, &perr);
    if (r < 0)
        return cli_usage_error("files", perr->msg);
    if (co.help) {
        fputs(cli_usage_files, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    return run_sub(cli, c, sub, pos, npos, &fa, mode);
}
