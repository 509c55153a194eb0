/* runra-init --vmm: the jail a VM's QEMU runs in (VM backend). The daemon
 * starts runra-init with ns_spawn, as for an ns sandbox (fresh user, mount,
 * pid, net, uts and ipc namespaces, mapped to the sandbox's uid range, in
 * the sandbox's cgroup); this sets up the smallest filesystem QEMU can run
 * in and execs it with no capabilities at all:
 *   /usr (+ the host's /bin, /lib... links)  read-only, for QEMU and its libraries
 *   /etc/ld.so.cache                          read-only, for the loader
 *   /dev/{null,zero,random,urandom}           bound from the host
 *   /dev/kvm (with KVM)                       a node of its own, owned by QEMU
 *   /dev/net/tun                              the same, for the tap made here (--tap)
 *   /proc                                     QEMU's own pid namespace
 *   the daemon's mounts (--mount FD:TARGET)   the VM's dir, kernel, image disk
 * So an escape from the guest into QEMU lands in a sandbox with nothing of
 * the host's but read-only programs, and no way to the daemon but the VM's
 * own sockets. */
#include "vmm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/if_tun.h>
#include <linux/mount.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/ns/mnt.h"
#include "base/util.h"

#define VMM_MOUNTS_MAX 8
#define VMM_DEVS_MAX 8
#define RO_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)

/* Devices QEMU may be given, nothing else. */
static const char *const dev_allowed[] = {"null", "zero", "random", "urandom"};

struct vmm_opts {
    int mount_fds[VMM_MOUNTS_MAX];
    const char *mount_targets[VMM_MOUNTS_MAX];
    size_t nmounts;
    const char *devs[VMM_DEVS_MAX];
    size_t ndevs;
    int keep_fd; /* an fd QEMU inherits (-incoming fd:N), or -1 */
    const char *tap; /* a tap device to make for QEMU's NIC, or NULL */
    char **qemu_argv;
};

bool vmm_is_jail(int argc, char **argv) { return argc > 1 && !strcmp(argv[1], "--vmm"); }

static bool dev_ok(const char *d)
{
    for (size_t i = 0; i < ARRAY_SIZE(dev_allowed); i++)
        if (!strcmp(d, dev_allowed[i]))
            return true;
    return false;
}

static int parse(int argc, char **argv, struct vmm_opts *o, struct runra_err **err)
{
    int i = 2;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        const char *a = argv[i];
        if (i + 1 >= argc)
            return err_set(err, EINVAL, "option '%s' needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--dev")) {
            if (o->ndevs == VMM_DEVS_MAX || !dev_ok(v))
                return err_set(err, EINVAL, "bad --dev '%s'", v);
            o->devs[o->ndevs++] = v;
        } else if (!strcmp(a, "--tap")) {
            if (o->tap || !*v || strlen(v) >= IFNAMSIZ || strpbrk(v, "/ \t\n:"))
                return err_set(err, EINVAL, "bad --tap '%s'", v);
            o->tap = v;
        } else if (!strcmp(a, "--keep-fd")) {
            uint64_t fd;
            if (parse_u64(v, &fd) < 0 || fd < 3 || fd > 1023 || o->keep_fd >= 0)
                return err_set(err, EINVAL, "bad --keep-fd '%s'", v);
            o->keep_fd = (int)fd;
        } else if (!strcmp(a, "--mount")) {
            uint64_t fd;
            const char *colon = strchr(v, ':');
            char num[16];
            if (!colon || (size_t)(colon - v) >= sizeof(num) || colon[1] != '/' ||
                o->nmounts == VMM_MOUNTS_MAX)
                return err_set(err, EINVAL, "bad --mount '%s'", v);
            memcpy(num, v, (size_t)(colon - v));
            num[colon - v] = 0;
            if (parse_u64(num, &fd) < 0 || fd < 3 || fd > 1023 || strstr(colon, "/.."))
                return err_set(err, EINVAL, "bad --mount '%s'", v);
            o->mount_fds[o->nmounts] = (int)fd;
            o->mount_targets[o->nmounts++] = colon + 1;
        } else {
            return err_set(err, EINVAL, "unknown option '%s'", a);
        }
    }
    if (i + 1 >= argc || argv[i + 1][0] != '/')
        return err_set(err, EINVAL, "usage: runra-init --vmm [options] -- /path/to/qemu ARGS");
    o->qemu_argv = argv + i + 1;
    return 0;
}

/* mkdir -p beneath rootfd (no symlinks: the tree is ours and fresh). */
static int mkdirs_at(int rootfd, const char *path, struct runra_err **err)
{
    char buf[256];
    if (snprintf(buf, sizeof(buf), "%s", path[0] == '/' ? path + 1 : path) >= (int)sizeof(buf))
        return err_set(err, ENAMETOOLONG, "path '%s'", path);
    for (char *p = buf;; p++) {
        if (*p != '/' && *p)
            continue;
        char c = *p;
        *p = 0;
        if (mkdirat(rootfd, buf, 0755) < 0 && errno != EEXIST)
            return err_sys(err, errno, "mkdir /%s", buf);
        if (!c)
            return 0;
        *p = c;
    }
}

/* The parent dirs of a file target, and the file itself to mount on. */
static int file_point(int rootfd, const char *path, struct runra_err **err)
{
    char dir[256];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        int r = mkdirs_at(rootfd, dir, err);
        if (r < 0)
            return r;
    }
    return ns_mnt_touch(rootfd, path[0] == '/' ? path + 1 : path, err);
}

static int host_tops(int rootfd, struct runra_err **err)
{
    static const char *const tops[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};
    for (size_t i = 0; i < ARRAY_SIZE(tops); i++) {
        char host[16], target[256];
        snprintf(host, sizeof(host), "/%s", tops[i]);
        struct stat st;
        if (lstat(host, &st) < 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t n = readlink(host, target, sizeof(target) - 1);
            if (n < 0)
                return err_sys(err, errno, "readlink %s", host);
            target[n] = 0;
            if (symlinkat(target, rootfd, tops[i]) < 0)
                return err_sys(err, errno, "symlink /%s", tops[i]);
        } else if (S_ISDIR(st.st_mode)) {
            int r = mkdirs_at(rootfd, tops[i], err);
            if (r >= 0)
                r = ns_mnt_bind(host, rootfd, host, true, RO_ATTRS, err);
            if (r < 0)
                return r;
        }
    }
    return 0;
}

static int build(const struct vmm_opts *o, struct runra_err **err)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return err_sys(err, errno, "make mounts private");
    /* The new root: a small tmpfs, attached over /tmp of this namespace's
     * copy of the host tree until pivot_root leaves that tree behind. */
    static const char *const topts[] = {"mode=0755", "size=1m", NULL};
    _cleanup_close_ int tmpfs = -1;
    int r = ns_mnt_fresh("tmpfs", topts, MOUNT_ATTR_NOSUID, &tmpfs, err);
    if (r < 0)
        return r;
    if (syscall(SYS_move_mount, tmpfs, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return err_sys(err, errno, "attach the jail's root");
    _cleanup_close_ int rootfd = open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return err_sys(err, errno, "open the jail's root");

    if ((r = mkdirs_at(rootfd, "usr", err)) < 0 ||
        (r = ns_mnt_bind("/usr", rootfd, "/usr", true, RO_ATTRS, err)) < 0 ||
        (r = host_tops(rootfd, err)) < 0)
        return r;
    if (access("/etc/ld.so.cache", R_OK) == 0 &&
        ((r = file_point(rootfd, "/etc/ld.so.cache", err)) < 0 ||
         (r = ns_mnt_bind("/etc/ld.so.cache", rootfd, "/etc/ld.so.cache", false, RO_ATTRS, err)) <
             0))
        return r;
    static const char *const dopts[] = {"mode=0755", "size=64k", NULL};
    _cleanup_close_ int devfs = -1;
    if ((r = mkdirs_at(rootfd, "dev", err)) < 0 ||
        (r = ns_mnt_fresh("tmpfs", dopts, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC, &devfs, err)) < 0 ||
        (r = ns_mnt_attach(devfs, rootfd, "/dev", err)) < 0)
        return r;
    for (size_t i = 0; i < o->ndevs; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/dev/%s", o->devs[i]);
        if ((r = file_point(rootfd, path, err)) < 0 ||
            (r = ns_mnt_bind(path, rootfd, path, false, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
                             err)) < 0)
            return r;
    }
    static const char *const popts[] = {NULL};
    _cleanup_close_ int procfs = -1;
    if ((r = mkdirs_at(rootfd, "proc", err)) < 0 ||
        (r = ns_mnt_fresh("proc", popts,
                          MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, &procfs,
                          err)) < 0 ||
        (r = ns_mnt_attach(procfs, rootfd, "/proc", err)) < 0)
        return r;
    for (size_t i = 0; i < o->nmounts; i++) {
        struct stat st;
        if (fstat(o->mount_fds[i], &st) < 0)
            return err_sys(err, errno, "mount fd %d", o->mount_fds[i]);
        r = S_ISDIR(st.st_mode) ? mkdirs_at(rootfd, o->mount_targets[i], err)
                                : file_point(rootfd, o->mount_targets[i], err);
        if (r >= 0)
            r = ns_mnt_attach(o->mount_fds[i], rootfd, o->mount_targets[i], err);
        if (r < 0)
            return r;
    }
    /* Into the jail; the host tree goes. */
    if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
        return err_sys(err, errno, "pivot_root into the jail");
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL) < 0)
        return err_sys(err, errno, "make the jail's root read-only");
    return 0;
}

/* The VM's NIC: a tap in this network namespace, made while this process
 * still has CAP_NET_ADMIN over it, persistent and owned by the uid QEMU
 * runs as, so QEMU (with no capabilities) can attach to it by name and to
 * nothing else. The namespace, and the tap with it, ends with QEMU. runrad
 * bridges it to the sandbox's veth when the sandbox has a network. */
static int make_tap(const char *name, struct runra_err **err)
{
    _cleanup_close_ int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return err_sys(err, errno, "open /dev/net/tun");
    struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0)
        return err_sys(err, errno, "make tap %s", name);
    if (ioctl(fd, TUNSETOWNER, (unsigned long)geteuid()) < 0 ||
        ioctl(fd, TUNSETPERSIST, 1UL) < 0)
        return err_sys(err, errno, "tap %s for QEMU", name);
    return 0;
}

/* No capability survives the exec: the bounding set is emptied, so root of
 * this user namespace execs QEMU with nothing. */
static int drop_all(struct runra_err **err)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return err_sys(err, errno, "PR_SET_NO_NEW_PRIVS");
    for (int cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            return err_sys(err, errno, "drop cap %d", cap);
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
    struct __user_cap_data_struct data[2] = {{0}, {0}};
    if (syscall(SYS_capset, &hdr, data) < 0)
        return err_sys(err, errno, "capset");
    return 0;
}

int vmm_main(int argc, char **argv)
{
    _cleanup_err_ struct runra_err *err = NULL;
    struct vmm_opts o = {.keep_fd = -1};
    int r = parse(argc, argv, &o, &err);
    if (r >= 0)
        r = build(&o, &err);
    for (size_t i = 0; i < o.nmounts; i++)
        close(o.mount_fds[i]);
    if (r >= 0 && o.tap)
        r = make_tap(o.tap, &err);
    if (r >= 0)
        r = drop_all(&err);
    if (r < 0) {
        fprintf(stderr, "runra-init --vmm: %s\n", err && err->msg ? err->msg : strerror(-r));
        return 1;
    }
    /* QEMU gets stdio (the daemon's /dev/null and log), a snapshot to
     * start from, and nothing else. */
    if (o.keep_fd >= 0) {
        if (o.keep_fd > 3)
            syscall(SYS_close_range, 3, (unsigned)o.keep_fd - 1, 0);
        syscall(SYS_close_range, (unsigned)o.keep_fd + 1, ~0U, 0);
        fcntl(o.keep_fd, F_SETFD, 0);
    } else {
        syscall(SYS_close_range, 3, ~0U, 0);
    }
    char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    execve(o.qemu_argv[0], o.qemu_argv, envp);
    fprintf(stderr, "runra-init --vmm: exec %s: %s\n", o.qemu_argv[0], strerror(errno));
    return 127;
}
