/* The sandbox's security policy tables (see policy.h). Nothing here touches
 * the kernel; every choice is argued next to the entry that makes it. */
#include "backend/ns/policy.h"

#include <errno.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <sched.h>

#include "base/macro.h"

/* Root inside a user namespace already has no power over the host; this set
 * also takes away what could reach the kernel's shared state from inside
 * (SYS_ADMIN: mounts, so nothing can uncover a mask; NET_ADMIN, SYS_PTRACE,
 * SYS_MODULE, SYS_TIME, ...), and keeps what ordinary software running as
 * root expects: file ownership, setuid to other users, binding low ports. */
const int ns_caps_keep[] = {
    CAP_CHOWN,      CAP_DAC_OVERRIDE, CAP_FOWNER,      CAP_FSETID,           CAP_KILL,
    CAP_SETGID,     CAP_SETUID,       CAP_SETPCAP,     CAP_NET_BIND_SERVICE, CAP_NET_RAW,
    CAP_SYS_CHROOT, CAP_MKNOD,        CAP_AUDIT_WRITE, CAP_SETFCAP,
};
const size_t ns_caps_keep_n = ARRAY_SIZE(ns_caps_keep);

bool ns_caps_is_kept(int cap)
{
    for (size_t i = 0; i < ns_caps_keep_n; i++)
        if (ns_caps_keep[i] == cap)
            return true;
    return false;
}

void ns_caps_keep_words(uint32_t ret[2])
{
    ret[0] = ret[1] = 0;
    for (size_t i = 0; i < ns_caps_keep_n; i++)
        ret[ns_caps_keep[i] / 32] |= 1u << (ns_caps_keep[i] % 32);
}

#define LL_READ                                                                                    \
    (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR)
#define LL_ABI1                                                                                    \
    (LL_READ | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                     \
     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | \
     LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |   \
     LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM)

uint64_t ns_landlock_fs_handled(int abi)
{
    if (abi < 1)
        return 0;
    uint64_t m = LL_ABI1;
    if (abi >= 2)
        m |= LANDLOCK_ACCESS_FS_REFER;
    if (abi >= 3)
        m |= NS_LL_FS_TRUNCATE;
    if (abi >= 5)
        m |= NS_LL_FS_IOCTL_DEV;
    /* ABI 4 added network rules and ABI 6 scopes: the sandbox has its own
     * network, abstract socket and pid namespaces, so those are not needed. */
    return m;
}

uint64_t ns_landlock_fs_read(int abi) { return abi < 1 ? 0 : LL_READ; }

/* Where the workload may write. The sandbox's disk is its root, but the root
 * directory itself stays unwritable so the layout (/usr, /etc, /proc, ... as
 * mount points) cannot be shadowed or confused by new top-level entries, and
 * /usr and /etc are the host's, read-only already. The rest is where software
 * run as root normally writes: its home, the workspace, temporary files,
 * package and service state under /var, /opt, /srv, /mnt and /run, and device
 * nodes (ttys, /dev/shm). /proc gets only "open for writing" so tools can set
 * /proc/self/oom_score_adj and the like; the sensitive parts of /proc are
 * read-only mounts or masked. /etc/hosts and /etc/hostname are the sandbox's
 * own files (bound from its disk), editable as on any machine. */
const struct ns_landlock_rule ns_landlock_rules[] = {
    {"/workspace", NS_LL_TREE},
    {"/tmp", NS_LL_TREE},
    {"/root", NS_LL_TREE},
    {"/home", NS_LL_TREE},
    {"/var", NS_LL_TREE},
    {"/run", NS_LL_TREE},
    {"/opt", NS_LL_TREE},
    {"/srv", NS_LL_TREE},
    {"/mnt", NS_LL_TREE},
    {"/dev", NS_LL_TREE},
    {"/proc", NS_LL_FILE_WRITE},
    {"/etc/hosts", NS_LL_FILE_WRITE},
    {"/etc/hostname", NS_LL_FILE_WRITE},
};
const size_t ns_landlock_rules_n = ARRAY_SIZE(ns_landlock_rules);

uint64_t ns_landlock_rule_access(const struct ns_landlock_rule *r, int abi)
{
    uint64_t handled = ns_landlock_fs_handled(abi);
    switch (r->kind) {
    case NS_LL_TREE:
        return handled;
    case NS_LL_FILE_WRITE:
        return handled & (LANDLOCK_ACCESS_FS_WRITE_FILE | NS_LL_FS_TRUNCATE);
    }
    return 0;
}

/* Refused with EPERM: every way to reach shared kernel state that a
 * container workload does not need (modules, kexec, bpf, perf, keyrings,
 * io_uring and userfaultfd with their history of exploits, file handles that
 * bypass path checks, the whole mount API so no mask can be undone, new
 * namespaces, raw I/O ports, clocks, swap, reboot, accounting, quotas, the
 * kernel log). clone3 gets ENOSYS instead: seccomp cannot look into its
 * argument struct, and ENOSYS makes glibc fall back to clone, whose flags the
 * CLONE_NS rules below can see.
 *
 * ptrace stays allowed: debuggers and strace are normal agent tools, and the
 * pid namespace means only the sandbox's own processes can be traced; they
 * all share one uid map, capability set, landlock domain and this filter, so
 * tracing one gains nothing the tracer does not already have. */
const struct ns_seccomp_rule ns_seccomp_rules[] = {
    {"kexec_load", EPERM, NS_SC_ALWAYS},
    {"kexec_file_load", EPERM, NS_SC_ALWAYS},
    {"init_module", EPERM, NS_SC_ALWAYS},
    {"finit_module", EPERM, NS_SC_ALWAYS},
    {"delete_module", EPERM, NS_SC_ALWAYS},
    {"bpf", EPERM, NS_SC_ALWAYS},
    {"perf_event_open", EPERM, NS_SC_ALWAYS},
    {"keyctl", EPERM, NS_SC_ALWAYS},
    {"add_key", EPERM, NS_SC_ALWAYS},
    {"request_key", EPERM, NS_SC_ALWAYS},
    {"userfaultfd", EPERM, NS_SC_ALWAYS},
    {"io_uring_setup", EPERM, NS_SC_ALWAYS},
    {"io_uring_enter", EPERM, NS_SC_ALWAYS},
    {"io_uring_register", EPERM, NS_SC_ALWAYS},
    {"open_by_handle_at", EPERM, NS_SC_ALWAYS},
    {"name_to_handle_at", EPERM, NS_SC_ALWAYS},
    {"mount", EPERM, NS_SC_ALWAYS},
    {"umount2", EPERM, NS_SC_ALWAYS},
    {"pivot_root", EPERM, NS_SC_ALWAYS},
    {"move_mount", EPERM, NS_SC_ALWAYS},
    {"open_tree", EPERM, NS_SC_ALWAYS},
    {"fsopen", EPERM, NS_SC_ALWAYS},
    {"fsconfig", EPERM, NS_SC_ALWAYS},
    {"fsmount", EPERM, NS_SC_ALWAYS},
    {"fspick", EPERM, NS_SC_ALWAYS},
    {"mount_setattr", EPERM, NS_SC_ALWAYS},
    {"swapon", EPERM, NS_SC_ALWAYS},
    {"swapoff", EPERM, NS_SC_ALWAYS},
    {"reboot", EPERM, NS_SC_ALWAYS},
    {"acct", EPERM, NS_SC_ALWAYS},
    {"quotactl", EPERM, NS_SC_ALWAYS},
    {"syslog", EPERM, NS_SC_ALWAYS},
    {"setns", EPERM, NS_SC_ALWAYS},
    {"unshare", EPERM, NS_SC_ALWAYS},
    {"iopl", EPERM, NS_SC_ALWAYS},
    {"ioperm", EPERM, NS_SC_ALWAYS},
    {"settimeofday", EPERM, NS_SC_ALWAYS},
    {"clock_settime", EPERM, NS_SC_ALWAYS},
    {"clock_adjtime", EPERM, NS_SC_ALWAYS},
    {"adjtimex", EPERM, NS_SC_ALWAYS},
    {"lookup_dcookie", EPERM, NS_SC_ALWAYS},
    {"vhangup", EPERM, NS_SC_ALWAYS},
    {"clone", EPERM, NS_SC_CLONE_NS},
    {"clone3", ENOSYS, NS_SC_ALWAYS},
};
const size_t ns_seccomp_rules_n = ARRAY_SIZE(ns_seccomp_rules);

const uint64_t ns_clone_ns_flags[] = {
    CLONE_NEWNS,   CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
    CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET,
};
const size_t ns_clone_ns_flags_n = ARRAY_SIZE(ns_clone_ns_flags);
