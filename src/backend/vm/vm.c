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
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/ns/disk.h"
#include "backend/ns/handshake.h"
#include "backend/ns/spawn.h"
#include "backend/vm/cache.h"
#include "backend/vm/host.h"
#include "backend/vm/initrd.h"
#include "backend/vm/vm-internal.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"

struct vm_host_state vm_host = {.lock = PTHREAD_MUTEX_INITIALIZER,
                                .tmpl_lock = PTHREAD_MUTEX_INITIALIZER};

static int box_save(const struct box *b, struct runra_err **err);

void vm_backend_configure(const char *cache_dir, const char *init_path, bool templates)
{
    vm_host.templates = templates;
    if (strlen(cache_dir) >= VM_DIR_MAX || strlen(init_path) >= VM_DIR_MAX)
        return; /* not configured: available() says so */
    snprintf(vm_host.cache, sizeof(vm_host.cache), "%s", cache_dir);
    snprintf(vm_host.init, sizeof(vm_host.init), "%s", init_path);
    snprintf(vm_host.tools, sizeof(vm_host.tools), "%s", init_path);
    char *slash = strrchr(vm_host.tools, '/');
    if (slash)
        *slash = 0;
    vm_host.configured = true;
}

static int vm_available(struct runra_err **err)
{
    if (!vm_host.configured)
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
    pthread_mutex_lock(&vm_host.lock);
    const char *a = !vm_host.prepared ? NULL : vm_host.accel == VM_ACCEL_KVM ? "kvm" : "tcg";
    pthread_mutex_unlock(&vm_host.lock);
    return a;
}

int vm_mkdir_owned(const char *path, mode_t mode, uid_t uid, struct runra_err **err)
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
    if (stat(vm_host.init, &st) < 0)
        return err_sys(err, errno, "runra-init '%s'", vm_host.init);
    char id[128];
    snprintf(id, sizeof(id), "%llu:%llu:%lld:%lld", (unsigned long long)st.st_dev,
             (unsigned long long)st.st_ino, (long long)st.st_size, (long long)st.st_mtime);
    char hex[2 * SHA256_LEN + 1];
    sha256_hex(id, strlen(id), hex);
    int k = snprintf(out, n, "%s/initrd-%.12s.img", vm_host.cache, hex);
    return k < 0 || (size_t)k >= n ? err_set(err, ENAMETOOLONG, "cache path too long") : 0;
}


/* Everything a first VM needs, once: the kernel (fetched from Debian's
 * archive on first use), the initramfs, and which acceleration works. */
static int prepare_locked(struct runra_err **err)
{
    if (vm_host.prepared)
        return 0;
    int r = vm_available(err);
    if (r < 0)
        return r;
    if ((r = ns_cgroup_detect(&vm_host.cg, err)) < 0)
        return r;
    bool loop_ok;
    ns_disk_probe(vm_host.mkfs, sizeof(vm_host.mkfs), &loop_ok);
    if (!vm_host.mkfs[0])
        return err_set(err, ENOSYS, "the vm backend needs mkfs.ext4 (e2fsprogs)");
    if ((r = mkdir_p(vm_host.cache, 0700)) < 0)
        return err_sys(err, r, "create %s", vm_host.cache);
    snprintf(vm_host.kernel_dir, sizeof(vm_host.kernel_dir), "%s/kernel", vm_host.cache);
    char vmlinux[PATH_MAX];
    snprintf(vmlinux, sizeof(vmlinux), "%s/vmlinux", vm_host.kernel_dir);
    if (access(vmlinux, R_OK) < 0) {
        char tool[PATH_MAX];
        snprintf(tool, sizeof(tool), "%s/runra-vm-kernel", vm_host.tools);
        log_info("event=vm.kernel.fetch dir=%s", vm_host.kernel_dir);
        char *const argv[] = {tool, vm_host.kernel_dir, NULL};
        if ((r = ns_run_tool(argv, err)) < 0)
            return err_prefix(err, "get the guest kernel");
    }
    if ((r = initrd_path(vm_host.initrd, sizeof(vm_host.initrd), err)) < 0)
        return r;
    if (access(vm_host.initrd, R_OK) < 0 &&
        (r = vm_initrd_build(vm_host.kernel_dir, vm_host.init, vm_host.initrd, err)) < 0)
        return err_prefix(err, "build the initramfs");
    vm_host.tsc_khz = vm_host_tsc_khz();
    /* KVM only where a guest actually boots on it: /dev/kvm can be there
     * and still not run a stock kernel (PVM, nested setups). */
    vm_host.accel = VM_ACCEL_TCG;
    snprintf(vm_host.accel_note, sizeof(vm_host.accel_note), "no /dev/kvm");
    if (access("/dev/kvm", R_OK | W_OK) == 0) {
        _cleanup_err_ struct runra_err *pe = NULL;
        if (vm_boot_probe(VM_ACCEL_KVM, PROBE_TIMEOUT_KVM_MS, &pe) >= 0) {
            vm_host.accel = VM_ACCEL_KVM;
            vm_host.accel_note[0] = 0;
        } else {
            snprintf(vm_host.accel_note, sizeof(vm_host.accel_note), "KVM did not boot a guest: %s",
                     pe && pe->msg ? pe->msg : "failed");
        }
    }
    log_info("event=vm.ready accel=%s kernel=%s%s%s", vm_host.accel == VM_ACCEL_KVM ? "kvm" : "tcg",
             vm_host.kernel_dir, vm_host.accel_note[0] ? " note=" : "", vm_host.accel_note);
    vm_host.prepared = true;
    return 0;
}

int vm_prepare(struct runra_err **err)
{
    pthread_mutex_lock(&vm_host.lock);
    int r = prepare_locked(err);
    pthread_mutex_unlock(&vm_host.lock);
    return r;
}

int vm_backend_prepare(struct runra_err **err) { return vm_prepare(err); }

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
    int k = snprintf(out, n, "%s/roots/%s-%s.ext4", vm_host.cache, a->layers_dir ? "image" : "host",
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
    pthread_mutex_lock(&vm_host.lock);
    if (access(out, R_OK) == 0) {
        pthread_mutex_unlock(&vm_host.lock);
        return 0;
    }
    char roots[PATH_MAX], tool[PATH_MAX];
    snprintf(roots, sizeof(roots), "%s/roots", vm_host.cache);
    snprintf(tool, sizeof(tool), "%s/runra-vm-rootfs", vm_host.tools);
    r = mkdir_p(roots, 0700);
    if (r < 0) {
        pthread_mutex_unlock(&vm_host.lock);
        return err_sys(err, r, "create %s", roots);
    }
    uint64_t t0 = now_ms();
    char *argv[8 + 64] = {tool, out, a->layers_dir ? "layers" : "host"};
    char names[64][80]; /* the layers' dirs, sha256/HEX */
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
    pthread_mutex_unlock(&vm_host.lock);
    if (r < 0)
        return err_prefix(err, "build the VM's root disk");
    log_info("event=vm.rootfs path=%s ms=%llu", out, (unsigned long long)(now_ms() - t0));
    return 0;
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

/* A sandbox disk from a template's (open as from, a disk of disk_mb). */
static int disk_from_template(int from, const char *to, uint64_t disk_mb, struct runra_err **err)
{
    _cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return err_sys(err, errno, "create %s", to);
    int r = vm_sparse_copy(from, out, disk_mb << 20, err);
    if (r < 0)
        unlink(to);
    return r;
}

/* The sandbox's new disk, made for a cold boot. */
static int disk_new(const char *disk, uint64_t disk_mb, uint32_t uid, struct runra_err **err)
{
    int r = ns_disk_format(vm_host.mkfs, disk, disk_mb, 0, err);
    return r < 0 ? r : disk_own(disk, uid, err);
}

/* What a guest's refusal of a sandbox's workdir looks like: a path that
 * cannot be a directory in this image. */
static bool workdir_refusal(int code)
{
    return code == ENOTDIR || code == EEXIST || code == ENAMETOOLONG || code == ELOOP;
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

    int r = vm_prepare(err);
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
    uint64_t disk_mb = spec->resources.disk_mb;
    char disk[PATH_MAX];
    snprintf(disk, sizeof(disk), "%s/disk.img", b->vmdir);
    r = vm_mkdir_owned(b->vmdir, 0700, a->uid_base, err);
    /* From the template of this shape (made on its second create) with a
     * copy of its disk, else a boot on a new disk. A persisted sandbox
     * starts again on the disk it left (its uid range may be another
     * now), by a boot. */
    struct vm_template tmpl = {.snap_fd = -1, .disk_fd = -1};
    bool from_template = false;
    if (r >= 0 && vm_host.templates && !a->reuse_disk) {
        _cleanup_err_ struct runra_err *te = NULL;
        int t = vm_template_get(root, guest_mb, (unsigned)cpus, disk_mb, &spec->resources, &tmpl,
                                &te);
        if (t == 0 && (t = disk_from_template(tmpl.disk_fd, disk, disk_mb, &te)) >= 0)
            t = disk_own(disk, a->uid_base, &te);
        from_template = t == 0;
        if (t < 0) {
            unlink(disk);
            log_warn("event=vm.template_unused sandbox=%s err=\"%s\"", a->id,
                     te && te->msg ? te->msg : "no template");
        }
    }
    if (r >= 0 && !from_template)
        r = a->reuse_disk ? disk_own(disk, a->uid_base, err)
                          : disk_new(disk, disk_mb, a->uid_base, err);
    struct sandbox_resources res = spec->resources;
    res.memory_mb = guest_mb + VMM_OVERHEAD_MB;
    res.pids = VMM_PIDS;
    res.cpu = cpus + 1;
    if (r >= 0)
        r = ns_cgroup_create(vm_host.cg, a->id, &res, &b->cg, err);
    struct launch l = {
        .id = a->id,
        .dir = a->dir,
        .vmdir = b->vmdir,
        .root_img = root,
        .uid_base = a->uid_base,
        .accel = vm_host.accel,
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
    struct vm_setup_args setup = {
        .id = a->id,
        .workdir = spec->workdir ? spec->workdir : "/workspace",
        .image = a->layers_dir != NULL,
        .kind = VM_SETUP_SANDBOX,
        .res = &spec->resources,
    };
    bool restored = false, suspect = false;
    if (r >= 0 && from_template) {
        _cleanup_err_ struct runra_err *te = NULL;
        enum vm_restore_fail why = VM_RESTORE_FAILED;
        l.incoming_fd = tmpl.snap_fd;
        restored = vm_restore(&l, &setup, &b->pid, &b->pidfd, &fd, &why, &te) >= 0;
        l.incoming_fd = -1;
        if (!restored && why == VM_RESTORE_REFUSED && spec->workdir && te &&
            workdir_refusal(te->code)) {
            /* The guest cannot make the workdir this sandbox asked for
             * (the image's tree is in its way): a boot would be given the
             * same and refuse it the same way. */
            r = err_set(err, te->code, "%s", te->msg ? te->msg : "the guest refused its workdir");
        } else if (!restored) {
            /* A template whose state does not load is made again later;
             * the guest may have written to the copy: a boot gets a new
             * disk. */
            log_warn("event=vm.template_unused sandbox=%s template=%s dropped=%s err=\"%s\"",
                     a->id, tmpl.key, why == VM_RESTORE_BAD_STATE ? "yes" : "no",
                     te && te->msg ? te->msg : "restore failed");
            if (why == VM_RESTORE_BAD_STATE)
                vm_template_drop(&tmpl);
            /* Refused for another reason: the template's guest is to
             * blame if a boot takes the same setup (below). */
            suspect = why == VM_RESTORE_REFUSED;
            unlink(disk);
            r = disk_new(disk, disk_mb, a->uid_base, err);
        }
    }
    vm_template_close(&tmpl);
    if (r >= 0 && !restored)
        r = vm_launch(&l, &b->pid, &b->pidfd, err);
    if (r >= 0 && !restored) {
        r = vm_handshake(b->vmdir, b->pidfd, &setup,
                         vm_host.accel == VM_ACCEL_KVM ? BOOT_TIMEOUT_KVM_MS : BOOT_TIMEOUT_TCG_MS,
                         &fd, err);
        if (r < 0)
            vm_boot_error(a->dir, b->vmdir, r, err);
        if (r >= 0 && suspect) {
            vm_template_drop(&tmpl);
            log_warn("event=vm.template_dropped key=%s why=\"its restore refused a setup a boot "
                     "took\"",
                     tmpl.key);
        }
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
    log_info("event=vm.started sandbox=%s from=%s", a->id, restored ? tmpl.key : "boot");
    *ret = b;
    *ret_fd = fd;
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
    int r = vm_prepare(err);
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
    vm_snapshot_path(b, snap, sizeof(snap));
    bool paused = access(snap, R_OK) == 0;
    if ((r = ns_cgroup_open(vm_host.cg, a->id, &b->cg, err)) < 0 && paused) {
        err_free(err ? *err : NULL);
        if (err)
            *err = NULL;
        struct sandbox_resources res = {.cpu = b->vcpus + 1,
                                        .memory_mb = b->memory_mb + VMM_OVERHEAD_MB,
                                        .pids = VMM_PIDS};
        r = ns_cgroup_create(vm_host.cg, a->id, &res, &b->cg, err);
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
    r = vm_chan_connect(chan, b->pidfd, deadline, &fd, err);
    if (r >= 0)
        r = vm_send_setup(fd, &(struct vm_setup_args){.id = a->id, .workdir = "/workspace"}, err);
    /* A frozen guest answers once thawed; the manager reads that HELLO. */
    if (r >= 0 && !frozen)
        r = ns_sock_first_frame(fd, b->pidfd, deadline, NULL, err);
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

