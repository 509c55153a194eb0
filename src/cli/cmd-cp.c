/* runra cp: one file between the host and a sandbox, streamed both ways
 * (nothing is held in memory or base64'd). Downloads land in a temporary
 * file that is renamed into place only once complete, so a failed copy
 * never leaves a truncated destination behind. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

const char cli_usage_cp[] =
    "Usage: runra cp SRC DST\n"
    "Copies one file between the host and a sandbox; exactly one side is ID:PATH.\n"
    "  runra cp ./data.bin ID:/workspace/     host -> sandbox (into a directory)\n"
    "  runra cp ID:/workspace/out.txt .       sandbox -> host\n"
    "  runra cp - ID:/tmp/in.txt              stdin -> sandbox\n"
    "  runra cp ID:/etc/os-release -          sandbox -> stdout\n"
    "A host path holding ':' can be written ./a:b.\n";

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s && s[1] ? s + 1 : s ? "" : p;
}

static bool ends_with_slash(const char *p)
{
    size_t n = strlen(p);
    return n > 0 && p[n - 1] == '/';
}

/* Joins dir and name with exactly one '/'. */
static char *join(const char *dir, const char *name)
{
    char *s = NULL;
    if (asprintf(&s, "%s%s%s", dir, ends_with_slash(dir) ? "" : "/", name) < 0)
        return NULL;
    return s;
}

static int upload(runra_client *c, const char *src, const char *id, const char *path)
{
    _cleanup_close_ int fd = -1;
    struct runra_write_opts wo = { 0 };
    if (strcmp(src, "-") == 0)
        fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    else
        fd = open(src, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return cli_failf("cp: %s: %s", src, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0)
        return cli_failf("cp: %s: %s", src, strerror(errno));
    if (S_ISDIR(st.st_mode)) {
        /* A directory goes as a tar stream; DIR/ means into it. */
        _cleanup_free_ char *into = ends_with_slash(path) ? join(path, base_name(src)) : NULL;
        if (ends_with_slash(path) && !into)
            return cli_failf("cp: out of memory");
        return cli_cp_dir_upload(c, src, id, into ? into : path);
    }
    if (strcmp(src, "-") != 0)
        wo.mode = st.st_mode & 0777;

    /* Like cp(1): copying onto a directory means into it. */
    _cleanup_free_ char *target = NULL;
    struct runra_error *e = NULL;
    if (ends_with_slash(path)) {
        if (strcmp(src, "-") == 0)
            return cli_failf("cp: stdin has no name; give a file path, not %s", path);
        target = join(path, base_name(src));
    } else {
        struct runra_file_info *fi = NULL;
        if (runra_file_stat(c, id, path, &fi, &e) >= 0 && fi->type == RUNRA_FILE_DIR &&
            strcmp(src, "-") != 0)
            target = join(path, base_name(src));
        else
            target = strdup(path);
        runra_file_info_free(fi);
        runra_error_free(e);
        e = NULL;
    }
    if (!target)
        return cli_failf("cp: out of memory");
    if (runra_file_write_fd(c, id, target, fd, &wo, NULL, &e) < 0) {
        cli_fail(e, "cp %s:%s", id, target);
        runra_error_free(e);
        return CLI_FAIL;
    }
    return CLI_OK;
}

/* Streams the file into a new temporary next to dst, then renames it. */
static int download_replace(runra_client *c, const char *id, const char *path, const char *dst,
                            mode_t mode)
{
    _cleanup_free_ char *dir_copy = strdup(dst);
    _cleanup_free_ char *tmp = NULL;
    if (!dir_copy || asprintf(&tmp, "%s/.%s.runra-XXXXXX", dirname(dir_copy), base_name(dst)) < 0)
        return cli_failf("cp: out of memory");
    _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return cli_failf("cp: %s: %s", dst, strerror(errno));
    struct runra_error *e = NULL;
    int r = runra_file_read_fd(c, id, path, fd, NULL, &e);
    if (r < 0) {
        unlink(tmp);
        cli_fail(e, "cp %s:%s", id, path);
        runra_error_free(e);
        return CLI_FAIL;
    }
    if (fchmod(fd, mode) < 0 || rename(tmp, dst) < 0) {
        int saved = errno;
        unlink(tmp);
        return cli_failf("cp: %s: %s", dst, strerror(saved));
    }
    return CLI_OK;
}

static int download(runra_client *c, const char *id, const char *path, const char *dst)
{
    struct runra_error *e = NULL;
    if (strcmp(dst, "-") == 0) {
        if (runra_file_read_fd(c, id, path, STDOUT_FILENO, NULL, &e) < 0) {
            cli_fail(e, "cp %s:%s", id, path);
            runra_error_free(e);
            return CLI_FAIL;
        }
        return CLI_OK;
    }

    /* The remote mode gives the new file its permission bits (under the
     * umask, like cp(1)), and a directory gets a clear error up front. */
    struct runra_file_info *fi = NULL;
    if (runra_file_stat(c, id, path, &fi, &e) < 0) {
        cli_fail(e, "cp %s:%s", id, path);
        runra_error_free(e);
        return CLI_FAIL;
    }
    bool is_dir = fi->type == RUNRA_FILE_DIR;
    mode_t remote_mode = fi->mode & 0777;
    runra_file_info_free(fi);
    if (is_dir) {
        if (strcmp(dst, "-") == 0)
            return cli_failf("cp: %s:%s is a directory; it cannot go to stdout", id, path);
        _cleanup_free_ char *into = ends_with_slash(dst) ? join(dst, base_name(path)) : NULL;
        if (ends_with_slash(dst) && !into)
            return cli_failf("cp: out of memory");
        return cli_cp_dir_download(c, id, path, into ? into : dst);
    }

    _cleanup_free_ char *target = NULL;
    struct stat st;
    bool exists = stat(dst, &st) == 0;
    if (ends_with_slash(dst) || (exists && S_ISDIR(st.st_mode))) {
        target = join(dst, base_name(path));
        if (!target)
            return cli_failf("cp: out of memory");
        exists = stat(target, &st) == 0;
        dst = target;
    }
    /* Devices and pipes (/dev/null, a fifo) are written in place. */
    if (exists && !S_ISREG(st.st_mode)) {
        _cleanup_close_ int fd = open(dst, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
            return cli_failf("cp: %s: %s", dst, strerror(errno));
        if (runra_file_read_fd(c, id, path, fd, NULL, &e) < 0) {
            cli_fail(e, "cp %s:%s", id, path);
            runra_error_free(e);
            return CLI_FAIL;
        }
        return CLI_OK;
    }
    mode_t mask = umask(0);
    umask(mask);
    mode_t mode = exists ? st.st_mode & 07777 : remote_mode & ~mask;
    return download_replace(c, id, path, dst, mode);
}

int cmd_cp(struct cli *cli, int argc, char **argv)
{
    struct cli_common co = { 0 };
    char **pos;
    int npos;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_simple(argc, argv, NULL, 0, &co, &pos, &npos, &perr);
    if (r >= 0 && npos != 2 && !co.help)
        r = err_set(&perr, EINVAL, "expected SRC and DST");
    _cleanup_free_ char *sid = NULL, *spath = NULL, *did = NULL, *dpath = NULL;
    int src_remote = 0, dst_remote = 0;
    if (r >= 0 && !co.help) {
        src_remote = cli_split_remote(pos[0], &sid, &spath, &perr);
        dst_remote = src_remote < 0 ? 0 : cli_split_remote(pos[1], &did, &dpath, &perr);
        if (src_remote < 0 || dst_remote < 0)
            r = -EINVAL;
        else if (src_remote == dst_remote)
            r = err_set(&perr, EINVAL, "exactly one of SRC and DST must be ID:PATH");
    }
    if (r < 0)
        return cli_usage_error("cp", perr->msg);
    if (co.help) {
        fputs(cli_usage_cp, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &co);
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    return src_remote ? download(c, sid, spath, pos[1]) : upload(c, pos[0], did, dpath);
}
