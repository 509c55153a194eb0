/* runra cp for directories: a tar stream each way. Uploads are packed here
 * and extracted inside the sandbox; downloads are packed inside and
 * extracted here by the same confined unpacker (src/tar/tarx.c), because a
 * sandbox is hostile and its archive must not write outside the target on
 * the host either. The archive is spooled to an unnamed temporary file. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "cli.h"
#include "tar/tarx.h"

/* An unnamed file in dir, or in $TMPDIR (or /tmp) when dir cannot hold one. */
static int spool_open(const char *dir)
{
    int fd = open(dir, O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
    if (fd >= 0)
        return fd;
    const char *tmp = getenv("TMPDIR");
    return open(tmp && *tmp ? tmp : "/tmp", O_RDWR | O_TMPFILE | O_CLOEXEC, 0600);
}

static int sink_fd(void *userdata, const void *p, size_t len)
{
    return write_full(*(int *)userdata, p, len);
}

int cli_cp_dir_upload(runra_client *c, const char *src, const char *id, const char *path)
{
    _cleanup_close_ int spool = spool_open("/tmp");
    if (spool < 0)
        return cli_failf("cp: temporary file: %s", strerror(errno));
    int root = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return cli_failf("cp: %s: %s", src, strerror(errno));
    _cleanup_err_ struct runra_err *perr = NULL;
    struct tarx_pack *p = NULL;
    int r = tarx_pack_new(root, sink_fd, &spool, &p, &perr);
    while (r >= 0 && (r = tarx_pack_step(p, &perr)) == 0)
        ;
    tarx_pack_free(p);
    if (r < 0)
        return cli_failf("cp: packing %s: %s", src, perr ? perr->msg : strerror(-r));
    if (lseek(spool, 0, SEEK_SET) < 0)
        return cli_failf("cp: temporary file: %s", strerror(errno));
    struct runra_error *e = NULL;
    struct runra_tar_result res;
    if (runra_tar_upload_fd(c, id, path, spool, &res, &e) < 0) {
        cli_fail(e, "cp %s:%s", id, path);
        runra_error_free(e);
        return CLI_FAIL;
    }
    return CLI_OK;
}

int cli_cp_dir_download(runra_client *c, const char *id, const char *path, const char *dst)
{
    _cleanup_free_ char *copy = strdup(dst);
    if (!copy)
        return cli_failf("cp: out of memory");
    _cleanup_close_ int spool = spool_open(dirname(copy));
    if (spool < 0)
        return cli_failf("cp: temporary file: %s", strerror(errno));
    struct runra_error *e = NULL;
    if (runra_tar_download_fd(c, id, path, spool, NULL, &e) < 0) {
        cli_fail(e, "cp %s:%s", id, path);
        runra_error_free(e);
        return CLI_FAIL;
    }
    if (mkdir(dst, 0755) < 0 && errno != EEXIST)
        return cli_failf("cp: %s: %s", dst, strerror(errno));
    int root = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return cli_failf("cp: %s: %s", dst, strerror(errno));
    _cleanup_err_ struct runra_err *perr = NULL;
    struct tarx_unpack *u = NULL;
    int r = tarx_unpack_new(TAKE_FD(spool), root, &u, &perr);
    while (r >= 0 && (r = tarx_unpack_step(u, &perr)) == 0)
        ;
    tarx_unpack_free(u);
    if (r < 0)
        return cli_failf("cp: extracting %s:%s into %s: %s", id, path, dst,
                         perr ? perr->msg : strerror(-r));
    return CLI_OK;
}
