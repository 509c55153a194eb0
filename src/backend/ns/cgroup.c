/* Sandbox cgroups (see cgroup.h). Everything is a write to a cgroupfs file;
 * paths are built from a fixed root and an id checked by ns_cgroup_id_ok,
 * so nothing here resolves a name the sandbox controls. Concurrent creates
 * share only the "runra" parent dirs, whose creation tolerates EEXIST. */
#include "backend/ns/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

#define CG_ROOT "/sys/fs/cgroup"
#define CG_UNIFIED CG_ROOT "/unified"
#define CG_PARENT "runra"

enum { CG_MEMORY, CG_CPU, CG_PIDS, CG_FREEZER, CG_N };
static const char *const v1_names[CG_N] = {"memory", "cpu", "pids", "freezer"};

struct ns_cgroup {
    enum ns_cgroup_mode mode;
    char *v1[CG_N]; /* v1 and hybrid: per controller; freezer may be NULL */
    char *v2;       /* v2: the only dir; hybrid: the dir in the unified mount */
};

static void cg_free(struct ns_cgroup *cg)
{
    if (!cg)
        return;
    for (int i = 0; i < CG_N; i++)
        free(cg->v1[i]);
    free(cg->v2);
    free(cg);
}

/* dir/name into buf. Cgroup paths are short (a fixed root, a checked id),
 * so a truncation would be a bug; it is reported, never used. */
static int join(char *buf, size_t n, const char *dir, const char *name)
{
    int len = snprintf(buf, n, "%s/%s", dir, name);
    return len < 0 || (size_t)len >= n ? -ENAMETOOLONG : 0;
}

static bool is_fs(const char *path, long magic)
{
    struct statfs sf;
    return statfs(path, &sf) == 0 && (long)sf.f_type == magic;
}

static bool v2_has(const char *dir, const char *ctrl)
{
    char path[256];
    _cleanup_free_ char *text = NULL;
    if (join(path, sizeof(path), dir, "cgroup.controllers") < 0 || read_file_str(path, 4096, &text) < 0)
        return false;
    char *save = NULL;
    for (char *tok = strtok_r(text, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save))
        if (!strcmp(tok, ctrl))
            return true;
    return false;
}

int ns_cgroup_detect(enum ns_cgroup_mode *ret, struct runra_err **err)
{
    *ret = NS_CG_NONE;
    if (is_fs(CG_ROOT, CGROUP2_SUPER_MAGIC)) {
        static const char *const need[] = {"memory", "cpu", "pids"};
        for (size_t i = 0; i < ARRAY_SIZE(need); i++)
            if (!v2_has(CG_ROOT, need[i]))
                return err_set(err, ENOTSUP, "cgroup v2 without the %s controller", need[i]);
        *ret = NS_CG_V2;
        return 0;
    }
    /* memory, cpu and pids carry the limits; freezer only helps teardown. */
    for (int i = 0; i < CG_N; i++) {
        char path[128];
        snprintf(path, sizeof(path), CG_ROOT "/%s", v1_names[i]);
        if (i != CG_FREEZER && !is_fs(path, CGROUP_SUPER_MAGIC))
            return err_set(err, ENOTSUP, "no cgroup v1 %s controller at %s", v1_names[i], path);
    }
    *ret = is_fs(CG_UNIFIED, CGROUP2_SUPER_MAGIC) ? NS_CG_HYBRID : NS_CG_V1;
    return 0;
}

/* The dirs a sandbox uses in each mode; NULL where a mode has none. */
static int cg_paths(enum ns_cgroup_mode mode, const char *id, struct ns_cgroup **ret,
                    struct runra_err **err)
{
    if (!ns_cgroup_id_ok(id))
        return err_set(err, EINVAL, "bad sandbox id for a cgroup");
    if (mode == NS_CG_NONE)
        return err_set(err, ENOTSUP, "no usable cgroups on this host");
    struct ns_cgroup *cg = calloc(1, sizeof(*cg));
    if (!cg)
        return -ENOMEM;
    cg->mode = mode;
    int r = 0;
    if (mode == NS_CG_V2) {
        r = asprintf(&cg->v2, CG_ROOT "/" CG_PARENT "/%s", id);
    } else {
        for (int i = 0; i < CG_N && r >= 0; i++) {
            char base[128];
            snprintf(base, sizeof(base), CG_ROOT "/%s", v1_names[i]);
            if (i == CG_FREEZER && !is_fs(base, CGROUP_SUPER_MAGIC))
                continue;
            r = asprintf(&cg->v1[i], "%s/" CG_PARENT "/%s", base, id);
        }
        if (r >= 0 && mode == NS_CG_HYBRID)
            r = asprintf(&cg->v2, CG_UNIFIED "/" CG_PARENT "/%s", id);
    }
    if (r < 0) {
        cg_free(cg);
        return -ENOMEM;
    }
    *ret = cg;
    return 0;
}

static int wfile(const char *dir, const char *name, const char *value, struct runra_err **err)
{
    char path[512];
    int r = join(path, sizeof(path), dir, name);
    if (r >= 0)
        r = write_file_str(path, value);
    return r < 0 ? err_sys(err, r, "write '%s' to %s", value, path) : 0;
}

static bool has_file(const char *dir, const char *name)
{
    char path[512];
    return join(path, sizeof(path), dir, name) == 0 && access(path, F_OK) == 0;
}

/* The parent of dir ("<hierarchy>/runra") into buf. */
static int parent_of(const char *dir, char *buf, size_t n)
{
    const char *slash = strrchr(dir, '/');
    size_t len = slash ? (size_t)(slash - dir) : 0;
    if (len == 0 || len >= n)
        return -ENAMETOOLONG;
    memcpy(buf, dir, len);
    buf[len] = 0;
    return 0;
}

/* v2 limits need the controllers enabled in every ancestor's
 * subtree_control. The writes are idempotent, so concurrent creates may
 * race through them. */
static int v2_enable(const char *dir, struct runra_err **err)
{
    static const char *const ctrls[] = {"+memory", "+cpu", "+pids"};
    for (size_t i = 0; i < ARRAY_SIZE(ctrls); i++) {
        int r = wfile(dir, "cgroup.subtree_control", ctrls[i], err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int rmdir_wait(const char *dir)
{
    /* rmdir fails with EBUSY while exiting tasks are still being released. */
    for (int i = 0; i < 200; i++) {
        if (rmdir(dir) == 0 || errno == ENOENT)
            return 0;
        if (errno != EBUSY)
            return -errno;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return -EBUSY;
}

static int remove_dirs(struct ns_cgroup *cg, struct runra_err **err)
{
    int ret = 0;
    for (int i = 0; i < CG_N; i++) {
        int r = cg->v1[i] ? rmdir_wait(cg->v1[i]) : 0;
        if (r < 0 && ret == 0)
            ret = err_sys(err, r, "remove cgroup %s", cg->v1[i]);
    }
    int r = cg->v2 ? rmdir_wait(cg->v2) : 0;
    if (r < 0 && ret == 0)
        ret = err_sys(err, r, "remove cgroup %s", cg->v2);
    return ret;
}

/* Makes one sandbox dir (and the shared "runra" parent, which concurrent
 * creates may race to make). EEXIST on the sandbox dir is an error: ids are
 * unique, so an existing dir is another sandbox's or a leftover that cleanup
 * must handle first. */
static int mkdir_one(enum ns_cgroup_mode mode, const char *dir, struct runra_err **err)
{
    char parent[512];
    if (parent_of(dir, parent, sizeof(parent)) < 0)
        return err_set(err, ENAMETOOLONG, "cgroup path %s", dir);
    if (mkdir(parent, 0755) < 0 && errno != EEXIST)
        return err_sys(err, errno, "create cgroup %s", parent);
    if (mode == NS_CG_V2) {
        int r = v2_enable(CG_ROOT, err);
        if (r >= 0)
            r = v2_enable(parent, err);
        if (r < 0)
            return r;
    }
    if (mkdir(dir, 0755) < 0)
        return err_sys(err, errno, "create cgroup %s", dir);
    return 0;
}

static int mkdirs(struct ns_cgroup *cg, struct runra_err **err)
{
    char *dirs[CG_N + 1];
    size_t n = 0;
    for (int i = 0; i < CG_N; i++)
        if (cg->v1[i])
            dirs[n++] = cg->v1[i];
    if (cg->v2)
        dirs[n++] = cg->v2;
    for (size_t i = 0; i < n; i++) {
        int r = mkdir_one(cg->mode, dirs[i], err);
        if (r < 0) {
            /* Only the dirs made here go again, never one that existed. */
            while (i-- > 0)
                rmdir(dirs[i]);
            return r;
        }
    }
    return 0;
}

static int limits(const struct ns_cgroup *cg, const struct sandbox_resources *res,
                  struct runra_err **err)
{
    char mem[32], pids[32], cpu[48], quota[32], period[32];
    uint64_t q;
    if (ns_cgroup_fmt_mb(res->memory_mb, mem, sizeof(mem)) < 0 ||
        ns_cgroup_fmt_u64(res->pids, pids, sizeof(pids)) < 0 ||
        ns_cgroup_cpu_quota(res->cpu, &q) < 0 || ns_cgroup_fmt_u64(q, quota, sizeof(quota)) < 0 ||
        ns_cgroup_fmt_cpu_max(res->cpu, cpu, sizeof(cpu)) < 0)
        return err_set(err, EINVAL, "bad resource limits");
    ns_cgroup_fmt_u64(NS_CG_CPU_PERIOD_US, period, sizeof(period));
    int r = 0;
    if (cg->mode == NS_CG_V2) {
        r = wfile(cg->v2, "memory.max", mem, err);
        /* No swap: memory.max is then the sandbox's real footprint. */
        if (r >= 0 && has_file(cg->v2, "memory.swap.max"))
            r = wfile(cg->v2, "memory.swap.max", "0", err);
        if (r >= 0)
            r = wfile(cg->v2, "cpu.max", cpu, err);
        if (r >= 0)
            r = wfile(cg->v2, "pids.max", pids, err);
        return r;
    }
    r = wfile(cg->v1[CG_MEMORY], "memory.limit_in_bytes", mem, err);
    /* memsw (memory + swap) must be set after, and not below, the limit. */
    if (r >= 0 && has_file(cg->v1[CG_MEMORY], "memory.memsw.limit_in_bytes"))
        r = wfile(cg->v1[CG_MEMORY], "memory.memsw.limit_in_bytes", mem, err);
    if (r >= 0)
        r = wfile(cg->v1[CG_CPU], "cpu.cfs_period_us", period, err);
    if (r >= 0)
        r = wfile(cg->v1[CG_CPU], "cpu.cfs_quota_us", quota, err);
    if (r >= 0)
        r = wfile(cg->v1[CG_PIDS], "pids.max", pids, err);
    return r;
}

int ns_cgroup_create(enum ns_cgroup_mode mode, const char *id, const struct sandbox_resources *res,
                     struct ns_cgroup **ret, struct runra_err **err)
{
    struct ns_cgroup *cg = NULL;
    int r = cg_paths(mode, id, &cg, err);
    if (r < 0)
        return r;
    r = mkdirs(cg, err);
    if (r < 0) {
        cg_free(cg);
        return r;
    }
    r = limits(cg, res, err);
    if (r < 0) {
        remove_dirs(cg, NULL); /* ours and empty: nothing was placed in them yet */
        cg_free(cg);
        return r;
    }
    *ret = cg;
    return 0;
}

int ns_cgroup_attach(const struct ns_cgroup *cg, pid_t pid, struct runra_err **err)
{
    char num[24];
    snprintf(num, sizeof(num), "%d", (int)pid);
    for (int i = 0; i < CG_N; i++) {
        int r = cg->v1[i] ? wfile(cg->v1[i], "cgroup.procs", num, err) : 0;
        if (r < 0)
            return r;
    }
    return ns_cgroup_attach_v2(cg, pid, err);
}

void ns_cgroup_join_close(struct ns_cgroup_join *j)
{
    for (size_t i = 0; i < j->nv1; i++)
        if (j->v1[i] >= 0)
            close(j->v1[i]);
    if (j->v2 >= 0)
        close(j->v2);
    *j = (struct ns_cgroup_join){.v2 = -1};
}

int ns_cgroup_join_open(const struct ns_cgroup *cg, struct ns_cgroup_join *ret,
                        struct runra_err **err)
{
    _Static_assert(NS_CG_JOIN_V1_MAX >= CG_N, "a join fd per v1 controller");
    struct ns_cgroup_join j = {.v2 = -1};
    char path[512];
    for (int i = 0; i < CG_N; i++) {
        if (!cg->v1[i])
            continue;
        int r = join(path, sizeof(path), cg->v1[i], "tasks");
        int fd = r < 0 ? -1 : open(path, O_WRONLY | O_CLOEXEC);
        if (fd < 0) {
            r = err_sys(err, r < 0 ? -r : errno, "open %s/tasks", cg->v1[i]);
            ns_cgroup_join_close(&j);
            return r;
        }
        j.v1[j.nv1++] = fd;
    }
    if (cg->v2 && (j.v2 = open(cg->v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
        int r = err_sys(err, errno, "open %s", cg->v2);
        ns_cgroup_join_close(&j);
        return r;
    }
    *ret = j;
    return 0;
}

int ns_cgroup_attach_v2(const struct ns_cgroup *cg, pid_t pid, struct runra_err **err)
{
    char num[24];
    snprintf(num, sizeof(num), "%d", (int)pid);
    return cg->v2 ? wfile(cg->v2, "cgroup.procs", num, err) : 0;
}

static int read_in(const char *dir, const char *name, char **ret)
{
    char path[512];
    int r = join(path, sizeof(path), dir, name);
    return r < 0 ? r : read_file_str(path, 64 * 1024, ret);
}

int ns_cgroup_oom_kills(const struct ns_cgroup *cg, uint64_t *ret, struct runra_err **err)
{
    bool v2 = cg->mode == NS_CG_V2;
    _cleanup_free_ char *events = NULL;
    uint64_t n = 0;
    int r = read_in(v2 ? cg->v2 : cg->v1[CG_MEMORY], v2 ? "memory.events" : "memory.oom_control",
                    &events);
    if (r >= 0)
        r = ns_cgroup_parse_key(events, "oom_kill", &n);
    if (r == -ENOENT && events)
        r = 0; /* kernels before 4.13 (v1) do not count OOM kills */
    if (r < 0)
        return err_sys(err, r, "read cgroup OOM kills");
    *ret = n;
    return 0;
}

int ns_cgroup_stats(const struct ns_cgroup *cg, struct box_stats *ret, struct runra_err **err)
{
    bool v2 = cg->mode == NS_CG_V2;
    const char *mem_dir = v2 ? cg->v2 : cg->v1[CG_MEMORY];
    const char *pids_dir = v2 ? cg->v2 : cg->v1[CG_PIDS];
    _cleanup_free_ char *events = NULL, *usage = NULL, *pids = NULL;
    struct box_stats s = {0};
    int r = read_in(mem_dir, v2 ? "memory.events" : "memory.oom_control", &events);
    if (r >= 0)
        r = ns_cgroup_parse_key(events, "oom_kill", &s.oom_kills);
    if (r == -ENOENT && events)
        r = 0; /* kernels before 4.13 (v1) do not count OOM kills */
    if (r >= 0 &&
        (r = read_in(mem_dir, v2 ? "memory.current" : "memory.usage_in_bytes", &usage)) >= 0)
        r = ns_cgroup_parse_u64(usage, &s.memory_bytes);
    if (r >= 0 && (r = read_in(pids_dir, "pids.current", &pids)) >= 0)
        r = ns_cgroup_parse_u64(pids, &s.pids);
    if (r < 0)
        return err_sys(err, r, "read cgroup stats");
    /* CPU time: cpu.stat's usage_usec, which every v2 directory has (a
     * hybrid's unified one too) even without the cpu controller; v1's cpu
     * controller does not count it. */
    _cleanup_free_ char *cpu = NULL;
    if (cg->v2 && read_in(cg->v2, "cpu.stat", &cpu) >= 0)
        ns_cgroup_parse_key(cpu, "usage_usec", &s.cpu_usec);
    *ret = s;
    return 0;
}

/* Reads a cgroup.procs file into pids (at most max). */
static int list_procs(const char *dir, pid_t *pids, size_t max, size_t *ret_n)
{
    _cleanup_free_ char *text = NULL;
    int r = read_in(dir, "cgroup.procs", &text);
    if (r < 0)
        return r == -ENOENT ? (*ret_n = 0, 0) : r;
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(text, "\n", &save); tok && n < max;
         tok = strtok_r(NULL, "\n", &save)) {
        uint64_t v;
        if (parse_u64(tok, &v) == 0 && v > 0 && v < (1u << 30))
            pids[n++] = (pid_t)v;
    }
    *ret_n = n;
    return 0;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static bool empty(const char *dir)
{
    pid_t p[1];
    size_t n = 0;
    return list_procs(dir, p, 1, &n) < 0 || n == 0;
}

/* Without cgroup.kill, processes are killed by pid. A pid read from
 * cgroup.procs could in principle exit and be reused by a host process
 * before the kill lands; freezing the cgroup first keeps every listed task
 * alive (so its pid cannot be reused) until the SIGKILLs are queued. */
static int kill_by_pid(const struct ns_cgroup *cg, const char *procs_dir)
{
    const char *fz = cg->v1[CG_FREEZER];
    for (int round = 0; round < 100; round++) {
        pid_t pids[512];
        size_t n = 0;
        if (list_procs(procs_dir, pids, ARRAY_SIZE(pids), &n) < 0 || n == 0)
            return 0;
        bool frozen = fz && wfile(fz, "freezer.state", "FROZEN", NULL) >= 0;
        for (int i = 0; frozen && i < 100; i++) {
            _cleanup_free_ char *st = NULL;
            if (read_in(fz, "freezer.state", &st) >= 0 && str_has_prefix(st, "FROZEN"))
                break;
            sleep_ms(5);
        }
        /* Re-read under the freeze: that list cannot go stale. */
        if (frozen && list_procs(procs_dir, pids, ARRAY_SIZE(pids), &n) < 0)
            n = 0;
        for (size_t i = 0; i < n; i++)
            kill(pids[i], SIGKILL);
        if (frozen)
            wfile(fz, "freezer.state", "THAWED", NULL);
        sleep_ms(10);
    }
    return -EBUSY;
}

/* Where to list the sandbox's processes: any of its dirs holds them all. */
static const char *procs_dir_of(const struct ns_cgroup *cg)
{
    for (int i = 0; i < CG_N; i++)
        if (cg->v1[i])
            return cg->v1[i];
    return cg->v2;
}

static int kill_all(const struct ns_cgroup *cg, struct runra_err **err)
{
    const char *procs_dir = procs_dir_of(cg);
    if (!procs_dir)
        return 0;
    if (cg->v2 && has_file(cg->v2, "cgroup.kill")) {
        /* One write kills every task atomically, forks in flight included. */
        int r = wfile(cg->v2, "cgroup.kill", "1", err);
        if (r < 0)
            return r;
    } else {
        int r = kill_by_pid(cg, procs_dir);
        if (r < 0)
            return err_set(err, EBUSY, "cgroup %s: processes survive SIGKILL", procs_dir);
    }
    for (int i = 0; i < 500; i++) {
        if (empty(procs_dir) && (!cg->v2 || empty(cg->v2)))
            return 0;
        sleep_ms(10);
    }
    return err_set(err, EBUSY, "cgroup %s: processes still exiting after 5 s", procs_dir);
}

/* Freezing is asynchronous in both hierarchies: the state file says
 * FREEZING (v1) or cgroup.events says frozen 0 (v2) until every task has
 * stopped. It is waited for, so a pause that returns means no task runs. */
#define FREEZE_WAIT_MS 5000

static bool v2_frozen_is(const char *dir, bool frozen)
{
    _cleanup_free_ char *ev = NULL;
    if (read_in(dir, "cgroup.events", &ev) < 0)
        return false;
    const char *f = strstr(ev, "frozen ");
    return f && (f[7] == '1') == frozen;
}

static bool v1_state_is(const char *dir, bool frozen)
{
    _cleanup_free_ char *st = NULL;
    return read_in(dir, "freezer.state", &st) >= 0 &&
           str_has_prefix(st, frozen ? "FROZEN" : "THAWED");
}

/* cgroup.freeze (v2, also in a hybrid's unified dir) where it exists: it
 * stops tasks the way a signal would, so one sleeping in the kernel is
 * frozen when it wakes. The v1 freezer otherwise. A freeze that does not
 * settle in time is undone, so a failed pause leaves the sandbox running. */
int ns_cgroup_freeze(const struct ns_cgroup *cg, bool frozen, struct runra_err **err)
{
    const char *what = frozen ? "freeze" : "thaw";
    char probe[256];
    bool v2 = cg->v2 && join(probe, sizeof(probe), cg->v2, "cgroup.freeze") == 0 &&
              access(probe, W_OK) == 0;
    const char *fz = cg->v1[CG_FREEZER];
    if (!v2 && !(fz && is_fs(fz, CGROUP_SUPER_MAGIC)))
        return err_set(err, EOPNOTSUPP, "%s: no freezer (neither cgroup.freeze nor v1 freezer)",
                       what);
    const char *dir = v2 ? cg->v2 : fz;
    const char *file = v2 ? "cgroup.freeze" : "freezer.state";
    int r = wfile(dir, file, v2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED"), err);
    if (r < 0)
        return r;
    for (uint64_t end = now_ms() + FREEZE_WAIT_MS; now_ms() < end; sleep_ms(2))
        if (v2 ? v2_frozen_is(dir, frozen) : v1_state_is(dir, frozen))
            return 0;
    if (frozen)
        wfile(dir, file, v2 ? "0" : "THAWED", NULL);
    return err_set(err, ETIMEDOUT, "%s: the sandbox's tasks did not settle in %d ms", what,
                   FREEZE_WAIT_MS);
}

int ns_cgroup_destroy(struct ns_cgroup *cg, struct runra_err **err)
{
    if (!cg)
        return 0;
    int r = kill_all(cg, err);
    int k = remove_dirs(cg, r < 0 ? NULL : err);
    cg_free(cg);
    return r < 0 ? r : k;
}

int ns_cgroup_cleanup(enum ns_cgroup_mode mode, const char *id, struct runra_err **err)
{
    struct ns_cgroup *cg = NULL;
    int r = cg_paths(mode, id, &cg, err);
    if (r < 0)
        return r;
    /* Leave out hierarchies where this id has no dir, so destroy only ever
     * sees dirs that exist. */
    bool any = false;
    for (int i = 0; i < CG_N; i++) {
        if (cg->v1[i] && access(cg->v1[i], F_OK) < 0) {
            free(cg->v1[i]);
            cg->v1[i] = NULL;
        }
        any |= cg->v1[i] != NULL;
    }
    if (cg->v2 && access(cg->v2, F_OK) < 0) {
        free(cg->v2);
        cg->v2 = NULL;
    }
    any |= cg->v2 != NULL;
    if (!any) {
        cg_free(cg);
        return 0;
    }
    return ns_cgroup_destroy(cg, err);
}

int ns_cgroup_open(enum ns_cgroup_mode mode, const char *id, struct ns_cgroup **ret,
                   struct runra_err **err)
{
    struct ns_cgroup *cg = NULL;
    int r = cg_paths(mode, id, &cg, err);
    if (r < 0)
        return r;
    for (int i = 0; i < CG_N; i++)
        if (cg->v1[i] && access(cg->v1[i], F_OK) < 0) {
            r = err_sys(err, errno, "cgroup %s", cg->v1[i]);
            cg_free(cg);
            return r;
        }
    if (cg->v2 && access(cg->v2, F_OK) < 0) {
        r = err_sys(err, errno, "cgroup %s", cg->v2);
        cg_free(cg);
        return r;
    }
    *ret = cg;
    return 0;
}

bool ns_cgroup_has(const struct ns_cgroup *cg, pid_t pid)
{
    const char *dir = cg->mode == NS_CG_V2 ? cg->v2 : cg->v1[CG_MEMORY];
    char path[512];
    if (!dir || join(path, sizeof(path), dir, "cgroup.procs") < 0)
        return false;
    FILE *f = fopen(path, "re");
    if (!f)
        return false;
    char line[32];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        uint64_t v;
        line[strcspn(line, "\n")] = 0;
        found = parse_u64(line, &v) == 0 && v == (uint64_t)pid;
    }
    fclose(f);
    return found;
}

bool ns_cgroup_frozen(const struct ns_cgroup *cg)
{
    _cleanup_free_ char *st = NULL;
    /* What was asked, not whether it has settled: a freeze a crashed
     * daemon started is a freeze. */
    if (cg->v2 && read_in(cg->v2, "cgroup.freeze", &st) >= 0)
        return st[0] == '1';
    const char *fz = cg->v1[CG_FREEZER];
    return fz && read_in(fz, "freezer.state", &st) >= 0 &&
           (str_has_prefix(st, "FROZEN") || str_has_prefix(st, "FREEZING"));
}

void ns_cgroup_forget(struct ns_cgroup *cg) { cg_free(cg); }
