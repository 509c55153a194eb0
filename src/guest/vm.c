/* runra-init's VM form; see vm.h. The guest is the sandbox: there is no
 * user namespace, seccomp or landlock inside, because the VM's boundary is
 * the hypervisor (and QEMU's own jail on the host). */
#include "vm.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend/ns/child_ctx.h"
#include "base/util.h"

#define PORT_NAME "runra"
#define DEVICE_WAIT_MS 10000

#define CGROUP "/sys/fs/cgroup/sandbox"

static struct {
    bool rooted; /* the root is made (at boot, or in the template restored) */
    bool named;  /* this sandbox's identity and limits are applied */
    bool cgroup; /* the sandbox's cgroup is set up */
    /* The limits written last: a template's restores start from the
     * template's (those of the create that made it) and write only what
     * differs. */
    bool limits_set;
    uint64_t memory_mb, pids;
    uint32_t cpu_milli;
    char workdir[4097];
} vm;

bool vm_is_guest(int argc, char **argv)
{
    if (getpid() != 1)
        return false;
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--", 2))
            return false;
    return true;
}

static int mount_kernfs(const char *type, const char *target, unsigned long flags,
                        const char *opts, struct runra_err **err)
{
    if (mkdir(target, 0755) < 0 && errno != EEXIST)
        return err_sys(err, errno, "mkdir %s", target);
    if (mount(type, target, type, flags, opts) < 0 && errno != EBUSY)
        return err_sys(err, errno, "mount %s on %s", type, target);
    return 0;
}

static int load_modules(struct runra_err **err)
{
    _cleanup_free_ char *order = NULL;
    int r = read_file_str("/modules/order", 64 * 1024, &order);
    if (r < 0)
        return err_sys(err, r, "read /modules/order");
    for (char *save = NULL, *name = strtok_r(order, "\n", &save); name;
         name = strtok_r(NULL, "\n", &save)) {
        char path[128];
        if ((size_t)snprintf(path, sizeof(path), "/modules/%s.ko", name) >= sizeof(path) ||
            strchr(name, '/'))
            return err_set(err, EINVAL, "bad module name '%.64s'", name);
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return err_sys(err, errno, "open %s", path);
        if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
            return err_sys(err, errno, "load module %s", name);
    }
    return 0;
}

/* Reads a one-line sysfs attribute without its newline. */
static bool sysfs_is(const char *path, const char *want)
{
    char buf[128];
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    if (n <= 0)
        return false;
    buf[n] = 0;
    buf[strcspn(buf, "\n")] = 0;
    return !strcmp(buf, want);
}

/* The /dev name of the entry of class_dir whose attribute attr reads want;
 * devices probe asynchronously, so this waits up to DEVICE_WAIT_MS. */
static int find_device(const char *class_dir, const char *attr, const char *want, char *out,
                       size_t n, struct runra_err **err)
{
    uint64_t deadline = now_ms() + DEVICE_WAIT_MS;
    for (;;) {
        DIR *d = opendir(class_dir);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (e->d_name[0] == '.')
                continue;
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s/%s", class_dir, e->d_name, attr);
            if (sysfs_is(path, want)) {
                snprintf(out, n, "/dev/%s", e->d_name);
                closedir(d);
                return 0;
            }
        }
        if (d)
            closedir(d);
        if (now_ms() >= deadline)
            return err_set(err, ENODEV, "no device with %s '%s' under %s", attr, want, class_dir);
        usleep(10000);
    }
}

int vm_boot(int *ret_port, struct runra_err **err)
{
    int r = mount_kernfs("devtmpfs", "/dev", MS_NOSUID, "mode=0755", err);
    if (r >= 0)
        r = mount_kernfs("proc", "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err);
    if (r >= 0)
        r = mount_kernfs("sysfs", "/sys", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, err);
    if (r >= 0)
        r = load_modules(err);
    char dev[PATH_MAX];
    if (r >= 0)
        r = find_device("/sys/class/virtio-ports", "name", PORT_NAME, dev, sizeof(dev), err);
    if (r < 0)
        return r;
    int fd = -1;
    /* The device node appears a moment after the sysfs entry. */
    for (uint64_t deadline = now_ms() + DEVICE_WAIT_MS;;) {
        fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
        if (fd >= 0 || errno != ENOENT || now_ms() >= deadline)
            break;
        usleep(10000);
    }
    if (fd < 0)
        return err_sys(err, errno, "open %s", dev);
    /* SIGIO when a host connects or goes: the loop polls the port only
     * while connected (a disconnected port reads as hung up forever). */
    if (fcntl(fd, F_SETOWN, getpid()) < 0 ||
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_ASYNC) < 0) {
        r = err_sys(err, errno, "SIGIO on %s", dev);
        close(fd);
        return r;
    }
    ns_netns_loopback(NULL, NULL);
    *ret_port = fd;
    return 0;
}

bool vm_port_connected(int port)
{
    struct pollfd p = {.fd = port, .events = POLLIN | POLLOUT};
    return poll(&p, 1, 0) >= 0 && !(p.revents & (POLLHUP | POLLERR | POLLNVAL));
}

static int move_mount_to(const char *from, const char *to, struct runra_err **err)
{
    if (mkdir(to, 0755) < 0 && errno != EEXIST)
        return err_sys(err, errno, "mkdir %s", to);
    if (mount(from, to, NULL, MS_MOVE, NULL) < 0)
        return err_sys(err, errno, "move %s to %s", from, to);
    return 0;
}

static int write_etc(const char *name, const char *content, struct runra_err **err)
{
    char path[64];
    snprintf(path, sizeof(path), "/etc/%s", name);
    /* Replace, never write through: an image's /etc/resolv.conf may be a
     * symlink. */
    unlink(path);
    _cleanup_close_ int fd =
        open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_sys(err, errno, "create %s", path);
    int r = write_full(fd, content, strlen(content));
    return r < 0 ? err_sys(err, r, "write %s", path) : 0;
}

static const char resolv_conf[] =
    "# runra: DNS is answered by runrad under the sandbox's network policy\n"
    "nameserver 192.0.2.53\noptions timeout:2 attempts:2\n";

/* The sandbox's root: the image disk under an overlay whose upper layer is
 * the sandbox disk, switched to, with /dev, /proc, /sys moved in. Made once
 * per boot: a template's restores have it already. */
static int make_root(struct runra_err **err)
{
    char lower[PATH_MAX], upper[PATH_MAX];
    int r = find_device("/sys/block", "serial", "root", lower, sizeof(lower), err);
    if (r >= 0)
        r = find_device("/sys/block", "serial", "disk", upper, sizeof(upper), err);
    if (r < 0)
        return r;
    static const char *const dirs[] = {"/mnt/lower", "/mnt/disk", "/mnt/root"};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
        if (mkdir(dirs[i], 0755) < 0 && errno != EEXIST)
            return err_sys(err, errno, "mkdir %s", dirs[i]);
    if (mount(lower, "/mnt/lower", "ext4", MS_RDONLY, NULL) < 0)
        return err_sys(err, errno, "mount the image disk %s", lower);
    /* noinit_itable: no zeroing of unused inode tables in the background
     * on the guest's CPU (ext4 knows which are in use without it). */
    if (mount(upper, "/mnt/disk", "ext4", MS_NOATIME, "noinit_itable") < 0)
        return err_sys(err, errno, "mount the sandbox disk %s", upper);
    if ((mkdir("/mnt/disk/upper", 0755) < 0 && errno != EEXIST) ||
        (mkdir("/mnt/disk/work", 0700) < 0 && errno != EEXIST))
        return err_sys(err, errno, "prepare the sandbox disk");
    if (mount("overlay", "/mnt/root", "overlay", 0,
              "lowerdir=/mnt/lower,upperdir=/mnt/disk/upper,workdir=/mnt/disk/work") < 0)
        return err_sys(err, errno, "mount the root overlay");
    static const struct {
        const char *path;
        mode_t mode;
    } skel[] = {{"/mnt/root/proc", 0555}, {"/mnt/root/sys", 0555}, {"/mnt/root/dev", 0755},
                {"/mnt/root/tmp", 01777}, {"/mnt/root/run", 0755}, {"/mnt/root/etc", 0755},
                {"/mnt/root/workspace", 0755}};
    for (size_t i = 0; i < ARRAY_SIZE(skel); i++)
        if (mkdir(skel[i].path, skel[i].mode) == 0)
            chmod(skel[i].path, skel[i].mode);
        else if (errno != EEXIST)
            return err_sys(err, errno, "mkdir %s", skel[i].path);
    if ((r = move_mount_to("/dev", "/mnt/root/dev", err)) < 0 ||
        (r = move_mount_to("/proc", "/mnt/root/proc", err)) < 0 ||
        (r = move_mount_to("/sys", "/mnt/root/sys", err)) < 0)
        return r;
    /* The initramfs's modules are loaded; their memory goes back. */
    DIR *d = opendir("/modules");
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.')
            unlinkat(dirfd(d), e->d_name, 0);
    if (d)
        closedir(d);
    /* The initramfs cannot be pivoted away from: move the new root over
     * it and chroot (what switch_root does). */
    if (chdir("/mnt/root") < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
        chdir("/") < 0)
        return err_sys(err, errno, "switch to the new root");
    if (mkdir("/dev/pts", 0755) < 0 && errno != EEXIST)
        return err_sys(err, errno, "mkdir /dev/pts");
    if (mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=620,ptmxmode=666") <
        0)
        return err_sys(err, errno, "mount /dev/pts");
    if ((mkdir("/dev/shm", 01777) < 0 && errno != EEXIST) ||
        mount("shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777") < 0)
        return err_sys(err, errno, "mount /dev/shm");
    static const char *const links[][2] = {{"/proc/self/fd", "/dev/fd"},
                                           {"/proc/self/fd/0", "/dev/stdin"},
                                           {"/proc/self/fd/1", "/dev/stdout"},
                                           {"/proc/self/fd/2", "/dev/stderr"}};
    for (size_t i = 0; i < ARRAY_SIZE(links); i++)
        if (symlink(links[i][0], links[i][1]) < 0 && errno != EEXIST)
            return err_sys(err, errno, "symlink %s", links[i][1]);
    return write_etc("resolv.conf", resolv_conf, err);
}

/* Replaces a file of /etc: written in place when it is a file of the
 * sandbox's own (the template's), else made anew (an image's may be a
 * symlink, or a file the overlay would first copy up). In place means
 * over the old bytes, not truncated and grown again, which on ext4 frees
 * and allocates its block: a template's restore does this first of all,
 * and under TCG every kernel path run for the first time costs. */
static int rewrite_etc(const char *name, const char *content, struct runra_err **err)
{
    char path[64];
    snprintf(path, sizeof(path), "/etc/%s", name);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return write_etc(name, content, err);
    size_t len = strlen(content);
    ssize_t n = pwrite(fd, content, len, 0);
    if (n != (ssize_t)len)
        return err_sys(err, n < 0 ? errno : EIO, "write %s", path);
    if ((off_t)len < st.st_size && ftruncate(fd, (off_t)len) < 0)
        return err_sys(err, errno, "truncate %s", path);
    return 0;
}

/* This sandbox's identity: its hostname and its workdir. */
static int name_root(const struct vm_setup_msg *m, struct runra_err **err)
{
    char hostname[80], hosts[512];
    snprintf(hostname, sizeof(hostname), "%s\n", m->hostname);
    snprintf(hosts, sizeof(hosts),
             "127.0.0.1\tlocalhost\n"
             "::1\tlocalhost ip6-localhost ip6-loopback\n"
             "127.0.1.1\t%s\n",
             m->hostname);
    int r;
    if ((r = rewrite_etc("hostname", hostname, err)) < 0 ||
        (r = rewrite_etc("hosts", hosts, err)) < 0)
        return r;
    if (sethostname(m->hostname, strlen(m->hostname)) < 0)
        return err_sys(err, errno, "sethostname");
    r = mkdir_p(m->workdir, 0755);
    if (r < 0)
        return err_sys(err, r, "create workdir '%s'", m->workdir);
    return 0;
}

static int cg_write(const char *file, const char *value, struct runra_err **err)
{
    char path[128];
    snprintf(path, sizeof(path), CGROUP "/%s", file);
    int r = write_file_str(path, value);
    return r < 0 ? err_sys(err, r, "write %s", path) : 0;
}

/* The sandbox's cgroup inside the guest, as the ns backend has one on the
 * host: a cgroup (v2) holding runra-init and so everything it starts. Made
 * with the root; its limits come with the sandbox (set_limits). */
static int make_cgroup(struct runra_err **err)
{
    if (mount("cgroup2", "/sys/fs/cgroup", "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC,
              "nsdelegate") < 0)
        return err_sys(err, errno, "mount cgroup2");
    int r = write_file_str("/sys/fs/cgroup/cgroup.subtree_control", "+cpu +memory +pids");
    if (r < 0)
        return err_sys(err, r, "enable the cgroup controllers");
    if (mkdir(CGROUP, 0755) < 0 && errno != EEXIST)
        return err_sys(err, errno, "mkdir " CGROUP);
    if ((r = cg_write("cgroup.procs", "1", err)) < 0)
        return r;
    /* Allocations are held to memory.max by the OOM killer, as on a host;
     * the guest's small RAM must not refuse them up front instead. */
    if ((r = write_file_str("/proc/sys/vm/overcommit_memory", "1")) < 0)
        return err_sys(err, r, "vm.overcommit_memory");
    vm.cgroup = true;
    return 0;
}

/* The sandbox's limits (0: none). The guest's RAM is a little more than
 * memoryMb, for its kernel; the cgroup holds the sandbox's processes to
 * memoryMb. */
static int set_limits(const struct vm_setup_msg *m, struct runra_err **err)
{
    int r;
    char v[64];
    if (!vm.limits_set || m->memory_mb != vm.memory_mb) {
        snprintf(v, sizeof(v), "%llu", (unsigned long long)m->memory_mb << 20);
        if ((r = cg_write("memory.max", m->memory_mb ? v : "max", err)) < 0 ||
            (r = cg_write("memory.swap.max", m->memory_mb ? "0" : "max", err)) < 0)
            return r;
    }
    if (!vm.limits_set || m->pids != vm.pids) {
        snprintf(v, sizeof(v), "%llu", (unsigned long long)m->pids);
        if ((r = cg_write("pids.max", m->pids ? v : "max", err)) < 0)
            return r;
    }
    if (!vm.limits_set || m->cpu_milli != vm.cpu_milli) {
        snprintf(v, sizeof(v), "%u 100000", m->cpu_milli * 100);
        if ((r = cg_write("cpu.max", m->cpu_milli ? v : "max 100000", err)) < 0)
            return r;
    }
    vm.limits_set = true;
    vm.memory_mb = m->memory_mb;
    vm.pids = m->pids;
    vm.cpu_milli = m->cpu_milli;
    return 0;
}

uint64_t vm_oom_kills(void)
{
    if (!vm.cgroup)
        return 0;
    _cleanup_free_ char *ev = NULL;
    if (read_file_str(CGROUP "/memory.events", 4096, &ev) < 0)
        return 0;
    const char *p = strstr(ev, "oom_kill ");
    uint64_t n = 0;
    if (p) {
        p += strlen("oom_kill ");
        char num[32];
        size_t k = strcspn(p, "\n");
        snprintf(num, sizeof(num), "%.*s", (int)(k < sizeof(num) - 1 ? k : sizeof(num) - 1), p);
        parse_u64(num, &n);
    }
    return n;
}

/* A template's restores find in the guest's page cache what a first
 * command reads: the image's shell, dynamic loader and C library, read
 * now by running `sh -c true` once (an image without a shell just has
 * nothing cached). In a session of its own with no signal blocked, given
 * WARM_TIMEOUT_MS; then every process but runra-init is killed, so none
 * of it is in the template. */
#define WARM_TIMEOUT_MS 10000
static void warm_page_cache(void)
{
    char *const argv[] = {"/bin/sh", "-c", "true", NULL};
    char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    posix_spawnattr_t at;
    sigset_t none;
    sigemptyset(&none);
    if (posix_spawnattr_init(&at) != 0)
        return;
    pid_t pid = -1;
    if (posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK) != 0 ||
        posix_spawnattr_setsigmask(&at, &none) != 0 ||
        posix_spawn(&pid, argv[0], NULL, &at, argv, envp) != 0)
        pid = -1;
    posix_spawnattr_destroy(&at);
    if (pid < 0)
        return;
    int st;
    for (uint64_t deadline = now_ms() + WARM_TIMEOUT_MS; now_ms() < deadline;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid || (w < 0 && errno != EINTR))
            break;
        usleep(5000);
    }
    /* Whatever it left goes too, wherever it went (a template's guest
     * runs nothing but runra-init), and is reaped here. */
    kill(-1, SIGKILL);
    for (uint64_t deadline = now_ms() + WARM_TIMEOUT_MS; now_ms() < deadline;) {
        pid_t w = waitpid(-1, &st, WNOHANG);
        if (w < 0 && errno == ECHILD)
            break;
        if (w <= 0)
            usleep(2000);
    }
}

int vm_setup_apply(const struct vm_setup_msg *m, const char **workdir, struct runra_err **err)
{
    struct timespec ts = {.tv_sec = m->time_ns / 1000000000, .tv_nsec = m->time_ns % 1000000000};
    if (clock_settime(CLOCK_REALTIME, &ts) < 0)
        return err_sys(err, errno, "set the clock");
    /* A template's restores share its random state: mix in fresh bytes. */
    int fd = open("/dev/urandom", O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        write_full(fd, m->seed, sizeof(m->seed));
        close(fd);
    }
    int r = 0;
    if (m->kind != VM_SETUP_PROBE && !vm.rooted) {
        if ((r = make_root(err)) < 0 || (r = make_cgroup(err)) < 0)
            return r;
        vm.rooted = true;
        /* A template's: its /etc files are then the sandbox disk's own, so
         * each restore rewrites them in place, and its limits are likely
         * those of its restores; written out now, not by each restore. */
        if (m->kind == VM_SETUP_TEMPLATE) {
            if ((r = name_root(m, err)) < 0 || (r = set_limits(m, err)) < 0)
                return r;
            warm_page_cache();
            sync();
        }
    }
    if (m->kind == VM_SETUP_SANDBOX && !vm.named) {
        if ((r = name_root(m, err)) < 0 || (r = set_limits(m, err)) < 0)
            return r;
        vm.named = true;
        snprintf(vm.workdir, sizeof(vm.workdir), "%s", m->workdir);
    }
    *workdir = vm.named ? vm.workdir : "/";
    return 0;
}

static int write_sysctl(const char *path, const char *value)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int r = write_full(fd, value, strlen(value));
    close(fd);
    return r;
}

/* The NIC the host's tap is on: the link with that MAC (a guest's root
 * may have made other links). */
static int find_nic(const char *mac, char *out, size_t n, struct runra_err **err)
{
    DIR *d = opendir("/sys/class/net");
    if (!d)
        return err_sys(err, errno, "open /sys/class/net");
    struct dirent *de;
    bool found = false;
    while (!found && (de = readdir(d))) {
        if (de->d_name[0] == '.' || strlen(de->d_name) >= n || strlen(de->d_name) >= IFNAMSIZ)
            continue;
        char path[PATH_MAX], addr[32] = "";
        snprintf(path, sizeof(path), "/sys/class/net/%s/address", de->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        ssize_t k = read(fd, addr, sizeof(addr) - 1);
        close(fd);
        if (k >= 17 && !strncmp(addr, mac, 17) && (addr[17] == '\n' || addr[17] == 0)) {
            snprintf(out, n, "%s", de->d_name);
            found = true;
        }
    }
    closedir(d);
    return found ? 0 : err_set(err, ENODEV, "the VM has no network device with MAC %s", mac);
}

static int set_in4(int sock, unsigned long req, const char *ifname, const char *addr,
                   const char *what, struct runra_err **err)
{
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
    struct sockaddr_in *sa = (struct sockaddr_in *)&ifr.ifr_addr;
    sa->sin_family = AF_INET;
    if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1)
        return err_set(err, EINVAL, "bad address '%s'", addr);
    if (ioctl(sock, req, &ifr) < 0)
        return err_sys(err, errno, "%s of %s", what, ifname);
    return 0;
}

int vm_net_config(const struct net_config_msg *m, struct runra_err **err)
{
    char nic[IFNAMSIZ];
    int r = find_nic(m->mac, nic, sizeof(nic), err);
    if (r < 0)
        return r;
    /* IPv4 only, as the host's end enforces: no IPv6 to leak by. */
    write_sysctl("/proc/sys/net/ipv6/conf/all/disable_ipv6", "1");
    write_sysctl("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
    _cleanup_close_ int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0)
        return err_sys(err, errno, "socket");
    uint32_t mask = m->prefix ? htonl(~0u << (32 - m->prefix)) : 0;
    char maskstr[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &mask, maskstr, sizeof(maskstr));
    if ((r = set_in4(sock, SIOCSIFADDR, nic, m->address, "set the address", err)) < 0 ||
        (r = set_in4(sock, SIOCSIFNETMASK, nic, maskstr, "set the netmask", err)) < 0)
        return r;
    struct ifreq ifr = {0};
    snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", nic);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
        return err_sys(err, errno, "flags of %s", nic);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
        return err_sys(err, errno, "bring %s up", nic);
    struct rtentry rt = {0};
    struct sockaddr_in *dst = (struct sockaddr_in *)&rt.rt_dst,
                       *gw = (struct sockaddr_in *)&rt.rt_gateway,
                       *gm = (struct sockaddr_in *)&rt.rt_genmask;
    dst->sin_family = gw->sin_family = gm->sin_family = AF_INET;
    if (inet_pton(AF_INET, m->gateway, &gw->sin_addr) != 1)
        return err_set(err, EINVAL, "bad gateway '%s'", m->gateway);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    rt.rt_dev = nic;
    /* Said again (a resume, a new daemon), the route is there already. */
    if (ioctl(sock, SIOCADDRT, &rt) < 0 && errno != EEXIST)
        return err_sys(err, errno, "add the default route");
    return 0;
}

_Noreturn void vm_poweroff(void)
{
    sync();
    reboot(RB_POWER_OFF);
    for (;;)
        pause();
}
