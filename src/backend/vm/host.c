/* Host facts for the VM backend (host.h). */
#include "backend/vm/host.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"

uint64_t vm_tsc_khz_from_cpuinfo(const char *cpuinfo)
{
    for (const char *p = cpuinfo; p && *p;) {
        const char *eol = strchrnul(p, '\n');
        if (!strncmp(p, "cpu MHz", 7)) {
            const char *colon = memchr(p, ':', (size_t)(eol - p));
            if (!colon)
                return 0;
            /* "2596.144": whole MHz and up to three decimals, as kHz. */
            uint64_t mhz = 0, frac = 0;
            int digits = 0;
            const char *q = colon + 1;
            while (q < eol && *q == ' ')
                q++;
            if (q >= eol || *q < '0' || *q > '9')
                return 0;
            for (; q < eol && *q >= '0' && *q <= '9' && mhz < 1000000; q++)
                mhz = mhz * 10 + (uint64_t)(*q - '0');
            if (q < eol && *q == '.')
                for (q++; q < eol && *q >= '0' && *q <= '9' && digits < 3; q++, digits++)
                    frac = frac * 10 + (uint64_t)(*q - '0');
            for (; digits < 3; digits++)
                frac *= 10;
            uint64_t khz = mhz * 1000 + frac;
            /* Anything outside 100 MHz - 10 GHz is not a TSC. */
            return khz >= 100000 && khz <= 10000000 ? khz : 0;
        }
        p = *eol ? eol + 1 : eol;
    }
    return 0;
}

uint64_t vm_host_tsc_khz(void)
{
    _cleanup_free_ char *s = NULL;
    uint64_t v;
    if (read_file_str("/sys/devices/system/cpu/cpu0/tsc_freq_khz", 64, &s) >= 0) {
        s[strcspn(s, "\n")] = 0;
        if (parse_u64(s, &v) >= 0 && v >= 100000 && v <= 10000000)
            return v;
    }
    free(s);
    s = NULL;
    if (read_file_str("/proc/cpuinfo", 1 << 20, &s) < 0)
        return 0;
    return vm_tsc_khz_from_cpuinfo(s);
}
