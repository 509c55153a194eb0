/* Mount helpers for the sandbox child, on the fd-based mount API: every
 * target is resolved beneath the sandbox root (symlinks included) so no
 * mount can land outside it, and every bind is made read-only while still
 * detached, so it is never visible writable. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* Opens path as the sandbox will see it: resolved beneath rootfd, with
 * absolute symlinks and ".." kept inside. flags are open flags (O_PATH,
 * O_DIRECTORY, ...); O_CLOEXEC is added. Returns -errno without *err so
 * callers can treat ENOENT as "nothing there". */
int ns_mnt_open(int rootfd, const char *path, int flags, int *ret_fd);

/* A detached copy of the mount tree at (dfd, path) (path "" means dfd itself),
 * recursive or not, with attr_set applied (MOUNT_ATTR_*). */
int ns_mnt_clone(int dfd, const char *path, bool recursive, uint64_t attr_set, int *ret_fd,
                 struct runra_err **err);

/* A new detached instance of fstype with "key=value" or "flag" options,
 * mounted with attrs (MOUNT_ATTR_*). The kernel's own message is kept. */
int ns_mnt_fresh(const char *fstype, const char *const *opts, uint64_t attrs, int *ret_fd,
                 struct runra_err **err);

/* Attaches a detached mount onto target (resolved beneath rootfd). */
int ns_mnt_attach(int mntfd, int rootfd, const char *target, struct runra_err **err);

/* Binds the child's current view of src (a host path before pivot_root)
 * onto target beneath rootfd, with attr_set applied before it is attached. */
int ns_mnt_bind(const char *src, int rootfd, const char *target, bool recursive, uint64_t attr_set,
                struct runra_err **err);

/* Makes target a read-only bind of itself (for /proc/sys and the like).
 * A missing target is not an error: returns 0 having done nothing. */
int ns_mnt_readonly(int rootfd, const char *target, struct runra_err **err);

/* The source of masks: a tiny read-only tmpfs holding one empty file and one
 * empty directory, attached at park (beneath rootfd) for the length of the
 * setup, because kernels before 6.15 only clone mounts that are attached in
 * the caller's namespace. ns_mask_source_drop detaches it again; the masks
 * made from it stay. */
int ns_mask_source(int rootfd, const char *park, int *ret_fd, struct runra_err **err);
int ns_mask_source_drop(int rootfd, const char *park, struct runra_err **err);
/* Covers target with the empty file or directory (whichever matches). A
 * missing target is not an error: returns 0; 1 when something was masked. */
int ns_mask(int srcfd, int rootfd, const char *target, struct runra_err **err);

/* Creates an empty regular file (a mount point for a file bind) unless one
 * exists, beneath dirfd. */
int ns_mnt_touch(int dirfd, const char *name, struct runra_err **err);
