/* The sandbox child's seccomp filter, loaded last (it forbids the mount and
 * namespace calls the earlier steps use). */
#pragma once

#include "base/err.h"

/* Loads policy.h's ns_seccomp_rules on every thread of this process. */
int ns_seccomp_apply(struct runra_err **err);
