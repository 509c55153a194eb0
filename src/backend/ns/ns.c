/* The namespace backend's ops table: create runs a table of named steps
 * (disk, cgroup, socket, spawn, handshake, detach) and undoes the completed
 * ones in reverse on failure; destroy tears down in the order that lets
 * each resource go (processes, cgroups, disk, files). Thread-safe: the only
 * shared state is the host facts, gathered once under pthread_once. */
#include "backend/ns/ns.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/ns/cgroup.h"
#include "backend/ns/config.h"
#include "backend/ns/disk.h"
#include "backend/ns/handshake.h"
#include "backend/ns/idmap.h"
#include "backend/ns/spawn.h"
#include "base/util.h"
#include "proto/msg.h"

/* fd numbers runra-init finds its listening socket and root at. */
#define INIT_LISTEN_FD 3
#define INIT_ROOT_FD 4
#define INIT_MOUNT_FD0 5 /* host mounts: 5, 6, ... */
#define HELLO_TIMEOUT_MS 10000
#define KILL_TIMEOUT_MS 10000

static struct {
    pthread_once_t once;
    enum ns_cgroup_mode cg;
    int landlock_abi;
    char mkfs[PATH_MAX];
    bool loop_ok;
    int err_code; /* why sandboxes cannot be made, or 0 */
    char err_msg[256];
} host = {.once = PTHREAD_ONCE_INIT};

static void host_detect(void)
{
    _cleanup_err_ struct runra_err *e = NULL;
    if (ns_cgroup_detect(&host.cg, &e) < 0) {
        host.err_code = e->code;
        snprintf(host.err_msg, sizeof(host.err_msg), "%s", e->msg ? e->msg : "no usable cgroups");
    }
    _cleanup_free_ char *max = NULL;
    uint64_t n = 1;
    if (read_file_str("/proc/sys/user/max_user_namespaces", 64, &max) >= 0) {
        max[strcspn(max, "\n")] = 0;
        if (parse_u64(max, &n) < 0)
            n = 1;
    }
    if (n == 0) {
        host.err_code = EPERM;
        snprintf(host.err_msg, sizeof(host.err_msg),
                 "user namespaces are disabled (user.max_user_namespaces=0)");
    }
    long abi =
        syscall(SYS_landlock_create_ruleset, NULL, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
    host.landlock_abi = abi < 0 ? 0 : (int)abi;
    ns_disk_probe(host.mkfs, sizeof(host.mkfs), &host.loop_ok);
}

static int host_ready(struct runra_err **err)
{
    pthread_once(&host.once, host_detect);
    if (host.err_code)
        return err_set(err, host.err_code, "ns backend unavailable: %s", host.err_msg);
    return 0;
}

int ns_daemon_init(struct runra_err **err) { return host_ready(err); }

const char *ns_cgroup_mode_name(void)
{
    pthread_once(&host.once, host_detect);
    return ns_cgroup_mode_str(host.cg);
}

int ns_landlock_abi(void)
{
    pthread_once(&host.once, host_detect);
    return host.landlock_abi;
}

struct box {
    char *id;
    char *dir;
    char *sock;
    pid_t pid;
    int pidfd;
    struct ns_cgroup *cg;
    struct ns_disk *disk;
};

struct create {
    const struct backend_create_args *a;
    struct box *b;
    int listen_fd;
    int conn_fd;
};

static int c_check(struct create *c, struct runra_err **err)
{
    const struct backend_create_args *a = c->a;
    if (!a->id || !ns_cgroup_id_ok(a->id) || !a->spec || !a->dir || a->dir[0] != '/' ||
        !a->init_path)
        return err_set(err, EINVAL, "bad create arguments");
    if (a->uid_base == 0 || a->uid_base > UINT32_MAX - 65536)
        return err_set(err, EINVAL, "uid base %u would map the sandbox onto host root",
                       a->uid_base);
    if (!(c->b->id = strdup(a->id)) || !(c->b->dir = strdup(a->dir)) ||
        asprintf(&c->b->sock, "%s/init.sock", a->dir) < 0)
        return -ENOMEM;
    return host_ready(err);
}

static int c_disk(struct create *c, struct runra_err **err)
{
    enum ns_disk_kind kind = host.mkfs[0] && host.loop_ok ? NS_DISK_EXT4 : NS_DISK_TMPFS;
    if (c->a->spec->persist && kind != NS_DISK_EXT4)
        return err_set(err, ENOSYS,
                       "persist needs a disk image, and this host has no loop devices or "
                       "mkfs.ext4");
    if (c->a->reuse_disk)
        return ns_disk_reopen(c->a->dir, &c->b->disk, err);
    return ns_disk_create(c->a->dir, c->a->spec->resources.disk_mb, c->a->uid_base, kind, host.mkfs,
                          &c->b->disk, err);
}

static void u_disk(struct create *c)
{
    ns_disk_destroy(c->b->disk, NULL);
    c->b->disk = NULL;
}

static int c_cgroup(struct create *c, struct runra_err **err)
{
    return ns_cgroup_create(host.cg, c->a->id, &c->a->spec->resources, &c->b->cg, err);
}

static void u_cgroup(struct create *c)
{
    ns_cgroup_destroy(c->b->cg, NULL);
    c->b->cg = NULL;
}

static int c_socket(struct create *c, struct runra_err **err)
{
    return ns_sock_listen(c->b->sock, &c->listen_fd, err);
}

static void u_socket(struct create *c) { unlink(c->b->sock); }

static int c_spawn(struct create *c, struct runra_err **err)
{
    const struct backend_create_args *a = c->a;
    /* Host mounts are made here, idmapped to the sandbox's root, and handed
     * to runra-init to attach inside. */
    int mfds[NS_CONFIG_MOUNTS_MAX + 1], mtargets[NS_CONFIG_MOUNTS_MAX + 1];
    size_t nm = 0;
    int r = 0;
    if (a->spec->nmounts > NS_CONFIG_MOUNTS_MAX)
        return err_set(err, E2BIG, "too many mounts");
    for (; nm < a->spec->nmounts; nm++) {
        const struct sandbox_mount *sm = &a->spec->mounts[nm];
        r = ns_idmap_mount(sm->source, sm->readonly, a->uid_base, a->hide, &mfds[nm], err);
        if (r < 0)
            break;
        mtargets[nm] = INIT_MOUNT_FD0 + (int)nm;
    }
    /* An image's layers: the whole store through one idmapped mount, the
     * fd after the host mounts'. */
    int layers_fd = -1;
    if (r >= 0 && a->layers_dir) {
        if (a->nlayers > NS_CONFIG_LAYERS_MAX)
            r = err_set(err, E2BIG, "the image has more than %d layers", NS_CONFIG_LAYERS_MAX);
        else
            r = ns_idmap_layers(a->layers_dir, a->uid_base, &mfds[nm], err);
        if (r >= 0) {
            mtargets[nm] = INIT_MOUNT_FD0 + (int)nm;
            layers_fd = mtargets[nm];
        }
    }
    size_t nfds = nm + (layers_fd >= 0);
    if (r < 0) {
        for (size_t i = 0; i < nm; i++)
            close(mfds[i]);
        return r;
    }
    struct ns_config cfg = {
        .root = (char *)ns_disk_root(c->b->disk),
        .hostname = (char *)a->id,
        .image = a->spec->image ? a->spec->image : "host",
        .workdir = a->spec->workdir ? a->spec->workdir : "/workspace",
        .hide = (char **)a->hide,
        .listen_fd = INIT_LISTEN_FD,
        .root_fd = INIT_ROOT_FD,
        .nmounts = nm,
        .layers_fd = layers_fd,
        .layers = (char **)a->layers,
        .nlayers = a->nlayers,
    };
    for (size_t i = 0; i < nm; i++) {
        cfg.mount_fds[i] = mtargets[i];
        cfg.mount_targets[i] = a->spec->mounts[i].target;
    }
    char **argv = NULL;
    r = ns_config_to_argv(&cfg, &argv);
    if (r < 0) {
        for (size_t i = 0; i < nfds; i++)
            close(mfds[i]);
        return err_sys(err, r, "runra-init argv");
    }
    struct ns_spawn_args sa = {
        .init_path = a->init_path,
        .argv = argv,
        .listen_fd = c->listen_fd,
        .listen_target = INIT_LISTEN_FD,
        .root_path = ns_disk_root(c->b->disk),
        .root_target = INIT_ROOT_FD,
        .uid_base = a->uid_base,
        .cg = c->b->cg,
        .extra_fds = mfds,
        .extra_targets = mtargets,
        .nextra = nfds,
    };
    r = ns_spawn(&sa, &c->b->pid, &c->b->pidfd, err);
    strv_free(argv);
    for (size_t i = 0; i < nfds; i++)
        close(mfds[i]);
    /* Only runra-init holds the listening socket from here on, so the
     * connection breaks (rather than hangs) if it dies. */
    close(c->listen_fd);
    c->listen_fd = -1;
    return r;
}

static void u_spawn(struct create *c)
{
    ns_spawn_kill(c->b->pidfd, KILL_TIMEOUT_MS);
    if (c->b->pidfd >= 0)
        close(c->b->pidfd);
    c->b->pidfd = -1;
    c->b->pid = -1;
}

static int c_hello(struct create *c, struct runra_err **err)
{
    return ns_sock_hello(c->b->sock, c->b->pidfd, HELLO_TIMEOUT_MS, &c->conn_fd, err);
}

static int c_detach(struct create *c, struct runra_err **err)
{
    /* The sandbox's mount namespace holds its own copy of the disk; the
     * daemon lets go of its copy and never touches sandbox files again. */
    return ns_disk_detach(c->b->disk, err);
}

static const struct {
    const char *name;
    int (*run)(struct create *c, struct runra_err **err);
    void (*undo)(struct create *c);
} create_steps[] = {
    {"check arguments", c_check, NULL},     {"disk", c_disk, u_disk},
    {"cgroup", c_cgroup, u_cgroup},         {"socket", c_socket, u_socket},
    {"spawn runra-init", c_spawn, u_spawn}, {"handshake", c_hello, NULL},
    {"detach disk", c_detach, NULL},
};

static void box_free(struct box *b)
{
    if (!b)
        return;
    free(b->id);
    free(b->dir);
    free(b->sock);
    free(b);
}

static int ns_create(const struct backend_create_args *a, struct box **ret, int *ret_fd,
                     struct runra_err **err)
{
    struct box *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->pid = -1;
    b->pidfd = -1;
    struct create c = {.a = a, .b = b, .listen_fd = -1, .conn_fd = -1};
    size_t i = 0;
    int r = 0;
    for (; i < ARRAY_SIZE(create_steps); i++) {
        r = create_steps[i].run(&c, err);
        if (r < 0)
            break;
    }
    if (r < 0) {
        if (err && *err)
            err_prefix(err, "ns create, step '%s'", create_steps[i].name);
        else
            err_sys(err, r, "ns create, step '%s'", create_steps[i].name);
        if (c.conn_fd >= 0)
            close(c.conn_fd);
        if (c.listen_fd >= 0)
            close(c.listen_fd);
        /* Undo in reverse, the failed step included (its undo copes with a
         * half-done step): processes die before their cgroup goes, the
         * cgroup before the disk. */
        for (size_t j = i + 1; j-- > 0;)
            if (create_steps[j].undo)
                create_steps[j].undo(&c);
        box_free(b);
        return r;
    }
    *ret = b;
    *ret_fd = c.conn_fd;
    return 0;
}

static int ns_destroy(struct box *b, struct runra_err **err)
{
    if (!b)
        return 0;
    int ret = 0;
    /* Killing init kills every process of the pid namespace; the cgroup
     * destroy after it catches anything that slipped out of the wait. */
    int k = ns_spawn_kill(b->pidfd, KILL_TIMEOUT_MS);
    int r = ns_cgroup_destroy(b->cg, err);
    if (r < 0)
        ret = r;
    if (k < 0) {
        /* Init outlived the wait (stuck in the kernel); the cgroup kill has
         * gone after everything else, so give it one more chance to be
         * reaped rather than leave a zombie. */
        k = ns_spawn_kill(b->pidfd, 2000);
        if (k < 0 && ret == 0)
            ret = err_sys(err, k, "sandbox %s: runra-init does not exit", b->id);
    }
    if (b->pidfd >= 0)
        close(b->pidfd);
    r = ns_disk_destroy(b->disk, ret < 0 ? NULL : err);
    if (r < 0 && ret == 0)
        ret = r;
    r = rm_rf(b->dir);
    if (r < 0 && ret == 0)
        ret = err_sys(err, r, "remove %s", b->dir);
    box_free(b);
    return ret;
}

static int ns_cleanup(const char *id, const char *dir, bool keep_disk, struct runra_err **err)
{
    if (!id || !ns_cgroup_id_ok(id) || !dir || dir[0] != '/')
        return err_set(err, EINVAL, "bad cleanup arguments");
    int ret = host_ready(err);
    if (ret < 0)
        return ret;
    /* The cgroups hold every process the old sandbox had; once they are
     * gone its mount namespace and, with it, the loop device go too. */
    ret = ns_cgroup_cleanup(host.cg, id, err);
    int r = ns_disk_cleanup(dir, ret < 0 ? NULL : err);
    if (r < 0 && ret == 0)
        ret = r;
    if (keep_disk) {
        /* Only the image stays: a resume makes everything else anew. */
        _cleanup_free_ char *sock = NULL, *root = NULL;
        if (asprintf(&sock, "%s/init.sock", dir) < 0 || asprintf(&root, "%s/root", dir) < 0)
            return -ENOMEM;
        unlink(sock);
        rmdir(root);
        return ret;
    }
    r = rm_rf(dir);
    if (r < 0 && ret == 0)
        ret = err_sys(err, r, "remove %s", dir);
    return ret;
}

static int ns_stats(struct box *b, struct box_stats *ret, struct runra_err **err)
{
    return ns_cgroup_stats(b->cg, ret, err);
}

static int ns_oom_kills(struct box *b, uint64_t *ret, struct runra_err **err)
{
    return ns_cgroup_oom_kills(b->cg, ret, err);
}

static int64_t ns_init_pid(struct box *b) { return b && b->pid > 0 ? b->pid : -1; }

static int ns_freeze(struct box *b, bool frozen, struct runra_err **err)
{
    return ns_cgroup_freeze(b->cg, frozen, err);
}

static int ns_available(struct runra_err **err) { return host_ready(err); }

/* pidfd_open(2) without relying on a libc that wraps it. */
static int open_pidfd(pid_t pid)
{
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -errno : (int)fd;
}

/* True when host pid is the init (pid 1) of its own pid namespace. */
static bool is_ns_init(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    _cleanup_free_ char *st = NULL;
    if (read_file_str(path, 64 * 1024, &st) < 0)
        return false;
    const char *l = strstr(st, "\nNSpid:");
    if (!l)
        return false;
    const char *end = strchr(l + 1, '\n');
    size_t n = end ? (size_t)(end - l) : strlen(l);
    /* "NSpid:\t<host>\t1": the last number is its pid in its own namespace. */
    return n >= 3 && l[n - 1] == '1' && (l[n - 2] == '\t' || l[n - 2] == ' ');
}

static int ns_reattach(const struct backend_reattach_args *a, struct box **ret, int *ret_fd,
                       bool *ret_frozen, struct runra_err **err)
{
    if (!a->id || !ns_cgroup_id_ok(a->id) || !a->dir || a->dir[0] != '/')
        return err_set(err, EINVAL, "bad reattach arguments");
    int r = host_ready(err);
    if (r < 0)
        return r;
    if (a->init_pid <= 1 || a->init_pid > INT32_MAX)
        return err_set(err, ESRCH, "no runra-init pid was recorded");
    struct box *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->pid = (pid_t)a->init_pid;
    b->pidfd = -1;
    int fd = -1;
    if (!(b->id = strdup(a->id)) || !(b->dir = strdup(a->dir)) ||
        asprintf(&b->sock, "%s/init.sock", a->dir) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    if ((r = ns_cgroup_open(host.cg, a->id, &b->cg, err)) < 0) {
        err_prefix(err, "its cgroup is gone");
        r = -ESRCH;
        goto fail;
    }
    /* The pidfd first, then the checks: once it is open the pid cannot be
     * reused under it, so a process that passes them is the one we hold. */
    b->pidfd = open_pidfd(b->pid);
    if (b->pidfd < 0) {
        r = err_set(err, ESRCH, "runra-init (pid %d) has exited", (int)b->pid);
        goto fail;
    }
    if (!ns_cgroup_has(b->cg, b->pid) || !is_ns_init(b->pid)) {
        r = err_set(err, ESRCH, "pid %d is no longer the sandbox's runra-init", (int)b->pid);
        close(b->pidfd);
        b->pidfd = -1;
        goto fail;
    }
    if ((r = ns_disk_find(a->dir, &b->disk)) < 0)
        goto fail;
    bool frozen = ns_cgroup_frozen(b->cg);
    if (frozen) {
        /* A frozen init cannot answer; the kernel queues the connection
         * and its HELLO arrives once the sandbox is thawed. */
        r = ns_sock_connect(b->sock, &fd, err);
    } else {
        r = ns_sock_hello(b->sock, b->pidfd, HELLO_TIMEOUT_MS, &fd, err);
        if (r == -ECHILD || r == -EPIPE) {
            struct pollfd pf = {.fd = b->pidfd, .events = POLLIN};
            if (poll(&pf, 1, 0) == 1)
                r = -ESRCH; /* it died meanwhile: gone, not unreachable */
        }
    }
    if (r < 0)
        goto fail;
    *ret = b;
    *ret_fd = fd;
    *ret_frozen = frozen;
    return 0;
fail:
    if (b->pidfd >= 0)
        close(b->pidfd);
    ns_cgroup_forget(b->cg);
    if (b->disk)
        ns_disk_forget(b->disk);
    box_free(b);
    return r;
}

static void ns_release(struct box *b)
{
    if (!b)
        return;
    if (b->pidfd >= 0)
        close(b->pidfd);
    ns_cgroup_forget(b->cg);
    if (b->disk) {
        /* The sandbox's own mount namespace holds the disk; ours lets go. */
        ns_disk_detach(b->disk, NULL);
        ns_disk_forget(b->disk);
    }
    box_free(b);
}

const struct backend_ops ns_backend_ops = {
    .name = "ns",
    .available = ns_available,
    .create = ns_create,
    .destroy = ns_destroy,
    .stats = ns_stats,
    .oom_kills = ns_oom_kills,
    .cleanup = ns_cleanup,
    .init_pid = ns_init_pid,
    .freeze = ns_freeze,
    .reattach = ns_reattach,
    .release = ns_release,
};
