/* Landlock (see landlock.h). Rules are built for the ABI the kernel reports,
 * so an older kernel gets the subset it understands and a kernel without
 * landlock (or with it disabled at boot) gets none: the mounts, capabilities
 * and seccomp still hold, landlock only narrows writes further. */
#include "backend/ns/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/ns/policy.h"
#include "base/macro.h"

int ns_landlock_query_abi(void)
{
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return abi < 0 ? 0 : (int)abi;
}

static int add_rule(int rfd, const char *path, uint64_t access, struct runra_err **err)
{
    _cleanup_close_ int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : err_sys(err, errno, "landlock: open '%s'", path);
    struct landlock_path_beneath_attr pb = {.allowed_access = access, .parent_fd = fd};
    if (syscall(SYS_landlock_add_rule, rfd, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
        return err_sys(err, errno, "landlock: rule for '%s'", path);
    return 0;
}

int ns_landlock_apply(bool image_root, struct runra_err **err)
{
    int abi = ns_landlock_query_abi();
    if (abi < 1)
        return 0;
    /* Only the first field: every ABI accepts that size, and the network
     * and scope fields (ABI 4, 6) are deliberately left unhandled. */
    struct {
        uint64_t handled_access_fs;
    } attr = {.handled_access_fs = ns_landlock_fs_handled(abi)};
    _cleanup_close_ int rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
    if (rfd < 0)
        return err_sys(err, errno, "landlock: create ruleset (ABI %d)", abi);
    int r = add_rule(rfd, "/",
                     image_root ? ns_landlock_fs_handled(abi) : ns_landlock_fs_read(abi), err);
    for (size_t i = 0; r >= 0 && i < ns_landlock_rules_n; i++)
        r = add_rule(rfd, ns_landlock_rules[i].path,
                     ns_landlock_rule_access(&ns_landlock_rules[i], abi), err);
    if (r < 0)
        return r;
    if (syscall(SYS_landlock_restrict_self, rfd, 0) < 0)
        return err_sys(err, errno, "landlock: restrict self");
    return 1;
}
