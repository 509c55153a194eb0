/* The VM guest's initramfs: a newc cpio archive holding runra-init as
 * /init, the kernel modules it loads (and their order), and the few nodes
 * the kernel wants before any filesystem is mounted. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/err.h"

#define VM_CPIO_HDR_LEN 110

/* The 110-byte newc header of one entry (no name). Pure. */
void vm_cpio_header(char out[VM_CPIO_HDR_LEN + 1], uint32_t ino, mode_t mode, uint64_t size,
                    uint32_t rdev_major, uint32_t rdev_minor, size_t namesize);

/* Writes the initramfs for the kernel in kernel_dir (vm-kernel.sh's
 * layout: modules/NAME.ko, modules.order) with init_path as /init, to out
 * (atomically: a temporary file renamed into place). */
int vm_initrd_build(const char *kernel_dir, const char *init_path, const char *out,
                    struct runra_err **err);
