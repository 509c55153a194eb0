/* runra-init as a VM's init (the VM backend): booting (mounts, modules, the
 * virtio port the protocol runs on) and, on the host's first VM_SETUP, the
 * sandbox's root (the image disk read-only under an overlay whose upper
 * layer is the sandbox's own disk), identity and clock. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/msg.h"

/* True when this process is a VM's init: PID 1 started by the kernel, with
 * none of the host-side options. */
bool vm_is_guest(int argc, char **argv);
/* Mounts /dev, /proc and /sys, loads the initramfs's modules and opens the
 * port named "runra" (nonblocking, SIGIO on host connects and hang-ups).
 * Returns its fd. */
int vm_boot(int *ret_port, struct runra_err **err);
/* True when a host is connected to the port now. */
bool vm_port_connected(int port);
/* Applies a VM_SETUP: the clock and random seed every time, the root,
 * hostname and workdir only on the first (non-template) one. *workdir
 * then points at the workdir to serve with. */
int vm_setup_apply(const struct vm_setup_msg *m, const char **workdir, struct runra_err **err);
/* FRAME_NET_CONFIG: the guest's NIC gets the address and a default route
 * through the gateway (both again: no change). */
int vm_net_config(const struct net_config_msg *m, struct runra_err **err);
/* OOM kills among the sandbox's processes so far (a VM guest's cgroup);
 * 0 outside a VM. */
uint64_t vm_oom_kills(void);
/* Ends the VM (never returns): the host sees QEMU exit. */
_Noreturn void vm_poweroff(void);
