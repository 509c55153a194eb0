/* Who a command runs as: "NAME", "UID", "NAME:GROUP" or "UID:GID" looked up
 * in the sandbox's own /etc/passwd and /etc/group (an image's, or the
 * host's read-only copy), the way docker reads --user. runra-init is
 * static, so this reads the files itself rather than through NSS. */
#pragma once

#include <stdbool.h>
#include <sys/types.h>

#include "base/err.h"

#define USER_GROUPS_MAX 64

struct user_ids {
    uid_t uid;
    gid_t gid;
    gid_t groups[USER_GROUPS_MAX]; /* supplementary, the primary included */
    int ngroups;
    char name[64]; /* for USER; the uid's digits when passwd has no entry */
    char home[256];/* for HOME; "/" when passwd has no entry */
};

/* spec NULL or "root" or "0": root, with nothing read. ENOENT (with a
 * message) for a name that is in neither file. */
int user_resolve(const char *spec, struct user_ids *ret, struct runra_err **err);
