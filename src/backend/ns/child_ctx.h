/* State shared by the sandbox child's setup steps (child.c runs them in
 * order; rootfs.c, kernfs.c, devfs.c, pivot.c fill and use this). */
#pragma once

#include "backend/ns/config.h"

struct ns_child_ctx {
    const struct ns_config *c;
    int rootfd;       /* O_PATH fd of the sandbox root (the disk's mount root) */
    int maskfd;       /* mask source (mnt.h), parked at MASK_PARK during setup */
    int etc_hostname; /* detached binds of the disk's own /etc/hostname and /etc/hosts */
    int etc_hosts;
    int etc_resolv;
};

/* Where the mask source is attached while the setup runs: an empty skeleton
 * directory of the sandbox disk, uncovered again before pivot_root. */
#define NS_MASK_PARK "/run"

/* In image mode (c->layers_fd >= 0): mounts the image's overlay on the
 * disk and makes it rootfd; a no-op for the host image. */
int ns_overlay_root(struct ns_child_ctx *x, struct runra_err **err);
int ns_rootfs_skeleton(struct ns_child_ctx *x, struct runra_err **err);
int ns_rootfs_host(struct ns_child_ctx *x, struct runra_err **err);
int ns_rootfs_masks(struct ns_child_ctx *x, struct runra_err **err);
int ns_kernfs_proc(struct ns_child_ctx *x, struct runra_err **err);
int ns_kernfs_sys(struct ns_child_ctx *x, struct runra_err **err);
int ns_devfs_build(struct ns_child_ctx *x, struct runra_err **err);
int ns_pivot_hostname(struct ns_child_ctx *x, struct runra_err **err);
int ns_netns_loopback(struct ns_child_ctx *x, struct runra_err **err);
int ns_pivot_enter(struct ns_child_ctx *x, struct runra_err **err);
int ns_pivot_workdir(struct ns_child_ctx *x, struct runra_err **err);
