/* The tar confinement checks (pure) and an end-to-end unpack of hostile
 * archives into a temporary directory, checking nothing lands outside it. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "tar/tarx.h"
#include "test.h"

static char *clean(const char *in)
{
    char *out = NULL;
    struct runra_err *e = NULL;
    int r = tarx_name_clean(in, &out, &e);
    err_free(e);
    return r < 0 ? NULL : out;
}

static void test_name_clean(void)
{
    char *s;
    CHECK_STREQ(s = clean("a/b"), "a/b");
    free(s);
    CHECK_STREQ(s = clean("./a//b/./c/"), "a/b/c");
    free(s);
    CHECK_STREQ(s = clean("./"), ".");
    free(s);
    CHECK_STREQ(s = clean("..a/b.."), "..a/b..");
    free(s);
    CHECK(!clean(""));
    CHECK(!clean("/etc/passwd"));
    CHECK(!clean("../x"));
    CHECK(!clean("a/../../x"));
    CHECK(!clean("a/.."));
    char long_comp[300];
    memset(long_comp, 'x', sizeof(long_comp) - 1);
    long_comp[sizeof(long_comp) - 1] = 0;
    CHECK(!clean(long_comp));
}

static void test_symlink_inside(void)
{
    CHECK(tarx_symlink_inside("l", "target"));
    CHECK(tarx_symlink_inside("a/l", "../b"));
    CHECK(tarx_symlink_inside("a/b/l", "../../c/d"));
    CHECK(tarx_symlink_inside("l", "."));
    CHECK(!tarx_symlink_inside("l", ".."));
    CHECK(!tarx_symlink_inside("a/l", "../.."));
    CHECK(!tarx_symlink_inside("l", "/"));
    CHECK(!tarx_symlink_inside("l", "/etc/passwd"));
    CHECK(!tarx_symlink_inside("l", ""));
    /* ".." after a name could climb out of whatever the name resolves to. */
    CHECK(!tarx_symlink_inside("a/l", "b/../../x"));
    CHECK(!tarx_symlink_inside("l", "x/.."));
}

/* A hand-made ustar header (512 bytes) for name, type and size. */
static void header(uint8_t *h, const char *name, char type, size_t size, const char *link)
{
    memset(h, 0, 512);
    memcpy(h, name, strlen(name));
    memcpy(h + 100, "0000644", 7);
    memcpy(h + 108, "0000000", 7);
    memcpy(h + 116, "0000000", 7);
    snprintf((char *)h + 124, 12, "%011zo", size);
    memcpy(h + 136, "00000000000", 11);
    h[156] = (uint8_t)type;
    if (link)
        memcpy(h + 157, link, strlen(link));
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
}

/* Unpacks an archive of (name, type, link) entries into a fresh dir;
 * returns the result and leaves the dir path in tmpl. */
static int unpack(const char *const (*entries)[3], size_t n, char *tmpl)
{
    int afd = memfd_create("t", MFD_CLOEXEC);
    uint8_t h[512];
    for (size_t i = 0; i < n; i++) {
        bool reg = entries[i][1][0] == '0';
        header(h, entries[i][0], entries[i][1][0], reg ? 3 : 0, entries[i][2]);
        write_full(afd, h, 512);
        if (reg) {
            memset(h, 0, 512);
            memcpy(h, "abc", 3);
            write_full(afd, h, 512);
        }
    }
    memset(h, 0, 512);
    write_full(afd, h, 512);
    write_full(afd, h, 512);
    if (!mkdtemp(tmpl))
        return -errno;
    char sub[256];
    snprintf(sub, sizeof(sub), "%s/t", tmpl);
    mkdir(sub, 0755);
    int root = open(sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    struct tarx_unpack *u = NULL;
    struct runra_err *e = NULL;
    int r = tarx_unpack_new(afd, root, &u, &e);
    while (r >= 0 && (r = tarx_unpack_step(u, &e)) == 0)
        ;
    tarx_unpack_free(u);
    err_free(e);
    return r;
}

static bool exists_at(const char *dir, const char *rel)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof(p), "%s/%s", dir, rel);
    return lstat(p, &st) == 0;
}

static void test_unpack_hostile(void)
{
    char tmpl[] = "/tmp/runra-tar-XXXXXX";
    static const char *const good[][3] = {{"a/b", "0", NULL}, {"l", "2", "a/b"}};
    CHECK(unpack(good, 2, tmpl) == 1);
    CHECK(exists_at(tmpl, "t/a/b") && exists_at(tmpl, "t/l"));
    rm_rf(tmpl);

    static const char *const dotdot[][3] = {{"ok", "0", NULL}, {"../esc", "0", NULL}};
    char t2[] = "/tmp/runra-tar-XXXXXX";
    CHECK(unpack(dotdot, 2, t2) == -EINVAL);
    CHECK(!exists_at(t2, "esc") && !exists_at(t2, "t/ok"));
    rm_rf(t2);

    static const char *const through[][3] = {{"l", "2", "."}, {"l/x", "0", NULL}};
    char t3[] = "/tmp/runra-tar-XXXXXX";
    CHECK(unpack(through, 2, t3) == -EINVAL);
    CHECK(!exists_at(t3, "t/l"));
    rm_rf(t3);

    static const char *const hard[][3] = {{"h", "1", "../../etc/passwd"}};
    char t4[] = "/tmp/runra-tar-XXXXXX";
    CHECK(unpack(hard, 1, t4) == -EINVAL);
    CHECK(!exists_at(t4, "t/h"));
    rm_rf(t4);
}

TEST_MAIN(TEST(test_name_clean), TEST(test_symlink_inside), TEST(test_unpack_hostile))
