/* The QEMU command line of a VM sandbox, built from a typed description:
 * a pure function, unit-tested, so what QEMU is told (and, above all, what
 * it is not: no monitor, display, network or device beyond these) is
 * visible in one place. Issue 8. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

enum vm_accel { VM_ACCEL_KVM, VM_ACCEL_TCG };
/* microvm: virtio-mmio devices, no PCI, no firmware tables beyond what the
 * kernel needs; q35: PCI virtio, for kernels or QEMUs microvm does not suit. */
enum vm_machine { VM_MACHINE_MICROVM, VM_MACHINE_Q35 };

#define VM_DISKS_MAX 4
#define VM_CMDLINE_MAX 1024
#define VM_VCPUS_MAX 64
#define VM_MEMORY_MB_MIN 64
#define VM_MEMORY_MB_MAX (256u * 1024)

struct vm_disk {
    const char *path;   /* a raw image */
    const char *serial; /* what the guest finds it by (/sys/block/vdX/serial); [a-z0-9], or NULL */
    bool readonly;
};

struct vm_spec {
    const char *qemu;        /* the binary, e.g. /usr/bin/qemu-system-x86_64 */
    enum vm_accel accel;
    enum vm_machine machine;
    unsigned vcpus;
    uint64_t memory_mb;
    const char *kernel, *initrd;
    const char *cmdline;     /* the kernel's (vm_cmdline) */
    const char *channel;     /* unix socket QEMU listens on for runra-init's port */
    const char *qmp;         /* unix socket QEMU listens on for QMP (runrad only) */
    const char *console_log; /* the guest console, appended to this file; NULL: discarded */
    struct vm_disk disks[VM_DISKS_MAX];
    size_t ndisks;
    const char *tap;         /* a tap device for the NIC, or NULL: no network device */
    const char *mac;         /* "52:54:00:xx:xx:xx" with tap */
    /* A snapshot to start from (paused), open read-only as this fd in
     * QEMU (-incoming fd:N: "exec:" needs a shell, which QEMU's -sandbox
     * forbids, and 7.2 has no "file:"); -1: a cold boot. */
    int incoming_fd;
    bool seccomp;            /* QEMU's own -sandbox filter */
};

/* The argv (NULL-terminated, caller frees with strv_free). EINVAL with a
 * message for a missing or out-of-range field. Paths are quoted for QEMU's
 * option syntax (a ',' in a path is doubled); a path with a newline is
 * refused. */
int vm_argv(const struct vm_spec *s, char ***ret, struct runra_err **err);

/* The guest kernel's command line: runra's fixed options (console, panic
 * and reboot behaviour, no KASLR noise), tsc_early_khz when known (TCG
 * boots hang now and then without it), and runra's own parameters for
 * runra-init (hostname, the serial port's name). extra may be NULL. */
int vm_cmdline(uint64_t tsc_khz, const char *hostname, const char *extra, char *out, size_t n,
               struct runra_err **err);
