/* The VM backend's pieces, shared by its files (nothing outside
 * src/backend/vm includes this):
 *   vm.c           the ops table: create, destroy, reattach, the host-wide
 *                  preparation (kernel, initramfs, acceleration), root disks
 *   vm-launch.c    QEMU in its jail, the guest's channel and VM_SETUP, the
 *                  scratch VMs runrad boots for itself (probe, templates)
 *   vm-snapshot.c  QMP, pause and resume through a snapshot file, templates */
#pragma once

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "backend/backend.h"
#include "backend/ns/cgroup.h"
#include "backend/vm/argv.h"
#include "base/err.h"
#include "proto/msg.h"

#define QEMU_PATH "/usr/bin/qemu-system-x86_64"
#define KILL_TIMEOUT_MS 10000
/* Boot to HELLO: about 2 s under TCG here, well under 1 s with KVM; the
 * margin is for a loaded host. */
#define BOOT_TIMEOUT_TCG_MS 90000
#define BOOT_TIMEOUT_KVM_MS 30000
#define PROBE_TIMEOUT_KVM_MS 8000
/* What QEMU itself needs beyond the guest's RAM (its code, device state,
 * TCG's translation cache), counted in the VM's cgroup limit. */
#define VMM_OVERHEAD_MB 256
/* Guest RAM beyond memoryMb: its kernel, page tables, runra-init. */
#define VM_GUEST_KERNEL_MB 128
#define VMM_PIDS 256
/* Fd numbers in the jail (ns_spawn's targets): 3 is the unused listen slot. */
#define FD_LISTEN_SLOT 3
#define FD_MOUNT0 4
#define FD_INCOMING 10 /* a snapshot to start from (after the mounts' fds) */
#define QMP_TIMEOUT_MS 10000
#define RESTORE_TIMEOUT_MS 60000
#define VM_DIR_MAX 1024
/* Templates kept in the cache (each about the guest's used RAM, some
 * 80 MiB); past that the least recently used go. A shape's mark, left by
 * its first create, is forgotten after a week. */
#define TEMPLATES_KEPT 16
#define TEMPLATE_MARK_MAX_AGE_S (7 * 24 * 3600)

/* What runrad knows of this host for VMs (vm.c). */
struct vm_host_state {
    pthread_mutex_t lock;      /* preparation and root-disk builds */
    pthread_mutex_t tmpl_lock; /* the template cache (cache.h) */
    /* Shorter than PATH_MAX, so what is made from them always fits. */
    char cache[VM_DIR_MAX]; /* kernel, initramfs, root disks */
    char tools[VM_DIR_MAX]; /* where runra-vm-kernel and runra-vm-rootfs are */
    char init[VM_DIR_MAX];  /* runra-init */
    bool configured;
    bool templates;
    /* Prepared on first use, under lock. */
    bool prepared;
    char kernel_dir[VM_DIR_MAX + 16];
    char initrd[VM_DIR_MAX + 32];
    char mkfs[PATH_MAX];
    enum ns_cgroup_mode cg;
    enum vm_accel accel;
    uint64_t tsc_khz;
    char accel_note[160];
};
extern struct vm_host_state vm_host;

struct box {
    char *id;
    char *dir;   /* the sandbox's dir (the daemon's) */
    char *vmdir; /* dir/vm: what the jail sees as /vm */
    char *root;  /* the root disk in the cache */
    pid_t pid;   /* QEMU's host pid; -1 while suspended */
    int pidfd;
    struct ns_cgroup *cg;
    /* What QEMU was started with: a resume starts it the same way. */
    uint32_t uid_base;
    enum vm_accel accel;
    unsigned vcpus;
    uint64_t memory_mb;
};

struct launch {
    const char *id;
    const char *dir;         /* the sandbox's dir, or a scratch dir for a probe */
    const char *vmdir;       /* dir/vm, owned by uid_base */
    const char *root_img;    /* NULL: no disks (a probe) */
    uint32_t uid_base;
    enum vm_accel accel;
    unsigned vcpus;
    uint64_t memory_mb;
    const struct ns_cgroup *cg;
    int incoming_fd; /* a snapshot to resume from, or -1 */
};

/* A VM of runrad's own (a probe, a template's boot): a scratch dir in the
 * cache, run as the highest uid slot's root (a range no sandbox of this
 * daemon uses), limited like any VM in a cgroup of its own. */
struct vm_scratch {
    char dir[VM_DIR_MAX + 48];
    char vmdir[VM_DIR_MAX + 64];
    uint32_t uid;
    struct ns_cgroup *cg;
    pid_t pid;
    int pidfd;
    int fd; /* the channel, past HELLO */
};

/* vm.c */
int vm_prepare(struct runra_err **err);
int vm_mkdir_owned(const char *path, mode_t mode, uid_t uid, struct runra_err **err);

/* vm-launch.c */
/* Starts QEMU in its jail; *ret_pidfd watches it. */
int vm_launch(const struct launch *l, pid_t *ret_pid, int *ret_pidfd, struct runra_err **err);
/* Connects to the channel QEMU listens on, watching the QEMU process. */
int vm_chan_connect(const char *path, int pidfd, uint64_t deadline, int *ret,
                    struct runra_err **err);
/* What VM_SETUP says (proto/msg.h), less the clock and seed. */
struct vm_setup_args {
    const char *id;
    const char *workdir;
    bool image;
    enum vm_setup_kind kind;
    const struct sandbox_resources *res; /* NULL: no limits */
};
/* The host's first frame on a connection: VM_SETUP. */
int vm_send_setup(int fd, const struct vm_setup_args *s, struct runra_err **err);
/* Connects, says VM_SETUP and waits for HELLO. */
int vm_handshake(const char *vmdir, int pidfd, const struct vm_setup_args *s, uint64_t timeout_ms,
                 int *ret_fd, struct runra_err **err);
/* Adds the tail of the guest console or QEMU's log to *err; returns r. */
int vm_boot_error(const char *dir, const char *vmdir, int r, struct runra_err **err);
int vm_boot_probe(enum vm_accel accel, uint64_t timeout_ms, struct runra_err **err);
int vm_scratch_begin(const char *pattern, const struct sandbox_resources *res,
                     struct vm_scratch *sc, struct runra_err **err);
void vm_scratch_end(struct vm_scratch *sc);

/* vm-snapshot.c */
void vm_snapshot_path(const struct box *b, char *out, size_t n);
/* Why a restore failed: QEMU, the channel or a limit (a boot may do);
 * the snapshot itself, which QEMU would not load; or the guest, which
 * refused this setup (its workdir, say: a boot would refuse it too). */
enum vm_restore_fail { VM_RESTORE_FAILED, VM_RESTORE_BAD_STATE, VM_RESTORE_REFUSED };
/* QEMU from a snapshot (l->incoming_fd), connected and set up as s says:
 * HELLO is its answer. On failure *ret_why (may be NULL) says why. */
int vm_restore(const struct launch *l, const struct vm_setup_args *s, pid_t *ret_pid,
               int *ret_pidfd, int *ret_fd, enum vm_restore_fail *ret_why,
               struct runra_err **err);
/* A template (cache.h), open: its saved VM and its disk. */
struct vm_template {
    char key[25];
    int snap_fd;
    int disk_fd;
    dev_t snap_dev; /* which snapshot file it was, for vm_template_drop */
    ino_t snap_ino;
};
/* The template for this VM shape (its root disk, RAM, vCPUs, disk size):
 * 0 with *ret open, made now on the shape's second create (its guest set
 * to that create's limits: a restore changes what differs); 1 on its
 * first, or while a failed build is recent (boot instead); or an error. */
int vm_template_get(const char *root, uint64_t guest_mb, unsigned vcpus, uint64_t disk_mb,
                    const struct sandbox_resources *limits, struct vm_template *ret,
                    struct runra_err **err);
void vm_template_close(struct vm_template *t);
/* Removes a template whose snapshot did not load (if no other has
 * replaced it meanwhile); a later create makes it again. */
void vm_template_drop(const struct vm_template *t);
int vm_suspend(struct box *b, struct runra_err **err);
int vm_resume(struct box *b, int *ret_fd, struct runra_err **err);
