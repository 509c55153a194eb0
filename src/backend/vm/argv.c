/* The QEMU command line (argv.h). Every device is named here, and nothing
 * else: -nodefaults takes away QEMU's defaults (a NIC, a VGA card, a
 * parallel port, CD-ROM, floppy), -no-user-config any config file, and the
 * monitor is not on stdio or anywhere but QMP on runrad's private socket. */
#include "backend/vm/argv.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"

struct argv_buf {
    char **v;
    size_t n, cap;
    int r;
};

static void push(struct argv_buf *b, const char *s)
{
    if (b->r < 0)
        return;
    if (b->n + 2 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 32;
        char **v = realloc(b->v, cap * sizeof(*v));
        if (!v) {
            b->r = -ENOMEM;
            return;
        }
        b->v = v;
        b->cap = cap;
    }
    if (!(b->v[b->n] = strdup(s))) {
        b->r = -ENOMEM;
        return;
    }
    b->v[++b->n] = NULL;
}

static void pushf(struct argv_buf *b, const char *fmt, ...) _printf_(2, 3);
static void pushf(struct argv_buf *b, const char *fmt, ...)
{
    if (b->r < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int k = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (k < 0) {
        b->r = -ENOMEM;
        return;
    }
    push(b, s);
    free(s);
}

/* A value inside a QEMU option list: ',' separates options, so a literal
 * one is doubled. NULL on ENOMEM. */
static char *qopt(const char *s)
{
    size_t extra = 0;
    for (const char *p = s; *p; p++)
        extra += *p == ',';
    char *out = malloc(strlen(s) + extra + 1), *o = out;
    if (!out)
        return NULL;
    for (const char *p = s; *p; p++) {
        *o++ = *p;
        if (*p == ',')
            *o++ = ',';
    }
    *o = 0;
    return out;
}

static bool path_ok(const char *p)
{
    return p && p[0] == '/' && !strpbrk(p, "\n\r") && strlen(p) < 4096;
}

static void free_v(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

int vm_argv(const struct vm_spec *s, char ***ret, struct runra_err **err)
{
    if (!s->qemu || !path_ok(s->kernel) || !path_ok(s->initrd) || !path_ok(s->channel) ||
        !path_ok(s->qmp) || !s->cmdline)
        return err_set(err, EINVAL, "vm: qemu, kernel, initrd, channel, qmp and cmdline must "
                                    "be given as absolute paths without newlines");
    if (s->vcpus < 1 || s->vcpus > VM_VCPUS_MAX)
        return err_set(err, EINVAL, "vm: %u vCPUs (1 to %d)", s->vcpus, VM_VCPUS_MAX);
    if (s->memory_mb < VM_MEMORY_MB_MIN || s->memory_mb > VM_MEMORY_MB_MAX)
        return err_set(err, EINVAL, "vm: %llu MB of memory (%d to %u)",
                       (unsigned long long)s->memory_mb, VM_MEMORY_MB_MIN, VM_MEMORY_MB_MAX);
    if (strlen(s->cmdline) >= VM_CMDLINE_MAX || strpbrk(s->cmdline, "\n\r"))
        return err_set(err, EINVAL, "vm: kernel command line too long or not one line");
    if (s->ndisks > VM_DISKS_MAX)
        return err_set(err, EINVAL, "vm: more than %d disks", VM_DISKS_MAX);
    for (size_t i = 0; i < s->ndisks; i++)
        if (!path_ok(s->disks[i].path))
            return err_set(err, EINVAL, "vm: disk %zu needs an absolute path", i);
        else if (s->disks[i].serial &&
                 (!*s->disks[i].serial || strlen(s->disks[i].serial) > 20 ||
                  strspn(s->disks[i].serial, "abcdefghijklmnopqrstuvwxyz0123456789") !=
                      strlen(s->disks[i].serial)))
            return err_set(err, EINVAL, "vm: disk %zu: a serial is 1 to 20 of [a-z0-9]", i);
    if (s->tap && (!s->mac || strlen(s->tap) >= 16 || strpbrk(s->tap, ",= \n") ||
                   strlen(s->mac) != 17 || strspn(s->mac, "0123456789abcdef:") != 17))
        return err_set(err, EINVAL, "vm: a tap needs a name under 16 characters and a MAC");
    if (s->console_log && !path_ok(s->console_log))
        return err_set(err, EINVAL, "vm: the console log needs an absolute path");
    if (s->incoming_fd != -1 && s->incoming_fd < 3)
        return err_set(err, EINVAL, "vm: the snapshot fd must be 3 or above (or -1)");

    bool mmio = s->machine == VM_MACHINE_MICROVM;
    const char *dev = mmio ? "device" : "pci"; /* virtio-X-device or virtio-X-pci */
    struct argv_buf b = {0};
    _cleanup_free_ char *kernel = qopt(s->kernel), *initrd = qopt(s->initrd),
                        *channel = qopt(s->channel), *qmp = qopt(s->qmp),
                        *console = s->console_log ? qopt(s->console_log) : NULL;
    if (!kernel || !initrd || !channel || !qmp || (s->console_log && !console))
        return -ENOMEM;

    push(&b, s->qemu);
    /* microvm: no firmware option ROMs, a legacy serial port for the
     * kernel's console and nothing else of the PC's; q35 the same in spirit. */
    push(&b, "-M");
    push(&b, mmio ? "microvm,x-option-roms=off,isa-serial=on,rtc=on,pit=on,pic=on"
                  : "q35,smbus=off,vmport=off,sata=off,usb=off");
    push(&b, "-accel");
    /* TCG's translation cache defaults to 1 GiB of address space; 64 MiB
     * is plenty for a sandbox's guest and keeps QEMU's footprint small. */
    push(&b, s->accel == VM_ACCEL_KVM ? "kvm" : "tcg,thread=multi,tb-size=64");
    push(&b, "-cpu");
    push(&b, s->accel == VM_ACCEL_KVM ? "host" : "max");
    pushf(&b, "-smp");
    pushf(&b, "%u", s->vcpus);
    push(&b, "-m");
    pushf(&b, "%llu", (unsigned long long)s->memory_mb);
    push(&b, "-nodefaults");
    push(&b, "-no-user-config");
    push(&b, "-display");
    push(&b, "none");
    /* A guest that powers off or reboots ends QEMU: the sandbox died. */
    push(&b, "-no-reboot");
    push(&b, "-kernel");
    push(&b, s->kernel);
    push(&b, "-initrd");
    push(&b, s->initrd);
    push(&b, "-append");
    push(&b, s->cmdline);
    /* The guest's console: to a log runrad keeps, or nowhere. */
    push(&b, "-serial");
    if (console)
        pushf(&b, "file:%s", console);
    else
        push(&b, "null");
    /* runra-init's channel: a virtio-serial port named "runra". */
    push(&b, "-chardev");
    pushf(&b, "socket,id=runra,path=%s,server=on,wait=off", channel);
    push(&b, "-device");
    pushf(&b, "virtio-serial-%s,id=vser", dev);
    push(&b, "-device");
    push(&b, "virtserialport,bus=vser.0,chardev=runra,name=runra");
    for (size_t i = 0; i < s->ndisks; i++) {
        _cleanup_free_ char *p = qopt(s->disks[i].path);
        if (!p) {
            free_v(b.v);
            return -ENOMEM;
        }
        push(&b, "-drive");
        pushf(&b, "file=%s,if=none,id=disk%zu,format=raw,cache=none,aio=threads%s", p, i,
              s->disks[i].readonly ? ",readonly=on" : "");
        push(&b, "-device");
        if (s->disks[i].serial)
            pushf(&b, "virtio-blk-%s,drive=disk%zu,serial=%s", dev, i, s->disks[i].serial);
        else
            pushf(&b, "virtio-blk-%s,drive=disk%zu", dev, i);
    }
    if (s->tap) {
        push(&b, "-netdev");
        pushf(&b, "tap,id=net0,ifname=%s,script=no,downscript=no", s->tap);
        push(&b, "-device");
        pushf(&b, "virtio-net-%s,netdev=net0,mac=%s", dev, s->mac);
    }
    /* The monitor is QMP on runrad's socket alone. */
    push(&b, "-qmp");
    pushf(&b, "unix:%s,server=on,wait=off", qmp);
    if (s->incoming_fd >= 0) {
        push(&b, "-incoming");
        pushf(&b, "fd:%d", s->incoming_fd);
    }
    if (s->seccomp) {
        /* QEMU's own filter: no old syscalls, no privilege changes, no
         * new programs, no scheduler or resource games. */
        push(&b, "-sandbox");
        push(&b, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    }
    if (b.r < 0) {
        free_v(b.v);
        return b.r;
    }
    *ret = b.v;
    return 0;
}

int vm_cmdline(uint64_t tsc_khz, const char *hostname, const char *extra, char *out, size_t n,
               struct runra_err **err)
{
    if (!hostname || !*hostname || strlen(hostname) > 64 ||
        strspn(hostname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") !=
            strlen(hostname))
        return err_set(err, EINVAL, "vm: bad hostname");
    if (extra && strpbrk(extra, "\n\r"))
        return err_set(err, EINVAL, "vm: extra kernel options must be one line");
    char tsc[48] = "";
    if (tsc_khz)
        snprintf(tsc, sizeof(tsc), " tsc_early_khz=%llu", (unsigned long long)tsc_khz);
    /* panic=-1 and -no-reboot: a guest panic ends QEMU at once rather than
     * hanging there; quiet and loglevel keep the console log short. */
    int k = snprintf(out, n,
                     "console=ttyS0 quiet loglevel=3 panic=-1 reboot=t nokaslr "
                     "random.trust_cpu=on%s runra.hostname=%s runra.port=runra%s%s",
                     tsc, hostname, extra ? " " : "", extra ? extra : "");
    if (k < 0 || (size_t)k >= n || (size_t)k >= VM_CMDLINE_MAX)
        return err_set(err, E2BIG, "vm: kernel command line too long");
    return 0;
}
