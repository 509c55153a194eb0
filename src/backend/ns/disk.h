/* A sandbox's writable disk on the host: a sparse ext4 image of diskMb on a
 * loop device, or, where loop devices or mkfs.ext4 are missing, a tmpfs of
 * the same size. Mounted at <dir>/root in the daemon's mount namespace until
 * the sandbox holds its own copy. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum ns_disk_kind { NS_DISK_EXT4, NS_DISK_TMPFS };

struct ns_disk;

/* Finds mkfs.ext4 (ret_mkfs gets its path, or "" when missing) and checks
 * that /dev/loop-control can be opened. Used once by the daemon's init. */
void ns_disk_probe(char *ret_mkfs, size_t n, bool *ret_loop_ok);

/* Creates and mounts the disk; its root directory is owned by owner:owner
 * (the sandbox's root on the host). mkfs is the mkfs.ext4 path for EXT4. */
int ns_disk_create(const char *dir, uint64_t mb, uint32_t owner, enum ns_disk_kind kind,
                   const char *mkfs, struct ns_disk **ret, struct runra_err **err);
/* The mount point (<dir>/root). */
const char *ns_disk_root(const struct ns_disk *d);
/* Lazily unmounts the daemon's copy; the sandbox's mount namespace keeps
 * its own, which is the last user of the loop device. */
int ns_disk_detach(struct ns_disk *d, struct runra_err **err);
/* Detaches if needed, waits (briefly) for the loop device to be released,
 * removes the image and the mount point, and frees d. */
int ns_disk_destroy(struct ns_disk *d, struct runra_err **err);
/* Mounts the disk a persisted sandbox left in dir (its disk.img) as create
 * would have, without making a new file system. On failure the image is
 * left as it was. */
int ns_disk_reopen(const char *dir, struct ns_disk **ret, struct runra_err **err);
/* The disk of a live sandbox a previous daemon made: its image and the loop
 * device bound to it (found by its backing file), not mounted here. */
int ns_disk_find(const char *dir, struct ns_disk **ret);
/* Frees d and leaves the disk, its image and its loop device as they are. */
void ns_disk_forget(struct ns_disk *d);
/* Runs a host tool (argv[0] an absolute path) with posix_spawn (safe in a
 * threaded daemon), a fixed environment, default signal handling, stdin
 * and stdout on /dev/null; a failure's message is the last line it wrote
 * to stderr. */
int ns_run_tool(char *const argv[], struct runra_err **err);
/* A new raw ext4 image of mb MiB at path (sparse, no journal), its root
 * owned by owner; nothing mounted (the VM backend's disks). */
int ns_disk_format(const char *mkfs, const char *path, uint64_t mb, uint32_t owner,
                   struct runra_err **err);
/* For a previous daemon's sandbox: unmounts <dir>/root if mounted here and
 * removes the image. Loop devices free themselves (autoclear) once the
 * sandbox's processes, the last users, are gone. */
int ns_disk_cleanup(const char *dir, struct runra_err **err);
