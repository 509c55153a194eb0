/* QEMU in its jail, the guest's channel and its VM_SETUP, and the scratch
 * VMs runrad boots for itself (vm-internal.h). */
#include "backend/vm/vm-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/mount.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/ns/handshake.h"
#include "backend/ns/spawn.h"
#include "backend/vm/vm.h"
#include "base/util.h"
#include "proto/frame.h"
#include "proto/msg.h"

/* A detached bind of path (read-only unless rw) for the jail. */
static int tree_fd(const char *path, bool rw, int *ret, struct runra_err **err)
{
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (fd < 0)
        return err_sys(err, errno, "open_tree %s", path);
    struct mount_attr attr = {
        .attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC |
                    (rw ? 0 : MOUNT_ATTR_RDONLY)};
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
        int r = err_sys(err, errno, "mount_setattr %s", path);
        close(fd);
        return r;
    }
    *ret = fd;
    return 0;
}

/* /dev/kvm and /dev/net/tun are root-owned, 0600 or 0660, on most hosts:
 * the jail gets a node of its own for the same device, owned by its root,
 * made in the sandbox's dir and bound (alone) into the jail, so it needs no
 * host group or capability. */
static int dev_node(const char *dir, const char *host_path, const char *name, uint32_t uid,
                    int *ret, struct runra_err **err)
{
    struct stat st;
    if (stat(host_path, &st) < 0 || !S_ISCHR(st.st_mode))
        return err_set(err, ENODEV, "%s is not a character device", host_path);
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    unlink(path);
    if (mknod(path, S_IFCHR | 0600, st.st_rdev) < 0 || chown(path, uid, uid) < 0)
        return err_sys(err, errno, "make %s", path);
    int fd = (int)syscall(SYS_open_tree, AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (fd < 0)
        return err_sys(err, errno, "open_tree %s", path);
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC};
    if (syscall(SYS_mount_setattr, fd, "", AT_EMPTY_PATH, &attr, sizeof(attr)) < 0) {
        int r = err_sys(err, errno, "mount_setattr %s", path);
        close(fd);
        return r;
    }
    *ret = fd;
    return 0;
}

/* Connects to the channel QEMU listens on (it appears a moment after QEMU
 * starts), watching the QEMU process. */
int vm_chan_connect(const char *path, int pidfd, uint64_t deadline, int *ret,
                        struct runra_err **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof(sa.sun_path))
        return err_set(err, ENAMETOOLONG, "socket path '%s' too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return err_sys(err, errno, "socket");
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
            *ret = fd;
            return 0;
        }
        int e = errno;
        close(fd);
        if (e != ENOENT && e != ECONNREFUSED)
            return err_sys(err, e, "connect to %s", path);
        struct pollfd pf = {.fd = pidfd, .events = POLLIN};
        if (pidfd >= 0 && poll(&pf, 1, 10) == 1)
            return err_set(err, ECHILD, "QEMU exited while starting");
        if (now_ms() >= deadline)
            return err_set(err, ETIMEDOUT, "QEMU did not open %s in time", path);
    }
}

/* The host's first frame on a connection: VM_SETUP. */
int vm_send_setup(int fd, const struct vm_setup_args *s, struct runra_err **err)
{
    struct vm_setup_msg m = {.image = s->image, .kind = s->kind};
    if (s->res) {
        m.memory_mb = s->res->memory_mb;
        m.pids = s->res->pids;
        m.cpu_milli = (uint32_t)(s->res->cpu * 1000 + 0.5);
    }
    snprintf(m.hostname, sizeof(m.hostname), "%s", s->id);
    snprintf(m.workdir, sizeof(m.workdir), "%s", s->workdir);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m.time_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (getrandom(m.seed, sizeof(m.seed), 0) != (ssize_t)sizeof(m.seed))
        return err_sys(err, errno, "getrandom");
    int r;
    _cleanup_free_ char *json = NULL;
    if ((r = msg_vm_setup_encode(&m, &json)) < 0)
        return err_sys(err, r, "encode VM_SETUP");
    r = frame_write(fd, FRAME_VM_SETUP, 0, json, strlen(json));
    return r < 0 ? err_sys(err, r, "send VM_SETUP") : 0;
}


/* Starts QEMU in its jail; *ret_pidfd watches it. */
int vm_launch(const struct launch *l, pid_t *ret_pid, int *ret_pidfd, struct runra_err **err)
{
    char cmdline[VM_CMDLINE_MAX];
    int r = vm_cmdline(vm_host.tsc_khz, l->id, NULL, cmdline, sizeof(cmdline), err);
    if (r < 0)
        return r;
    struct vm_spec vs = {
        .qemu = QEMU_PATH,
        .accel = l->accel,
        .machine = VM_MACHINE_MICROVM,
        .vcpus = l->vcpus,
        .memory_mb = l->memory_mb,
        .kernel = "/kernel/vmlinux",
        .initrd = "/initrd.img",
        .cmdline = cmdline,
        .channel = "/vm/chan.sock",
        .qmp = "/vm/qmp.sock",
        .console_log = "/vm/console.log",
        .incoming_fd = l->incoming_fd >= 0 ? FD_INCOMING : -1,
        .seccomp = true,
        .tap = VM_TAP,
        .mac = VM_MAC,
    };
    if (l->root_img) {
        vs.disks[0] = (struct vm_disk){.path = "/root.img", .serial = "root", .readonly = true};
        vs.disks[1] = (struct vm_disk){.path = "/vm/disk.img", .serial = "disk"};
        vs.ndisks = 2;
    }
    char **qargv = NULL;
    if ((r = vm_argv(&vs, &qargv, err)) < 0)
        return r;

    int fds[7] = {-1, -1, -1, -1, -1, -1, -1}, targets[7];
    size_t nfds = 0;
    const char *paths[6] = {l->vmdir, vm_host.kernel_dir, vm_host.initrd, l->root_img, NULL, NULL};
    const char *where[6] = {"/vm", "/kernel", "/initrd.img", "/root.img", "/dev/kvm",
                            "/dev/net/tun"};
    /* Every VM has its NIC (a template's snapshot must fit any sandbox);
     * runrad bridges its tap to a veth when the sandbox has a network. */
    char *jargv[64 + 160] = {"runra-init", "--vmm", "--dev", "null", "--dev", "zero",
                             "--dev", "urandom", "--dev", "random", "--tap", VM_TAP};
    size_t k = 12;
    char mspec[6][64];
    for (size_t i = 0; i < 6 && r >= 0; i++) {
        if (i == 4) {
            if (l->accel != VM_ACCEL_KVM)
                continue;
            r = dev_node(l->dir, "/dev/kvm", "kvm", l->uid_base, &fds[nfds], err);
        } else if (i == 5) {
            r = dev_node(l->dir, "/dev/net/tun", "tun", l->uid_base, &fds[nfds], err);
        } else if (!paths[i]) {
            continue;
        } else {
            r = tree_fd(paths[i], i == 0, &fds[nfds], err);
        }
        if (r < 0)
            break;
        targets[nfds] = FD_MOUNT0 + (int)nfds;
        snprintf(mspec[nfds], sizeof(mspec[nfds]), "%d:%s", targets[nfds], where[i]);
        jargv[k++] = "--mount";
        jargv[k++] = mspec[nfds];
        nfds++;
    }
    char keep[16];
    if (r >= 0 && l->incoming_fd >= 0) {
        fds[nfds] = l->incoming_fd;
        targets[nfds++] = FD_INCOMING;
        snprintf(keep, sizeof(keep), "%d", FD_INCOMING);
        jargv[k++] = "--keep-fd";
        jargv[k++] = keep;
    }
    size_t nq = 0;
    while (qargv[nq])
        nq++;
    if (r >= 0 && k + 1 + nq + 1 > ARRAY_SIZE(jargv))
        r = err_set(err, E2BIG, "QEMU's command line is too long");
    if (r >= 0) {
        jargv[k++] = "--";
        for (size_t i = 0; i < nq; i++)
            jargv[k++] = qargv[i];
        jargv[k] = NULL;
    }
    char logpath[PATH_MAX];
    snprintf(logpath, sizeof(logpath), "%s/qemu.log", l->dir);
    int logfd = r >= 0 ? open(logpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
    if (r >= 0 && logfd < 0)
        r = err_sys(err, errno, "create %s", logpath);
    if (r >= 0) {
        struct ns_spawn_args sa = {
            .init_path = vm_host.init,
            .argv = jargv,
            .listen_fd = -1,
            .listen_target = FD_LISTEN_SLOT,
            .uid_base = l->uid_base,
            .cg = l->cg,
            .extra_fds = fds,
            .extra_targets = targets,
            .nextra = nfds,
            .log_fd = logfd,
        };
        r = ns_spawn(&sa, ret_pid, ret_pidfd, err);
        if (r < 0)
            err_prefix(err, "start QEMU");
    }
    if (logfd >= 0)
        close(logfd);
    for (size_t i = 0; i < nfds; i++)
        if (fds[i] != l->incoming_fd)
            close(fds[i]);
    strv_free(qargv);
    return r;
}

/* The tail of a log, for an error message: the guest console or QEMU's
 * own output says why a boot failed. */
static void log_tail(const char *path, char *out, size_t n)
{
    out[0] = 0;
    /* QEMU owns the VM's dir: what it left there is read as a regular
     * file or not at all (no symlink out, no FIFO to block on). */
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0)
        return;
    off_t off = st.st_size > (off_t)(n - 1) ? st.st_size - (off_t)(n - 1) : 0;
    ssize_t got = pread(fd, out, n - 1, off);
    if (got <= 0)
        return;
    out[got] = 0;
    for (char *p = out; *p; p++)
        if (*p == '\n' || *p == '\r' || (unsigned char)*p < 0x20)
            *p = ' ';
}

int vm_boot_error(const char *dir, const char *vmdir, int r, struct runra_err **err)
{
    char path[PATH_MAX], tail[240];
    snprintf(path, sizeof(path), "%s/qemu.log", dir);
    log_tail(path, tail, sizeof(tail));
    if (!tail[0]) {
        snprintf(path, sizeof(path), "%s/console.log", vmdir);
        log_tail(path, tail, sizeof(tail));
    }
    if (tail[0])
        err_prefix(err, "(last output: ...%s)", tail);
    return r;
}

/* Connects to the guest's channel, says VM_SETUP and waits for HELLO. */
int vm_handshake(const char *vmdir, int pidfd, const struct vm_setup_args *s, uint64_t timeout_ms,
                 int *ret_fd, struct runra_err **err)
{
    char chan[PATH_MAX];
    snprintf(chan, sizeof(chan), "%s/chan.sock", vmdir);
    uint64_t deadline = now_ms() + timeout_ms;
    _cleanup_close_ int fd = -1;
    int r = vm_chan_connect(chan, pidfd, deadline, &fd, err);
    if (r >= 0)
        r = vm_send_setup(fd, s, err);
    if (r >= 0)
        r = ns_sock_first_frame(fd, pidfd, deadline, NULL, err);
    if (r < 0)
        return r;
    *ret_fd = TAKE_FD(fd);
    return 0;
}


int vm_scratch_begin(const char *pattern, const struct sandbox_resources *res,
                         struct vm_scratch *sc, struct runra_err **err)
{
    *sc = (struct vm_scratch){.uid = 0x7ff00000u, .pid = -1, .pidfd = -1, .fd = -1};
    snprintf(sc->dir, sizeof(sc->dir), "%s/%s", vm_host.cache, pattern);
    if (!mkdtemp(sc->dir)) {
        sc->dir[0] = 0;
        return err_sys(err, errno, "mkdtemp %s/%s", vm_host.cache, pattern);
    }
    snprintf(sc->vmdir, sizeof(sc->vmdir), "%s/vm", sc->dir);
    char cgid[32] = "vmscratch-";
    int r = random_hex(cgid + 10, 12);
    if (r < 0)
        return err_sys(err, r, "random id");
    if ((r = vm_mkdir_owned(sc->vmdir, 0700, sc->uid, err)) < 0)
        return r;
    return ns_cgroup_create(vm_host.cg, cgid, res, &sc->cg, err);
}

void vm_scratch_end(struct vm_scratch *sc)
{
    if (sc->fd >= 0)
        close(sc->fd);
    if (sc->pidfd >= 0) {
        ns_spawn_kill(sc->pidfd, KILL_TIMEOUT_MS);
        close(sc->pidfd);
    }
    if (sc->cg)
        ns_cgroup_destroy(sc->cg, NULL);
    if (sc->dir[0])
        rm_rf(sc->dir);
}

/* Boots a guest with no disks and waits for its HELLO: does this
 * acceleration work here? */
int vm_boot_probe(enum vm_accel accel, uint64_t timeout_ms, struct runra_err **err)
{
    struct vm_scratch sc;
    struct sandbox_resources res = {.cpu = 1, .memory_mb = 128 + VMM_OVERHEAD_MB,
                                    .pids = VMM_PIDS};
    int r = vm_scratch_begin("probe.XXXXXX", &res, &sc, err);
    if (r >= 0) {
        struct launch l = {.id = "probe", .dir = sc.dir, .vmdir = sc.vmdir, .uid_base = sc.uid,
                           .accel = accel, .vcpus = 1, .memory_mb = 128, .cg = sc.cg,
                           .incoming_fd = -1};
        r = vm_launch(&l, &sc.pid, &sc.pidfd, err);
    }
    struct vm_setup_args setup = {.id = "probe", .workdir = "/", .kind = VM_SETUP_PROBE};
    if (r >= 0 && (r = vm_handshake(sc.vmdir, sc.pidfd, &setup, timeout_ms, &sc.fd, err)) < 0)
        vm_boot_error(sc.dir, sc.vmdir, r, err);
    vm_scratch_end(&sc);
    return r;
}
