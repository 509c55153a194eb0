/* no_new_privs and the capability drop for the sandbox child; what is kept
 * is policy.h's table. */
#pragma once

#include "base/err.h"

int ns_nnp_apply(struct runra_err **err);
/* Reduces the bounding, ambient, effective, permitted and inheritable sets
 * to policy.h's ns_caps_keep. */
int ns_caps_apply(struct runra_err **err);
