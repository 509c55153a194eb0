/* Pure helpers for the cgroup code: how limits are spelled in cgroupfs
 * files, how counters are read back, which names are safe as cgroup dirs. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ns_cgroup_mode {
    NS_CG_NONE,   /* no usable cgroup setup found */
    NS_CG_V1,     /* v1 controllers only */
    NS_CG_HYBRID, /* v1 controllers plus a cgroup2 mount at /sys/fs/cgroup/unified */
    NS_CG_V2,     /* unified hierarchy at /sys/fs/cgroup */
};

#define NS_CG_CPU_PERIOD_US 100000
#define NS_CG_CPU_MIN_QUOTA_US 1000 /* the kernel refuses shorter quotas */

const char *ns_cgroup_mode_str(enum ns_cgroup_mode m);

/* Cores (fractional) to a CFS quota in microseconds per 100 ms period,
 * rounded, at least 1 ms. -EINVAL for non-positive or absurd values. */
int ns_cgroup_cpu_quota(double cores, uint64_t *ret_us);
/* v2 cpu.max: "QUOTA 100000". */
int ns_cgroup_fmt_cpu_max(double cores, char *buf, size_t n);
/* Megabytes as the decimal byte count memory files take. -ERANGE on overflow. */
int ns_cgroup_fmt_mb(uint64_t mb, char *buf, size_t n);
int ns_cgroup_fmt_u64(uint64_t v, char *buf, size_t n);

/* Finds "key N" as a line of a flat-keyed file (memory.events,
 * memory.oom_control). -ENOENT when absent, -EINVAL when N is not a number. */
int ns_cgroup_parse_key(const char *text, const char *key, uint64_t *ret);
/* Parses a cgroupfs number file ("123\n"); "max" reads as UINT64_MAX. */
int ns_cgroup_parse_u64(const char *text, uint64_t *ret);

/* A sandbox id becomes a directory name in cgroupfs: 1-64 of [A-Za-z0-9_-]. */
bool ns_cgroup_id_ok(const char *id);
