/* Mount helpers (see mnt.h). They run in the sandbox child, as root of its
 * user namespace, in its private mount namespace, before any sandbox code
 * exists; the only untrusted input would be the sandbox disk's content, which
 * is why targets are opened with RESOLVE_IN_ROOT rather than by path. */
#include "backend/ns/mnt.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/macro.h"

int ns_mnt_open(int rootfd, const char *path, int flags, int *ret_fd)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        /* Magic links (/proc/self/...) could point anywhere; nothing we mount
         * on needs them. */
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    int fd;
    do
        fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
    while (fd < 0 && errno == EAGAIN);
    if (fd < 0)
        return -errno;
    *ret_fd = fd;
    return 0;
}

int ns_mnt_clone(int dfd, const char *path, bool recursive, uint64_t attr_set, int *ret_fd,
                 struct runra_err **err)
{
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (recursive ? AT_RECURSIVE : 0);
    if (!*path)
        flags |= AT_EMPTY_PATH;
    _cleanup_close_ int fd = open_tree(dfd, path, flags);
    if (fd < 0)
        return err_sys(err, errno, "open_tree '%s'", *path ? path : "(fd)");
    if (attr_set) {
        /* Only flags are added, never cleared, so locked flags a user
         * namespace may not drop (read-only, atime) stay as they are. */
        struct mount_attr a = {.attr_set = attr_set};
        if (mount_setattr(fd, "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &a, sizeof(a)) <
            0)
            return err_sys(err, errno, "mount_setattr '%s'", *path ? path : "(fd)");
    }
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* After a failed fsconfig/fsmount the kernel leaves a readable message on
 * the context fd ("e sysfs: ..."); it names the real cause. */
static int fs_error(int fsfd, int code, const char *what, const char *fstype,
                    struct runra_err **err)
{
    char msg[256];
    ssize_t n = read(fsfd, msg, sizeof(msg) - 1);
    if (n > 2) {
        msg[n] = 0;
        msg[strcspn(msg, "\n")] = 0;
        return err_set(err, code, "%s %s: %s (%s)", what, fstype, strerror(code), msg + 2);
    }
    return err_sys(err, code, "%s %s", what, fstype);
}

int ns_mnt_fresh(const char *fstype, const char *const *opts, uint64_t attrs, int *ret_fd,
                 struct runra_err **err)
{
    _cleanup_close_ int fsfd = fsopen(fstype, FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return err_sys(err, errno, "fsopen %s", fstype);
    for (size_t i = 0; opts && opts[i]; i++) {
        char key[64];
        const char *eq = strchr(opts[i], '=');
        size_t klen = eq ? (size_t)(eq - opts[i]) : strlen(opts[i]);
        if (klen >= sizeof(key))
            return err_set(err, EINVAL, "%s option too long", fstype);
        memcpy(key, opts[i], klen);
        key[klen] = 0;
        int r = eq ? fsconfig(fsfd, FSCONFIG_SET_STRING, key, eq + 1, 0)
                   : fsconfig(fsfd, FSCONFIG_SET_FLAG, key, NULL, 0);
        if (r < 0)
            return fs_error(fsfd, errno, "option", fstype, err);
    }
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return fs_error(fsfd, errno, "create", fstype, err);
    int fd = fsmount(fsfd, FSMOUNT_CLOEXEC, (unsigned)attrs);
    if (fd < 0)
        return fs_error(fsfd, errno, "fsmount", fstype, err);
    *ret_fd = fd;
    return 0;
}

int ns_mnt_attach(int mntfd, int rootfd, const char *target, struct runra_err **err)
{
    _cleanup_close_ int tfd = -1;
    int r = ns_mnt_open(rootfd, target, O_PATH, &tfd);
    if (r < 0)
        return err_sys(err, r, "open mount point '%s'", target);
    if (move_mount(mntfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return err_sys(err, errno, "attach mount on '%s'", target);
    return 0;
}

int ns_mnt_bind(const char *src, int rootfd, const char *target, bool recursive, uint64_t attr_set,
                struct runra_err **err)
{
    _cleanup_close_ int fd = -1;
    int r = ns_mnt_clone(AT_FDCWD, src, recursive, attr_set, &fd, err);
    if (r < 0)
        return r;
    return ns_mnt_attach(fd, rootfd, target, err);
}

int ns_mnt_readonly(int rootfd, const char *target, struct runra_err **err)
{
    _cleanup_close_ int tfd = -1, mfd = -1;
    int r = ns_mnt_open(rootfd, target, O_PATH, &tfd);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return err_sys(err, r, "open '%s'", target);
    r = ns_mnt_clone(tfd, "", true,
                     MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                     &mfd, err);
    if (r < 0)
        return err_prefix(err, "read-only '%s'", target);
    if (move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return err_sys(err, errno, "read-only '%s': attach", target);
    return 0;
}

int ns_mask_source(int rootfd, const char *park, int *ret_fd, struct runra_err **err)
{
    static const char *const opts[] = {"size=4k", "nr_inodes=8", "mode=0755", NULL};
    _cleanup_close_ int fd = -1;
    int r = ns_mnt_fresh("tmpfs", opts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
                         &fd, err);
    if (r < 0)
        return err_prefix(err, "mask source");
    /* Closed at once: a file open for writing keeps a mount from going
     * read-only (EBUSY). */
    int f = openat(fd, "file", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
    if (f < 0)
        return err_sys(err, errno, "mask source: create file");
    close(f);
    if (mkdirat(fd, "dir", 0555) < 0)
        return err_sys(err, errno, "mask source: create dir");
    /* Read-only before any clone is taken: every mask is an unwritable copy,
     * and nothing holds this tmpfs writable once the setup ends. */
    struct mount_attr a = {.attr_set = MOUNT_ATTR_RDONLY};
    if (mount_setattr(fd, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
        return err_sys(err, errno, "mask source: read-only");
    r = ns_mnt_attach(fd, rootfd, park, err);
    if (r < 0)
        return err_prefix(err, "mask source");
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int ns_mask_source_drop(int rootfd, const char *park, struct runra_err **err)
{
    /* umount2 takes only a path, and the path to the root from outside runs
     * through the daemon's state dir, which this process cannot search; a
     * path relative to the root as cwd needs no such permission. */
    if (fchdir(rootfd) < 0)
        return err_sys(err, errno, "mask source: chdir to root");
    while (*park == '/')
        park++;
    if (umount2(park, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        return err_sys(err, errno, "mask source: detach from '/%s'", park);
    return 0;
}

int ns_mask(int srcfd, int rootfd, const char *target, struct runra_err **err)
{
    _cleanup_close_ int tfd = -1, mfd = -1;
    int r = ns_mnt_open(rootfd, target, O_PATH, &tfd);
    if (r == -ENOENT)
        return 0;
    if (r < 0)
        return err_sys(err, r, "mask '%s': open", target);
    struct stat st;
    if (fstat(tfd, &st) < 0)
        return err_sys(err, errno, "mask '%s': stat", target);
    r = ns_mnt_clone(srcfd, S_ISDIR(st.st_mode) ? "dir" : "file", false, 0, &mfd, err);
    if (r < 0)
        return err_prefix(err, "mask '%s'", target);
    if (move_mount(mfd, "", tfd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return err_sys(err, errno, "mask '%s': attach", target);
    return 1;
}

int ns_mnt_touch(int dirfd, const char *name, struct runra_err **err)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_sys(err, errno, "create mount point '%s'", name);
    close(fd);
    return 0;
}
