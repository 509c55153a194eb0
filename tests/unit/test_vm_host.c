/* Host facts for the VM backend (src/backend/vm/host.c). */
#include "backend/vm/host.h"
#include "test.h"

static void cpuinfo(void)
{
    CHECK(vm_tsc_khz_from_cpuinfo("processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: "
                                  "2596.144\ncache size\t: 512 KB\n") == 2596144);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz\t\t: 2400\n") == 2400000);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz\t\t: 2400.5\n") == 2400500);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz\t\t: 2400.56789\n") == 2400567);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz : x\n") == 0);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz\t\t: 5\n") == 0);        /* not a TSC */
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz\t\t: 99999999999999\n") == 0);
    CHECK(vm_tsc_khz_from_cpuinfo("processor : 0\n") == 0);
    CHECK(vm_tsc_khz_from_cpuinfo("") == 0);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz") == 0);
}

static void this_host(void)
{
    /* Whatever it finds is a plausible rate, or nothing. */
    uint64_t k = vm_host_tsc_khz();
    CHECK(k == 0 || (k >= 100000 && k <= 10000000));
}

TEST_MAIN(TEST(cpuinfo), TEST(this_host))
