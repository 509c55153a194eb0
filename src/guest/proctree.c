/* /proc walk: read every process's parent from /proc/PID/stat, then mark
 * the processes whose parent chain reaches the root. A process that forks
 * between the scan and the kill is caught by the next round, because its
 * child is reparented to the (subreaper) root when its parent dies. */
#include "proctree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"
#include "base/util.h"

/* Rounds per call. A fork bomb may outlast them; the exec then retries on a
 * timer, so this only bounds how long one call can hold the loop. */
#define KILL_ROUNDS 64

struct proc {
    pid_t pid;
    pid_t ppid;
    bool live;    /* not a zombie */
    bool stopped; /* in a stop (SIGSTOP): it forks no more */
    bool decided;
    bool mark; /* descendant of the root */
};

/* "pid (comm) S ppid ...": comm may hold spaces and parentheses, so the
 * state follows the last ')'. comm is at most 16 bytes, so 256 bytes always
 * reach the parent pid. */
static int read_stat(int procfd, const char *name, struct proc *ret)
{
    char path[64];
    snprintf(path, sizeof(path), "%s/stat", name);
    _cleanup_close_ int fd = openat(procfd, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    char b[256];
    ssize_t n = read(fd, b, sizeof(b) - 1);
    if (n <= 0)
        return -EIO;
    b[n] = 0;
    char *rp = strrchr(b, ')');
    if (!rp || rp[1] != ' ' || !rp[2] || rp[3] != ' ')
        return -EIO;
    char state = rp[2];
    char *end = NULL;
    long ppid = strtol(rp + 4, &end, 10);
    if (end == rp + 4 || ppid < 0)
        return -EIO;
    ret->ppid = (pid_t)ppid;
    ret->live = state != 'Z' && state != 'X' && state != 'x';
    ret->stopped = state == 'T' || state == 't';
    return 0;
}

static int scan(struct proc **ret, size_t *ret_n)
{
    _cleanup_close_ int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0)
        return -errno;
    int dfd = dup(procfd);
    if (dfd < 0)
        return -errno;
    DIR *d = fdopendir(dfd);
    if (!d) {
        close(dfd);
        return -errno;
    }
    struct proc *v = NULL;
    size_t n = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        uint64_t pid;
        if (parse_u64(de->d_name, &pid) < 0 || pid == 0 || pid > INT32_MAX)
            continue;
        struct proc p = {.pid = (pid_t)pid};
        if (read_stat(procfd, de->d_name, &p) < 0)
            continue; /* it exited meanwhile */
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 256;
            struct proc *nv = realloc(v, ncap * sizeof(*v));
            if (!nv) {
                free(v);
                closedir(d);
                return -ENOMEM;
            }
            v = nv;
            cap = ncap;
        }
        v[n++] = p;
    }
    closedir(d);
    *ret = v;
    *ret_n = n;
    return 0;
}

static int cmp_pid(const void *a, const void *b)
{
    pid_t x = ((const struct proc *)a)->pid, y = ((const struct proc *)b)->pid;
    return (x > y) - (x < y);
}

static struct proc *find(struct proc *v, size_t n, pid_t pid)
{
    struct proc key = {.pid = pid};
    return bsearch(&key, v, n, sizeof(*v), cmp_pid);
}

/* Marks every process whose parent chain reaches root. Walks up from each
 * process and stops at the first one already decided; the walk is bounded
 * by n steps, so even a torn snapshot with a parent cycle terminates. */
static void mark_tree(struct proc *v, size_t n, pid_t root)
{
    qsort(v, n, sizeof(*v), cmp_pid);
    for (size_t i = 0; i < n; i++) {
        if (v[i].decided)
            continue;
        bool inside = false;
        struct proc *p = &v[i];
        for (size_t steps = 0; p && steps <= n; steps++) {
            if (p->decided) {
                inside = p->mark;
                break;
            }
            if (p->ppid == root) {
                inside = true;
                break;
            }
            p = find(v, n, p->ppid);
        }
        /* Second walk: record the answer on the whole chain below the stop. */
        p = &v[i];
        for (size_t steps = 0; p && !p->decided && steps <= n; steps++) {
            p->decided = true;
            p->mark = inside;
            if (p->ppid == root)
                break;
            p = find(v, n, p->ppid);
        }
    }
}

/* Stops the tree first. Rounds of SIGKILL alone may never catch a fork
 * bomb where scanning /proc is slow next to fork (a VM under emulation):
 * every kill frees a pid a survivor forks into. A stopped process forks
 * no more (a fork a stop signal interrupts is undone), so rounds of
 * SIGSTOP shrink what runs until nothing does; the kill rounds then meet a
 * tree that stands still. Returns the pids it stopped (NULL when none or
 * out of memory), for the kill to end even those that have left the tree
 * meanwhile (reparented when a parent died between the scans). */
static pid_t *stop_tree(pid_t root, size_t *ret_n)
{
    pid_t *stopped = NULL;
    size_t ns = 0, cap = 0;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        _cleanup_free_ struct proc *v = NULL;
        size_t n = 0;
        if (scan(&v, &n) < 0)
            break;
        mark_tree(v, n, root);
        size_t running = 0;
        for (size_t i = 0; i < n; i++) {
            if (!v[i].mark || !v[i].live || v[i].stopped)
                continue;
            running++;
            if (ns == cap) {
                size_t ncap = cap ? cap * 2 : 64;
                pid_t *nv = realloc(stopped, ncap * sizeof(*nv));
                if (!nv)
                    continue; /* not stopped: the kill rounds still get it */
                stopped = nv;
                cap = ncap;
            }
            kill(v[i].pid, SIGSTOP);
            stopped[ns++] = v[i].pid;
        }
        if (running == 0)
            break;
    }
    *ret_n = ns;
    return stopped;
}

int proctree_kill(pid_t root)
{
    size_t nstopped = 0;
    _cleanup_free_ pid_t *stopped = stop_tree(root, &nstopped);
    size_t live = 0;
    for (int round = 0; round < KILL_ROUNDS; round++) {
        _cleanup_free_ struct proc *v = NULL;
        size_t n = 0;
        int r = scan(&v, &n);
        if (r < 0)
            return r;
        mark_tree(v, n, root);
        live = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].mark && v[i].live) {
                kill(v[i].pid, SIGKILL);
                live++;
            }
        if (live == 0)
            break;
    }
    /* What was stopped and is still stopped is the tree's, wherever it
     * hangs now: left stopped, it would stay forever. */
    _cleanup_close_ int procfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (size_t i = 0; procfd >= 0 && i < nstopped; i++) {
        char name[16];
        snprintf(name, sizeof(name), "%d", (int)stopped[i]);
        struct proc p = {.pid = stopped[i]};
        if (read_stat(procfd, name, &p) >= 0 && p.live && p.stopped)
            kill(stopped[i], SIGKILL);
    }
    return (int)live;
}
