/* Host facts for the VM backend (src/backend/vm/host.c) and the upkeep of
 * its template cache (src/backend/vm/cache.c). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/vm/cache.h"
#include "backend/vm/host.h"
#include "base/util.h"
#include "test.h"

static void cpuinfo(void)
{
    CHECK(vm_tsc_khz_from_cpuinfo("processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: "
                                  "2596.144\ncache size\t: 512 KB\n") == 2596144);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz\t\t: 2400\n") == 2400000);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz\t\t: 2400.5\n") == 2400500);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz\t\t: 2400.56789\n") == 2400567);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz : x\n") == 0);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz\t\t: 5\n") == 0);        /* not a TSC */
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz\t\t: 99999999999999\n") == 0);
    CHECK(vm_tsc_khz_from_cpuinfo("processor : 0\n") == 0);
    CHECK(vm_tsc_khz_from_cpuinfo("") == 0);
    CHECK(vm_tsc_khz_from_cpuinfo("cpu MHz") == 0);
}

static void this_host(void)
{
    /* Whatever it finds is a plausible rate, or nothing. */
    uint64_t k = vm_host_tsc_khz();
    CHECK(k == 0 || (k >= 100000 && k <= 10000000));
}

static char cache_dir[] = "/tmp/runra-test-vm-cache.XXXXXX";

static void put(const char *name, int64_t mtime)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", cache_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    close(fd);
    struct timespec ts[2] = {{.tv_sec = mtime}, {.tv_sec = mtime}};
    CHECK(utimensat(AT_FDCWD, path, ts, 0) == 0);
}

static void put_dir(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", cache_dir, name);
    CHECK(mkdir(path, 0700) == 0);
}

static bool there(const char *name)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", cache_dir, name);
    return access(path, F_OK) == 0;
}

static size_t prune(const char *keep, size_t kept)
{
    size_t gone = 99;
    struct runra_err *e = NULL;
    CHECK(vm_cache_prune(cache_dir, keep, kept, 1000, 600, &gone, &e) == 0 && !e);
    return gone;
}

static void cache_prune(void)
{
    CHECK(mkdtemp(cache_dir) != NULL);
    /* The first build: nothing but itself, nothing to prune. */
    put_dir("a");
    put("a/snap", 100);
    put("a/disk", 1);
    CHECK(prune("a", 3) == 0 && there("a/snap"));
    /* Five templates used at 100..500; "a" (the oldest) is the one just
     * built, so it stays whatever its time. */
    const char *keys[] = {"b", "c", "d", "e"};
    for (int i = 0; i < 4; i++) {
        char n[16];
        put_dir(keys[i]);
        snprintf(n, sizeof(n), "%s/snap", keys[i]);
        put(n, 100 * (i + 2));
        snprintf(n, sizeof(n), "%s/disk", keys[i]);
        put(n, 1);
    }
    put_dir("half");                   /* no snapshot: goes first */
    put("old.wanted", 1000 - 700);     /* marks past their age */
    put("old.failed", 1000 - 601);
    put("new.wanted", 1000 - 10);
    put("new.failed", 1000 - 10);
    put("f00.snap", 999);              /* an older runrad's layout */
    put("f00.disk", 999);
    put_dir("build.x1");               /* what builds cut short left */
    put("build.x1/disk.img", 1);
    put_dir("k.new");
    put("notes.txt", 1);               /* not the cache's: left alone */

    CHECK(prune("a", 3) == 3);
    CHECK(there("a/snap") && there("a/disk"));
    CHECK(there("e/snap") && there("e/disk") && there("d/snap") && there("d/disk"));
    CHECK(!there("c") && !there("b") && !there("half"));
    CHECK(!there("old.wanted") && !there("old.failed"));
    CHECK(there("new.wanted") && there("new.failed"));
    CHECK(!there("f00.snap") && !there("f00.disk"));
    CHECK(!there("build.x1") && !there("k.new") && there("notes.txt"));

    /* Within the limit nothing goes; a missing dir is nothing to do. */
    CHECK(prune("a", 3) == 0);
    CHECK(prune("none", 16) == 0);
    CHECK(there("a/snap") && there("d/snap") && there("e/snap"));
    size_t gone = 99;
    CHECK(vm_cache_prune("/nonexistent/runra-cache", "a", 1, 1000, 600, &gone, NULL) == 0 &&
          gone == 0);
    CHECK(rm_rf(cache_dir) == 0);
}

/* A file of data, a hole, data, and a hole to its end. */
static void sparse_copy_to(const char *dir)
{
    char src[] = "/tmp/runra-test-sparse.XXXXXX", dst[256];
    int in = mkstemp(src);
    CHECK(in >= 0);
    snprintf(dst, sizeof(dst), "%s/runra-test-sparse-copy.%d", dir, (int)getpid());
    const off_t mib = 1 << 20;
    char a[5000], b[3000];
    memset(a, 'a', sizeof(a));
    memset(b, 'b', sizeof(b));
    CHECK(pwrite(in, a, sizeof(a), 0) == (ssize_t)sizeof(a));
    CHECK(pwrite(in, b, sizeof(b), 3 * mib) == (ssize_t)sizeof(b));
    CHECK(ftruncate(in, 8 * mib) == 0);
    int out = open(dst, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(out >= 0);
    CHECK(vm_sparse_copy(in, out, 8 << 20, NULL) == 0);
    struct stat st;
    CHECK(fstat(out, &st) == 0 && st.st_size == 8 * mib);
    CHECK(st.st_blocks * 512 < 2 * mib); /* the holes stayed holes */
    char got[5000];
    CHECK(pread(out, got, sizeof(a), 0) == (ssize_t)sizeof(a) && !memcmp(got, a, sizeof(a)));
    CHECK(pread(out, got, sizeof(b), 3 * mib) == (ssize_t)sizeof(b) && !memcmp(got, b, sizeof(b)));
    CHECK(pread(out, got, 100, 6 * mib) == 100);
    for (int i = 0; i < 100; i++)
        CHECK(got[i] == 0);
    /* A source shorter than asked for: the copy is still size long, its
     * tail a hole. */
    CHECK(ftruncate(out, 0) == 0);
    CHECK(vm_sparse_copy(in, out, 16 << 20, NULL) == 0);
    CHECK(fstat(out, &st) == 0 && st.st_size == 16 * mib);
    close(in);
    close(out);
    unlink(src);
    unlink(dst);
}

static void sparse_copy(void)
{
    sparse_copy_to("/tmp");
    /* Another filesystem (tmpfs): copy_file_range may refuse, the copy not. */
    if (access("/dev/shm", W_OK) == 0)
        sparse_copy_to("/dev/shm");
}

TEST_MAIN(TEST(cpuinfo), TEST(this_host), TEST(cache_prune), TEST(sparse_copy))
