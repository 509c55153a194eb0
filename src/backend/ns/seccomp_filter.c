/* seccomp with libseccomp: allow by default, refuse policy.c's list. Only the
 * native architecture is allowed; any other (i386 via int 0x80, x32) kills
 * the process, since a filter written for one syscall table means nothing
 * for another. */
#include "backend/ns/seccomp_filter.h"

#include <errno.h>
#include <seccomp.h>

#include "backend/ns/policy.h"

static void ctx_release(scmp_filter_ctx *c)
{
    if (*c)
        seccomp_release(*c);
}

static int add(scmp_filter_ctx ctx, const struct ns_seccomp_rule *rule, struct runra_err **err)
{
    int nr = seccomp_syscall_resolve_name(rule->name);
    if (nr == __NR_SCMP_ERROR)
        return err_set(err, EINVAL, "seccomp: unknown syscall '%s'", rule->name);
    uint32_t action = SCMP_ACT_ERRNO((uint32_t)rule->errnum);
    int r = 0;
    switch (rule->cond) {
    case NS_SC_ALWAYS:
        r = seccomp_rule_add(ctx, action, nr, 0);
        break;
    case NS_SC_CLONE_NS:
        /* One rule per flag: "(flags & NEWX) == NEWX" fails the call when
         * any one namespace flag is set, whatever else is. */
        for (size_t i = 0; r >= 0 && i < ns_clone_ns_flags_n; i++)
            r = seccomp_rule_add(
                ctx, action, nr, 1,
                SCMP_A0(SCMP_CMP_MASKED_EQ, ns_clone_ns_flags[i], ns_clone_ns_flags[i]));
        break;
    }
    /* libseccomp refuses rules for calls this architecture lacks (-EDOM
     * in some versions) and names it cannot place; neither can be called. */
    if (r == -EDOM)
        return 0;
    return r < 0 ? err_sys(err, r, "seccomp: rule for '%s'", rule->name) : 0;
}

int ns_seccomp_apply(struct runra_err **err)
{
    __attribute__((cleanup(ctx_release))) scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    if (!ctx)
        return err_set(err, ENOMEM, "seccomp: init");
    int r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    if (r < 0)
        return err_sys(err, r, "seccomp: bad-arch action");
    /* runra-init may have started threads; the filter must cover them all. */
    r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
    if (r < 0)
        return err_sys(err, r, "seccomp: tsync");
    for (size_t i = 0; i < ns_seccomp_rules_n; i++) {
        r = add(ctx, &ns_seccomp_rules[i], err);
        if (r < 0)
            return r;
    }
    r = seccomp_load(ctx);
    if (r < 0)
        return err_sys(err, r, "seccomp: load");
    return 0;
}
