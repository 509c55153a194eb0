/* The VM backend's QEMU command line and kernel command line (argv.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "backend/vm/argv.h"
#include "test.h"

static void free_v(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* The value after flag (the first occurrence), or NULL. */
static const char *after(char **v, const char *flag)
{
    for (size_t i = 0; v && v[i]; i++)
        if (!strcmp(v[i], flag))
            return v[i + 1];
    return NULL;
}

static size_t count(char **v, const char *s)
{
    size_t n = 0;
    for (size_t i = 0; v && v[i]; i++)
        n += !strcmp(v[i], s);
    return n;
}

static bool any_contains(char **v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (strstr(v[i], s))
            return true;
    return false;
}

static struct vm_spec base(void)
{
    return (struct vm_spec){.qemu = "/usr/bin/qemu-system-x86_64",
                            .accel = VM_ACCEL_TCG,
                            .machine = VM_MACHINE_MICROVM,
                            .vcpus = 2,
                            .memory_mb = 512,
                            .kernel = "/s/vm/vmlinuz",
                            .initrd = "/s/vm/initrd",
                            .cmdline = "console=ttyS0",
                            .channel = "/s/sb/ch.sock",
                            .qmp = "/s/sb/qmp.sock",
                            .incoming_fd = -1};
}

static void microvm(void)
{
    struct vm_spec s = base();
    s.disks[0] = (struct vm_disk){.path = "/s/images/root.img", .serial = "root", .readonly = true};
    s.disks[1] = (struct vm_disk){.path = "/s/sb/disk,1.img"};
    s.ndisks = 2;
    s.seccomp = true;
    char **v = NULL;
    CHECK(vm_argv(&s, &v, NULL) == 0);
    CHECK_STREQ(v[0], "/usr/bin/qemu-system-x86_64");
    CHECK(strncmp(after(v, "-M"), "microvm,", 8) == 0);
    CHECK(strncmp(after(v, "-accel"), "tcg", 3) == 0);
    CHECK_STREQ(after(v, "-smp"), "2");
    CHECK_STREQ(after(v, "-m"), "512");
    CHECK(count(v, "-nodefaults") == 1 && count(v, "-no-user-config") == 1);
    CHECK(count(v, "-no-reboot") == 1);
    CHECK_STREQ(after(v, "-display"), "none");
    /* No monitor but QMP, no NIC without a tap. */
    CHECK(count(v, "-monitor") == 0 && !any_contains(v, "virtio-net"));
    CHECK_STREQ(after(v, "-qmp"), "unix:/s/sb/qmp.sock,server=on,wait=off");
    CHECK(any_contains(v, "virtio-serial-device") && any_contains(v, "name=runra"));
    /* The read-only root disk, and a comma in a path doubled. */
    CHECK(any_contains(v, "file=/s/images/root.img,if=none,id=disk0") &&
          any_contains(v, ",readonly=on"));
    CHECK(any_contains(v, "file=/s/sb/disk,,1.img,if=none,id=disk1"));
    CHECK(any_contains(v, "virtio-blk-device,drive=disk0,serial=root"));
    CHECK(any_contains(v, "virtio-blk-device,drive=disk1") &&
          !any_contains(v, "drive=disk1,serial"));
    CHECK(any_contains(v, "tb-size=64"));
    CHECK(count(v, "-sandbox") == 1 && any_contains(v, "spawn=deny"));
    CHECK(count(v, "-incoming") == 0);
    CHECK_STREQ(after(v, "-serial"), "null");
    free_v(v);
}

static void q35_net_snapshot_kvm(void)
{
    struct vm_spec s = base();
    s.machine = VM_MACHINE_Q35;
    s.accel = VM_ACCEL_KVM;
    s.tap = "rr-tap0";
    s.mac = "52:54:00:12:34:56";
    s.incoming_fd = 3;
    s.console_log = "/s/sb/console.log";
    char **v = NULL;
    CHECK(vm_argv(&s, &v, NULL) == 0);
    CHECK(strncmp(after(v, "-M"), "q35,", 4) == 0);
    CHECK_STREQ(after(v, "-accel"), "kvm");
    CHECK_STREQ(after(v, "-cpu"), "host");
    CHECK(any_contains(v, "virtio-serial-pci"));
    CHECK_STREQ(after(v, "-netdev"), "tap,id=net0,ifname=rr-tap0,script=no,downscript=no");
    CHECK(any_contains(v, "virtio-net-pci,netdev=net0,mac=52:54:00:12:34:56"));
    CHECK_STREQ(after(v, "-incoming"), "fd:3");
    CHECK_STREQ(after(v, "-serial"), "file:/s/sb/console.log");
    CHECK(count(v, "-sandbox") == 0);
    free_v(v);
}

static void rejects(void)
{
    char **v = NULL;
    struct vm_spec s = base();
    s.vcpus = 0;
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    s = base();
    s.memory_mb = 16;
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    s = base();
    s.kernel = "relative/vmlinuz";
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    s = base();
    s.channel = "/s/a\nb";
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    s = base();
    s.cmdline = "a\nb";
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    s = base();
    s.disks[0] = (struct vm_disk){.path = "/d.img", .serial = "root,evil=on"};
    s.ndisks = 1;
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    s.disks[0].serial = "";
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    s = base();
    s.tap = "tap,evil=1";
    s.mac = "52:54:00:12:34:56";
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    s = base();
    s.tap = "t0";
    s.mac = "nonsense";
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    s = base();
    s.incoming_fd = 1;
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    s = base();
    s.ndisks = VM_DISKS_MAX + 1;
    CHECK(vm_argv(&s, &v, NULL) == -EINVAL);
    CHECK(v == NULL);
}

static void cmdline(void)
{
    char out[VM_CMDLINE_MAX];
    CHECK(vm_cmdline(2400000, "ab12cd", NULL, out, sizeof(out), NULL) == 0);
    CHECK(strstr(out, "tsc_early_khz=2400000") && strstr(out, "runra.hostname=ab12cd"));
    CHECK(strstr(out, "panic=-1") && strstr(out, "console=ttyS0"));
    CHECK(vm_cmdline(0, "h", "root=/dev/vda", out, sizeof(out), NULL) == 0);
    CHECK(!strstr(out, "tsc_early_khz") && strstr(out, " root=/dev/vda"));
    CHECK(vm_cmdline(0, "bad host", NULL, out, sizeof(out), NULL) == -EINVAL);
    CHECK(vm_cmdline(0, "h", "a\nb", out, sizeof(out), NULL) == -EINVAL);
    char tiny[16];
    CHECK(vm_cmdline(0, "h", NULL, tiny, sizeof(tiny), NULL) == -E2BIG);
}

TEST_MAIN(TEST(microvm), TEST(q35_net_snapshot_kvm), TEST(rejects), TEST(cmdline))
