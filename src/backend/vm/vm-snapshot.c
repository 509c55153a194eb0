/* Saved VMs: QMP to a VM's QEMU, pause and resume through a snapshot
 * file, and the templates creates restore from (vm-internal.h). */
#include "backend/vm/vm-internal.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backend/ns/disk.h"
#include "backend/ns/handshake.h"
#include "backend/ns/spawn.h"
#include "backend/vm/cache.h"
#include "backend/vm/qmp.h"
#include "backend/vm/snapfile.h"
#include "backend/vm/vm.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"

/* A QMP connection to a VM's QEMU: one command at a time, events skipped. */
#define QMP_EVENTS_BEFORE_GREETING 16
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
    int r = vm_chan_connect(path, pidfd, deadline, &q->fd, err);
    /* The greeting, past any event QEMU writes as the connection is made
     * (a MIGRATION event was seen to come first on a resume). */
    for (int skipped = 0; r >= 0; skipped++) {
        size_t len;
        struct qmp_msg m;
        if ((r = qmp_line(q, deadline, &len, err)) < 0)
            break;
        r = qmp_parse(q->buf, len, &m, err);
        if (r >= 0 && m.kind == QMP_EVENT && skipped < QMP_EVENTS_BEFORE_GREETING) {
            qmp_consume(q, len);
            continue;
        }
        if (r >= 0 && m.kind != QMP_GREETING)
            r = err_set(err, EPROTO, "QMP: no greeting (QEMU said '%.80s')", q->buf);
        qmp_consume(q, len);
        break;
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

void vm_snapshot_path(const struct box *b, char *out, size_t n)
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
int vm_suspend(struct box *b, struct runra_err **err)
{
    if (b->pidfd < 0)
        return 0; /* already suspended */
    char final[PATH_MAX];
    vm_snapshot_path(b, final, sizeof(final));
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
 * has loaded, the channel connected, the guest let go and VM_SETUP said:
 * HELLO is its answer. *ret_why (may be NULL) says, on failure, whose
 * fault it was: the snapshot's (QEMU started, then gave up on it before
 * it had loaded), the guest's (it answered VM_SETUP with an error), or
 * neither's. */
int vm_restore(const struct launch *l, const struct vm_setup_args *s, pid_t *ret_pid,
               int *ret_pidfd, int *ret_fd, enum vm_restore_fail *ret_why,
               struct runra_err **err)
{
    enum vm_restore_fail why = VM_RESTORE_FAILED;
    bool refused = false;
    char chan[PATH_MAX], qmp[PATH_MAX];
    snprintf(chan, sizeof(chan), "%s/chan.sock", l->vmdir);
    snprintf(qmp, sizeof(qmp), "%s/qmp.sock", l->vmdir);
    unlink(chan);
    unlink(qmp);
    pid_t pid = -1;
    int pidfd = -1, fd = -1;
    struct qmp_conn *q = NULL;
    int r = vm_launch(l, &pid, &pidfd, err);
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
    if (r < 0 && pidfd >= 0 && ret_why) {
        /* QEMU gave up on the snapshot (and is gone, or on its way out:
         * it may close QMP first), not on a device or a limit. */
        struct pollfd pf = {.fd = pidfd, .events = POLLIN};
        char log[PATH_MAX];
        snprintf(log, sizeof(log), "%s/qemu.log", l->dir);
        _cleanup_free_ char *text = NULL;
        if (poll(&pf, 1, 2000) == 1 && read_file_str(log, 64 * 1024, &text) >= 0 &&
            strstr(text, "load of migration failed"))
            why = VM_RESTORE_BAD_STATE;
    }
    /* Connected before the guest runs again, so the first thing it reads
     * is this host's VM_SETUP. */
    if (r >= 0)
        r = vm_chan_connect(chan, pidfd, now_ms() + QMP_TIMEOUT_MS, &fd, err);
    if (r >= 0)
        r = vm_send_setup(fd, s, err);
    if (r >= 0)
        r = qmp_exec(q, "cont", NULL, -1, NULL, err);
    if (r >= 0)
        r = ns_sock_first_frame(fd, pidfd, now_ms() + RESTORE_TIMEOUT_MS, &refused, err);
    if (q)
        qmp_close(q);
    if (r < 0) {
        if (refused)
            why = VM_RESTORE_REFUSED;
        else
            vm_boot_error(l->dir, l->vmdir, r, err);
        if (ret_why)
            *ret_why = why;
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

/* A template: a VM of this root disk, RAM, vCPUs and disk size booted
 * once, its root made (the image disk and a new sandbox disk mounted under
 * the overlay, the cgroup), and saved with that disk. A create copies the
 * disk, restores the VM and has the guest take its identity and limits.
 * Kept in cache/templates/KEY (cache.h), KEY named after everything the
 * saved state depends on: the guest's page cache holds the root disk's
 * blocks, so a root disk built again at the same path is another
 * template. Builds and uses are under vm_host.tmpl_lock and, for runrads
 * sharing the cache, an flock of templates/.lock. */
static void template_key(const char *root, uint64_t guest_mb, unsigned vcpus, uint64_t disk_mb,
                         char key[25])
{
    struct stat kst = {0}, ist = {0}, rst = {0};
    char kernel[PATH_MAX + 16];
    snprintf(kernel, sizeof(kernel), "%s/vmlinux", vm_host.kernel_dir);
    stat(kernel, &kst);
    stat(vm_host.initrd, &ist);
    stat(root, &rst);
    char id[256];
    snprintf(id, sizeof(id), "|%llu|%u|%llu|%d|%lld.%ld|%lld|%llu|%llu|%lld.%ld|%lld|rooted|",
             (unsigned long long)guest_mb, vcpus, (unsigned long long)disk_mb, (int)vm_host.accel,
             (long long)kst.st_mtim.tv_sec, kst.st_mtim.tv_nsec, (long long)ist.st_mtim.tv_sec,
             (unsigned long long)rst.st_dev, (unsigned long long)rst.st_ino,
             (long long)rst.st_mtim.tv_sec, rst.st_mtim.tv_nsec, (long long)rst.st_size);
    struct sha256 c;
    uint8_t dg[SHA256_LEN];
    sha256_init(&c);
    sha256_update(&c, root, strlen(root));
    sha256_update(&c, id, strlen(id));
    sha256_update(&c, vm_host.initrd, strlen(vm_host.initrd));
    sha256_final(&c, dg);
    for (size_t i = 0; i < 12; i++)
        snprintf(key + 2 * i, 3, "%02x", dg[i]);
}

/* The template's disk as its build VM left it, checked on an fd (the
 * build's vm dir is QEMU's, as is anything in it) and copied into the
 * cache: to's copy is runrad's own. */
static int template_take_disk(const char *from, const char *to, uint64_t disk_mb,
                              struct runra_err **err)
{
    _cleanup_close_ int in = open(from, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    struct stat st;
    if (in < 0)
        return err_sys(err, errno, "open %s", from);
    if (fstat(in, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
        (uint64_t)st.st_size != disk_mb << 20)
        return err_set(err, EIO, "the template's disk %s is not the disk it was given", from);
    _cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0400);
    if (out < 0)
        return err_sys(err, errno, "create %s", to);
    int r = vm_sparse_copy(in, out, disk_mb << 20, err);
    if (r >= 0 && fsync(out) < 0)
        r = err_sys(err, errno, "write %s", to);
    return r;
}

/* The template's saved VM, as QEMU left it at from, written to to
 * without the zero pages of guest RAM (snapfile.h); a stream of a form
 * vm_snap_compact does not know, or finds inconsistent, is kept as it is
 * (QEMU judges whether it loads: one that does not drops the template). */
static int template_take_snap(const char *from, const char *to, struct runra_err **err)
{
    _cleanup_close_ int in = open(from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return err_sys(err, errno, "open %s", from);
    _cleanup_close_ int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return err_sys(err, errno, "create %s", to);
    _cleanup_err_ struct runra_err *ce = NULL;
    struct vm_snap_stats st;
    int r = vm_snap_compact(in, out, &st, &ce);
    if (r == -ENOTSUP || r == -EBADMSG) {
        log_warn("event=vm.template_snap compacted=no err=\"%s\"", ce && ce->msg ? ce->msg : "");
        return rename(from, to) < 0 ? err_sys(err, errno, "save %s", to) : 0;
    }
    if (r < 0)
        return err_set(err, -r, "%s", ce && ce->msg ? ce->msg : "snapshot");
    log_info("event=vm.template_snap compacted=yes pages=%llu dropped=%llu",
             (unsigned long long)st.pages, (unsigned long long)st.dropped);
    return fsync(out) < 0 ? err_sys(err, errno, "write %s", to) : 0;
}

/* Boots the template's VM, has it make its root, saves it; published as
 * dir/KEY by renaming dir/KEY.new, so a template there is whole. */
static int template_build(const char *root, uint64_t guest_mb, unsigned vcpus, uint64_t disk_mb,
                          const struct sandbox_resources *limits, const char *dir, const char *key,
                          struct runra_err **err)
{
    struct vm_scratch sc;
    struct sandbox_resources res = {.cpu = vcpus + 1, .memory_mb = guest_mb + VMM_OVERHEAD_MB,
                                    .pids = VMM_PIDS};
    struct qmp_conn *q = NULL;
    char disk[sizeof(sc.vmdir) + 16], snap[sizeof(sc.dir) + 16];
    int r = vm_scratch_begin("templates/build.XXXXXX", &res, &sc, err);
    if (r >= 0) {
        snprintf(disk, sizeof(disk), "%s/disk.img", sc.vmdir);
        snprintf(snap, sizeof(snap), "%s/snap", sc.dir);
        if ((r = ns_disk_format(vm_host.mkfs, disk, disk_mb, 0, err)) >= 0 &&
            chown(disk, sc.uid, sc.uid) < 0)
            r = err_sys(err, errno, "chown %s", disk);
    }
    if (r >= 0) {
        struct launch l = {.id = "template", .dir = sc.dir, .vmdir = sc.vmdir, .root_img = root,
                           .uid_base = sc.uid, .accel = vm_host.accel, .vcpus = vcpus,
                           .memory_mb = guest_mb, .cg = sc.cg, .incoming_fd = -1};
        r = vm_launch(&l, &sc.pid, &sc.pidfd, err);
    }
    struct vm_setup_args setup = {
        .id = "template", .workdir = "/", .kind = VM_SETUP_TEMPLATE, .res = limits};
    if (r >= 0 &&
        (r = vm_handshake(sc.vmdir, sc.pidfd, &setup,
                          vm_host.accel == VM_ACCEL_KVM ? BOOT_TIMEOUT_KVM_MS : BOOT_TIMEOUT_TCG_MS,
                          &sc.fd, err)) < 0)
        vm_boot_error(sc.dir, sc.vmdir, r, err);
    if (r >= 0)
        r = qmp_open(sc.vmdir, sc.pidfd, &q, err);
    if (r >= 0 && (r = snapshot_to(q, snap, err)) >= 0)
        qmp_quit(q, sc.pidfd, "template");
    if (q)
        qmp_close(q);
    /* QEMU is gone: its disk is as the snapshot saw it. */
    char tmp[VM_DIR_MAX + 64], final[VM_DIR_MAX + 64], path[VM_DIR_MAX + 80];
    snprintf(tmp, sizeof(tmp), "%s/%s.new", dir, key);
    snprintf(final, sizeof(final), "%s/%s", dir, key);
    if (r >= 0) {
        rm_rf(tmp);
        if (mkdir(tmp, 0700) < 0)
            r = err_sys(err, errno, "create %s", tmp);
    }
    if (r >= 0) {
        snprintf(path, sizeof(path), "%s/disk", tmp);
        r = template_take_disk(disk, path, disk_mb, err);
    }
    if (r >= 0) {
        snprintf(path, sizeof(path), "%s/snap", tmp);
        r = template_take_snap(snap, path, err);
    }
    if (r >= 0) {
        rm_rf(final);
        if (rename(tmp, final) < 0)
            r = err_sys(err, errno, "save %s", final);
    }
    if (r < 0)
        rm_rf(tmp);
    vm_scratch_end(&sc);
    return r;
}

/* Takes the cache's lock for this runrad (tmpl_lock) and for others that
 * share the cache (an flock); *ret_fd holds the latter. */
static int templates_lock(const char *dir, int *ret_fd, struct runra_err **err)
{
    pthread_mutex_lock(&vm_host.tmpl_lock);
    char path[VM_DIR_MAX + 32];
    snprintf(path, sizeof(path), "%s/.lock", dir);
    int r = mkdir_p(dir, 0700);
    int fd = r < 0 ? r : open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        pthread_mutex_unlock(&vm_host.tmpl_lock);
        return err_sys(err, r < 0 ? r : errno, "open %s", path);
    }
    while ((r = flock(fd, LOCK_EX)) < 0 && errno == EINTR)
        ;
    if (r < 0) {
        r = err_sys(err, errno, "lock %s", path);
        close(fd);
        pthread_mutex_unlock(&vm_host.tmpl_lock);
        return r;
    }
    *ret_fd = fd;
    return 0;
}

static void templates_unlock(int fd)
{
    close(fd); /* and so its flock */
    pthread_mutex_unlock(&vm_host.tmpl_lock);
}

/* Past a failed build, none for this long; the create boots instead. */
#define TEMPLATE_RETRY_S 3600

/* Opens dir/KEY's snapshot and disk, a disk of disk_mb, into *t's fds;
 * -ENOENT when there is no whole template. */
static int template_open(const char *dir, const char *key, uint64_t disk_mb,
                         struct vm_template *t, struct runra_err **err)
{
    char snap[VM_DIR_MAX + 64], disk[VM_DIR_MAX + 64];
    snprintf(snap, sizeof(snap), "%s/%s/snap", dir, key);
    snprintf(disk, sizeof(disk), "%s/%s/disk", dir, key);
    int e = 0;
    struct stat st;
    if ((t->snap_fd = open(snap, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0 ||
        (t->disk_fd = open(disk, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
        e = errno;
    else if (fstat(t->disk_fd, &st) < 0 || !S_ISREG(st.st_mode) ||
             (uint64_t)st.st_size != disk_mb << 20 || fstat(t->snap_fd, &st) < 0)
        e = ENOENT; /* not a whole template: made again */
    if (e) {
        vm_template_close(t);
        return err_sys(err, e, "template %s", key);
    }
    t->snap_dev = st.st_dev;
    t->snap_ino = st.st_ino;
    utimensat(AT_FDCWD, snap, NULL, 0); /* used now: pruned last */
    return 0;
}

void vm_template_close(struct vm_template *t)
{
    if (t->snap_fd >= 0)
        close(t->snap_fd);
    if (t->disk_fd >= 0)
        close(t->disk_fd);
    t->snap_fd = t->disk_fd = -1;
}

/* A mark: an empty file at path, now. */
static void mark(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
}

/* No template for this shape in dir: 1 for a first create (it marks the
 * shape) or while a failed build is recent; else the build, 0 with *t. */
static int template_missing(const char *root, uint64_t guest_mb, unsigned vcpus, uint64_t disk_mb,
                            const struct sandbox_resources *limits, const char *dir,
                            struct vm_template *t, struct runra_err **err)
{
    char wanted[VM_DIR_MAX + 48], failed[VM_DIR_MAX + 48];
    snprintf(wanted, sizeof(wanted), "%s/%s.wanted", dir, t->key);
    snprintf(failed, sizeof(failed), "%s/%s.failed", dir, t->key);
    struct stat st;
    if (stat(failed, &st) == 0 && time(NULL) - st.st_mtim.tv_sec < TEMPLATE_RETRY_S)
        return 1;
    if (access(wanted, F_OK) < 0) {
        mark(wanted);
        return 1;
    }
    uint64_t t0 = now_ms();
    unlink(failed);
    int r = template_build(root, guest_mb, vcpus, disk_mb, limits, dir, t->key, err);
    if (r < 0) {
        mark(failed);
        return r;
    }
    log_info("event=vm.template key=%s ms=%llu", t->key, (unsigned long long)(now_ms() - t0));
    unlink(wanted);
    size_t pruned = 0;
    _cleanup_err_ struct runra_err *pe = NULL;
    if (vm_cache_prune(dir, t->key, TEMPLATES_KEPT, time(NULL), TEMPLATE_MARK_MAX_AGE_S, &pruned,
                       &pe) < 0)
        log_warn("event=vm.template_prune err=\"%s\"", pe && pe->msg ? pe->msg : "");
    else if (pruned)
        log_info("event=vm.template_prune removed=%zu", pruned);
    return template_open(dir, t->key, disk_mb, t, err);
}

int vm_template_get(const char *root, uint64_t guest_mb, unsigned vcpus, uint64_t disk_mb,
                    const struct sandbox_resources *limits, struct vm_template *ret,
                    struct runra_err **err)
{
    struct vm_template t = {.snap_fd = -1, .disk_fd = -1};
    char dir[VM_DIR_MAX + 16];
    template_key(root, guest_mb, vcpus, disk_mb, t.key);
    snprintf(dir, sizeof(dir), "%s/templates", vm_host.cache);
    int lock, r = templates_lock(dir, &lock, err);
    if (r < 0)
        return r;
    _cleanup_err_ struct runra_err *oe = NULL;
    r = template_open(dir, t.key, disk_mb, &t, &oe);
    if (r == -ENOENT)
        r = template_missing(root, guest_mb, vcpus, disk_mb, limits, dir, &t, err);
    else if (r < 0) /* there, but not to be had now */
        r = err_set(err, -r, "%s", oe && oe->msg ? oe->msg : "template");
    templates_unlock(lock);
    if (r == 0)
        *ret = t;
    return r;
}

void vm_template_drop(const struct vm_template *t)
{
    char dir[VM_DIR_MAX + 16], path[VM_DIR_MAX + 64];
    snprintf(dir, sizeof(dir), "%s/templates", vm_host.cache);
    int lock;
    if (templates_lock(dir, &lock, NULL) < 0)
        return;
    /* Only the template that failed: not one built since by another. */
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s/snap", dir, t->key);
    if (stat(path, &st) == 0 && st.st_dev == t->snap_dev && st.st_ino == t->snap_ino) {
        snprintf(path, sizeof(path), "%s/%s", dir, t->key);
        rm_rf(path);
    }
    templates_unlock(lock);
}

/* Resume: QEMU again, as it was started, from dir/snapshot. */
int vm_resume(struct box *b, int *ret_fd, struct runra_err **err)
{
    char final[PATH_MAX];
    vm_snapshot_path(b, final, sizeof(final));
    int r = vm_prepare(err);
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
    /* The guest has its root and identity: this only sets its clock. */
    struct vm_setup_args setup = {.id = b->id, .workdir = "/workspace"};
    r = vm_restore(&l, &setup, &pid, &pidfd, ret_fd, NULL, err);
    if (r < 0)
        return err_prefix(err, "resume");
    unlink(final);
    b->pid = pid;
    b->pidfd = pidfd;
    return 0;
}
