/* The sandbox's fixed security policy as plain data: which capabilities stay,
 * which paths landlock lets the workload write, which syscalls seccomp refuses.
 * Pure tables and functions over them, so unit tests check the policy itself
 * without root; caps.c, landlock.c and seccomp.c only apply it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* --- capabilities ------------------------------------------------------- */

/* The capabilities root inside the sandbox keeps (Docker's default set). */
extern const int ns_caps_keep[];
extern const size_t ns_caps_keep_n;
bool ns_caps_is_kept(int cap);
/* The kept set as the two 32-bit words capset(2) takes. */
void ns_caps_keep_words(uint32_t ret[2]);

/* --- landlock ----------------------------------------------------------- */

/* Filesystem rights newer than the uapi header Debian 12 ships. */
#define NS_LL_FS_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define NS_LL_FS_IOCTL_DEV (1ULL << 15) /* ABI 5 */

/* Every filesystem right the kernel with this ABI knows (0 below ABI 1). */
uint64_t ns_landlock_fs_handled(int abi);
/* The rights granted everywhere: read, list and execute. */
uint64_t ns_landlock_fs_read(int abi);

enum ns_ll_kind {
    NS_LL_TREE,       /* a directory: every handled right beneath it */
    NS_LL_FILE_WRITE, /* a file or a tree of pseudo-files: open for writing, truncate */
};

struct ns_landlock_rule {
    const char *path; /* inside the sandbox, after pivot_root */
    enum ns_ll_kind kind;
};

extern const struct ns_landlock_rule ns_landlock_rules[];
extern const size_t ns_landlock_rules_n;
/* The rights one rule grants on a kernel with this ABI. */
uint64_t ns_landlock_rule_access(const struct ns_landlock_rule *r, int abi);

/* --- seccomp ------------------------------------------------------------ */

enum ns_sc_cond {
    NS_SC_ALWAYS,   /* every call fails */
    NS_SC_CLONE_NS, /* fails when the first argument carries a CLONE_NEW* flag */
};

struct ns_seccomp_rule {
    const char *name; /* resolved by libseccomp for the native architecture */
    int errnum;       /* positive errno returned instead of running the call */
    enum ns_sc_cond cond;
};

extern const struct ns_seccomp_rule ns_seccomp_rules[];
extern const size_t ns_seccomp_rules_n;

/* The namespace flags clone(2) accepts; CLONE_NEWTIME is left out because in
 * clone(2)'s first argument that bit belongs to the exit signal. */
extern const uint64_t ns_clone_ns_flags[];
extern const size_t ns_clone_ns_flags_n;
