/* What the VM backend needs to know of the host: the TSC's frequency, which
 * a TCG guest is told on its command line (tsc_early_khz) because
 * calibrating it against an emulated timer now and then hangs the boot. */
#pragma once

#include <stdint.h>

/* The first "cpu MHz" of a /proc/cpuinfo text, in kHz (0: none found). On
 * a CPU with constant_tsc this is the TSC's rate. Pure. */
uint64_t vm_tsc_khz_from_cpuinfo(const char *cpuinfo);
/* The host's TSC rate in kHz: /sys/devices/system/cpu/cpu0/tsc_freq_khz
 * where the kernel exports it, else /proc/cpuinfo; 0 when unknown (the
 * guest then calibrates on its own). */
uint64_t vm_host_tsc_khz(void);
