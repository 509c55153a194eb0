/* no_new_privs and the capability drop, with raw prctl/capset (runra-init is
 * static and needs no libcap for two syscalls). What stays is policy.c's
 * ns_caps_keep; everything else leaves the bounding set too, so no exec,
 * setuid binary or file capability can bring it back. */
#include "backend/ns/caps.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/ns/policy.h"

int ns_nnp_apply(struct runra_err **err)
{
    /* Needed before landlock and seccomp can be entered without
     * CAP_SYS_ADMIN, and it makes setuid and file capabilities inert. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        return err_sys(err, errno, "PR_SET_NO_NEW_PRIVS");
    return 0;
}

int ns_caps_apply(struct runra_err **err)
{
    /* Probe upward until the kernel says the number is past its last
     * capability, so capabilities newer than our headers are dropped too. */
    for (int cap = 0;; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (r < 0) {
            if (errno == EINVAL)
                break;
            return err_sys(err, errno, "read bounding set (cap %d)", cap);
        }
        if (r == 1 && !ns_caps_is_kept(cap) && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0)
            return err_sys(err, errno, "drop cap %d from the bounding set", cap);
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return err_sys(err, errno, "clear ambient capabilities");

    uint32_t keep[2];
    ns_caps_keep_words(keep);
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {
        {.effective = keep[0], .permitted = keep[0], .inheritable = 0},
        {.effective = keep[1], .permitted = keep[1], .inheritable = 0},
    };
    if (syscall(SYS_capset, &hdr, data) < 0)
        return err_sys(err, errno, "capset");
    return 0;
}
