/* The switch into the sandbox's root: its hostname, pivot_root onto the
 * disk, the host's tree detached, and the initial working directory. After
 * this step no host path is reachable from the child. */
#include <errno.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backend/ns/child_ctx.h"
#include "backend/ns/mnt.h"
#include "base/util.h"

int ns_pivot_hostname(struct ns_child_ctx *x, struct runra_err **err)
{
    /* The UTS namespace is the sandbox's own; the host's name is untouched. */
    if (sethostname(x->c->hostname, strlen(x->c->hostname)) < 0)
        return err_sys(err, errno, "sethostname");
    return 0;
}

int ns_pivot_enter(struct ns_child_ctx *x, struct runra_err **err)
{
    /* The mask source has served; the masks made from it stay. */
    int r = ns_mask_source_drop(x->rootfd, NS_MASK_PARK, err);
    if (r < 0)
        return r;
    /* pivot_root(".", ".") stacks the old root on top of the new one at the
     * same place; detaching "." then drops the whole host tree, and with it
     * every host mount this namespace had copied. */
    if (fchdir(x->rootfd) < 0)
        return err_sys(err, errno, "chdir to the new root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        return err_sys(err, errno, "pivot_root");
    if (umount2(".", MNT_DETACH) < 0)
        return err_sys(err, errno, "detach the old root");
    if (chdir("/") < 0)
        return err_sys(err, errno, "chdir /");
    return 0;
}

int ns_pivot_workdir(struct ns_child_ctx *x, struct runra_err **err)
{
    int r = mkdir_p(x->c->workdir, 0755);
    if (r < 0)
        return err_sys(err, r, "create workdir '%s'", x->c->workdir);
    if (chdir(x->c->workdir) < 0)
        return err_sys(err, errno, "chdir to workdir '%s'", x->c->workdir);
    return 0;
}
