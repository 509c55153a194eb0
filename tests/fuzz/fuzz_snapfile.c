/* libFuzzer target: a VM's saved state as its QEMU (perhaps one a guest
 * escaped into) wrote it, compacted by runrad for a template. Either it is
 * refused with a message, or the result is no longer than the input and
 * compacts again to itself with nothing more to drop. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "backend/vm/snapfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fresh(const void *p, size_t n)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n))
        abort();
    return fd;
}

static uint8_t *contents(int fd, size_t *n)
{
    off_t len = lseek(fd, 0, SEEK_END);
    uint8_t *p = malloc((size_t)len + 1);
    if (len < 0 || !p || pread(fd, p, (size_t)len, 0) != len)
        abort();
    *n = (size_t)len;
    return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int in = fresh(data, size), out = fresh(NULL, 0);
    struct vm_snap_stats st;
    struct runra_err *e = NULL;
    int r = vm_snap_compact(in, out, &st, &e);
    if (r < 0 && (!e || !e->msg))
        abort();
    err_free(e);
    e = NULL;
    if (r == 0) {
        size_t n1;
        uint8_t *once = contents(out, &n1);
        if (n1 > size)
            abort();
        int again = fresh(once, n1), out2 = fresh(NULL, 0);
        if (vm_snap_compact(again, out2, &st, &e) != 0 || st.dropped != 0)
            abort();
        size_t n2;
        uint8_t *twice = contents(out2, &n2);
        if (n2 != n1 || memcmp(once, twice, n1) != 0)
            abort();
        free(once);
        free(twice);
        close(again);
        close(out2);
    }
    err_free(e);
    close(in);
    close(out);
    return 0;
}
