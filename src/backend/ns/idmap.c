/* Host directories bound into a sandbox (see idmap.h). The daemon makes each
 * mount, since an idmapped mount needs CAP_SYS_ADMIN where the host file
 * system lives; runra-init only attaches it inside. The idmapping comes from
 * a user namespace made for the purpose by a raw clone (the daemon is
 * multithreaded, so the child makes raw syscalls only), whose maps the
 * parent writes as real root. */
#include "backend/ns/idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/util.h"

static int write_map(pid_t pid, const char *file, uint32_t inside, uint32_t outside,
                     struct runra_err **err)
{
    char path[64], line[64];
    snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
    int n = snprintf(line, sizeof(line), "%u %u 1\n", inside, outside);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, line, (size_t)n) != n)
        return err_sys(err, errno, "write %s", path);
    return 0;
}

/* A user namespace mapping host uid (gid) owner to sandbox_root: files the
 * host's owner has show up as the sandbox's root's, and what the sandbox's
 * root writes lands on the host as the owner's. */
static int idmap_userns(uid_t uid, gid_t gid, uint32_t sandbox_root, int *ret_fd,
                        struct runra_err **err)
{
    int hold[2];
    if (pipe2(hold, O_CLOEXEC) < 0)
        return err_sys(err, errno, "pipe");
    long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, NULL, NULL, NULL, 0);
    if (pid == 0) {
        /* Wait for the parent to be done with our namespace, then go. */
        char b;
        syscall(SYS_close, hold[1]);
        syscall(SYS_read, hold[0], &b, 1);
        syscall(SYS_exit_group, 0);
    }
    close(hold[0]);
    if (pid < 0) {
        int r = err_sys(err, errno, "clone a user namespace for an idmapped mount");
        close(hold[1]);
        return r;
    }
    int r = write_map((pid_t)pid, "uid_map", uid, sandbox_root, err);
    if (r >= 0)
        r = write_map((pid_t)pid, "gid_map", gid, sandbox_root, err);
    int fd = -1;
    if (r >= 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%ld/ns/user", pid);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            r = err_sys(err, errno, "open %s", path);
    }
    close(hold[1]);
    while (waitpid((pid_t)pid, NULL, __WALL) < 0 && errno == EINTR)
        ;
    if (r < 0)
        return r;
    *ret_fd = fd;
    return 0;
}

int ns_idmap_mount(const char *source, bool readonly, uint32_t sandbox_root, int *ret_fd,
                   struct runra_err **err)
{
    struct stat st;
    if (stat(source, &st) < 0)
        return err_sys(err, errno, "mount source '%s'", source);
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
        return err_set(err, EINVAL, "mount source '%s' is not a directory or a file", source);
    _cleanup_close_ int userns = -1;
    int r = idmap_userns(st.st_uid, st.st_gid, sandbox_root, &userns, err);
    if (r < 0)
        return r;
    /* Not recursive: what is mounted beneath source on the host (another
     * file system, perhaps the host's secrets) stays out. */
    _cleanup_close_ int fd = open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
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
