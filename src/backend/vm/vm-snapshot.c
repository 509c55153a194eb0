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
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/ns/disk.h"
#include "backend/ns/handshake.h"
#include "backend/ns/spawn.h"
#include "backend/vm/qmp.h"
#include "backend/vm/vm.h"
#include "base/log.h"
#include "base/sha256.h"
#include "base/util.h"

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
    int r = vm_chan_connect(path, pidfd, deadline, &q->fd, err);
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
 * has loaded, the disk is told its size (a template's was another), the
 * channel connected, the guest let go and VM_SETUP said: HELLO is its
 * answer. */
int vm_restore(const struct launch *l, uint64_t disk_mb, const char *workdir, bool image,
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
    if (r >= 0 && disk_mb) {
        char args[96];
        snprintf(args, sizeof(args), "{\"device\":\"disk1\",\"size\":%llu}",
                 (unsigned long long)disk_mb << 20);
        r = qmp_exec(q, "block_resize", args, -1, NULL, err);
    }
    /* Connected before the guest runs again, so the first thing it reads
     * is this host's VM_SETUP. */
    if (r >= 0)
        r = vm_chan_connect(chan, pidfd, now_ms() + QMP_TIMEOUT_MS, &fd, err);
    if (r >= 0)
        r = vm_send_setup(fd, l->id, workdir, image, false, res, err);
    if (r >= 0)
        r = qmp_exec(q, "cont", NULL, -1, NULL, err);
    if (r >= 0)
        r = ns_sock_first_frame(fd, pidfd, now_ms() + RESTORE_TIMEOUT_MS, err);
    if (q)
        qmp_close(q);
    if (r < 0) {
        vm_boot_error(l->dir, l->vmdir, r, err);
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
    snprintf(kernel, sizeof(kernel), "%s/vmlinux", vm_host.kernel_dir);
    stat(kernel, &kst);
    stat(vm_host.initrd, &ist);
    char id[160];
    snprintf(id, sizeof(id), "|%llu|%u|%d|%lld.%ld|%lld|nic|", (unsigned long long)guest_mb, vcpus,
             (int)accel, (long long)kst.st_mtim.tv_sec, kst.st_mtim.tv_nsec,
             (long long)ist.st_mtim.tv_sec);
    struct sha256 c;
    uint8_t dg[SHA256_LEN];
    sha256_init(&c);
    sha256_update(&c, root, strlen(root));
    sha256_update(&c, id, strlen(id));
    sha256_update(&c, vm_host.initrd, strlen(vm_host.initrd));
    sha256_final(&c, dg);
    char hex[25];
    for (size_t i = 0; i < 12; i++)
        snprintf(hex + 2 * i, 3, "%02x", dg[i]);
    int k = snprintf(out, n, "%s/templates/%s.snap", vm_host.cache, hex);
    return k < 0 || (size_t)k >= n ? -ENAMETOOLONG : 0;
}


static int template_build(const char *root, uint64_t guest_mb, unsigned vcpus,
                          enum vm_accel accel, const char *out, struct runra_err **err)
{
    struct vm_scratch sc;
    struct sandbox_resources res = {.cpu = vcpus + 1, .memory_mb = guest_mb + VMM_OVERHEAD_MB,
                                    .pids = VMM_PIDS};
    struct qmp_conn *q = NULL;
    char disk[sizeof(sc.vmdir) + 16];
    int r = vm_scratch_begin("templates/build.XXXXXX", &res, &sc, err);
    if (r >= 0) {
        snprintf(disk, sizeof(disk), "%s/disk.img", sc.vmdir);
        if ((r = ns_disk_format(vm_host.mkfs, disk, TEMPLATE_DISK_MB, 0, err)) >= 0 &&
            chown(disk, sc.uid, sc.uid) < 0)
            r = err_sys(err, errno, "chown %s", disk);
    }
    if (r >= 0) {
        struct launch l = {.id = "template", .dir = sc.dir, .vmdir = sc.vmdir, .root_img = root,
                           .uid_base = sc.uid, .accel = accel, .vcpus = vcpus,
                           .memory_mb = guest_mb, .cg = sc.cg, .incoming_fd = -1};
        r = vm_launch(&l, &sc.pid, &sc.pidfd, err);
    }
    if (r >= 0 && (r = vm_handshake(sc.vmdir, sc.pidfd, "template", "/", false, true, NULL,
                                 accel == VM_ACCEL_KVM ? BOOT_TIMEOUT_KVM_MS : BOOT_TIMEOUT_TCG_MS,
                                 &sc.fd, err)) < 0)
        vm_boot_error(sc.dir, sc.vmdir, r, err);
    if (r >= 0)
        r = qmp_open(sc.vmdir, sc.pidfd, &q, err);
    if (r >= 0 && (r = snapshot_to(q, out, err)) >= 0)
        qmp_quit(q, sc.pidfd, "template");
    if (q)
        qmp_close(q);
    vm_scratch_end(&sc);
    return r;
}

/* The template for this VM shape, made on first use; 0 with *out set, or
 * an error (the create then boots cold). */
int vm_template_get(const char *root, uint64_t guest_mb, unsigned vcpus, enum vm_accel accel,
                        char *out, size_t n, struct runra_err **err)
{
    if (template_path(root, guest_mb, vcpus, accel, out, n) < 0)
        return err_set(err, ENAMETOOLONG, "template path too long");
    pthread_mutex_lock(&vm_host.lock);
    int r = 0;
    if (access(out, R_OK) < 0) {
        char dir[VM_DIR_MAX + 16];
        snprintf(dir, sizeof(dir), "%s/templates", vm_host.cache);
        uint64_t t0 = now_ms();
        if ((r = mkdir_p(dir, 0700)) < 0)
            err_sys(err, r, "create %s", dir);
        else if ((r = template_build(root, guest_mb, vcpus, accel, out, err)) >= 0)
            log_info("event=vm.template path=%s ms=%llu", out, (unsigned long long)(now_ms() - t0));
    }
    pthread_mutex_unlock(&vm_host.lock);
    return r;
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
    r = vm_restore(&l, 0, "/workspace", false, NULL, &pid, &pidfd, ret_fd, err);
    if (r < 0)
        return err_prefix(err, "resume");
    unlink(final);
    b->pid = pid;
    b->pidfd = pidfd;
    return 0;
}
