/* An image's root: its layers (read-only, shared by every sandbox, from the
 * daemon's layer store through one idmapped mount) stacked by overlayfs
 * under an upper layer on the sandbox's own disk. Mounted here, as root of
 * the sandbox's user namespace, with userxattr: the overlay then keeps its
 * own bookkeeping in user.* attributes and the kernel checks every access
 * against the sandbox's ids, never the host's. Layer directories hold
 * image ids 0-65535, which the idmapped mount shows as the sandbox's ids,
 * so the image's root is the sandbox's root and nothing in a layer is
 * owned by a host user inside. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/ns/child_ctx.h"
#include "base/util.h"

/* Names on the disk's root; in image mode the sandbox sees only the upper
 * one, through the overlay. */
#define UPPER "image-upper"
#define WORK "image-work"
#define LAYERS "image-layers" /* where the layer store is attached during setup */
#define EMPTY "image-empty"   /* the one lower layer of an image without layers */
#define ROOT "image-root"     /* the overlay's mount point */

/* The mount(2) data of the fallback: one page, as the kernel takes it. */
#define OPTS_MAX 4096

/* The overlay through the new mount API, each lower layer added on its own
 * ("lowerdir+", Linux 6.8), so the count is bounded by the layers, not by
 * a page of options. Paths resolve against the cwd: the disk's root. */
static int overlay_fsconfig(const struct ns_config *c, int *ret_fd, struct runra_err **err)
{
    _cleanup_close_ int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        return -errno;
    char path[128];
    if (fsconfig(fs, FSCONFIG_SET_STRING, "source", "runra-image", 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0)
        return -errno;
    /* The first lower layer given is the top one. */
    for (size_t i = c->nlayers; i-- > 0;) {
        snprintf(path, sizeof(path), LAYERS "/sha256/%s", c->layers[i]);
        if (fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", path, 0) < 0)
            return -errno;
    }
    if (c->nlayers == 0 && fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", EMPTY, 0) < 0)
        return -errno;
    if (fsconfig(fs, FSCONFIG_SET_STRING, "upperdir", UPPER, 0) < 0 ||
        fsconfig(fs, FSCONFIG_SET_STRING, "workdir", WORK, 0) < 0)
        return -errno;
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return err_sys(err, errno, "create the image overlay");
    int m = fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NODEV | MOUNT_ATTR_NOSUID);
    if (m < 0)
        return err_sys(err, errno, "mount the image overlay");
    *ret_fd = m;
    return 0;
}

/* Kernels before 6.8: the classic option string, relative paths keeping it
 * short (about 48 layers fit in a page). */
static int overlay_mount(const struct ns_config *c, struct runra_err **err)
{
    char opts[OPTS_MAX];
    size_t n = (size_t)snprintf(opts, sizeof(opts), "userxattr,upperdir=" UPPER ",workdir=" WORK
                                                     ",lowerdir=");
    for (size_t i = c->nlayers; i-- > 0 && n < sizeof(opts);)
        n += (size_t)snprintf(opts + n, sizeof(opts) - n, LAYERS "/sha256/%s%s", c->layers[i],
                              i ? ":" : "");
    if (c->nlayers == 0 && n < sizeof(opts))
        n += (size_t)snprintf(opts + n, sizeof(opts) - n, EMPTY);
    if (n >= sizeof(opts))
        return err_set(err, E2BIG, "the image has %zu layers, more than this kernel's overlay "
                                   "options can name (Linux 6.8 lifts the limit)",
                       c->nlayers);
    if (mount("runra-image", ROOT, "overlay", MS_NODEV | MS_NOSUID, opts) < 0)
        return err_sys(err, errno, "mount the image overlay");
    return 0;
}

/* Creates a directory of the disk's root unless it is there, and insists
 * it is one (a persisted disk comes back with what it had). */
static int disk_dir(int dfd, const char *name, mode_t mode, struct runra_err **err)
{
    if (mkdirat(dfd, name, mode) < 0 && errno != EEXIST)
        return err_sys(err, errno, "create '%s' on the disk", name);
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return err_sys(err, errno, "stat '%s' on the disk", name);
    if (!S_ISDIR(st.st_mode))
        return err_set(err, ENOTDIR, "'%s' on the disk is not a directory", name);
    if (fchmodat(dfd, name, mode, 0) < 0)
        return err_sys(err, errno, "chmod '%s' on the disk", name);
    return 0;
}

int ns_overlay_root(struct ns_child_ctx *x, struct runra_err **err)
{
    const struct ns_config *c = x->c;
    if (c->layers_fd < 0)
        return 0;
    /* Everything below resolves against the disk's root: the cwd. The
     * sandbox's processes never see it, only the overlay on it. */
    if (fchdir(x->rootfd) < 0)
        return err_sys(err, errno, "chdir to the disk");
    static const struct {
        const char *name;
        mode_t mode;
    } dirs[] = {{UPPER, 0755}, {WORK, 0700}, {LAYERS, 0700}, {EMPTY, 0755}, {ROOT, 0755}};
    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        int r = disk_dir(x->rootfd, dirs[i].name, dirs[i].mode, err);
        if (r < 0)
            return r;
    }
    _cleanup_close_ int layers = c->layers_fd;
    if (move_mount(layers, "", x->rootfd, LAYERS, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return err_sys(err, errno, "attach the layer store");
    int m = -1;
    int r = overlay_fsconfig(c, &m, err);
    if (r >= 0) {
        if (move_mount(m, "", x->rootfd, ROOT, MOVE_MOUNT_F_EMPTY_PATH) < 0)
            r = err_sys(err, errno, "attach the image overlay");
        close(m);
    } else if (r == -EINVAL || r == -ENOSYS) {
        /* A kernel without "lowerdir+" says so on the option itself. */
        if (err && *err) {
            err_free(*err);
            *err = NULL;
        }
        r = overlay_mount(c, err);
    } else if (!(err && *err)) {
        r = err_sys(err, -r, "set up the image overlay");
    }
    /* The overlay holds its layers; the store's mount is no longer needed,
     * and nothing else of the store shows anywhere. */
    if (umount2(LAYERS, MNT_DETACH) < 0 && r >= 0)
        r = err_sys(err, errno, "detach the layer store");
    if (r < 0)
        return r;
    int root = openat(x->rootfd, ROOT, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (root < 0)
        return err_sys(err, errno, "open the image overlay");
    close(x->rootfd);
    x->rootfd = root;
    if (chdir("/") < 0)
        return err_sys(err, errno, "chdir /");
    return 0;
}
