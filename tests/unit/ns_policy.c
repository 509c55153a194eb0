/* Unit tests for the sandbox's policy tables: the kept capabilities, the
 * landlock rights per ABI and writable paths, and the seccomp deny list
 * (every name must be one libseccomp knows). */
#include <errno.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <sched.h>
#include <seccomp.h>
#include <string.h>

#include "backend/ns/policy.h"
#include "test.h"

static void caps(void)
{
    uint32_t w[2];
    ns_caps_keep_words(w);
    /* Docker's default set, bit for bit. */
    CHECK(w[0] == 0xa80425fb && w[1] == 0);
    static const int never[] = {CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_PTRACE,      CAP_SYS_MODULE,
                                CAP_SYS_RAWIO, CAP_SYS_TIME,  CAP_DAC_READ_SEARCH, CAP_BPF,
                                CAP_PERFMON,   CAP_SYS_BOOT,  CAP_MAC_ADMIN,       CAP_SYSLOG};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
        CHECK(!ns_caps_is_kept(never[i]));
    CHECK(ns_caps_is_kept(CAP_CHOWN) && ns_caps_is_kept(CAP_SETUID));
    CHECK(ns_caps_keep_n == 14);
}

static const struct ns_landlock_rule *rule(const char *path)
{
    for (size_t i = 0; i < ns_landlock_rules_n; i++)
        if (!strcmp(ns_landlock_rules[i].path, path))
            return &ns_landlock_rules[i];
    return NULL;
}

static void landlock(void)
{
    CHECK(ns_landlock_fs_handled(0) == 0 && ns_landlock_fs_read(0) == 0);
    CHECK(ns_landlock_fs_handled(1) == (1ULL << 13) - 1);
    CHECK(ns_landlock_fs_handled(2) == (1ULL << 14) - 1);
    CHECK(ns_landlock_fs_handled(3) == (1ULL << 15) - 1);
    CHECK(ns_landlock_fs_handled(4) == ns_landlock_fs_handled(3));
    CHECK(ns_landlock_fs_handled(5) == (1ULL << 16) - 1);
    CHECK(ns_landlock_fs_handled(7) == ns_landlock_fs_handled(5));
    uint64_t rd = ns_landlock_fs_read(7);
    CHECK(rd == (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |
                 LANDLOCK_ACCESS_FS_READ_DIR));

    static const char *const writable[] = {"/workspace", "/tmp", "/root", "/home", "/var",
                                           "/run",       "/opt", "/srv",  "/mnt",  "/dev"};
    for (size_t i = 0; i < sizeof(writable) / sizeof(writable[0]); i++) {
        const struct ns_landlock_rule *r = rule(writable[i]);
        CHECK(r && ns_landlock_rule_access(r, 7) == ns_landlock_fs_handled(7));
    }
    /* The root, /usr and /etc never get a tree rule. */
    for (size_t i = 0; i < ns_landlock_rules_n; i++) {
        const char *p = ns_landlock_rules[i].path;
        CHECK(strcmp(p, "/") && strcmp(p, "/usr") && strncmp(p, "/usr/", 5));
        if (!strncmp(p, "/etc", 4) || !strcmp(p, "/proc"))
            CHECK(ns_landlock_rules[i].kind == NS_LL_FILE_WRITE);
    }
    const struct ns_landlock_rule *hosts = rule("/etc/hosts");
    CHECK(hosts && ns_landlock_rule_access(hosts, 2) == LANDLOCK_ACCESS_FS_WRITE_FILE);
    CHECK(hosts &&
          ns_landlock_rule_access(hosts, 3) == (LANDLOCK_ACCESS_FS_WRITE_FILE | NS_LL_FS_TRUNCATE));
    CHECK(ns_landlock_rule_access(hosts, 0) == 0);
}

static const struct ns_seccomp_rule *sc(const char *name)
{
    for (size_t i = 0; i < ns_seccomp_rules_n; i++)
        if (!strcmp(ns_seccomp_rules[i].name, name))
            return &ns_seccomp_rules[i];
    return NULL;
}

static void seccomp(void)
{
    static const char *const denied[] = {"kexec_load",
                                         "kexec_file_load",
                                         "init_module",
                                         "finit_module",
                                         "delete_module",
                                         "bpf",
                                         "perf_event_open",
                                         "keyctl",
                                         "add_key",
                                         "request_key",
                                         "userfaultfd",
                                         "io_uring_setup",
                                         "io_uring_enter",
                                         "io_uring_register",
                                         "open_by_handle_at",
                                         "name_to_handle_at",
                                         "mount",
                                         "umount2",
                                         "pivot_root",
                                         "move_mount",
                                         "open_tree",
                                         "fsopen",
                                         "fsconfig",
                                         "fsmount",
                                         "fspick",
                                         "mount_setattr",
                                         "swapon",
                                         "swapoff",
                                         "reboot",
                                         "acct",
                                         "quotactl",
                                         "syslog",
                                         "setns",
                                         "unshare",
                                         "iopl",
                                         "ioperm",
                                         "settimeofday",
                                         "clock_settime",
                                         "clock_adjtime",
                                         "adjtimex",
                                         "lookup_dcookie",
                                         "vhangup"};
    for (size_t i = 0; i < sizeof(denied) / sizeof(denied[0]); i++) {
        const struct ns_seccomp_rule *r = sc(denied[i]);
        CHECK(r && r->errnum == EPERM && r->cond == NS_SC_ALWAYS);
        if (!r)
            fprintf(stderr, "missing %s\n", denied[i]);
    }
    const struct ns_seccomp_rule *c3 = sc("clone3"), *c = sc("clone");
    CHECK(c3 && c3->errnum == ENOSYS && c3->cond == NS_SC_ALWAYS);
    CHECK(c && c->errnum == EPERM && c->cond == NS_SC_CLONE_NS);
    CHECK(!sc("ptrace")); /* allowed on purpose, see policy.c */
    for (size_t i = 0; i < ns_seccomp_rules_n; i++) {
        int nr = seccomp_syscall_resolve_name(ns_seccomp_rules[i].name);
        CHECK(nr != __NR_SCMP_ERROR);
        if (nr == __NR_SCMP_ERROR)
            fprintf(stderr, "libseccomp does not know %s\n", ns_seccomp_rules[i].name);
    }
    uint64_t all = 0;
    for (size_t i = 0; i < ns_clone_ns_flags_n; i++)
        all |= ns_clone_ns_flags[i];
    CHECK(all == (CLONE_NEWNS | CLONE_NEWCGROUP | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER |
                  CLONE_NEWPID | CLONE_NEWNET));
    CHECK(!(all & 0xff)); /* never the exit-signal byte */
}

TEST_MAIN(TEST(caps), TEST(landlock), TEST(seccomp))
