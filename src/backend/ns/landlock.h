/* Landlock for the sandbox child: reads and execs anywhere, writes only
 * beneath policy.h's ns_landlock_rules. Best effort by the kernel's ABI. */
#pragma once

#include "base/err.h"

/* The kernel's landlock ABI version, 0 when landlock is unavailable. */
int ns_landlock_query_abi(void);
/* Restricts this process (and all it later starts). A kernel without
 * landlock is not an error: returns 0 having done nothing, 1 when applied. */
int ns_landlock_apply(struct runra_err **err);
