/* Host directories bound into a sandbox (see idmap.h). The daemon makes each
 * mount, since an idmapped mount needs CAP_SYS_ADMIN where the host file
 * system lives; runra-init only attaches it inside. The idmapping comes from
 * a user namespace made for the purpose by a raw clone (the daemon is
 * multithreaded, so the child makes raw syscalls only), whose maps the
 * parent writes as real root. */
#include "backend/ns/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"

static int write_map(pid_t pid, const char *file, uint32_t inside, uint32_t outside,
                     uint32_t count, struct runra_err **err)
{
    char path[64], line[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    int n = snprintf(line, sizeof(line), "%u %u %u\n", inside, outside, count);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, line, (size_t)n) != n)
        return err_sys(err, errno, "write %s", path);
    return 0;
}

/* A user namespace mapping host uid (gid) owner to sandbox_root: files the
 * host's owner has show up as the sandbox's root's, and what the sandbox's
 * root writes lands on the host as the owner's. */
static int idmap_userns(uid_t uid, gid_t gid, uint32_t sandbox_root, uint32_t count,
                        int *ret_fd, struct runra_err **err)
{
    /* The child only waits to be killed: it holds a copy of every fd of
     * the daemon (no exec, so CLOEXEC never fires), and waiting for an EOF
     * would deadlock with another thread's child holding our pipe. */
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0) {
        for (;;)
            syscall(SYS_pause);
    }
    if (pid < 0)
        return err_sys(err, errno, "clone a user namespace for an idmapped mount");
    int r = write_map((pid_t)pid, "uid_map", uid, sandbox_root, count, err);
    if (r >= 0)
        r = write_map((pid_t)pid, "gid_map", gid, sandbox_root, count, err);
    int fd = -1;
    if (r >= 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/ns/user", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            r = err_sys(err, errno, "open %s", path);
    }
    kill((pid_t)pid, SIGKILL);
    while (waitpid((pid_t)pid, NULL, __WALL) < 0 && errno == EINTR)
        ;
    if (r < 0)
        return r;
    *ret_fd = fd;
    return 0;
}

/* (dev, ino) of path, following it (the daemon's own paths are trusted). */
static bool id_of(const char *path, dev_t *dev, ino_t *ino)
{
    struct stat st;
    if (stat(path, &st) < 0)
        return false;
    *dev = st.st_dev;
    *ino = st.st_ino;
    return true;
}

/* EPERM when the directory (or file) open as srcfd holds one of forbid or
 * lies inside one of them: compared by inode, so no spelling, symlink or
 * bind mount of a path gets around it. */
static int check_forbidden(int srcfd, const struct stat *src, const char *source,
                           const char *const *forbid, struct runra_err **err)
{
    for (size_t i = 0; forbid && forbid[i]; i++) {
        char path[PATH_MAX];
        if (!realpath(forbid[i], path))
            continue;
        /* forbid[i] and each directory above it: none may be the source. */
        for (;;) {
            dev_t d;
            ino_t n;
            if (id_of(path, &d, &n) && d == src->st_dev && n == src->st_ino)
                return err_set(err, EPERM, "mount source '%s' would expose runrad's own state "
                                           "(%s)", source, forbid[i]);
            char *slash = strrchr(path, '/');
            if (!slash || slash == path) {
                if (!strcmp(path, "/"))
                    break;
                snprintf(path, sizeof(path), "/");
                continue;
            }
            *slash = 0;
        }
        /* The source and each directory above it: none may be forbid[i]. */
        dev_t fd_dev;
        ino_t fd_ino;
        if (!id_of(forbid[i], &fd_dev, &fd_ino))
            continue;
        _cleanup_close_ int cur = fcntl(srcfd, F_DUPFD_CLOEXEC, 3);
        for (int depth = 0; cur >= 0 && depth < 4096; depth++) {
            struct stat st;
            if (fstat(cur, &st) < 0)
                break;
            if (st.st_dev == fd_dev && st.st_ino == fd_ino)
                return err_set(err, EPERM, "mount source '%s' lies inside runrad's own state "
                                           "(%s)", source, forbid[i]);
            int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (up < 0)
                break;
            struct stat ust;
            bool top = fstat(up, &ust) == 0 && ust.st_dev == st.st_dev && ust.st_ino == st.st_ino;
            close(cur);
            cur = up;
            if (top)
                break;
        }
    }
    return 0;
}

int ns_idmap_mount(const char *source, bool readonly, uint32_t sandbox_root,
                   const char *const *forbid, int *ret_fd, struct runra_err **err)
{
    /* Opened once, with no symlink anywhere on the way, and everything
     * after works on this fd: what was checked is what gets mounted. */
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
    _cleanup_close_ int src = (int)syscall(SYS_openat2, AT_FDCWD, source, &how, sizeof(how));
    if (src < 0)
        return err_sys(err, errno, "mount source '%s' (symlinks on its path are not followed)",
                       source);
    struct stat st;
    if (fstat(src, &st) < 0)
        return err_sys(err, errno, "mount source '%s'", source);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return err_set(err, EINVAL, "mount source '%s' is not a directory or a file", source);
    /* What the sandbox's root writes lands on the host as the source's
     * owner: for a root-owned source that would be root-owned, setuid or
     * file-capability files a host user could run. */
    if (!readonly && (st.st_uid == 0 || st.st_gid == 0))
        return err_set(err, EPERM,
                       "a read-write mount of '%s', which root owns, would let the sandbox "
                       "create root-owned (and setuid) files on the host: mount it readOnly, "
                       "or a directory a user owns",
                       source);
    int r = check_forbidden(src, &st, source, forbid, err);
    if (r < 0)
        return r;
    _cleanup_close_ int userns = -1;
    r = idmap_userns(st.st_uid, st.st_gid, sandbox_root, 1, &userns, err);
    if (r < 0)
        return r;
    /* Not recursive: what is mounted beneath source on the host (another
     * file system, perhaps the host's secrets) stays out. */
    _cleanup_close_ int fd =
        open_tree(src, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (fd < 0)
        return err_sys(err, errno, "open_tree '%s'", source);
    struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                       (readonly ? MOUNT_ATTR_RDONLY : 0),
                           .userns_fd = (uint64_t)userns};
    if (mount_setattr(fd, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
        return err_sys(err, errno, "idmapped mount of '%s' (the file system may not support "
                                   "idmapped mounts)",
                       source);
    *ret_fd = TAKE_FD(fd);
    return 0;
}

int ns_idmap_layers(const char *dir, uint32_t sandbox_root, int *ret_fd, struct runra_err **err)
{
    /* The daemon's own directory (0700, in its state dir): trusted. */
    _cleanup_close_ int src = open(dir, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0)
        return err_sys(err, errno, "layer store '%s'", dir);
    _cleanup_close_ int userns = -1;
    int r = idmap_userns(0, 0, sandbox_root, NS_IDMAP_LAYER_IDS, &userns, err);
    if (r < 0)
        return r;
    _cleanup_close_ int fd =
        open_tree(src, "", AT_EMPTY_PATH | OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (fd < 0)
        return err_sys(err, errno, "open_tree '%s'", dir);
    /* Read-only, so no sandbox can change what another one stacks on; no
     * setuid and no devices beyond the overlay's whiteouts (which are
     * never opened, only seen). */
    struct mount_attr a = {.attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                       MOUNT_ATTR_NODEV,
                           .userns_fd = (uint64_t)userns};
    if (mount_setattr(fd, "", AT_EMPTY_PATH, &a, sizeof(a)) < 0)
        return err_sys(err, errno, "idmapped mount of the layer store '%s' (its file system "
                                   "must support idmapped mounts)",
                       dir);
    *ret_fd = TAKE_FD(fd);
    return 0;
}
