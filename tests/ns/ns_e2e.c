/* End-to-end check of the ns backend on this host (needs root): creates
 * real boxes with a test init (argv[1]: probe-init or runra-init), checks
 * the isolation and limits from inside and outside, and that destroy and
 * cleanup leave no mount, loop device, cgroup, process or file behind.
 * Prints "N passed, N failed"; exits 77 (skip) when not root. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backend/backend.h"
#include "backend/ns/cgroup.h"
#include "backend/ns/disk.h"
#include "backend/ns/ns.h"
#include "base/util.h"
#include "proto/frame.h"
#include "proto/msg.h"
#include "proto/spec.h"

static int n_pass, n_fail;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *init_path;
static char state_dir[128], boxes_dir[256];

static void expect(bool ok, const char *fmt, ...) _printf_(2, 3);
static void expect(bool ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pthread_mutex_lock(&count_lock);
    if (ok) {
        n_pass++;
    } else {
        n_fail++;
        fprintf(stderr, "FAIL: ");
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    pthread_mutex_unlock(&count_lock);
    va_end(ap);
}

struct tbox {
    char id[16];
    char dir[512];
    struct box *b;
    int fd;
    int64_t pid;
    uint32_t call;
    uint8_t *payload;
};

static int box_new(struct tbox *t, const struct sandbox_resources *res, uint32_t uid_base,
                   const char *init, struct runra_err **err)
{
    memset(t, 0, sizeof(*t));
    t->fd = -1;
    random_hex(t->id, 12);
    snprintf(t->dir, sizeof(t->dir), "%s/%s", boxes_dir, t->id);
    if (mkdir(t->dir, 0700) < 0)
        return err_sys(err, errno, "mkdir %s", t->dir);
    struct sandbox_spec *spec = NULL;
    spec_new_default(&spec);
    spec->resources = *res;
    /* The state dir (not visible: /tmp inside is the sandbox's own) and a
     * host dir that is visible through the /usr bind. */
    const char *hide[] = {state_dir, "/usr/share/doc", NULL};
    struct backend_create_args a = {.id = t->id,
                                    .spec = spec,
                                    .dir = t->dir,
                                    .hide = hide,
                                    .uid_base = uid_base,
                                    .init_path = init};
    int r = ns_backend_ops.create(&a, &t->b, &t->fd, err);
    spec_free(spec);
    if (r < 0) {
        /* As the daemon does; rmdir (not rm -rf) so leftovers show. */
        rmdir(t->dir);
        return r;
    }
    t->pid = ns_backend_ops.init_pid(t->b);
    t->payload = malloc(RUNRA_FRAME_MAX_PAYLOAD);
    return 0;
}

static int argc_last(char **argv)
{
    int n = 0;
    while (argv[n + 1])
        n++;
    return n;
}

/* Runs argv inside; *out gets stdout and stderr together. */
static int box_argv(struct tbox *t, char **argv, char **out, int *code)
{
    struct exec_req req = {.argv = argv, .max_output = 1 << 20, .timeout_ms = 60000};
    char *json = NULL;
    int r = msg_exec_req_encode(&req, &json);
    if (r < 0)
        return r;
    uint32_t id = ++t->call;
    if (getenv("NS_E2E_VERBOSE"))
        fprintf(stderr, "exec %s: %s\n", t->id, argv[argc_last(argv)]);
    r = frame_write(t->fd, FRAME_EXEC, id, json, strlen(json));
    free(json);
    if (r < 0)
        return r;
    char *buf = calloc(1, 1);
    size_t len = 0;
    for (;;) {
        struct frame_hdr h;
        r = frame_read(t->fd, &h, t->payload);
        if (r < 0)
            break;
        if (h.id != id)
            continue;
        if (h.type == FRAME_STDOUT || h.type == FRAME_STDERR) {
            buf = realloc(buf, len + h.len + 1);
            memcpy(buf + len, t->payload, h.len);
            len += h.len;
            buf[len] = 0;
        } else if (h.type == FRAME_EXIT) {
            struct exec_exit ex;
            r = msg_exec_exit_decode(t->payload, h.len, &ex, NULL);
            *code = ex.exit_code;
            break;
        } else if (h.type == FRAME_ERROR) {
            r = -EIO;
            break;
        }
    }
    if (r < 0) {
        free(buf);
        return r;
    }
    /* Trailing newline off, for comparisons. */
    while (len > 0 && buf[len - 1] == '\n')
        buf[--len] = 0;
    *out = buf;
    return 0;
}

static int box_sh(struct tbox *t, const char *cmd, char **out, int *code)
{
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, NULL};
    return box_argv(t, argv, out, code);
}

/* Runs cmd, expects exit code want and (when non-NULL) output equal to
 * want_out; returns the output for further checks (caller frees). */
static char *check_sh(struct tbox *t, const char *cmd, int want, const char *want_out)
{
    char *out = NULL;
    int code = -1;
    int r = box_sh(t, cmd, &out, &code);
    expect(r == 0, "exec '%s': %s", cmd, strerror(-r));
    if (r < 0)
        return NULL;
    expect(code == want, "'%s' exited %d (want %d): %s", cmd, code, want, out);
    if (want_out)
        expect(!strcmp(out, want_out), "'%s' printed '%s' (want '%s')", cmd, out, want_out);
    return out;
}

static void free_sh(struct tbox *t, const char *cmd, int want, const char *want_out)
{
    free(check_sh(t, cmd, want, want_out));
}

static bool file_has(const char *path, const char *needle)
{
    _cleanup_free_ char *s = NULL;
    return read_file_str(path, 4 << 20, &s) == 0 && strstr(s, needle);
}

static bool read_u64(const char *path, uint64_t *v)
{
    _cleanup_free_ char *s = NULL;
    if (read_file_str(path, 4096, &s) < 0)
        return false;
    s[strcspn(s, "\n")] = 0;
    return parse_u64(s, v) == 0;
}

/* Of the hierarchies in a /proc/PID/cgroup (the v2 one, and the v1
 * memory, cpu, pids and freezer), how many there are and how many place
 * the process in runra/ID. */
static void cgroups_of(const char *path, const char *id, int *ret_all, int *ret_in)
{
    _cleanup_free_ char *s = NULL;
    char want[64];
    snprintf(want, sizeof(want), "/runra/%s", id);
    *ret_all = *ret_in = 0;
    if (read_file_str(path, 64 * 1024, &s) < 0)
        return;
    char *save = NULL;
    for (char *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *ctrls = strchr(l, ':'), *where = ctrls ? strchr(ctrls + 1, ':') : NULL;
        if (!where)
            continue;
        *where++ = 0;
        ctrls++;
        bool ours = !*ctrls || !strcmp(ctrls, "memory") || !strcmp(ctrls, "pids") ||
                    !strcmp(ctrls, "freezer") || !strcmp(ctrls, "cpu") ||
                    !strcmp(ctrls, "cpu,cpuacct");
        if (ours) {
            (*ret_all)++;
            *ret_in += !strcmp(where, want);
        }
    }
}

static bool loop_uses(const char *needle)
{
    for (int i = 0; i < 256; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", i);
        if (file_has(path, needle))
            return true;
    }
    return false;
}

static const char *const cg_dirs[] = {
    "/sys/fs/cgroup/memory/runra",  "/sys/fs/cgroup/cpu/runra",     "/sys/fs/cgroup/pids/runra",
    "/sys/fs/cgroup/freezer/runra", "/sys/fs/cgroup/unified/runra", "/sys/fs/cgroup/runra",
};

static void check_gone(const char *what, const char *id, const char *dir, int64_t pid)
{
    expect(!file_has("/proc/self/mountinfo", dir), "%s: mount left in the daemon's namespace",
           what);
    expect(!file_has("/proc/1/mountinfo", dir), "%s: mount left on the host", what);
    expect(!loop_uses(dir), "%s: loop device still bound to %s", what, dir);
    for (size_t i = 0; i < ARRAY_SIZE(cg_dirs); i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof(path), "%s/%s", cg_dirs[i], id);
        expect(access(path, F_OK) < 0, "%s: cgroup %s left", what, path);
    }
    expect(access(dir, F_OK) < 0, "%s: dir %s left", what, dir);
    if (pid > 0) {
        char path[64];
        snprintf(path, sizeof(path), "/proc/%lld/status", (long long)pid);
        /* The pid may be reused, but not by a process of our uid range. */
        expect(!file_has(path, "Uid:\t100000") && !file_has(path, "Uid:\t165536"),
               "%s: init %lld still alive", what, (long long)pid);
    }
}

static void destroy(struct tbox *t, const char *what)
{
    struct runra_err *e = NULL;
    int r = ns_backend_ops.destroy(t->b, &e);
    expect(r == 0, "%s: destroy: %s", what, e && e->msg ? e->msg : strerror(-r));
    err_free(e);
    if (t->fd >= 0)
        close(t->fd);
    free(t->payload);
    check_gone(what, t->id, t->dir, t->pid);
}

static void test_isolation(void)
{
    struct sandbox_resources res = {.cpu = 0.5, .memory_mb = 256, .pids = 64, .disk_mb = 64};
    struct tbox t;
    struct runra_err *e = NULL;
    uint64_t t0 = now_ms();
    int r = box_new(&t, &res, 100000, init_path, &e);
    expect(r == 0, "create: %s", e && e->msg ? e->msg : strerror(-r));
    err_free(e);
    if (r < 0)
        return;
    printf("ns-e2e: create took %llu ms\n", (unsigned long long)(now_ms() - t0));
    char cmd[PATH_MAX + 64];

    const char *extra = getenv("NS_E2E_CMD");
    if (extra) {
        /* Debugging aid: show what a command sees inside. */
        char *o = NULL;
        int c = -1;
        box_sh(&t, extra, &o, &c);
        printf("--- %s (exit %d)\n%s\n---\n", extra, c, o ? o : "");
        free(o);
    }
    free_sh(&t, "hostname", 0, t.id);
    free_sh(&t, "cat /etc/hostname", 0, t.id);
    free_sh(&t, "grep -c \"$(hostname)\" /etc/hosts", 0, "1");
    free_sh(&t, "id -u; id -g", 0, "0\n0");
    char path[64];
    snprintf(path, sizeof(path), "/proc/%lld/status", (long long)t.pid);
    expect(file_has(path, "Uid:\t100000\t100000\t100000"), "init's host uid is not the uid base");
    expect(file_has(path, "Gid:\t100000\t100000\t100000"), "init's host gid is not the uid base");
    /* Init sits in the sandbox's cgroup in every hierarchy from its start
     * (clone3 places it in the v2 one, it joins the v1 ones itself). */
    int all, in;
    snprintf(path, sizeof(path), "/proc/%lld/cgroup", (long long)t.pid);
    cgroups_of(path, t.id, &all, &in);
    expect(all > 0 && in == all, "init in %d of its %d cgroups", in, all);
    free_sh(&t, "pwd", 0, "/workspace");
    free_sh(&t,
            "cd / && ls -d bin dev etc home lib mnt opt proc root run sbin srv sys tmp usr var "
            "workspace | wc -l; test -e lost+found || echo no-lost+found",
            0, "17\nno-lost+found");

    /* Host secrets and hidden paths. */
    free_sh(&t, "wc -c < /etc/shadow", 0, "0");
    free_sh(&t, "test -s /etc/passwd && echo ok", 0, "ok");
    free_sh(&t, "ls -A /usr/share/doc | wc -l", 0, "0");
    free_sh(&t, "find /root /home -mindepth 1 | wc -l", 0, "0");
    snprintf(cmd, sizeof(cmd), "test -e '%s' && echo visible || echo hidden", state_dir);
    free_sh(&t, cmd, 0, "hidden");

    /* Processes, network, cgroup namespace. */
    free_sh(&t, "ls /proc | grep -c '^[0-9]' | awk '$1 < 8 {print \"few\"}'", 0, "few");
    free_sh(&t, "cat /proc/1/status | grep -c '^Name:.*init'", 0, "1");
    snprintf(cmd, sizeof(cmd), "grep -c '%.*s' /proc/1/cmdline", 40, t.dir);
    free_sh(&t, cmd, 1, "0"); /* no host paths on init's command line */
    free_sh(&t, "ls /sys/class/net", 0, "lo");
    free_sh(&t, "tail -n +3 /proc/net/dev | wc -l", 0, "1");
    free_sh(&t, "grep -vc ':/$' /proc/self/cgroup", 1, "0");

    /* Read-only host, landlock, masks. */
    free_sh(&t, "touch /usr/x 2>/dev/null || echo denied", 0, "denied");
    free_sh(&t, "touch /etc/x 2>/dev/null || echo denied", 0, "denied");
    free_sh(&t, "mkdir /newdir 2>/dev/null || echo denied", 0,
            "denied"); /* DAC allows, landlock not */
    free_sh(&t, "touch /workspace/a /tmp/a /root/a /var/tmp/a /dev/shm/a && echo ok", 0, "ok");
    free_sh(&t, "echo 'x y' >> /etc/hosts && tail -n1 /etc/hosts", 0, "x y");
    free_sh(&t,
            "for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do "
            "test -e $f && wc -c < $f; done | sort -u",
            0, "0");
    free_sh(&t, "(echo x > /proc/sys/kernel/hostname) 2>/dev/null || echo denied", 0, "denied");
    free_sh(&t, "echo 500 > /proc/self/oom_score_adj && echo ok", 0, "ok");
    free_sh(&t, "stat -c %a /tmp /var/tmp /dev/shm", 0, "1777\n1777\n1777");

    /* /dev. */
    free_sh(&t, "ls /dev | tr '\\n' ' '", 0,
            "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero ");
    free_sh(&t, "echo hi > /dev/null && head -c 5 /dev/urandom | wc -c", 0, "5");
    free_sh(&t, "test -c /dev/pts/ptmx && echo ok", 0, "ok");
    free_sh(&t, "script -qc tty /dev/null | tr -d '\\r'", 0, "/dev/pts/0");

    /* Privileges. */
    free_sh(&t, "grep -E '^(CapEff|CapBnd|CapPrm)' /proc/self/status | awk '{print $2}' | sort -u",
            0, "00000000a80425fb");
    free_sh(&t, "grep NoNewPrivs /proc/self/status | awk '{print $2}'", 0, "1");
    free_sh(&t, "grep Seccomp: /proc/self/status | awk '{print $2}'", 0, "2");
    free_sh(&t, "unshare -U true 2>/dev/null || echo denied", 0, "denied");
    free_sh(&t, "unshare -m true 2>/dev/null || echo denied", 0, "denied");
    free_sh(&t, "mount -t tmpfs t /mnt 2>/dev/null || echo denied", 0, "denied");
    free_sh(&t, "umount /etc/shadow 2>/dev/null || echo denied", 0, "denied");
    char *out = NULL;
    int code = -1;
    if (strstr(init_path, "probe")) {
        /* Only the probe knows these: a syscall through another ABI's
         * table must kill the process. */
        static char *abis[] = {"@x32", "@i386"};
        for (size_t i = 0; i < ARRAY_SIZE(abis); i++) {
            char *argv[] = {abis[i], NULL};
            int r2 = box_argv(&t, argv, &out, &code);
            expect(r2 == 0 && code == 128 + SIGSYS, "%s syscall: exit %d", abis[i], code);
            free(out);
            out = NULL;
        }
        char *argv[] = {"@clone", NULL};
        int r3 = box_argv(&t, argv, &out, &code);
        expect(r3 == 0 && code == 42, "clone(CLONE_NEWNS)/clone3 not refused: exit %d", code);
        free(out);
        out = NULL;
    }

    /* Limits, seen from the host. */
    uint64_t v = 0;
    char cg[PATH_MAX];
    snprintf(cg, sizeof(cg), "/sys/fs/cgroup/memory/runra/%s/memory.limit_in_bytes", t.id);
    if (access(cg, F_OK) < 0)
        snprintf(cg, sizeof(cg), "/sys/fs/cgroup/runra/%s/memory.max", t.id);
    expect(read_u64(cg, &v) && v == 256ull << 20, "memory limit %llu", (unsigned long long)v);
    snprintf(cg, sizeof(cg), "/sys/fs/cgroup/pids/runra/%s/pids.max", t.id);
    if (access(cg, F_OK) < 0)
        snprintf(cg, sizeof(cg), "/sys/fs/cgroup/runra/%s/pids.max", t.id);
    expect(read_u64(cg, &v) && v == 64, "pids limit %llu", (unsigned long long)v);
    snprintf(cg, sizeof(cg), "/sys/fs/cgroup/cpu/runra/%s/cpu.cfs_quota_us", t.id);
    if (access(cg, F_OK) == 0)
        expect(read_u64(cg, &v) && v == 50000, "cpu quota %llu", (unsigned long long)v);

    /* Limits, felt from inside. */
    out = check_sh(&t, "dd if=/dev/zero of=/workspace/big bs=1M count=100 2>&1; sync", 0, NULL);
    expect(out && strstr(out, "No space left on device"), "disk full: %s", out ? out : "");
    free(out);
    char img[PATH_MAX];
    snprintf(img, sizeof(img), "%s/disk.img", t.dir);
    struct stat st;
    expect(stat(img, &st) == 0 && (uint64_t)st.st_blocks * 512 <= 64ull << 20,
           "image uses %llu bytes on the host", (unsigned long long)st.st_blocks * 512);
    free_sh(&t, "rm /workspace/big && echo ok", 0, "ok");
    out = check_sh(&t, "for i in $(seq 100); do sleep 1 & done 2>&1", 2, NULL);
    expect(out && strcasestr(out, "fork"), "pids limit not felt: %s", out ? out : "");
    free(out);
    usleep(1500 * 1000); /* let the sleeps end before the next command forks */

    struct box_stats s0 = {0}, s1 = {0};
    expect(ns_backend_ops.stats(t.b, &s0, NULL) == 0 && s0.pids >= 1 && s0.memory_bytes > 0,
           "stats: pids %llu mem %llu", (unsigned long long)s0.pids,
           (unsigned long long)s0.memory_bytes);
    free(check_sh(&t, "tail /dev/zero", 137, NULL));
    expect(ns_backend_ops.stats(t.b, &s1, NULL) == 0 && s1.oom_kills > s0.oom_kills,
           "OOM kill not counted (%llu -> %llu)", (unsigned long long)s0.oom_kills,
           (unsigned long long)s1.oom_kills);
    free_sh(&t, "echo alive", 0, "alive");

    destroy(&t, "isolation box");
}

/* Several boxes created, used and destroyed at the same time. */
struct par {
    int k;
    pthread_t th;
};

static void *par_main(void *arg)
{
    struct par *p = arg;
    struct sandbox_resources res = {.cpu = 1, .memory_mb = 128, .pids = 64, .disk_mb = 32};
    struct tbox t;
    struct runra_err *e = NULL;
    int r = box_new(&t, &res, 200000 + (uint32_t)p->k * 65536, init_path, &e);
    expect(r == 0, "parallel create %d: %s", p->k, e && e->msg ? e->msg : strerror(-r));
    err_free(e);
    if (r < 0)
        return NULL;
    free_sh(&t, "hostname", 0, t.id);
    free_sh(&t, "echo data > /workspace/f && cat /workspace/f", 0, "data");
    destroy(&t, "parallel box");
    return NULL;
}

static void test_parallel(void)
{
    struct par p[4];
    for (int i = 0; i < 4; i++) {
        p[i].k = i;
        pthread_create(&p[i].th, NULL, par_main, &p[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(p[i].th, NULL);
}

/* destroy when runra-init is already dead. */
static void test_dead_init(void)
{
    struct sandbox_resources res = {.cpu = 1, .memory_mb = 128, .pids = 64, .disk_mb = 32};
    struct tbox t;
    struct runra_err *e = NULL;
    int r = box_new(&t, &res, 165536, init_path, &e);
    expect(r == 0, "create: %s", e && e->msg ? e->msg : strerror(-r));
    err_free(e);
    if (r < 0)
        return;
    kill((pid_t)t.pid, SIGKILL);
    usleep(200 * 1000);
    destroy(&t, "box with dead init");
}

/* A create that fails late (the init exits before HELLO) leaves nothing. */
static void test_failed_create(void)
{
    struct sandbox_resources res = {.cpu = 1, .memory_mb = 128, .pids = 64, .disk_mb = 32};
    struct tbox t;
    struct runra_err *e = NULL;
    int r = box_new(&t, &res, 165536, "/bin/false", &e);
    expect(r < 0 && e && e->msg && strstr(e->msg, "handshake"), "bad init: create %s",
           e && e->msg ? e->msg : "succeeded");
    err_free(e);
    e = NULL;
    check_gone("failed create", t.id, t.dir, -1);
    r = box_new(&t, &res, 165536, "/nonexistent/runra-init", &e);
    expect(r == -ENOENT, "missing init: %s", e && e->msg ? e->msg : "?");
    err_free(e);
    check_gone("failed create", t.id, t.dir, -1);
}

/* The cleanup op removes a box whose daemon "died" (never destroyed). */
static void test_cleanup(void)
{
    struct sandbox_resources res = {.cpu = 1, .memory_mb = 128, .pids = 64, .disk_mb = 32};
    struct tbox t;
    struct runra_err *e = NULL;
    int r = box_new(&t, &res, 165536, init_path, &e);
    expect(r == 0, "create: %s", e && e->msg ? e->msg : strerror(-r));
    err_free(e);
    if (r < 0)
        return;
    free_sh(&t, "sleep 1000 >/dev/null 2>&1 & echo started", 0, "started");
    e = NULL;
    r = ns_backend_ops.cleanup(t.id, t.dir, false, &e);
    expect(r == 0, "cleanup: %s", e && e->msg ? e->msg : strerror(-r));
    err_free(e);
    /* Destroy after cleanup must still be harmless. */
    destroy(&t, "cleaned-up box");
}

/* The tmpfs fallback disk: sized, owned by the sandbox's root, ENOSPC. */
static void test_tmpfs_disk(void)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof(dir), "%s/tmpfs-disk", boxes_dir);
    mkdir(dir, 0700);
    struct ns_disk *d = NULL;
    struct runra_err *e = NULL;
    int r = ns_disk_create(dir, 8, 300000, NS_DISK_TMPFS, NULL, &d, &e);
    expect(r == 0, "tmpfs disk: %s", e && e->msg ? e->msg : strerror(-r));
    err_free(e);
    if (r < 0)
        return;
    struct stat st;
    struct statfs sf;
    expect(stat(ns_disk_root(d), &st) == 0 && st.st_uid == 300000 && st.st_gid == 300000,
           "tmpfs disk owner");
    expect(statfs(ns_disk_root(d), &sf) == 0 && (uint64_t)sf.f_blocks * sf.f_bsize == 8u << 20,
           "tmpfs disk size");
    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/fill", ns_disk_root(d));
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    static char buf[1 << 20];
    int werr = 0;
    for (int i = 0; i < 16 && !werr; i++)
        if (write(fd, buf, sizeof(buf)) < 0)
            werr = errno;
    close(fd);
    expect(werr == ENOSPC, "tmpfs disk full: %s", strerror(werr));
    expect(ns_disk_destroy(d, NULL) == 0, "tmpfs disk destroy");
    expect(rmdir(dir) == 0, "tmpfs disk left files");
    expect(!file_has("/proc/self/mountinfo", dir), "tmpfs disk still mounted");
}

/* The v1 teardown without cgroup.kill (freeze, SIGKILL by pid, thaw), on
 * processes that keep forking, whatever mode this host would pick. */
static void test_cgroup_v1_kill(void)
{
    if (access("/sys/fs/cgroup/memory/cgroup.procs", F_OK) < 0)
        return; /* no v1 hierarchy here */
    char id[16];
    random_hex(id, 12);
    struct sandbox_resources res = {.cpu = 0.25, .memory_mb = 64, .pids = 32, .disk_mb = 16};
    struct ns_cgroup *cg = NULL;
    struct runra_err *e = NULL;
    int r = ns_cgroup_create(NS_CG_V1, id, &res, &cg, &e);
    expect(r == 0, "v1 cgroup: %s", e && e->msg ? e->msg : strerror(-r));
    err_free(e);
    if (r < 0)
        return;
    int go[2];
    if (pipe2(go, O_CLOEXEC) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        char b;
        if (read(go[0], &b, 1) != 1)
            _exit(1);
        /* A small tree that keeps replacing itself. */
        for (;;) {
            if (fork() == 0)
                for (;;)
                    pause();
            usleep(20 * 1000);
        }
    }
    close(go[0]);
    e = NULL;
    r = ns_cgroup_attach(cg, pid, &e);
    expect(r == 0, "v1 attach: %s", e && e->msg ? e->msg : strerror(-r));
    err_free(e);
    if (write(go[1], "x", 1) != 1)
        expect(false, "release the forker");
    close(go[1]);
    usleep(200 * 1000);
    struct box_stats st = {0};
    expect(ns_cgroup_stats(cg, &st, NULL) == 0 && st.pids > 3, "v1 stats: %llu pids",
           (unsigned long long)st.pids);
    e = NULL;
    r = ns_cgroup_destroy(cg, &e);
    expect(r == 0, "v1 destroy: %s", e && e->msg ? e->msg : strerror(-r));
    err_free(e);
    int status = 0;
    expect(waitpid(pid, &status, 0) == pid && WIFSIGNALED(status), "v1 destroy left the forker");
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    check_gone("v1 cgroup", id, "/nonexistent-dir", -1);
}

int main(int argc, char **argv)
{
    if (geteuid() != 0) {
        printf("ns-e2e: needs root, skipped\n");
        return 77;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: ns-e2e INIT\n");
        return 2;
    }
    init_path = argv[1];
    /* Like runrad: a mount namespace of our own, slave of the host's. */
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) {
        perror("ns-e2e: mount namespace");
        return 1;
    }
    struct runra_err *e = NULL;
    if (ns_daemon_init(&e) < 0) {
        printf("ns-e2e: ns backend unavailable (%s), skipped\n", e && e->msg ? e->msg : "?");
        return 77;
    }
    snprintf(state_dir, sizeof(state_dir), "/tmp/runra-ns-e2e.XXXXXX");
    if (!mkdtemp(state_dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(boxes_dir, sizeof(boxes_dir), "%s/sandboxes", state_dir);
    mkdir(boxes_dir, 0700);
    printf("ns-e2e: init=%s cgroup=%s landlock=%d\n", init_path, ns_cgroup_mode_name(),
           ns_landlock_abi());

    test_isolation();
    test_parallel();
    test_dead_init();
    test_failed_create();
    test_cleanup();
    test_tmpfs_disk();
    test_cgroup_v1_kill();

    expect(rmdir(boxes_dir) == 0 && rmdir(state_dir) == 0, "state dir not empty at the end");
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail ? 1 : 0;
}
