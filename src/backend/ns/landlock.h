/* Landlock for the sandbox child: reads and execs anywhere, writes only
 * beneath policy.h's ns_landlock_rules. Best effort by the kernel's ABI. */
#pragma once

#include <stdbool.h>

#include "base/err.h"

/* The kernel's landlock ABI version, 0 when landlock is unavailable. */
int ns_landlock_query_abi(void);
/* Restricts this process (and all it later starts). A kernel without
 * landlock is not an error: returns 0 having done nothing, 1 when applied. */
/* image_root: the root is an image's overlay, the sandbox's own from top to
 * bottom (no host directory in it), so all of it is writable, as in a
 * container; on the host image only the listed directories are. */
int ns_landlock_apply(bool image_root, struct runra_err **err);
