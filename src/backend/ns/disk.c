/* The sandbox disk (see disk.h). The image is sparse, so it costs host
 * space only as the sandbox writes, and can never grow past its size: the
 * sandbox meets ENOSPC inside its own file system long before the host
 * does. mkfs.ext4 runs from a fixed path with a scrubbed environment. */
#include "backend/ns/disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"

struct ns_disk {
    char *dir;
    char *mnt;    /* <dir>/root */
    char *img;    /* <dir>/disk.img, or NULL for tmpfs */
    int loop_nr;  /* -1 when none */
    bool mounted; /* in the daemon's namespace */
    bool keep_img; /* destroy leaves the image file (a persisted disk being reopened) */
};

static const char *const mkfs_paths[] = {"/usr/sbin/mkfs.ext4", "/sbin/mkfs.ext4"};

void ns_disk_probe(char *ret_mkfs, size_t n, bool *ret_loop_ok)
{
    ret_mkfs[0] = 0;
    for (size_t i = 0; i < ARRAY_SIZE(mkfs_paths); i++)
        if (access(mkfs_paths[i], X_OK) == 0) {
            snprintf(ret_mkfs, n, "%s", mkfs_paths[i]);
            break;
        }
    int fd = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    *ret_loop_ok = fd >= 0;
    if (fd >= 0)
        close(fd);
}

const char *ns_disk_root(const struct ns_disk *d) { return d->mnt; }

static void disk_free(struct ns_disk *d)
{
    if (!d)
        return;
    free(d->dir);
    free(d->mnt);
    free(d->img);
    free(d);
}

int ns_run_tool(char *const argv[], struct runra_err **err)
{
    char *const envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", NULL};
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0)
        return err_sys(err, errno, "pipe");
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    posix_spawnattr_init(&at);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &all);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    pid_t pid;
    int r = posix_spawn(&pid, argv[0], &fa, &at, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(pfd[1]);
    if (r != 0) {
        close(pfd[0]);
        return err_sys(err, r, "run %s", argv[0]);
    }
    /* The last line is the one that says what went wrong. */
    char msg[1024];
    size_t len = 0;
    for (;;) {
        char buf[512];
        ssize_t n = read(pfd[0], buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; i < n; i++) {
            if (len == sizeof(msg) - 1)
                memmove(msg, msg + 1, --len);
            msg[len++] = buf[i];
        }
    }
    close(pfd[0]);
    while (len > 0 && msg[len - 1] == '\n')
        len--;
    msg[len] = 0;
    char *last = strrchr(msg, '\n');
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return err_sys(err, errno, "wait for %s", argv[0]);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return err_set(err, EIO, "%s failed (status %d): %s", argv[0],
                       WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                       len ? (last ? last + 1 : msg) : "no message");
    return 0;
}

static int run_mkfs(const char *mkfs, const char *img, uint32_t owner, struct runra_err **err)
{
    char eopts[128];
    snprintf(eopts, sizeof(eopts), "root_owner=%u:%u,lazy_itable_init=1,nodiscard", owner, owner);
    /* No journal (the disk dies with the sandbox), no blocks reserved for
     * host root (the sandbox's root is not host root and could not use
     * them), so diskMb is what the sandbox can fill. */
    char *const argv[] = {(char *)mkfs, "-q",  "-F",        "-O", "^has_journal", "-m", "0",
                          "-E",         eopts, (char *)img, NULL};
    return ns_run_tool(argv, err);
}

/* Opens /dev/loopN, making the node in dir when no devtmpfs created it. */
static int open_loop(const char *dir, int nr, char *path, size_t n)
{
    snprintf(path, n, "/dev/loop%d", nr);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd >= 0 || errno != ENOENT)
        return fd < 0 ? -errno : fd;
    snprintf(path, n, "%s/loop%d", dir, nr);
    if (mknod(path, S_IFBLK | 0600, makedev(7, (unsigned)nr)) < 0 && errno != EEXIST)
        return -errno;
    fd = open(path, O_RDWR | O_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

/* Binds the image to a free loop device. Another thread (or process) can
 * take the same free device between GET_FREE and CONFIGURE; the loser sees
 * EBUSY and asks again. AUTOCLEAR frees the device when its last user (the
 * sandbox's mount) goes away, so nothing here has to remember to. */
static int loop_attach(struct ns_disk *d, int imgfd, char *ret_path, size_t n,
                       struct runra_err **err)
{
    _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0)
        return err_sys(err, errno, "open /dev/loop-control");
    bool dio = true;
    for (int attempt = 0; attempt < 64; attempt++) {
        int nr = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (nr < 0)
            return err_sys(err, errno, "LOOP_CTL_GET_FREE");
        int fd = open_loop(d->dir, nr, ret_path, n);
        if (fd < 0)
            return err_sys(err, fd, "open %s", ret_path);
        struct loop_config cfg = {.fd = (uint32_t)imgfd};
        /* Direct I/O keeps the image's pages out of the host page cache
         * (the sandbox's own page cache already holds them once). */
        cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (dio ? LO_FLAGS_DIRECT_IO : 0);
        snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", d->img);
        if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
            d->loop_nr = nr;
            return fd;
        }
        int e = errno;
        close(fd);
        if (e == EINVAL && dio) {
            dio = false; /* the backing fs refuses O_DIRECT */
            continue;
        }
        if (e != EBUSY)
            return err_sys(err, e, "LOOP_CONFIGURE %s", ret_path);
    }
    return err_set(err, EBUSY, "no free loop device after 64 attempts");
}

int ns_disk_format(const char *mkfs, const char *path, uint64_t mb, uint32_t owner,
                   struct runra_err **err)
{
    if (!mkfs || !*mkfs)
        return err_set(err, ENOENT, "mkfs.ext4 not found");
    _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return err_sys(err, errno, "create %s", path);
    if (ftruncate(fd, (off_t)(mb * 1024 * 1024)) < 0)
        return err_sys(err, errno, "size %s", path);
    return run_mkfs(mkfs, path, owner, err);
}

static int make_ext4(struct ns_disk *d, uint64_t mb, uint32_t owner, const char *mkfs,
                     struct runra_err **err)
{
    if (!mkfs || !*mkfs)
        return err_set(err, ENOENT, "mkfs.ext4 not found");
    if (asprintf(&d->img, "%s/disk.img", d->dir) < 0)
        return -ENOMEM;
    _cleanup_close_ int imgfd = open(d->img, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (imgfd < 0)
        return err_sys(err, errno, "create %s", d->img);
    if (ftruncate(imgfd, (off_t)(mb * 1024 * 1024)) < 0)
        return err_sys(err, errno, "size %s", d->img);
    int r = run_mkfs(mkfs, d->img, owner, err);
    if (r < 0)
        return r;
    char loop[512];
    _cleanup_close_ int lfd = loop_attach(d, imgfd, loop, sizeof(loop), err);
    if (lfd < 0)
        return lfd;
    /* Once mounted, the mount holds the device; closing lfd then leaves the
     * mount as its only user, which is what AUTOCLEAR counts. */
    /* noinit_itable: the image is sparse, so its inode tables already read
     * as zeros; the kernel need not write them out in the background. */
    if (mount(loop, d->mnt, "ext4", MS_NOSUID | MS_NODEV, "noinit_itable") < 0)
        return err_sys(err, errno, "mount %s on %s", loop, d->mnt);
    d->mounted = true;
    /* mkfs leaves lost+found owned by host root, which the sandbox could
     * neither use nor remove; the disk is never fsck'd, so it goes. */
    _cleanup_free_ char *lf = NULL;
    if (asprintf(&lf, "%s/lost+found", d->mnt) < 0)
        return -ENOMEM;
    if (rmdir(lf) < 0 && errno != ENOENT)
        return err_sys(err, errno, "remove %s", lf);
    return 0;
}

static int make_tmpfs(struct ns_disk *d, uint64_t mb, uint32_t owner, struct runra_err **err)
{
    char opts[128];
    snprintf(opts, sizeof(opts), "size=%llum,uid=%u,gid=%u,mode=0755", (unsigned long long)mb,
             owner, owner);
    if (mount("tmpfs", d->mnt, "tmpfs", MS_NOSUID | MS_NODEV, opts) < 0)
        return err_sys(err, errno, "mount tmpfs on %s", d->mnt);
    d->mounted = true;
    return 0;
}

int ns_disk_create(const char *dir, uint64_t mb, uint32_t owner, enum ns_disk_kind kind,
                   const char *mkfs, struct ns_disk **ret, struct runra_err **err)
{
    if (mb == 0 || mb > UINT64_MAX / (1024 * 1024))
        return err_set(err, EINVAL, "bad disk size %llu MB", (unsigned long long)mb);
    struct ns_disk *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->loop_nr = -1;
    if (!(d->dir = strdup(dir)) || asprintf(&d->mnt, "%s/root", dir) < 0) {
        disk_free(d);
        return -ENOMEM;
    }
    int r = mkdir(d->mnt, 0755) < 0 ? err_sys(err, errno, "create %s", d->mnt) : 0;
    if (r >= 0)
        r = kind == NS_DISK_EXT4 ? make_ext4(d, mb, owner, mkfs, err)
                                 : make_tmpfs(d, mb, owner, err);
    if (r < 0) {
        ns_disk_destroy(d, NULL);
        return r;
    }
    *ret = d;
    return 0;
}

int ns_disk_detach(struct ns_disk *d, struct runra_err **err)
{
    if (!d->mounted)
        return 0;
    if (umount2(d->mnt, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL)
        return err_sys(err, errno, "detach %s", d->mnt);
    d->mounted = false;
    return 0;
}

/* True while loop device nr is still bound to img. */
static bool loop_bound(int nr, const char *img)
{
    char path[64];
    _cleanup_free_ char *back = NULL;
    snprintf(path, sizeof(path), "/sys/block/loop%d/loop/backing_file", nr);
    if (read_file_str(path, 4096, &back) < 0)
        return false;
    back[strcspn(back, "\n")] = 0;
    /* The kernel appends " (deleted)" once the image is unlinked. */
    return str_has_prefix(back, img) &&
           (back[strlen(img)] == 0 || !strcmp(back + strlen(img), " (deleted)"));
}

int ns_disk_destroy(struct ns_disk *d, struct runra_err **err)
{
    if (!d)
        return 0;
    int r = ns_disk_detach(d, err);
    /* The sandbox's namespace dies with its last process, just before
     * destroy gets here; its mount, then the loop device, go a moment
     * later. Waiting makes "destroyed" mean "released". */
    if (d->loop_nr >= 0) {
        int i = 0;
        for (; i < 300 && loop_bound(d->loop_nr, d->img); i++) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (i == 300 && r >= 0)
            r = err_set(err, EBUSY, "loop%d still holds %s after 3 s", d->loop_nr, d->img);
    }
    if (d->img && !d->keep_img && unlink(d->img) < 0 && errno != ENOENT && r >= 0)
        r = err_sys(err, errno, "remove %s", d->img);
    if (rmdir(d->mnt) < 0 && errno != ENOENT && r >= 0)
        r = err_sys(err, errno, "remove %s", d->mnt);
    disk_free(d);
    return r;
}

int ns_disk_cleanup(const char *dir, struct runra_err **err)
{
    _cleanup_free_ char *mnt = NULL;
    if (asprintf(&mnt, "%s/root", dir) < 0)
        return -ENOMEM;
    /* EINVAL: not a mount point here, the usual case after a restart. */
    if (umount2(mnt, MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
        return err_sys(err, errno, "detach %s", mnt);
    return 0;
}

int ns_disk_reopen(const char *dir, struct ns_disk **ret, struct runra_err **err)
{
    struct ns_disk *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->loop_nr = -1;
    d->keep_img = true; /* a failed reopen must not take the files with it */
    int r = 0;
    _cleanup_close_ int imgfd = -1, lfd = -1;
    if (!(d->dir = strdup(dir)) || asprintf(&d->mnt, "%s/root", dir) < 0 ||
        asprintf(&d->img, "%s/disk.img", dir) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    if (mkdir(d->mnt, 0755) < 0 && errno != EEXIST) {
        r = err_sys(err, errno, "create %s", d->mnt);
        goto fail;
    }
    imgfd = open(d->img, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
    if (imgfd < 0) {
        r = err_sys(err, errno, "open the sandbox's disk %s", d->img);
        goto fail;
    }
    char loop[512];
    lfd = loop_attach(d, imgfd, loop, sizeof(loop), err);
    if (lfd < 0) {
        r = lfd;
        goto fail;
    }
    if (mount(loop, d->mnt, "ext4", MS_NOSUID | MS_NODEV, "") < 0) {
        r = err_sys(err, errno, "mount %s on %s", loop, d->mnt);
        goto fail;
    }
    d->mounted = true;
    /* keep_img stays: an undo of a later create step must not take a
     * persisted disk with it; destroying the sandbox removes its dir. */
    *ret = d;
    return 0;
fail:
    ns_disk_destroy(d, NULL);
    return r;
}

int ns_disk_find(const char *dir, struct ns_disk **ret)
{
    struct ns_disk *d = calloc(1, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->loop_nr = -1;
    if (!(d->dir = strdup(dir)) || asprintf(&d->mnt, "%s/root", dir) < 0 ||
        asprintf(&d->img, "%s/disk.img", dir) < 0) {
        disk_free(d);
        return -ENOMEM;
    }
    if (access(d->img, F_OK) < 0) {
        free(d->img); /* a tmpfs disk: nothing on the host to find */
        d->img = NULL;
    }
    for (int nr = 0; d->img && nr < 4096; nr++) {
        char path[64];
        snprintf(path, sizeof(path), "/sys/block/loop%d", nr);
        if (access(path, F_OK) < 0) {
            if (nr >= 256)
                break; /* loop devices are numbered densely from 0 */
            continue;
        }
        if (loop_bound(nr, d->img)) {
            d->loop_nr = nr;
            break;
        }
    }
    *ret = d;
    return 0;
}

void ns_disk_forget(struct ns_disk *d) { disk_free(d); }
