/* Cgroup value formatting and parsing (see cgroup_fmt.h). Pure: no files,
 * so unit tests pin down exactly what lands in cgroupfs. */
#include "backend/ns/cgroup_fmt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"

const char *ns_cgroup_mode_str(enum ns_cgroup_mode m)
{
    switch (m) {
    case NS_CG_V1:
        return "v1";
    case NS_CG_HYBRID:
        return "hybrid";
    case NS_CG_V2:
        return "v2";
    case NS_CG_NONE:
        break;
    }
    return "none";
}

int ns_cgroup_cpu_quota(double cores, uint64_t *ret_us)
{
    /* 1e6 cores is far beyond any machine and keeps the product exact. */
    if (!isfinite(cores) || cores <= 0 || cores > 1e6)
        return -EINVAL;
    /* Rounded to the nearest microsecond; cores is positive here. */
    double us = cores * NS_CG_CPU_PERIOD_US + 0.5;
    *ret_us = us < NS_CG_CPU_MIN_QUOTA_US ? NS_CG_CPU_MIN_QUOTA_US : (uint64_t)us;
    return 0;
}

static int fmt(char *buf, size_t n, int len) { return len < 0 || (size_t)len >= n ? -ENOBUFS : 0; }

int ns_cgroup_fmt_cpu_max(double cores, char *buf, size_t n)
{
    uint64_t q;
    int r = ns_cgroup_cpu_quota(cores, &q);
    if (r < 0)
        return r;
    return fmt(buf, n, snprintf(buf, n, "%llu %d", (unsigned long long)q, NS_CG_CPU_PERIOD_US));
}

int ns_cgroup_fmt_u64(uint64_t v, char *buf, size_t n)
{
    return fmt(buf, n, snprintf(buf, n, "%llu", (unsigned long long)v));
}

int ns_cgroup_fmt_mb(uint64_t mb, char *buf, size_t n)
{
    if (mb > UINT64_MAX / (1024 * 1024))
        return -ERANGE;
    return ns_cgroup_fmt_u64(mb * 1024 * 1024, buf, n);
}

int ns_cgroup_parse_key(const char *text, const char *key, uint64_t *ret)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *end = strchrnul(line, '\n');
        if ((size_t)(end - line) > klen && !strncmp(line, key, klen) && line[klen] == ' ') {
            char num[32];
            size_t n = (size_t)(end - line) - klen - 1;
            if (n == 0 || n >= sizeof(num))
                return -EINVAL;
            memcpy(num, line + klen + 1, n);
            num[n] = 0;
            return parse_u64(num, ret) < 0 ? -EINVAL : 0;
        }
        line = *end ? end + 1 : NULL;
    }
    return -ENOENT;
}

int ns_cgroup_parse_u64(const char *text, uint64_t *ret)
{
    char num[32];
    size_t n = strcspn(text, "\n");
    if (n == 0 || n >= sizeof(num))
        return -EINVAL;
    memcpy(num, text, n);
    num[n] = 0;
    if (!strcmp(num, "max")) {
        *ret = UINT64_MAX;
        return 0;
    }
    return parse_u64(num, ret) < 0 ? -EINVAL : 0;
}

bool ns_cgroup_id_ok(const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len > 64)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return false;
    }
    return true;
}
