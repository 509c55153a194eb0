/* A host directory (or file) as a detached, idmapped mount for a sandbox:
 * the host owner of source appears inside as the sandbox's root, and files
 * the sandbox's root creates there belong to that owner on the host. Never
 * setuid, never device nodes; read-only on request. runra-init attaches the
 * fd inside the sandbox's root before pivot_root. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* sandbox_root: the host uid (and gid) the sandbox's root is. source is
 * opened once, with no symlinks on its path; EPERM when it holds or lies
 * inside one of forbid (NULL-terminated host paths, compared by inode), or
 * when it is root-owned and not read-only. */
int ns_idmap_mount(const char *source, bool readonly, uint32_t sandbox_root,
                   const char *const *forbid, int *ret_fd, struct runra_err **err);

/* Image layers hold ids 0-65535 as the image has them. */
#define NS_IDMAP_LAYER_IDS 65536u
/* The shared layer store as a detached, read-only, idmapped mount for a
 * sandbox: id k in a layer appears as the sandbox's id k. */
int ns_idmap_layers(const char *dir, uint32_t sandbox_root, int *ret_fd, struct runra_err **err);
