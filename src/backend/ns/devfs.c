/* /dev for the sandbox: a small tmpfs holding binds of the host's harmless
 * character devices (a user namespace may not mknod), a private devpts
 * instance, its own /dev/shm and the usual symlinks. No disk, no /dev/mem,
 * no host tty other than the controlling-terminal alias /dev/tty. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/ns/child_ctx.h"
#include "backend/ns/mnt.h"
#include "base/util.h"

static const char *const host_devs[] = {"null", "zero", "full", "random", "urandom", "tty"};

static const struct {
    const char *name, *target;
} links[] = {
    {"ptmx", "pts/ptmx"},          {"fd", "/proc/self/fd"},       {"stdin", "/proc/self/fd/0"},
    {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
};

/* devpts's gid= names the tty group; it must be mapped in this user
 * namespace or the mount fails. gid 5 is "tty" on Debian and most others. */
static bool gid_mapped(unsigned gid)
{
    _cleanup_free_ char *map = NULL;
    if (read_file_str("/proc/self/gid_map", 4096, &map) < 0)
        return false;
    for (char *line = map; line && *line;) {
        unsigned long inside, outside, count;
        if (sscanf(line, "%lu %lu %lu", &inside, &outside, &count) == 3 && gid >= inside &&
            gid - inside < count)
            return true;
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return false;
}

int ns_devfs_build(struct ns_child_ctx *x, struct runra_err **err)
{
    static const char *const dev_opts[] = {"mode=0755", "size=512k", "nr_inodes=4096", NULL};
    _cleanup_close_ int fd = -1;
    int r = ns_mnt_fresh("tmpfs", dev_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, &fd, err);
    if (r < 0 || (r = ns_mnt_attach(fd, x->rootfd, "/dev", err)) < 0)
        return r;
    _cleanup_close_ int dev = -1;
    r = ns_mnt_open(x->rootfd, "/dev", O_RDONLY | O_DIRECTORY, &dev);
    if (r < 0)
        return err_sys(err, r, "open the new /dev");

    /* The binds keep the host devtmpfs mount's own flags (device access is
     * allowed there); a tmpfs mounted in a user namespace never honors
     * device nodes, which is why these are binds and not mknod. */
    for (size_t i = 0; i < ARRAY_SIZE(host_devs); i++) {
        char host[32], target[32];
        snprintf(host, sizeof(host), "/dev/%s", host_devs[i]);
        snprintf(target, sizeof(target), "/dev/%s", host_devs[i]);
        r = ns_mnt_touch(dev, host_devs[i], err);
        if (r >= 0)
            r = ns_mnt_bind(host, x->rootfd, target, false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                            err);
        if (r < 0)
            return r;
    }

    if (mkdirat(dev, "pts", 0755) < 0 || mkdirat(dev, "shm", 0755) < 0)
        return err_sys(err, errno, "create /dev/pts, /dev/shm");

    /* A new devpts instance: the sandbox's ptys are its own and the host's
     * are not visible. ptmxmode=0666 because /dev/ptmx links to it. */
    const char *pts_opts[] = {"newinstance", "ptmxmode=0666", "mode=0620", NULL, NULL};
    if (gid_mapped(5))
        pts_opts[3] = "gid=5";
    _cleanup_close_ int pts = -1;
    r = ns_mnt_fresh("devpts", pts_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, &pts, err);
    if (r < 0 || (r = ns_mnt_attach(pts, x->rootfd, "/dev/pts", err)) < 0)
        return r;

    static const char *const shm_opts[] = {"mode=1777", NULL};
    _cleanup_close_ int shm = -1;
    r = ns_mnt_fresh("tmpfs", shm_opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                     &shm, err);
    if (r < 0 || (r = ns_mnt_attach(shm, x->rootfd, "/dev/shm", err)) < 0)
        return r;

    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlinkat(links[i].target, dev, links[i].name) < 0)
            return err_sys(err, errno, "symlink /dev/%s", links[i].name);
    return 0;
}
