/* The VM backend (see vm.c): its ops table and what the daemon tells it or
 * asks of it. */
#pragma once

#include <stdbool.h>

#include "backend/backend.h"

/* Every VM's NIC: a tap of this name in its QEMU's network namespace
 * (runrad bridges it to the sandbox's veth), and the guest's MAC. */
#define VM_TAP "tap0"
#define VM_MAC "52:54:00:72:72:01"

extern const struct backend_ops vm_backend_ops;

/* Where the guest kernel, the initramfs and the root disks are kept
 * (shared by daemons that name the same dir), and runra-init's path (the
 * helper scripts runra-vm-kernel and runra-vm-rootfs are found beside it).
 * templates: creates restore a saved VM of their shape (else every create
 * boots). Called once, before any other use. */
void vm_backend_configure(const char *cache_dir, const char *init_path, bool templates);
/* Gets the kernel (fetching it on first use), builds the initramfs and
 * finds which acceleration boots a guest. Idempotent; blocks. */
int vm_backend_prepare(struct runra_err **err);
/* "kvm" or "tcg" once prepared, else NULL. */
const char *vm_backend_accel(void);
