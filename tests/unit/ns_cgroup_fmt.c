/* Unit tests for how the ns backend spells cgroup limits and reads cgroup
 * counters back. */
#include <errno.h>
#include <math.h>
#include <stdint.h>

#include "backend/ns/cgroup_fmt.h"
#include "test.h"

static void cpu(void)
{
    char buf[48];
    CHECK(ns_cgroup_fmt_cpu_max(0.5, buf, sizeof(buf)) == 0);
    CHECK_STREQ(buf, "50000 100000");
    CHECK(ns_cgroup_fmt_cpu_max(1, buf, sizeof(buf)) == 0);
    CHECK_STREQ(buf, "100000 100000");
    CHECK(ns_cgroup_fmt_cpu_max(2.25, buf, sizeof(buf)) == 0);
    CHECK_STREQ(buf, "225000 100000");
    CHECK(ns_cgroup_fmt_cpu_max(0.01, buf, sizeof(buf)) == 0);
    CHECK_STREQ(buf, "1000 100000");
    CHECK(ns_cgroup_fmt_cpu_max(0.001, buf, sizeof(buf)) == 0); /* clamped to the kernel's 1 ms */
    CHECK_STREQ(buf, "1000 100000");
    CHECK(ns_cgroup_fmt_cpu_max(1024, buf, sizeof(buf)) == 0);
    CHECK_STREQ(buf, "102400000 100000");
    uint64_t q;
    CHECK(ns_cgroup_cpu_quota(0.333333, &q) == 0 && q == 33333);
    CHECK(ns_cgroup_cpu_quota(0, &q) == -EINVAL);
    CHECK(ns_cgroup_cpu_quota(-1, &q) == -EINVAL);
    CHECK(ns_cgroup_cpu_quota(NAN, &q) == -EINVAL);
    CHECK(ns_cgroup_cpu_quota(INFINITY, &q) == -EINVAL);
    CHECK(ns_cgroup_fmt_cpu_max(0.5, buf, 5) == -ENOBUFS);
}

static void memory(void)
{
    char buf[32];
    CHECK(ns_cgroup_fmt_mb(256, buf, sizeof(buf)) == 0);
    CHECK_STREQ(buf, "268435456");
    CHECK(ns_cgroup_fmt_mb(1024ull * 1024, buf, sizeof(buf)) == 0);
    CHECK_STREQ(buf, "1099511627776");
    CHECK(ns_cgroup_fmt_mb(UINT64_MAX / 1024, buf, sizeof(buf)) == -ERANGE);
}

static void parse_keys(void)
{
    uint64_t v = 0;
    const char *events = "low 0\nhigh 0\nmax 12\noom 3\noom_kill 2\noom_group_kill 0\n";
    CHECK(ns_cgroup_parse_key(events, "oom_kill", &v) == 0 && v == 2);
    CHECK(ns_cgroup_parse_key(events, "oom", &v) == 0 && v == 3);
    CHECK(ns_cgroup_parse_key(events, "oom_group_kill", &v) == 0 && v == 0);
    CHECK(ns_cgroup_parse_key(events, "oom_k", &v) == -ENOENT);
    const char *v1 = "oom_kill_disable 0\nunder_oom 0\noom_kill 7";
    CHECK(ns_cgroup_parse_key(v1, "oom_kill", &v) == 0 && v == 7);
    CHECK(ns_cgroup_parse_key("oom_kill x\n", "oom_kill", &v) == -EINVAL);
    CHECK(ns_cgroup_parse_key("oom_kill \n", "oom_kill", &v) == -EINVAL);
    CHECK(ns_cgroup_parse_key("", "oom_kill", &v) == -ENOENT);
    CHECK(ns_cgroup_parse_u64("4096\n", &v) == 0 && v == 4096);
    CHECK(ns_cgroup_parse_u64("max\n", &v) == 0 && v == UINT64_MAX);
    CHECK(ns_cgroup_parse_u64("\n", &v) == -EINVAL);
    CHECK(ns_cgroup_parse_u64("-1\n", &v) == -EINVAL);
}

static void ids_and_modes(void)
{
    CHECK(ns_cgroup_id_ok("0123456789ab"));
    CHECK(ns_cgroup_id_ok("A_b-c"));
    CHECK(!ns_cgroup_id_ok(""));
    CHECK(!ns_cgroup_id_ok(".."));
    CHECK(!ns_cgroup_id_ok("a/b"));
    CHECK(!ns_cgroup_id_ok("a b"));
    CHECK(!ns_cgroup_id_ok("cgroup.procs"));
    char longid[66];
    memset(longid, 'a', 65);
    longid[65] = 0;
    CHECK(!ns_cgroup_id_ok(longid));
    CHECK_STREQ(ns_cgroup_mode_str(NS_CG_V1), "v1");
    CHECK_STREQ(ns_cgroup_mode_str(NS_CG_V2), "v2");
    CHECK_STREQ(ns_cgroup_mode_str(NS_CG_HYBRID), "hybrid");
    CHECK_STREQ(ns_cgroup_mode_str(NS_CG_NONE), "none");
}

TEST_MAIN(TEST(cpu), TEST(memory), TEST(parse_keys), TEST(ids_and_modes))
