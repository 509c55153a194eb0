/* The sandbox's root: a skeleton on its own disk, the host's /usr, /etc and
 * library dirs bound read-only over it, per-sandbox /etc/hostname and
 * /etc/hosts, and masks over host secrets. Runs in the child before
 * pivot_root; the disk is fresh, but it is still treated as untrusted. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/ns/child_ctx.h"
#include "backend/ns/mnt.h"
#include "base/util.h"

struct skel {
    const char *path;
    mode_t mode;
};

/* Every mount point the setup needs plus the usual top-level tree. /tmp and
 * /var/tmp are sticky and world-writable as everywhere; /root is private. */
static const struct skel skeleton[] = {
    {"usr", 0755},  {"etc", 0755},       {"proc", 0555}, {"sys", 0555},  {"dev", 0755},
    {"tmp", 01777}, {"workspace", 0755}, {"root", 0700}, {"home", 0755}, {"run", 0755},
    {"var", 0755},  {"var/tmp", 01777},  {"opt", 0755},  {"srv", 0755},  {"mnt", 0755},
};

/* The host's top-level program and library dirs: symlinks on a merged-/usr
 * host (recreated as the same symlinks), real directories otherwise (bound
 * read-only like /usr). */
static const char *const host_tops[] = {"bin", "sbin", "lib", "lib32", "lib64", "libx32"};

#define RO_ATTRS (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)

/* Creates dir beneath rootfd unless it exists, and insists that what is
 * there is a real directory: a symlink left on a reused disk must never
 * redirect a mount. */
static int ensure_dir(int rootfd, const char *path, mode_t mode, struct runra_err **err)
{
    bool made = mkdirat(rootfd, path, mode) == 0;
    if (!made && errno != EEXIST)
        return err_sys(err, errno, "create '/%s'", path);
    struct stat st;
    if (fstatat(rootfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return err_sys(err, errno, "stat '/%s'", path);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, ENOTDIR, "'/%s' on the sandbox disk is not a directory", path);
    /* mkdir applied the umask; the skeleton's modes are exact. */
    if (made && fchmodat(rootfd, path, mode, 0) < 0)
        return err_sys(err, errno, "chmod '/%s'", path);
    return 0;
}

/* An image brings its own tree: only what the setup mounts on must be
 * there, and what the image has already is left as the image made it. */
static const struct skel image_skeleton[] = {
    {"proc", 0555}, {"sys", 0555}, {"dev", 0755}, {"tmp", 01777}, {"run", 0755}, {"etc", 0755},
};

int ns_rootfs_skeleton(struct ns_child_ctx *x, struct runra_err **err)
{
    if (x->c->layers_fd >= 0) {
        for (size_t i = 0; i < ARRAY_SIZE(image_skeleton); i++) {
            int r = ensure_dir(x->rootfd, image_skeleton[i].path, image_skeleton[i].mode, err);
            if (r < 0)
                return r;
        }
        return 0;
    }
    for (size_t i = 0; i < ARRAY_SIZE(skeleton); i++) {
        int r = ensure_dir(x->rootfd, skeleton[i].path, skeleton[i].mode, err);
        if (r < 0)
            return r;
    }
    return 0;
}

static int host_top(struct ns_child_ctx *x, const char *name, struct runra_err **err)
{
    char host[64], target[PATH_MAX];
    snprintf(host, sizeof(host), "/%s", name);
    struct stat st;
    if (lstat(host, &st) < 0)
        return errno == ENOENT ? 0 : err_sys(err, errno, "stat host '%s'", host);
    if (S_ISDIR(st.st_mode)) {
        int r = ensure_dir(x->rootfd, name, 0755, err);
        return r < 0 ? r : ns_mnt_bind(host, x->rootfd, host, true, RO_ATTRS, err);
    }
    if (!S_ISLNK(st.st_mode))
        return 0;
    ssize_t n = readlink(host, target, sizeof(target) - 1);
    if (n < 0)
        return err_sys(err, errno, "readlink host '%s'", host);
    target[n] = 0;
    if (symlinkat(target, x->rootfd, name) == 0)
        return 0;
    if (errno != EEXIST)
        return err_sys(err, errno, "symlink '%s'", host);
    /* Already there (a reused disk): acceptable only if it is the same link. */
    char have[PATH_MAX];
    n = readlinkat(x->rootfd, name, have, sizeof(have) - 1);
    if (n < 0 || (have[n] = 0, strcmp(have, target) != 0))
        return err_set(err, EEXIST, "'%s' on the sandbox disk is not a symlink to '%s'", host,
                       target);
    return 0;
}

/* Writes one of the sandbox's own /etc files into the disk's /etc (which the
 * host's /etc bind covers next) and keeps a detached bind of it, to attach
 * over the host's copy once the bind is in place. */
static int etc_file(int etcfd, const char *name, const char *content, int *ret_mnt,
                    struct runra_err **err)
{
    _cleanup_close_ int fd =
        openat(etcfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_sys(err, errno, "create /etc/%s on the disk", name);
    int r = write_full(fd, content, strlen(content));
    if (r < 0)
        return err_sys(err, r, "write /etc/%s on the disk", name);
    return ns_mnt_clone(etcfd, name, false,
                        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC, ret_mnt, err);
}

static int etc_attach(struct ns_child_ctx *x, int *mnt, const char *target, struct runra_err **err)
{
    _cleanup_close_ int fd = *mnt;
    *mnt = -1;
    /* The host's /etc is read-only, so a file it lacks cannot get a mount
     * point; the sandbox then simply has no such file, like its host. */
    _cleanup_close_ int probe = -1;
    if (ns_mnt_open(x->rootfd, target, O_PATH, &probe) == -ENOENT)
        return 0;
    return ns_mnt_attach(fd, x->rootfd, target, err);
}

/* The host's resolver may be on its loopback (systemd-resolved), which is
 * not the sandbox's. Any address does here: when the sandbox has a network,
 * every DNS query it sends, wherever to, is answered by runrad's resolver;
 * without one, this address has no route and a lookup fails at once.
 * 192.0.2.0/24 is for documentation only. */
static const char resolv_conf[] =
    "# runra: DNS is answered by runrad under the sandbox's network policy\n"
    "nameserver 192.0.2.53\noptions timeout:2 attempts:2\n";

/* An image's /etc is the sandbox's own (its upper layer): the three files
 * are simply written there, replacing whatever the image had (a symlink
 * into /run, say) rather than writing through it. */
static int image_etc(int etcfd, const char *name, const char *content, struct runra_err **err)
{
    if (unlinkat(etcfd, name, 0) < 0 && errno != ENOENT)
        return err_sys(err, errno, "replace /etc/%s", name);
    _cleanup_close_ int fd =
        openat(etcfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return err_sys(err, errno, "create /etc/%s", name);
    int r = write_full(fd, content, strlen(content));
    return r < 0 ? err_sys(err, r, "write /etc/%s", name) : 0;
}

int ns_rootfs_host(struct ns_child_ctx *x, struct runra_err **err)
{
    const struct ns_config *c = x->c;
    bool image = c->layers_fd >= 0;
    if (!image && strcmp(c->image, "host") != 0)
        return err_set(err, EOPNOTSUPP, "image '%.64s' has no layers", c->image);
    for (size_t i = 0; !image && i < ARRAY_SIZE(host_tops); i++) {
        int r = host_top(x, host_tops[i], err);
        if (r < 0)
            return r;
    }

    char hostname[NS_CONFIG_HOSTNAME_MAX + 2], hosts[512];
    snprintf(hostname, sizeof(hostname), "%s\n", c->hostname);
    snprintf(hosts, sizeof(hosts),
             "127.0.0.1\tlocalhost\n"
             "::1\tlocalhost ip6-localhost ip6-loopback\n"
             "127.0.1.1\t%s\n",
             c->hostname);
    _cleanup_close_ int etcfd =
        openat(x->rootfd, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (etcfd < 0)
        return err_sys(err, errno, "open the disk's /etc");
    if (image) {
        int r = image_etc(etcfd, "hostname", hostname, err);
        if (r >= 0)
            r = image_etc(etcfd, "hosts", hosts, err);
        if (r >= 0)
            r = image_etc(etcfd, "resolv.conf", resolv_conf, err);
        return r;
    }
    int r = etc_file(etcfd, "hostname", hostname, &x->etc_hostname, err);
    if (r >= 0)
        r = etc_file(etcfd, "hosts", hosts, &x->etc_hosts, err);
    if (r >= 0)
        r = etc_file(etcfd, "resolv.conf", resolv_conf, &x->etc_resolv, err);
    if (r >= 0)
        r = ns_mnt_bind("/usr", x->rootfd, "/usr", true, RO_ATTRS, err);
    if (r >= 0)
        r = ns_mnt_bind("/etc", x->rootfd, "/etc", true, RO_ATTRS, err);
    if (r >= 0)
        r = etc_attach(x, &x->etc_hostname, "/etc/hostname", err);
    if (r >= 0)
        r = etc_attach(x, &x->etc_hosts, "/etc/hosts", err);
    if (r >= 0)
        r = etc_attach(x, &x->etc_resolv, "/etc/resolv.conf", err);
    return r;
}

/* Host secrets. Today the uid map alone keeps them unreadable (their owner,
 * host root, is not mapped, so the sandbox's root gets no DAC override on
 * them), but that rests on the map and on the host's modes; covering them
 * with empty read-only files rests on neither. */
static const char *const secrets[] = {
    "/etc/shadow",   "/etc/gshadow",     "/etc/shadow-",
    "/etc/gshadow-", "/etc/ssl/private", "/etc/security/opasswd",
};

static int mask_ssh_keys(struct ns_child_ctx *x, struct runra_err **err)
{
    int fd = -1;
    int r = ns_mnt_open(x->rootfd, "/etc/ssh", O_RDONLY | O_DIRECTORY, &fd);
    if (r == -ENOENT || r == -ENOTDIR)
        return 0;
    if (r < 0)
        return err_sys(err, r, "open /etc/ssh");
    DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return err_sys(err, errno, "open /etc/ssh");
    }
    struct dirent *de;
    r = 0;
    while (r >= 0 && (de = readdir(d))) {
        char path[PATH_MAX];
        if (fnmatch("ssh_host_*key*", de->d_name, FNM_PERIOD) != 0)
            continue;
        snprintf(path, sizeof(path), "/etc/ssh/%s", de->d_name);
        r = ns_mask(x->maskfd, x->rootfd, path, err);
    }
    closedir(d);
    return r < 0 ? r : 0;
}

int ns_rootfs_masks(struct ns_child_ctx *x, struct runra_err **err)
{
    int r = ns_mask_source(x->rootfd, NS_MASK_PARK, &x->maskfd, err);
    /* An image's /etc is its own, not the host's: nothing of the host's
     * to cover, and the image's shadow file is the image's business. */
    bool host = x->c->layers_fd < 0;
    for (size_t i = 0; host && r >= 0 && i < ARRAY_SIZE(secrets); i++)
        r = ns_mask(x->maskfd, x->rootfd, secrets[i], err);
    if (host && r >= 0)
        r = mask_ssh_keys(x, err);
    /* Hidden host paths (the daemon's state dir and socket) are resolved the
     * way the sandbox would resolve them: those under a host bind exist and
     * get masked; those under the sandbox's own dirs do not exist there. */
    for (size_t i = 0; r >= 0 && x->c->hide && x->c->hide[i]; i++)
        r = ns_mask(x->maskfd, x->rootfd, x->c->hide[i], err);
    return r < 0 ? r : 0;
}
