/* A newc cpio writer, just enough for the initramfs: directories, one
 * character device, regular files from the host. Every entry is owned by
 * root and dated 0, so the same inputs make the same bytes. */
#include "backend/vm/initrd.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "base/util.h"

#define MODULES_MAX 64
#define MODULE_NAME_MAX 64

void vm_cpio_header(char out[VM_CPIO_HDR_LEN + 1], uint32_t ino, mode_t mode, uint64_t size,
                    uint32_t rdev_major, uint32_t rdev_minor, size_t namesize)
{
    /* magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
     * devminor, rdevmajor, rdevminor, namesize, check */
    snprintf(out, VM_CPIO_HDR_LEN + 1,
             "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, (unsigned)mode, 0u,
             0u, S_ISDIR(mode) ? 2u : 1u, 0u, (unsigned)size, 0u, 0u, rdev_major, rdev_minor,
             (unsigned)namesize, 0u);
}

struct writer {
    int fd;
    uint64_t off;
    uint32_t ino;
};

static int put(struct writer *w, const void *p, size_t n)
{
    int r = write_full(w->fd, p, n);
    if (r < 0)
        return r;
    w->off += n;
    return 0;
}

static int pad4(struct writer *w)
{
    static const char zero[4];
    size_t n = (4 - (w->off & 3)) & 3;
    return n ? put(w, zero, n) : 0;
}

static int entry(struct writer *w, const char *name, mode_t mode, uint64_t size, uint32_t maj,
                 uint32_t min)
{
    char hdr[VM_CPIO_HDR_LEN + 1];
    size_t namesize = strlen(name) + 1;
    vm_cpio_header(hdr, ++w->ino, mode, size, maj, min, namesize);
    int r = put(w, hdr, VM_CPIO_HDR_LEN);
    if (r >= 0)
        r = put(w, name, namesize);
    return r < 0 ? r : pad4(w);
}

/* A host file's contents as an entry; size bounded (a module or init). */
static int file_entry(struct writer *w, const char *name, const char *path, mode_t perm,
                      struct runra_err **err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return err_sys(err, errno, "open %s", path);
    if (!S_ISREG(st.st_mode) || st.st_size > (64 << 20))
        return err_set(err, EINVAL, "%s is not a regular file of at most 64 MiB", path);
    int r = entry(w, name, S_IFREG | perm, (uint64_t)st.st_size, 0, 0);
    if (r < 0)
        return err_sys(err, r, "write the initramfs");
    char buf[65536];
    uint64_t left = (uint64_t)st.st_size;
    while (left > 0) {
        ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return err_sys(err, n < 0 ? errno : EIO, "read %s", path);
        if ((r = put(w, buf, (size_t)n)) < 0)
            return err_sys(err, r, "write the initramfs");
        left -= (uint64_t)n;
    }
    r = pad4(w);
    return r < 0 ? err_sys(err, r, "write the initramfs") : 0;
}

static bool module_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= MODULE_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

static int write_all(struct writer *w, const char *kernel_dir, const char *init_path,
                     struct runra_err **err)
{
    static const char *const dirs[] = {"dev", "proc", "sys", "mnt", "modules"};
    int r = 0;
    for (size_t i = 0; i < ARRAY_SIZE(dirs) && r >= 0; i++)
        r = entry(w, dirs[i], S_IFDIR | 0755, 0, 0, 0);
    /* The kernel opens /dev/console for init's stdio before anything is
     * mounted. */
    if (r >= 0)
        r = entry(w, "dev/console", S_IFCHR | 0600, 0, 5, 1);
    if (r < 0)
        return err_sys(err, r, "write the initramfs");
    if ((r = file_entry(w, "init", init_path, 0755, err)) < 0)
        return r;

    char path[PATH_MAX];
    snprintf(path, sizeof(path), "%s/modules.order", kernel_dir);
    _cleanup_free_ char *order = NULL;
    r = read_file_str(path, 64 * 1024, &order);
    if (r < 0)
        return err_sys(err, r, "read %s", path);
    /* The order file goes in as it is checked: names only, one a line. */
    size_t n = 0;
    for (char *save = NULL, *name = strtok_r(order, "\n", &save); name;
         name = strtok_r(NULL, "\n", &save)) {
        if (!module_name_ok(name) || ++n > MODULES_MAX)
            return err_set(err, EINVAL, "%s: bad module name or too many modules", path);
        char ko[PATH_MAX], inside[MODULE_NAME_MAX + 16];
        snprintf(ko, sizeof(ko), "%s/modules/%s.ko", kernel_dir, name);
        snprintf(inside, sizeof(inside), "modules/%s.ko", name);
        if ((r = file_entry(w, inside, ko, 0644, err)) < 0)
            return r;
    }
    if (n == 0)
        return err_set(err, EINVAL, "%s names no modules", path);
    if ((r = file_entry(w, "modules/order", path, 0644, err)) < 0)
        return r;
    r = entry(w, "TRAILER!!!", 0, 0, 0, 0);
    return r < 0 ? err_sys(err, r, "write the initramfs") : 0;
}

int vm_initrd_build(const char *kernel_dir, const char *init_path, const char *out,
                    struct runra_err **err)
{
    char tmp[PATH_MAX];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.XXXXXX", out) >= sizeof(tmp))
        return err_set(err, ENAMETOOLONG, "path too long");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return err_sys(err, errno, "create %s", tmp);
    struct writer w = {.fd = fd};
    int r = write_all(&w, kernel_dir, init_path, err);
    /* The kernel wants the archive padded to 512 bytes as cpio does. */
    while (r >= 0 && (w.off & 511))
        r = put(&w, "", 1) < 0 ? err_sys(err, EIO, "write the initramfs") : 0;
    if (r >= 0 && (fchmod(fd, 0644) < 0 || fsync(fd) < 0))
        r = err_sys(err, errno, "write %s", tmp);
    close(fd);
    if (r >= 0 && rename(tmp, out) < 0)
        r = err_sys(err, errno, "rename %s", tmp);
    if (r < 0)
        unlink(tmp);
    return r;
}
