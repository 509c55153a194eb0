/* The VM backend's ops table (see backend.h and docs/design.md). A box is a
 * QEMU process jailed by runra-init --vmm (ns_spawn's namespaces, mapped
 * to the sandbox's uid range, in the sandbox's cgroup), booting runra's
 * guest kernel with runra-init as init, over:
 *   root.img   the image's tree (or the host's), read-only, shared by all
 *              VMs of that image (cache/roots/KEY.ext4)
 *   disk.img   the sandbox's own writable ext4 of diskMb (dir/vm)
 * and speaking the guest protocol on a virtio-serial port whose host end is
 * the unix socket dir/vm/chan.sock. The host-wide pieces (the kernel, the
 * initramfs, the acceleration in use) are prepared once, on first use. */
#include "backend/vm/vm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <linux/mount.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/ns/cgroup.h"
#include "backend/ns/disk.h"
#include "backend/ns/handshake.h"
#include "backend/ns/spawn.h"
#include "backend/vm/argv.h"
#include "backend/vm/host.h"
#include "backend/vm/initrd.h"
#include "backend/vm/qmp.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"
#include "proto/frame.h"
#include "proto/msg.h"

#define QEMU_PATH "/usr/bin/qemu-system-x86_64"
#define KILL_TIMEOUT_MS 10000
/* Boot to HELLO: about 2 s under TCG here, well under 1 s with KVM; the
 * margin is for a loaded host. */
#define BOOT_TIMEOUT_TCG_MS 90000
#define BOOT_TIMEOUT_KVM_MS 30000
#define PROBE_TIMEOUT_KVM_MS 8000
/* What QEMU itself needs beyond the guest's RAM (its code, device state,
 * TCG's translation cache), counted in the VM's cgroup limit. */
#define VMM_OVERHEAD_MB 256
/* Guest RAM beyond memoryMb: its kernel, page tables, runra-init. */
#define VM_GUEST_KERNEL_MB 128
#define VMM_PIDS 256
/* Fd numbers in the jail (ns_spawn's targets): 3 is the unused listen slot. */
#define FD_LISTEN_SLOT 3
#define FD_MOUNT0 4
#define FD_INCOMING 10 /* a snapshot to start from (after the mounts' fds) */
#define QMP_TIMEOUT_MS 10000
#define RESTORE_TIMEOUT_MS 60000
#define VM_DIR_MAX 1024

static struct {
    pthread_mutex_t lock; /* preparation and root-disk builds */
    /* Shorter than PATH_MAX, so what is made from them always fits. */
    char cache[VM_DIR_MAX]; /* kernel, initramfs, root disks */
    char tools[VM_DIR_MAX]; /* where runra-vm-kernel and runra-vm-rootfs are */
    char init[VM_DIR_MAX];  /* runra-init */
    bool configured;
    bool templates;
    /* Prepared on first use, under lock. */
    bool prepared;
    char kernel_dir[VM_DIR_MAX + 16];
    char initrd[VM_DIR_MAX + 32];
    char mkfs[PATH_MAX];
    enum ns_cgroup_mode cg;
    enum vm_accel accel;
    uint64_t tsc_khz;
    char accel_note[160];
} host = {.lock = PTHREAD_MUTEX_INITIALIZER};

struct box {
    char *id;
    char *dir;   /* the sandbox's dir (the daemon's) */
    char *vmdir; /* dir/vm: what the jail sees as /vm */
    char *root;  /* the root disk in the cache */
    pid_t pid;   /* QEMU's host pid; -1 while suspended */
    int pidfd;
    struct ns_cgroup *cg;
    /* What QEMU was started with: a resume starts it the same way. */
    uint32_t uid_base;
    enum vm_accel accel;
    unsigned vcpus;
    uint64_t memory_mb;
};

static int box_save(const struct box *b, struct runra_err **err);
struct launch;
static int restore(const struct launch *l, uint64_t disk_mb, const char *workdir, bool image,
                   const struct sandbox_resources *res, pid_t *ret_pid, int *ret_pidfd,
                   int *ret_fd, struct runra_err **err);
static int template_get(const char *root, uint64_t guest_mb, unsigned vcpus, enum vm_accel accel,
                        char *out, size_t n, struct runra_err **err);

void vm_backend_configure(const char *cache_dir, const char *init_path, bool templates)
{
    host.templates = templates;
    if (strlen(cache_dir) >= VM_DIR_MAX || strlen(init_path) >= VM_DIR_MAX)
        return; /* not configured: available() says so */
    snprintf(host.cache, sizeof(host.cache), "%s", cache_dir);
    snprintf(host.init, sizeof(host.init), "%s", init_path);
    snprintf(host.tools, sizeof(host.tools), "%s", init_path);
    char *slash = strrchr(host.tools, '/');
    if (slash)
        *slash = 0;
    host.configured = true;
}

static int vm_available(struct runra_err **err)
{
    if (!host.configured)
        return err_set(err, ENOSYS, "the vm backend is not configured in this runrad");
    if (access(QEMU_PATH, X_OK) < 0)
        return err_set(err, ENOSYS,
                       "the vm backend needs QEMU (%s): apt-get install qemu-system-x86",
                       QEMU_PATH);
    struct stat st;
    if (stat("/dev/net/tun", &st) < 0 || !S_ISCHR(st.st_mode))
        return err_set(err, ENOSYS, "the vm backend needs /dev/net/tun (the tun module) for "
                                    "the VMs' network devices");
    enum ns_cgroup_mode cg;
    return ns_cgroup_detect(&cg, err);
}

const char *vm_backend_accel(void)
{
    pthread_mutex_lock(&host.lock);
    const char *a = !host.prepared ? NULL : host.accel == VM_ACCEL_KVM ? "kvm" : "tcg";
    pthread_mutex_unlock(&host.lock);
    return a;
}


static int mkdir_owned(const char *path, mode_t mode, uid_t uid, struct runra_err **err)
{
    if (mkdir(path, mode) < 0 && errno != EEXIST)
        return err_sys(err, errno, "mkdir %s", path);
    if (chown(path, uid, uid) < 0 || chmod(path, mode) < 0)
        return err_sys(err, errno, "chown %s", path);
    return 0;
}

/* The initramfs is named after the runra-init it carries, so daemons of
 * different builds sharing a cache never boot each other's. */
static int initrd_path(char *out, size_t n, struct runra_err **err)
{
    struct stat st;
    if (stat(host.init, &st) < 0)
        return err_sys(err, errno, "runra-init '%s'", host.init);
    char id[128];
    snprintf(id, sizeof(id), "%llu:%llu:%lld:%lld", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtime);
    char hex[2 * SHA256_LEN + 1];
    sha256_hex(id, strlen(id), hex);
    int k = snprintf(out, n, "%s/initrd-%.12s.img", host.cache, hex);
    return k < 0 || (size_t)k >= n ? err_set(err, ENAMETOOLONG, "cache path too long") : 0;
}

static int boot_probe(enum vm_accel accel, uint64_t timeout_ms, struct runra_err **err);

/* Everything a first VM needs, once: the kernel (fetched from Debian's
 * archive on first use), the initramfs, and which acceleration works. */
static int prepare_locked(struct runra_err **err)
{
    if (host.prepared)
        return 0;
    int r = vm_available(err);
    if (r < 0)
        return r;
    if ((r = ns_cgroup_detect(&host.cg, err)) < 0)
        return r;
    bool loop_ok;
    ns_disk_probe(host.mkfs, sizeof(host.mkfs), &loop_ok);
    if (!host.mkfs[0])
        return err_set(err, ENOSYS, "the vm backend needs mkfs.ext4 (e2fsprogs)");
    if ((r = mkdir_p(host.cache, 0700)) < 0)
        return err_sys(err, r, "create %s", host.cache);
    snprintf(host.kernel_dir, sizeof(host.kernel_dir), "%s/kernel", host.cache);
    char vmlinux[PATH_MAX];
    snprintf(vmlinux, sizeof(vmlinux), "%s/vmlinux", host.kernel_dir);
    if (access(vmlinux, R_OK) < 0) {
        char tool[PATH_MAX];
        snprintf(tool, sizeof(tool), "%s/runra-vm-kernel", host.tools);
        log_info("event=vm.kernel.fetch dir=%s", host.kernel_dir);
        char *const argv[] = {tool, host.kernel_dir, NULL};
        if ((r = ns_run_tool(argv, err)) < 0)
            return err_prefix(err, "get the guest kernel");
    }
    if ((r = initrd_path(host.initrd, sizeof(host.initrd), err)) < 0)
        return r;
    if (access(host.initrd, R_OK) < 0 &&
        (r = vm_initrd_build(host.kernel_dir, host.init, host.initrd, err)) < 0)
        return err_prefix(err, "build the initramfs");
    host.tsc_khz = vm_host_tsc_khz();
    /* KVM only where a guest actually boots on it: /dev/kvm can be there
     * and still not run a stock kernel (PVM, nested setups). */
    host.accel = VM_ACCEL_TCG;
    snprintf(host.accel_note, sizeof(host.accel_note), "no /dev/kvm");
    if (access("/dev/kvm", R_OK | W_OK) == 0) {
        _cleanup_err_ struct runra_err *pe = NULL;
        if (boot_probe(VM_ACCEL_KVM, PROBE_TIMEOUT_KVM_MS, &pe) >= 0) {
            host.accel = VM_ACCEL_KVM;
            host.accel_note[0] = 0;
        } else {
            snprintf(host.accel_note, sizeof(host.accel_note), "KVM did not boot a guest: %s",
                     pe && pe->msg ? pe->msg : "failed");
        }
    }
    log_info("event=vm.ready accel=%s kernel=%s%s%s", host.accel == VM_ACCEL_KVM ? "kvm" : "tcg",
             host.kernel_dir, host.accel_note[0] ? " note=" : "", host.accel_note);
    host.prepared = true;
    return 0;
}

static int prepare(struct runra_err **err)
{
    pthread_mutex_lock(&host.lock);
    int r = prepare_locked(err);
    pthread_mutex_unlock(&host.lock);
    return r;
}

int vm_backend_prepare(struct runra_err **err) { return prepare(err); }

/* The cache's name for a root disk: the host's tree (keyed by the state
 * of its packages, so an upgrade makes a new one) or a stack of layers. */
static int root_key(const struct backend_create_args *a, char *out, size_t n)
{
    char id[256];
    uint8_t dg[SHA256_LEN];
    if (!a->layers_dir) {
        struct stat st = {0}, lst = {0};
        stat("/var/lib/dpkg/status", &st);
        stat("/usr/local", &lst);
        snprintf(id, sizeof(id), "host:%lld.%ld:%lld:%lld.%ld", (long long)st.st_mtim.tv_sec,
                 st.st_mtim.tv_nsec, (long long)st.st_size, (long long)lst.st_mtim.tv_sec,
                 lst.st_mtim.tv_nsec);
        struct sha256 c;
        sha256_init(&c);
        sha256_update(&c, id, strlen(id));
        sha256_final(&c, dg);
    } else {
        struct sha256 c;
        sha256_init(&c);
        for (size_t i = 0; i < a->nlayers; i++) {
            sha256_update(&c, a->layers[i], strlen(a->layers[i]));
            sha256_update(&c, "\n", 1);
        }
        sha256_final(&c, dg);
    }
    char hex[25];
    for (size_t i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", dg[i]);
    int k = snprintf(out, n, "%s/roots/%s-%s.ext4", host.cache, a->layers_dir ? "image" : "host",
                     hex);
    return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

/* The read-only root disk for this create, built on first use. */
static int root_disk(const struct backend_create_args *a, char *out, size_t n,
                     struct runra_err **err)
{
    if (a->nlayers > 64)
        return err_set(err, E2BIG, "the vm backend takes images of up to 64 layers");
    int r = root_key(a, out, n);
    if (r < 0)
        return err_sys(err, r, "root disk path");
    pthread_mutex_lock(&host.lock);
    if (access(out, R_OK) == 0) {
        pthread_mutex_unlock(&host.lock);
        return 0;
    }
    char roots[PATH_MAX], tool[PATH_MAX];
    snprintf(roots, sizeof(roots), "%s/roots", host.cache);
    snprintf(tool, sizeof(tool), "%s/runra-vm-rootfs", host.tools);
    r = mkdir_p(roots, 0700);
    if (r < 0) {
        pthread_mutex_unlock(&host.lock);
        return err_sys(err, r, "create %s", roots);
    }
    uint64_t t0 = now_ms();
    char *argv[8 + 64] = {tool, out, a->layers_dir ? "layers" : "host"};
    static __thread char names[64][80]; /* the layers' dirs, sha256/HEX */
    size_t k = 3;
    if (a->layers_dir) {
        argv[k++] = (char *)a->layers_dir;
        for (size_t i = 0; i < a->nlayers; i++) {
            snprintf(names[i], sizeof(names[i]), "sha256/%.70s", a->layers[i]);
            argv[k++] = names[i];
        }
    }
    argv[k] = NULL;
    r = ns_run_tool(argv, err);
    pthread_mutex_unlock(&host.lock);
    if (r < 0)
        return err_prefix(err, "build the VM's root disk");
    log_info("event=vm.rootfs path=%s ms=%llu", out, (unsigned long long)(now_ms() - t0));
    return 0;
}

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
static int chan_connect(const char *path, int pidfd, uint64_t deadline, int *ret,
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
static int send_setup(int fd, const char *id, const char *workdir, bool image, bool template_only,
                      const struct sandbox_resources *res, struct runra_err **err)
{
    struct vm_setup_msg m = {.image = image, .template_only = template_only};
    if (res) {
        m.memory_mb = res->memory_mb;
        m.pids = res->pids;
        m.cpu_milli = (uint32_t)(res->cpu * 1000 + 0.5);
    }
    snprintf(m.hostname, sizeof(m.hostname), "%s", id);
    snprintf(m.workdir, sizeof(m.workdir), "%s", workdir);
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

struct launch {
    const char *id;
    const char *dir;         /* the sandbox's dir, or a scratch dir for a probe */
    const char *vmdir;       /* dir/vm, owned by uid_base */
    const char *root_img;    /* NULL: no disks (a probe) */
    uint32_t uid_base;
    enum vm_accel accel;
    unsigned vcpus;
    uint64_t memory_mb;
    const struct ns_cgroup *cg;
    int incoming_fd; /* a snapshot to resume from, or -1 */
};

/* Starts QEMU in its jail; *ret_pidfd watches it. */
static int launch(const struct launch *l, pid_t *ret_pid, int *ret_pidfd, struct runra_err **err)
{
    char cmdline[VM_CMDLINE_MAX];
    int r = vm_cmdline(host.tsc_khz, l->id, NULL, cmdline, sizeof(cmdline), err);
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
    const char *paths[6] = {l->vmdir, host.kernel_dir, host.initrd, l->root_img, NULL, NULL};
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
            .init_path = host.init,
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

static int boot_error(const char *dir, const char *vmdir, int r, struct runra_err **err)
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
static int handshake(const char *vmdir, int pidfd, const char *id, const char *workdir,
                     bool image, bool template_only, const struct sandbox_resources *res,
                     uint64_t timeout_ms, int *ret_fd, struct runra_err **err)
{
    char chan[PATH_MAX];
    snprintf(chan, sizeof(chan), "%s/chan.sock", vmdir);
    uint64_t deadline = now_ms() + timeout_ms;
    _cleanup_close_ int fd = -1;
    int r = chan_connect(chan, pidfd, deadline, &fd, err);
    if (r >= 0)
        r = send_setup(fd, id, workdir, image, template_only, res, err);
    if (r >= 0)
        r = ns_sock_first_frame(fd, pidfd, deadline, err);
    if (r < 0)
        return r;
    *ret_fd = TAKE_FD(fd);
    return 0;
}

/* A VM of runrad's own (a probe, a template's boot): a scratch dir in the
 * cache, run as the highest uid slot's root (a range no sandbox of this
 * daemon uses), limited like any VM in a cgroup of its own. */
struct scratch {
    char dir[VM_DIR_MAX + 48];
    char vmdir[VM_DIR_MAX + 64];
    uint32_t uid;
    struct ns_cgroup *cg;
    pid_t pid;
    int pidfd;
    int fd; /* the channel, past HELLO */
};

static int scratch_begin(const char *pattern, const struct sandbox_resources *res,
                         struct scratch *sc, struct runra_err **err)
{
    *sc = (struct scratch){.uid = 0x7ff00000u, .pid = -1, .pidfd = -1, .fd = -1};
    snprintf(sc->dir, sizeof(sc->dir), "%s/%s", host.cache, pattern);
    if (!mkdtemp(sc->dir)) {
        sc->dir[0] = 0;
        return err_sys(err, errno, "mkdtemp %s/%s", host.cache, pattern);
    }
    snprintf(sc->vmdir, sizeof(sc->vmdir), "%s/vm", sc->dir);
    char cgid[32] = "vmscratch-";
    int r = random_hex(cgid + 10, 12);
    if (r < 0)
        return err_sys(err, r, "random id");
    if ((r = mkdir_owned(sc->vmdir, 0700, sc->uid, err)) < 0)
        return r;
    return ns_cgroup_create(host.cg, cgid, res, &sc->cg, err);
}

static void scratch_end(struct scratch *sc)
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
static int boot_probe(enum vm_accel accel, uint64_t timeout_ms, struct runra_err **err)
{
    struct scratch sc;
    struct sandbox_resources res = {.cpu = 1, .memory_mb = 128 + VMM_OVERHEAD_MB,
                                    .pids = VMM_PIDS};
    int r = scratch_begin("probe.XXXXXX", &res, &sc, err);
    if (r >= 0) {
        struct launch l = {.id = "probe", .dir = sc.dir, .vmdir = sc.vmdir, .uid_base = sc.uid,
                           .accel = accel, .vcpus = 1, .memory_mb = 128, .cg = sc.cg,
                           .incoming_fd = -1};
        r = launch(&l, &sc.pid, &sc.pidfd, err);
    }
    if (r >= 0 && (r = handshake(sc.vmdir, sc.pidfd, "probe", "/", false, true, NULL,
                                 timeout_ms, &sc.fd, err)) < 0)
        boot_error(sc.dir, sc.vmdir, r, err);
    scratch_end(&sc);
    return r;
}

static bool id_ok(const char *id) { return id && ns_cgroup_id_ok(id); }

static void box_free(struct box *b)
{
    if (!b)
        return;
    free(b->id);
    free(b->dir);
    free(b->vmdir);
    free(b->root);
    free(b);
}

/* Hands the sandbox's disk to its QEMU's uid. A persisted one was in a
 * dir QEMU owned: it is taken only as the regular file it should be (not
 * a link QEMU put there to have a host file handed over). */
static int disk_own(const char *disk, uint32_t uid, struct runra_err **err)
{
    _cleanup_close_ int fd = open(disk, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    struct stat st;
    if (fd < 0)
        return err_set(err, EIO, "the sandbox's disk %s: %s", disk, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)
        return err_set(err, EIO, "the sandbox's disk %s is not a disk image", disk);
    if (fchown(fd, uid, uid) < 0)
        return err_sys(err, errno, "chown %s", disk);
    return 0;
}

/* Removes a VM sandbox's dir; keep_disk (a persisted sandbox's): all but
 * its disk, vm/disk.img (the next start makes the rest anew). */
static int dir_clean(const char *dir, bool keep_disk)
{
    if (!keep_disk)
        return rm_rf(dir);
    int ret = 0;
    for (int pass = 0; pass < 2; pass++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), pass ? "%s/vm" : "%s", dir);
        DIR *d = opendir(path);
        if (!d)
            continue;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
                (!pass && !strcmp(e->d_name, "vm")) || (pass && !strcmp(e->d_name, "disk.img")))
                continue;
            char child[PATH_MAX + 256];
            int n = snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
            int r = n < 0 || (size_t)n >= sizeof(child) ? -ENAMETOOLONG : rm_rf(child);
            if (r < 0 && ret == 0)
                ret = r;
        }
        closedir(d);
    }
    return ret;
}

static int vm_create(const struct backend_create_args *a, struct box **ret, int *ret_fd,
                     struct runra_err **err)
{
    if (!id_ok(a->id) || !a->spec || !a->dir || a->dir[0] != '/')
        return err_set(err, EINVAL, "bad create arguments");
    if (a->uid_base == 0 || a->uid_base > UINT32_MAX - 65536)
        return err_set(err, EINVAL, "uid base %u would map the sandbox onto host root",
                       a->uid_base);
    const struct sandbox_spec *spec = a->spec;
    if (spec->nmounts > 0)
        return err_set(err, EINVAL, "host mounts are not supported with backend vm");

    int r = prepare(err);
    if (r < 0)
        return r;
    char root[PATH_MAX];
    if ((r = root_disk(a, root, sizeof(root), err)) < 0)
        return r;

    struct box *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->pid = -1;
    b->pidfd = -1;
    int fd = -1;
    if (!(b->id = strdup(a->id)) || !(b->dir = strdup(a->dir)) ||
        asprintf(&b->vmdir, "%s/vm", a->dir) < 0) {
        box_free(b);
        return -ENOMEM;
    }
    char disk[PATH_MAX];
    snprintf(disk, sizeof(disk), "%s/disk.img", b->vmdir);
    r = mkdir_owned(b->vmdir, 0700, a->uid_base, err);
    /* A persisted sandbox starts again on the disk it left (its uid range
     * may be another now). */
    if (r >= 0 && !a->reuse_disk)
        r = ns_disk_format(host.mkfs, disk, spec->resources.disk_mb, 0, err);
    if (r >= 0)
        r = disk_own(disk, a->uid_base, err);
    /* QEMU's cgroup: the guest's RAM plus QEMU's own, its vCPUs' time.
     * The guest has memoryMb for the sandbox's processes (its own cgroup
     * holds them to that) and a little more for its kernel. */
    uint64_t guest_mb = spec->resources.memory_mb + VM_GUEST_KERNEL_MB;
    if (guest_mb > VM_MEMORY_MB_MAX)
        guest_mb = VM_MEMORY_MB_MAX;
    /* CPU: whole vCPUs, and QEMU's cgroup allows those and one core more
     * for its own threads; a fractional cpu is the guest cgroup's quota.
     * (Throttling the vCPUs from the host instead starves the guest's
     * clock: its time runs slow.) */
    double cpus = ceil(spec->resources.cpu);
    if (cpus < 1)
        cpus = 1;
    if (cpus > VM_VCPUS_MAX)
        cpus = VM_VCPUS_MAX;
    struct sandbox_resources res = spec->resources;
    res.memory_mb = guest_mb + VMM_OVERHEAD_MB;
    res.pids = VMM_PIDS;
    res.cpu = cpus + 1;
    if (r >= 0)
        r = ns_cgroup_create(host.cg, a->id, &res, &b->cg, err);
    struct launch l = {
        .id = a->id,
        .dir = a->dir,
        .vmdir = b->vmdir,
        .root_img = root,
        .uid_base = a->uid_base,
        .accel = host.accel,
        .vcpus = (unsigned)cpus,
        .memory_mb = guest_mb,
        .cg = b->cg,
        .incoming_fd = -1,
    };
    b->uid_base = a->uid_base;
    b->accel = l.accel;
    b->vcpus = l.vcpus;
    b->memory_mb = guest_mb;
    if (!(b->root = strdup(root)))
        r = -ENOMEM;
    if (r >= 0)
        r = box_save(b, err);
    const char *workdir = spec->workdir ? spec->workdir : "/workspace";
    /* From the template of this shape (made on first use), else a boot. */
    char tmpl[PATH_MAX];
    bool restored = false;
    if (r >= 0 && host.templates) {
        _cleanup_err_ struct runra_err *te = NULL;
        int t = template_get(root, guest_mb, l.vcpus, l.accel, tmpl, sizeof(tmpl), &te);
        int snap = t >= 0 ? open(tmpl, O_RDONLY | O_CLOEXEC) : -1;
        if (snap >= 0) {
            l.incoming_fd = snap;
            t = restore(&l, spec->resources.disk_mb, workdir, a->layers_dir != NULL,
                        &spec->resources, &b->pid, &b->pidfd, &fd, &te);
            close(snap);
            l.incoming_fd = -1;
            restored = t >= 0;
        }
        if (!restored)
            log_warn("event=vm.template_unused sandbox=%s err=\"%s\"", a->id,
                     te && te->msg ? te->msg : "no template");
    }
    if (r >= 0 && !restored)
        r = launch(&l, &b->pid, &b->pidfd, err);
    if (r >= 0 && !restored) {
        r = handshake(b->vmdir, b->pidfd, a->id, workdir, a->layers_dir != NULL, false,
                      &spec->resources,
                      host.accel == VM_ACCEL_KVM ? BOOT_TIMEOUT_KVM_MS : BOOT_TIMEOUT_TCG_MS,
                      &fd, err);
        if (r < 0)
            boot_error(a->dir, b->vmdir, r, err);
    }
    if (r < 0) {
        err_prefix(err, "vm create");
        if (b->pidfd >= 0) {
            ns_spawn_kill(b->pidfd, KILL_TIMEOUT_MS);
            close(b->pidfd);
        }
        if (b->cg)
            ns_cgroup_destroy(b->cg, NULL);
        dir_clean(b->dir, a->reuse_disk);
        box_free(b);
        return r;
    }
    *ret = b;
    *ret_fd = fd;
    return 0;
}

/* A QMP connection to a VM's QEMU: one command at a time, events skipped. */
struct qmp_conn {
    int fd;
    int64_t next_id;
    size_t len;
    char buf[QMP_LINE_MAX + 1];
};

/* One line from QEMU, before deadline; the line is NUL-terminated in
 * q->buf and consumed by the next call. */
static int qmp_line(struct qmp_conn *q, uint64_t deadline, size_t *ret_len,
                    struct runra_err **err)
{
    for (;;) {
        char *nl = memchr(q->buf, '\n', q->len);
        if (nl) {
            *nl = 0;
            *ret_len = (size_t)(nl - q->buf);
            return 0;
        }
        if (q->len >= QMP_LINE_MAX)
            return err_set(err, EBADMSG, "QMP: a line over %u bytes", QMP_LINE_MAX);
        uint64_t now = now_ms();
        if (now >= deadline)
            return err_set(err, ETIMEDOUT, "QMP: no answer in time");
        struct pollfd pf = {.fd = q->fd, .events = POLLIN};
        int p = poll(&pf, 1, (int)(deadline - now));
        if (p < 0 && errno != EINTR)
            return err_sys(err, errno, "QMP: poll");
        if (p <= 0)
            continue;
        ssize_t n = read(q->fd, q->buf + q->len, QMP_LINE_MAX - q->len);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (n <= 0)
            return err_set(err, EPIPE, "QMP: QEMU closed the connection");
        q->len += (size_t)n;
    }
}

static void qmp_consume(struct qmp_conn *q, size_t line_len)
{
    size_t used = line_len + 1;
    memmove(q->buf, q->buf + used, q->len - used);
    q->len -= used;
}

/* Sends a command (with pass_fd over SCM_RIGHTS when >= 0) and reads up to
 * its answer. An ERROR answer fails with its text. */
static int qmp_exec(struct qmp_conn *q, const char *cmd, const char *args, int pass_fd,
                    struct qmp_msg *ret, struct runra_err **err)
{
    _cleanup_free_ char *line = NULL;
    int64_t id = q->next_id++;
    int r = qmp_build(cmd, args, id, &line, err);
    if (r < 0)
        return r;
    struct iovec iov = {.iov_base = line, .iov_len = strlen(line)};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (pass_fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    ssize_t n;
    do
        n = sendmsg(q->fd, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)iov.iov_len)
        return err_sys(err, n < 0 ? errno : EIO, "QMP: send %s", cmd);
    uint64_t deadline = now_ms() + QMP_TIMEOUT_MS;
    for (;;) {
        size_t len;
        if ((r = qmp_line(q, deadline, &len, err)) < 0)
            return err_prefix(err, "QMP %s", cmd);
        struct qmp_msg m;
        r = qmp_parse(q->buf, len, &m, err);
        qmp_consume(q, len);
        if (r < 0)
            return r;
        if ((m.kind != QMP_RETURN && m.kind != QMP_ERROR) || m.id != id)
            continue; /* an event, or a greeting */
        if (m.kind == QMP_ERROR)
            return err_set(err, EIO, "QMP %s: %s", cmd, m.error);
        if (ret)
            *ret = m;
        return 0;
    }
}

static void qmp_close(struct qmp_conn *q)
{
    if (q->fd >= 0)
        close(q->fd);
    free(q);
}

/* Connects to QEMU's QMP socket (QEMU listens from its start), reads the
 * greeting and leaves negotiation mode. */
static int qmp_open(const char *vmdir, int pidfd, struct qmp_conn **ret, struct runra_err **err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/qmp.sock", vmdir);
    struct qmp_conn *q = calloc(1, sizeof(*q));
    if (!q)
        return -ENOMEM;
    q->fd = -1;
    q->next_id = 1;
    uint64_t deadline = now_ms() + QMP_TIMEOUT_MS;
    int r = chan_connect(path, pidfd, deadline, &q->fd, err);
    size_t len;
    if (r >= 0 && (r = qmp_line(q, deadline, &len, err)) >= 0) {
        struct qmp_msg m;
        r = qmp_parse(q->buf, len, &m, err);
        qmp_consume(q, len);
        if (r >= 0 && m.kind != QMP_GREETING)
            r = err_set(err, EPROTO, "QMP: no greeting");
    }
    if (r >= 0)
        r = qmp_exec(q, "qmp_capabilities", NULL, -1, NULL, err);
    if (r < 0) {
        qmp_close(q);
        return r;
    }
    *ret = q;
    return 0;
}

static void snapshot_path(const struct box *b, char *out, size_t n)
{
    snprintf(out, n, "%s/snapshot", b->dir);
}

/* Writes the stopped-then-saved state of the VM behind q to final (via
 * final.tmp, renamed once complete; QMP migrate to an fd, since QEMU's
 * -sandbox allows no exec: target). On failure the guest runs on. */
static int snapshot_to(struct qmp_conn *q, const char *final, struct runra_err **err)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", final);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(err, errno, "create %s", tmp);
    bool stopped = false;
    int r = qmp_exec(q, "stop", NULL, -1, NULL, err);
    if (r >= 0) {
        stopped = true;
        r = qmp_exec(q, "getfd", "{\"fdname\":\"snapshot\"}", fd, NULL, err);
    }
    if (r >= 0)
        r = qmp_exec(q, "migrate", "{\"uri\":\"fd:snapshot\"}", -1, NULL, err);
    uint64_t deadline = now_ms() + RESTORE_TIMEOUT_MS;
    while (r >= 0) {
        struct qmp_msg m;
        if ((r = qmp_exec(q, "query-migrate", NULL, -1, &m, err)) < 0)
            break;
        if (!strcmp(m.status, "completed"))
            break;
        if (!strcmp(m.status, "failed") || !strcmp(m.status, "cancelled"))
            r = err_set(err, EIO, "writing the VM's state failed (%s)", m.status);
        else if (now_ms() >= deadline)
            r = err_set(err, ETIMEDOUT, "writing the VM's state took too long");
        else
            usleep(5000);
    }
    if (r >= 0 && (fsync(fd) < 0 || rename(tmp, final) < 0))
        r = err_sys(err, errno, "save %s", final);
    if (r < 0) {
        if (stopped)
            qmp_exec(q, "cont", NULL, -1, NULL, NULL);
        unlink(tmp);
    }
    return r;
}

/* Ends a QEMU whose state is saved: quit, and a kill for one that lingers. */
static void qmp_quit(struct qmp_conn *q, int pidfd, const char *id)
{
    qmp_exec(q, "quit", NULL, -1, NULL, NULL);
    struct pollfd pf = {.fd = pidfd, .events = POLLIN};
    if (poll(&pf, 1, 5000) != 1)
        log_warn("event=vm.quit_slow sandbox=%s", id);
    ns_spawn_kill(pidfd, KILL_TIMEOUT_MS);
}

/* Pause: the guest's memory and devices in dir/snapshot, QEMU ended. Its
 * cgroup, disk and dir stay for the resume. */
static int vm_suspend(struct box *b, struct runra_err **err)
{
    if (b->pidfd < 0)
        return 0; /* already suspended */
    char final[PATH_MAX];
    snapshot_path(b, final, sizeof(final));
    struct qmp_conn *q = NULL;
    int r = qmp_open(b->vmdir, b->pidfd, &q, err);
    if (r >= 0 && (r = snapshot_to(q, final, err)) >= 0)
        qmp_quit(q, b->pidfd, b->id);
    if (q)
        qmp_close(q);
    if (r < 0)
        return err_prefix(err, "pause");
    close(b->pidfd);
    b->pidfd = -1;
    b->pid = -1;
    return 0;
}

/* QEMU started as l says from the snapshot open as l->incoming_fd; once it
 * has loaded, the disk is told its size (a template's was another), the
 * channel connected, the guest let go and VM_SETUP said: HELLO is its
 * answer. */
static int restore(const struct launch *l, uint64_t disk_mb, const char *workdir, bool image,
                   const struct sandbox_resources *res, pid_t *ret_pid, int *ret_pidfd,
                   int *ret_fd, struct runra_err **err)
{
    char chan[PATH_MAX], qmp[PATH_MAX];
    snprintf(chan, sizeof(chan), "%s/chan.sock", l->vmdir);
    snprintf(qmp, sizeof(qmp), "%s/qmp.sock", l->vmdir);
    unlink(chan);
    unlink(qmp);
    pid_t pid = -1;
    int pidfd = -1, fd = -1;
    struct qmp_conn *q = NULL;
    int r = launch(l, &pid, &pidfd, err);
    if (r >= 0)
        r = qmp_open(l->vmdir, pidfd, &q, err);
    uint64_t deadline = now_ms() + RESTORE_TIMEOUT_MS;
    while (r >= 0) {
        struct qmp_msg m;
        if ((r = qmp_exec(q, "query-status", NULL, -1, &m, err)) < 0)
            break;
        if (strcmp(m.status, "inmigrate") != 0) {
            if (strcmp(m.status, "paused") != 0 && strcmp(m.status, "postmigrate") != 0)
                r = err_set(err, EIO, "the VM's state did not load (QEMU says '%s')", m.status);
            break;
        }
        if (now_ms() >= deadline)
            r = err_set(err, ETIMEDOUT, "loading the VM's state took too long");
        else
            usleep(2000);
    }
    if (r >= 0 && disk_mb) {
        char args[96];
        snprintf(args, sizeof(args), "{\"device\":\"disk1\",\"size\":%llu}",
                 (unsigned long long)disk_mb << 20);
        r = qmp_exec(q, "block_resize", args, -1, NULL, err);
    }
    /* Connected before the guest runs again, so the first thing it reads
     * is this host's VM_SETUP. */
    if (r >= 0)
        r = chan_connect(chan, pidfd, now_ms() + QMP_TIMEOUT_MS, &fd, err);
    if (r >= 0)
        r = send_setup(fd, l->id, workdir, image, false, res, err);
    if (r >= 0)
        r = qmp_exec(q, "cont", NULL, -1, NULL, err);
    if (r >= 0)
        r = ns_sock_first_frame(fd, pidfd, now_ms() + RESTORE_TIMEOUT_MS, err);
    if (q)
        qmp_close(q);
    if (r < 0) {
        boot_error(l->dir, l->vmdir, r, err);
        if (fd >= 0)
            close(fd);
        if (pidfd >= 0) {
            ns_spawn_kill(pidfd, KILL_TIMEOUT_MS);
            close(pidfd);
        }
        return r;
    }
    *ret_pid = pid;
    *ret_pidfd = pidfd;
    *ret_fd = fd;
    return 0;
}

/* A template: a VM of this root disk, RAM and vCPUs booted once and saved
 * right after runra-init answered, before any root was made; creates
 * restore it with their own disk and identity. Kept in cache/templates,
 * named after everything the saved state depends on. */
static int template_path(const char *root, uint64_t guest_mb, unsigned vcpus, enum vm_accel accel,
                         char *out, size_t n)
{
    struct stat kst = {0}, ist = {0};
    char kernel[PATH_MAX + 16];
    snprintf(kernel, sizeof(kernel), "%s/vmlinux", host.kernel_dir);
    stat(kernel, &kst);
    stat(host.initrd, &ist);
    char id[160];
    snprintf(id, sizeof(id), "|%llu|%u|%d|%lld.%ld|%lld|nic|", (unsigned long long)guest_mb, vcpus,
             (int)accel, (long long)kst.st_mtim.tv_sec, kst.st_mtim.tv_nsec,
             (long long)ist.st_mtim.tv_sec);
    struct sha256 c;
    uint8_t dg[SHA256_LEN];
    sha256_init(&c);
    sha256_update(&c, root, strlen(root));
    sha256_update(&c, id, strlen(id));
    sha256_update(&c, host.initrd, strlen(host.initrd));
    sha256_final(&c, dg);
    char hex[25];
    for (size_t i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", dg[i]);
    int k = snprintf(out, n, "%s/templates/%s.snap", host.cache, hex);
    return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}

#define TEMPLATE_DISK_MB 16

static int template_build(const char *root, uint64_t guest_mb, unsigned vcpus,
                          enum vm_accel accel, const char *out, struct runra_err **err)
{
    struct scratch sc;
    struct sandbox_resources res = {.cpu = vcpus + 1, .memory_mb = guest_mb + VMM_OVERHEAD_MB,
                                    .pids = VMM_PIDS};
    struct qmp_conn *q = NULL;
    char disk[sizeof(sc.vmdir) + 16];
    int r = scratch_begin("templates/build.XXXXXX", &res, &sc, err);
    if (r >= 0) {
        snprintf(disk, sizeof(disk), "%s/disk.img", sc.vmdir);
        if ((r = ns_disk_format(host.mkfs, disk, TEMPLATE_DISK_MB, 0, err)) >= 0 &&
            chown(disk, sc.uid, sc.uid) < 0)
            r = err_sys(err, errno, "chown %s", disk);
    }
    if (r >= 0) {
        struct launch l = {.id = "template", .dir = sc.dir, .vmdir = sc.vmdir, .root_img = root,
                           .uid_base = sc.uid, .accel = accel, .vcpus = vcpus,
                           .memory_mb = guest_mb, .cg = sc.cg, .incoming_fd = -1};
        r = launch(&l, &sc.pid, &sc.pidfd, err);
    }
    if (r >= 0 && (r = handshake(sc.vmdir, sc.pidfd, "template", "/", false, true, NULL,
                                 accel == VM_ACCEL_KVM ? BOOT_TIMEOUT_KVM_MS : BOOT_TIMEOUT_TCG_MS,
                                 &sc.fd, err)) < 0)
        boot_error(sc.dir, sc.vmdir, r, err);
    if (r >= 0)
        r = qmp_open(sc.vmdir, sc.pidfd, &q, err);
    if (r >= 0 && (r = snapshot_to(q, out, err)) >= 0)
        qmp_quit(q, sc.pidfd, "template");
    if (q)
        qmp_close(q);
    scratch_end(&sc);
    return r;
}

/* The template for this VM shape, made on first use; 0 with *out set, or
 * an error (the create then boots cold). */
static int template_get(const char *root, uint64_t guest_mb, unsigned vcpus, enum vm_accel accel,
                        char *out, size_t n, struct runra_err **err)
{
    if (template_path(root, guest_mb, vcpus, accel, out, n) < 0)
        return err_set(err, ENAMETOOLONG, "template path too long");
    pthread_mutex_lock(&host.lock);
    int r = 0;
    if (access(out, R_OK) < 0) {
        char dir[VM_DIR_MAX + 16];
        snprintf(dir, sizeof(dir), "%s/templates", host.cache);
        uint64_t t0 = now_ms();
        if ((r = mkdir_p(dir, 0700)) < 0)
            err_sys(err, r, "create %s", dir);
        else if ((r = template_build(root, guest_mb, vcpus, accel, out, err)) >= 0)
            log_info("event=vm.template path=%s ms=%llu", out, (unsigned long long)(now_ms() - t0));
    }
    pthread_mutex_unlock(&host.lock);
    return r;
}

/* Resume: QEMU again, as it was started, from dir/snapshot. */
static int vm_resume(struct box *b, int *ret_fd, struct runra_err **err)
{
    char final[PATH_MAX];
    snapshot_path(b, final, sizeof(final));
    int r = prepare(err);
    if (r < 0)
        return r;
    _cleanup_close_ int snap = open(final, O_RDONLY | O_CLOEXEC);
    if (snap < 0)
        return err_sys(err, errno, "resume: %s", final);
    struct launch l = {
        .id = b->id,
        .dir = b->dir,
        .vmdir = b->vmdir,
        .root_img = b->root,
        .uid_base = b->uid_base,
        .accel = b->accel,
        .vcpus = b->vcpus,
        .memory_mb = b->memory_mb,
        .cg = b->cg,
        .incoming_fd = snap,
    };
    pid_t pid;
    int pidfd;
    r = restore(&l, 0, "/workspace", false, NULL, &pid, &pidfd, ret_fd, err);
    if (r < 0)
        return err_prefix(err, "resume");
    unlink(final);
    b->pid = pid;
    b->pidfd = pidfd;
    return 0;
}

/* What a later daemon needs to resume or pause the VM: dir/vm.json. */
static int box_save(const struct box *b, struct runra_err **err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof(path), "%s/vm.json", b->dir);
    snprintf(tmp, sizeof(tmp), "%s/vm.json.tmp", b->dir);
    json_t *j = json_pack("{s:I,s:s,s:I,s:I,s:s}", "uidBase", (json_int_t)b->uid_base, "accel",
                          b->accel == VM_ACCEL_KVM ? "kvm" : "tcg", "vcpus",
                          (json_int_t)b->vcpus, "memoryMb", (json_int_t)b->memory_mb, "root",
                          b->root);
    if (!j)
        return -ENOMEM;
    int r = json_dump_file(j, tmp, JSON_COMPACT);
    json_decref(j);
    if (r < 0 || rename(tmp, path) < 0)
        return err_set(err, EIO, "write %s", path);
    return 0;
}

static int box_load(struct box *b, struct runra_err **err)
{
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/vm.json", b->dir);
    json_error_t je;
    json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return err_set(err, ESRCH, "%s: %s", path, je.text);
    json_int_t uid = 0, vcpus = 0, mem = 0;
    const char *accel = NULL, *root = NULL;
    int r = json_unpack_ex(j, &je, JSON_STRICT, "{s:I,s:s,s:I,s:I,s:s}", "uidBase", &uid, "accel",
                           &accel, "vcpus", &vcpus, "memoryMb", &mem, "root", &root);
    if (r >= 0 && (uid <= 0 || uid > UINT32_MAX - 65536 || vcpus < 1 || vcpus > VM_VCPUS_MAX ||
                   mem < VM_MEMORY_MB_MIN || mem > VM_MEMORY_MB_MAX || root[0] != '/'))
        r = -1;
    if (r < 0) {
        json_decref(j);
        return err_set(err, ESRCH, "%s is not runra's", path);
    }
    b->uid_base = (uint32_t)uid;
    b->accel = !strcmp(accel, "kvm") ? VM_ACCEL_KVM : VM_ACCEL_TCG;
    b->vcpus = (unsigned)vcpus;
    b->memory_mb = (uint64_t)mem;
    b->root = strdup(root);
    json_decref(j);
    return b->root ? 0 : -ENOMEM;
}

static int vm_destroy(struct box *b, struct runra_err **err)
{
    if (!b)
        return 0;
    int ret = 0;
    int k = ns_spawn_kill(b->pidfd, KILL_TIMEOUT_MS);
    int r = ns_cgroup_destroy(b->cg, err);
    if (r < 0)
        ret = r;
    if (k < 0) {
        k = ns_spawn_kill(b->pidfd, 2000);
        if (k < 0 && ret == 0)
            ret = err_sys(err, k, "sandbox %s: QEMU does not exit", b->id);
    }
    if (b->pidfd >= 0)
        close(b->pidfd);
    r = rm_rf(b->dir);
    if (r < 0 && ret == 0)
        ret = err_sys(err, r, "remove %s", b->dir);
    box_free(b);
    return ret;
}

static int vm_cleanup(const char *id, const char *dir, bool keep_disk, struct runra_err **err)
{
    if (!id_ok(id) || !dir || dir[0] != '/')
        return err_set(err, EINVAL, "bad cleanup arguments");
    enum ns_cgroup_mode cg;
    int ret = ns_cgroup_detect(&cg, err);
    if (ret < 0)
        return ret;
    ret = ns_cgroup_cleanup(cg, id, err);
    int r = dir_clean(dir, keep_disk);
    if (r < 0 && ret == 0)
        ret = err_sys(err, r, "remove %s", dir);
    return ret;
}

static int vm_stats(struct box *b, struct box_stats *ret, struct runra_err **err)
{
    return ns_cgroup_stats(b->cg, ret, err);
}

static int vm_oom_kills(struct box *b, uint64_t *ret, struct runra_err **err)
{
    return ns_cgroup_oom_kills(b->cg, ret, err);
}

static int64_t vm_init_pid(struct box *b) { return b && b->pid > 0 ? b->pid : -1; }

static int vm_freeze(struct box *b, bool frozen, struct runra_err **err)
{
    return ns_cgroup_freeze(b->cg, frozen, err);
}

/* A VM a previous daemon left running: QEMU (the recorded pid, still in
 * the sandbox's cgroup) and a new connection to its guest, which starts, as
 * every connection does, with VM_SETUP. */
static int vm_reattach(const struct backend_reattach_args *a, struct box **ret, int *ret_fd,
                       bool *ret_frozen, struct runra_err **err)
{
    if (!id_ok(a->id) || !a->dir || a->dir[0] != '/')
        return err_set(err, EINVAL, "bad reattach arguments");
    int r = prepare(err);
    if (r < 0)
        return r;
    struct box *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->pid = (pid_t)a->init_pid;
    b->pidfd = -1;
    int fd = -1;
    if (!(b->id = strdup(a->id)) || !(b->dir = strdup(a->dir)) ||
        asprintf(&b->vmdir, "%s/vm", a->dir) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = box_load(b, err)) < 0)
        goto fail;
    /* Paused: no QEMU, its state in dir/snapshot, resumed on demand; after
     * a host reboot, in a cgroup made again (cgroups do not outlive one). */
    char snap[PATH_MAX];
    snapshot_path(b, snap, sizeof(snap));
    bool paused = access(snap, R_OK) == 0;
    if ((r = ns_cgroup_open(host.cg, a->id, &b->cg, err)) < 0 && paused) {
        err_free(err ? *err : NULL);
        if (err)
            *err = NULL;
        struct sandbox_resources res = {.cpu = b->vcpus + 1,
                                        .memory_mb = b->memory_mb + VMM_OVERHEAD_MB,
                                        .pids = VMM_PIDS};
        r = ns_cgroup_create(host.cg, a->id, &res, &b->cg, err);
        if (r >= 0)
            log_info("event=vm.cgroup_remade sandbox=%s", a->id);
    }
    if (r < 0) {
        err_prefix(err, "its cgroup is gone");
        r = -ESRCH;
        goto fail;
    }
    if (paused) {
        b->pid = -1;
        *ret = b;
        *ret_fd = -1;
        *ret_frozen = true;
        return 0;
    }
    if (a->init_pid <= 1 || a->init_pid > INT32_MAX) {
        r = err_set(err, ESRCH, "no QEMU pid was recorded");
        goto fail;
    }
    /* The pidfd first: once open, the pid cannot be reused under it. */
    b->pidfd = (int)syscall(SYS_pidfd_open, b->pid, 0);
    if (b->pidfd < 0 || !ns_cgroup_has(b->cg, b->pid)) {
        r = err_set(err, ESRCH, "QEMU (pid %d) is gone", (int)b->pid);
        goto fail;
    }
    bool frozen = ns_cgroup_frozen(b->cg);
    char chan[PATH_MAX];
    snprintf(chan, sizeof(chan), "%s/chan.sock", b->vmdir);
    uint64_t deadline = now_ms() + 10000;
    r = chan_connect(chan, b->pidfd, deadline, &fd, err);
    if (r >= 0)
        r = send_setup(fd, a->id, "/workspace", false, false, NULL, err);
    /* A frozen guest answers once thawed; the manager reads that HELLO. */
    if (r >= 0 && !frozen)
        r = ns_sock_first_frame(fd, b->pidfd, deadline, err);
    if (r < 0) {
        struct pollfd pf = {.fd = b->pidfd, .events = POLLIN};
        if (poll(&pf, 1, 0) == 1)
            r = -ESRCH;
        goto fail;
    }
    *ret = b;
    *ret_fd = fd;
    *ret_frozen = frozen;
    return 0;
fail:
    if (fd >= 0)
        close(fd);
    if (b->pidfd >= 0)
        close(b->pidfd);
    ns_cgroup_forget(b->cg);
    box_free(b);
    return r;
}

static void vm_release(struct box *b)
{
    if (!b)
        return;
    if (b->pidfd >= 0)
        close(b->pidfd);
    ns_cgroup_forget(b->cg);
    box_free(b);
}

const struct backend_ops vm_backend_ops = {
    .name = "vm",
    .available = vm_available,
    .create = vm_create,
    .destroy = vm_destroy,
    .stats = vm_stats,
    .oom_kills = vm_oom_kills,
    .cleanup = vm_cleanup,
    .init_pid = vm_init_pid,
    .freeze = vm_freeze,
    .reattach = vm_reattach,
    .release = vm_release,
    .suspend = vm_suspend,
    .resume = vm_resume,
};
