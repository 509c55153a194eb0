/* Image layers unpacked for real into a scratch directory: the ordinary
 * cases (files, dirs, symlinks, hard links, owners, modes, xattrs), OCI
 * whiteouts turned into overlay whiteouts, and hostile layers that must not
 * change anything outside their directory. Needs root (chown, mknod of
 * whiteouts, trusted.* xattrs); skips otherwise. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "base/sha256.h"
#include "base/util.h"
#include "image/blob.h"
#include "image/layer.h"
#include "image/layers.h"
#include "test.h"

struct ent {
    const char *name;
    mode_t type; /* AE_IFREG, AE_IFDIR, AE_IFLNK, AE_IFCHR, 0 for a hard link */
    mode_t perm;
    const char *data; /* content, symlink or hard link target */
    int uid;
};

/* Writes the entries as a (gzip when gz) tar into a temp file; returns its fd. */
static int make_tar(const struct ent *v, size_t n, bool gz)
{
    char path[] = "/tmp/runra-layer-XXXXXX";
    int fd = mkstemp(path);
    unlink(path);
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gz)
        archive_write_add_filter_gzip(a);
    archive_write_open_fd(a, fd);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, v[i].name);
        archive_entry_set_uid(e, v[i].uid);
        archive_entry_set_gid(e, v[i].uid);
        if (v[i].type == 0) {
            archive_entry_set_filetype(e, AE_IFREG);
            archive_entry_set_hardlink(e, v[i].data);
        } else {
            archive_entry_set_filetype(e, v[i].type);
            archive_entry_set_perm(e, v[i].perm);
            if (v[i].type == AE_IFREG)
                archive_entry_set_size(e, (la_int64_t)strlen(v[i].data ? v[i].data : ""));
            if (v[i].type == AE_IFLNK)
                archive_entry_set_symlink(e, v[i].data);
            if (v[i].type == AE_IFCHR)
                archive_entry_set_rdev(e, makedev(1, 3));
            if (v[i].type == AE_IFREG && !strcmp(v[i].name, "xattr.txt"))
                archive_entry_xattr_add_entry(e, "user.kind", "demo", 4);
        }
        archive_write_header(a, e);
        if (v[i].type == AE_IFREG && v[i].data)
            archive_write_data(a, v[i].data, strlen(v[i].data));
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    lseek(fd, 0, SEEK_SET);
    return fd;
}

static char scratch[64];
static int dirfd_;

static void fresh(void)
{
    if (scratch[0])
        rm_rf(scratch);
    snprintf(scratch, sizeof(scratch), "/tmp/runra-layer-dir-XXXXXX");
    if (!mkdtemp(scratch))
        abort();
    if (dirfd_ > 0)
        close(dirfd_);
    dirfd_ = open(scratch, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

static int unpack(const struct ent *v, size_t n, bool gz, struct layer_stats *st, char **msg)
{
    fresh();
    int fd = make_tar(v, n, gz);
    struct layer_limits lim = {.max_bytes = 1 << 20, .max_entries = 1000};
    struct runra_err *e = NULL;
    int r = layer_unpack(fd, dirfd_, &lim, st, &e);
    close(fd);
    if (msg)
        *msg = e && e->msg ? strdup(e->msg) : NULL;
    err_free(e);
    return r;
}

static char *slurp(const char *rel)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", scratch, rel);
    char *s = NULL;
    return read_file_str(p, 1 << 20, &s) >= 0 ? s : NULL;
}

static void ordinary(void)
{
    const struct ent v[] = {
        {"./usr/", AE_IFDIR, 0755, NULL, 0},
        {"usr/bin/tool", AE_IFREG, 04755, "#!/bin/sh\n", 0},
        {"usr/lib/deep/file", AE_IFREG, 0644, "deep", 0},
        {"home/u/notes", AE_IFREG, 0600, "mine", 1000},
        {"bin", AE_IFLNK, 0777, "usr/bin", 0},
        {"etc/abs", AE_IFLNK, 0777, "/etc/passwd", 0},
        {"usr/bin/tool2", 0, 0, "usr/bin/tool", 0},
        {"xattr.txt", AE_IFREG, 0644, "x", 0},
        {"dev/null", AE_IFCHR, 0666, NULL, 0},
    };
    struct layer_stats st = {0};
    char *msg = NULL;
    CHECK(unpack(v, ARRAY_SIZE(v), true, &st, &msg) == 0);
    if (msg)
        fprintf(stderr, "%s\n", msg);
    free(msg);
    char *s = slurp("usr/bin/tool");
    CHECK_STREQ(s, "#!/bin/sh\n");
    free(s);
    struct stat sb;
    CHECK(fstatat(dirfd_, "usr/bin/tool", &sb, 0) == 0 && (sb.st_mode & 07777) == 04755 &&
          sb.st_uid == 0);
    CHECK(fstatat(dirfd_, "home/u/notes", &sb, 0) == 0 && sb.st_uid == 1000 &&
          (sb.st_mode & 0777) == 0600);
    char t[64] = {0};
    CHECK(readlinkat(dirfd_, "etc/abs", t, sizeof(t) - 1) > 0 && !strcmp(t, "/etc/passwd"));
    struct stat a1, a2;
    CHECK(fstatat(dirfd_, "usr/bin/tool", &a1, 0) == 0 &&
          fstatat(dirfd_, "usr/bin/tool2", &a2, 0) == 0 && a1.st_ino == a2.st_ino);
    char xv[16] = {0};
    char p[256];
    snprintf(p, sizeof(p), "%s/xattr.txt", scratch);
    CHECK(getxattr(p, "user.kind", xv, sizeof(xv)) == 4 && !memcmp(xv, "demo", 4));
    CHECK(fstatat(dirfd_, "dev/null", &sb, AT_SYMLINK_NOFOLLOW) < 0 && st.skipped_devices == 1);
    CHECK(st.entries == ARRAY_SIZE(v));
    layer_stats_done(&st);
}

static void whiteouts(void)
{
    const struct ent v[] = {
        {"etc/.wh.gone", AE_IFREG, 0644, "", 0},
        {"var/cache/.wh..wh..opq", AE_IFREG, 0644, "", 0},
        {"var/cache/kept", AE_IFREG, 0644, "k", 0},
    };
    struct layer_stats st = {0};
    CHECK(unpack(v, ARRAY_SIZE(v), false, &st, NULL) == 0);
    struct stat sb;
    CHECK(fstatat(dirfd_, "etc/gone", &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISCHR(sb.st_mode) &&
          sb.st_rdev == makedev(0, 0));
    CHECK(fstatat(dirfd_, "etc/.wh.gone", &sb, AT_SYMLINK_NOFOLLOW) < 0);
    char p[256], val[4] = {0};
    snprintf(p, sizeof(p), "%s/var/cache", scratch);
    CHECK(getxattr(p, "trusted.overlay.opaque", val, sizeof(val)) == 1 && val[0] == 'y');
    val[0] = 0;
    CHECK(getxattr(p, "user.overlay.opaque", val, sizeof(val)) == 1 && val[0] == 'y');
    CHECK(fstatat(dirfd_, "var/cache/.wh..wh..opq", &sb, AT_SYMLINK_NOFOLLOW) < 0);
    layer_stats_done(&st);
}

/* A whiteout after a file of the same layer hides only lower layers' file;
 * directories a layer only implies are noted, unless it names them later. */
static void same_layer_and_implied(void)
{
    const struct ent v[] = {
        {"etc/recreate", AE_IFREG, 0644, "new", 0},
        {"etc/.wh.recreate", AE_IFREG, 0644, "", 0},
        {"home/user/new", AE_IFREG, 0644, "n", 1000},
        {"srv/a/b/f", AE_IFREG, 0644, "f", 0},
        {"srv/a", AE_IFDIR, 0711, NULL, 0},
    };
    struct layer_stats st = {0};
    CHECK(unpack(v, ARRAY_SIZE(v), false, &st, NULL) == 0);
    char *c = slurp("etc/recreate");
    CHECK(c && !strcmp(c, "new"));
    free(c);
    /* etc, home, home/user, srv, srv/a/b: implied; srv/a was named. */
    bool seen[5] = {0};
    const char *want[] = {"etc", "home", "home/user", "srv", "srv/a/b"};
    for (size_t i = 0; i < st.nimplied; i++)
        for (size_t k = 0; k < ARRAY_SIZE(want); k++)
            if (!strcmp(st.implied[i], want[k]))
                seen[k] = true;
    CHECK(st.nimplied == 5);
    for (size_t k = 0; k < ARRAY_SIZE(want); k++)
        CHECK(seen[k]);
    struct stat sb;
    CHECK(fstatat(dirfd_, "srv/a", &sb, 0) == 0 && (sb.st_mode & 07777) == 0711);
    layer_stats_done(&st);
}

/* A file outside the scratch dir that hostile layers aim at. */
static const char victim[] = "/tmp/runra-layer-victim";

static void hostile_one(const struct ent *v, size_t n, const char *what)
{
    int vf = open(victim, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (write(vf, "safe", 4) != 4)
        CHECK(0);
    close(vf);
    char *msg = NULL;
    struct layer_stats st;
    int r = unpack(v, n, false, &st, &msg);
    char *s = NULL;
    CHECK(read_file_str(victim, 64, &s) >= 0 && !strcmp(s, "safe"));
    free(s);
    struct stat sb;
    CHECK(stat(victim, &sb) == 0 && sb.st_nlink == 1 && (sb.st_mode & 07777) == 0644);
    if (r == 0)
        fprintf(stderr, "%s: accepted (contained)\n", what);
    else
        CHECK(msg != NULL);
    free(msg);
}

static void hostile(void)
{
    const struct ent climb[] = {{"../../../tmp/runra-layer-victim", AE_IFREG, 0644, "owned", 0}};
    hostile_one(climb, 1, "dotdot");
    const struct ent abs[] = {{"/tmp/runra-layer-victim", AE_IFREG, 0644, "owned", 0}};
    hostile_one(abs, 1, "absolute");
    const struct ent through_link[] = {
        {"link", AE_IFLNK, 0777, "/tmp", 0},
        {"link/runra-layer-victim", AE_IFREG, 0644, "owned", 0},
    };
    hostile_one(through_link, 2, "through an absolute symlink");
    const struct ent rel_link[] = {
        {"a", AE_IFLNK, 0777, "../../../../../../tmp", 0},
        {"a/runra-layer-victim", AE_IFREG, 04755, "owned", 0},
    };
    hostile_one(rel_link, 2, "through a climbing symlink");
    const struct ent hard[] = {{"h", 0, 0, "../../../tmp/runra-layer-victim", 0}};
    hostile_one(hard, 1, "hard link out");
    const struct ent hard2[] = {
        {"l", AE_IFLNK, 0777, "/tmp", 0},
        {"h", 0, 0, "l/runra-layer-victim", 0},
    };
    hostile_one(hard2, 2, "hard link through a symlink");
    const struct ent last_link[] = {
        {"f", AE_IFLNK, 0777, "/tmp/runra-layer-victim", 0},
        {"f", AE_IFREG, 0600, "owned", 0},
    };
    hostile_one(last_link, 2, "replace a symlink");
    const struct ent wh[] = {{"x/.wh...", AE_IFREG, 0644, "", 0}};
    hostile_one(wh, 1, "whiteout of ..");
    const struct ent big_uid[] = {{"f", AE_IFREG, 0644, "x", 70000}};
    hostile_one(big_uid, 1, "uid past 65535");
    /* Limits: too many entries, too many bytes. */
    struct ent many[1100];
    char names[1100][16];
    for (int i = 0; i < 1100; i++) {
        snprintf(names[i], sizeof(names[i]), "f%d", i);
        many[i] = (struct ent){names[i], AE_IFREG, 0644, "", 0};
    }
    char *msg = NULL;
    struct layer_stats st = {0};
    CHECK(unpack(many, 1100, true, &st, &msg) == -EFBIG);
    free(msg);
    static char blob[(1 << 20) + 2];
    memset(blob, 'z', sizeof(blob) - 1);
    const struct ent bomb[] = {{"big", AE_IFREG, 0644, blob, 0}};
    CHECK(unpack(bomb, 1, true, &st, &msg) == -EFBIG);
    free(msg);
    unlink(victim);
    layer_stats_done(&st);
}

static void corrupt(void)
{
    /* A truncated gzip stream is an error, not a partial success. */
    const struct ent v[] = {{"a", AE_IFREG, 0644, "0123456789abcdef0123456789abcdef", 0}};
    int fd = make_tar(v, 1, true);
    off_t n = lseek(fd, 0, SEEK_END);
    CHECK(ftruncate(fd, n / 2) == 0);
    lseek(fd, 0, SEEK_SET);
    fresh();
    struct layer_limits lim = {.max_bytes = 1 << 20, .max_entries = 10};
    struct runra_err *e = NULL;
    CHECK(layer_unpack(fd, dirfd_, &lim, NULL, &e) < 0 && e && e->msg);
    err_free(e);
    close(fd);
    /* Not a tar at all. */
    char path[] = "/tmp/runra-layer-XXXXXX";
    fd = mkstemp(path);
    unlink(path);
    if (write(fd, "this is not a tar archive, not even close........", 48) != 48)
        CHECK(0);
    lseek(fd, 0, SEEK_SET);
    e = NULL;
    CHECK(layer_unpack(fd, dirfd_, &lim, NULL, &e) < 0);
    err_free(e);
    close(fd);
}

static void diff_ids(void)
{
    const struct ent v[] = {{"a", AE_IFREG, 0644, "same bytes either way", 0},
                            {"d", AE_IFDIR, 0755, NULL, 0}};
    int plain = make_tar(v, ARRAY_SIZE(v), false), gz = make_tar(v, ARRAY_SIZE(v), true);
    /* The diff-id is the digest of the uncompressed tar, however it came. */
    char want[LAYER_DIFF_ID_LEN], got[LAYER_DIFF_ID_LEN];
    struct sha256 h;
    sha256_init(&h);
    char buf[4096];
    ssize_t n;
    while ((n = read(plain, buf, sizeof(buf))) > 0)
        sha256_update(&h, buf, (size_t)n);
    uint8_t sum[SHA256_LEN];
    sha256_final(&h, sum);
    memcpy(want, "sha256:", 7);
    for (size_t i = 0; i < SHA256_LEN; i++)
        snprintf(want + 7 + 2 * i, 3, "%02x", sum[i]);
    lseek(plain, 0, SEEK_SET);
    struct runra_err *e = NULL;
    CHECK(layer_diff_id(plain, 1 << 20, got, &e) == 0);
    CHECK_STREQ(got, want);
    CHECK(layer_diff_id(gz, 1 << 20, got, &e) == 0);
    CHECK_STREQ(got, want);
    /* A bound smaller than the stream stops it. */
    lseek(gz, 0, SEEK_SET);
    CHECK(layer_diff_id(gz, 100, got, &e) == -EFBIG);
    err_free(e);
    close(plain);
    close(gz);
}

/* Stores fd's bytes as a blob; returns its digest. */
static char *put_blob(struct blob_store *bs, int fd)
{
    struct sha256 h;
    sha256_init(&h);
    char buf[4096];
    ssize_t n;
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        sha256_update(&h, buf, (size_t)n);
    uint8_t sum[SHA256_LEN];
    sha256_final(&h, sum);
    char *d = malloc(72);
    memcpy(d, "sha256:", 7);
    for (size_t i = 0; i < SHA256_LEN; i++)
        snprintf(d + 7 + 2 * i, 3, "%02x", sum[i]);
    struct blob_writer *w = NULL;
    struct runra_err *e = NULL;
    CHECK(blob_writer_new(bs, d, 1 << 20, &w, &e) == 0);
    lseek(fd, 0, SEEK_SET);
    while ((n = read(fd, buf, sizeof(buf))) > 0)
        CHECK(blob_writer_write(w, buf, (size_t)n, &e) == 0);
    CHECK(blob_writer_commit(w, &e) == 0);
    err_free(e);
    return d;
}

static void layer_store(void)
{
    char root[] = "/tmp/runra-layers-XXXXXX";
    if (!mkdtemp(root))
        abort();
    char blobs[128], layers[128];
    snprintf(blobs, sizeof(blobs), "%s/blobs", root);
    snprintf(layers, sizeof(layers), "%s/layers", root);
    struct blob_store *bs = NULL;
    struct runra_err *e = NULL;
    CHECK(blob_store_open(blobs, &bs, &e) == 0);
    const struct ent v[] = {{"etc/os-release", AE_IFREG, 0644, "ID=fixture\n", 0}};
    int plain = make_tar(v, 1, false), gz = make_tar(v, 1, true);
    char diff[LAYER_DIFF_ID_LEN];
    CHECK(layer_diff_id(plain, 1 << 20, diff, &e) == 0);
    char *blob = put_blob(bs, gz);
    struct layer_limits lim = {.max_bytes = 1 << 20, .max_entries = 100};
    CHECK(!layers_has(layers, diff));
    CHECK(layers_ensure(layers, bs, blob, diff, &lim, &e) == 0);
    CHECK(layers_has(layers, diff));
    char p[256];
    snprintf(p, sizeof(p), "%s/sha256/%s/etc/os-release", layers, diff + 7);
    char *s = NULL;
    CHECK(read_file_str(p, 100, &s) >= 0 && !strcmp(s, "ID=fixture\n"));
    free(s);
    /* Again: nothing to do. */
    CHECK(layers_ensure(layers, bs, blob, diff, &lim, &e) == 0);
    /* A blob whose content is not the diff-id the config names: refused,
     * nothing stored, no temporary dir left. */
    char wrong[LAYER_DIFF_ID_LEN];
    snprintf(wrong, sizeof(wrong), "sha256:%064d", 0);
    CHECK(layers_ensure(layers, bs, blob, wrong, &lim, &e) == -EBADMSG && e && e->msg);
    err_free(e);
    e = NULL;
    CHECK(!layers_has(layers, wrong));
    /* A hostile layer: refused, nothing stored. */
    const struct ent bad[] = {{"../escape", AE_IFREG, 0644, "x", 0}};
    int hb = make_tar(bad, 1, false);
    char hdiff[LAYER_DIFF_ID_LEN];
    CHECK(layer_diff_id(hb, 1 << 20, hdiff, &e) == 0);
    char *hblob = put_blob(bs, hb);
    CHECK(layers_ensure(layers, bs, hblob, hdiff, &lim, &e) < 0);
    err_free(e);
    e = NULL;
    CHECK(!layers_has(layers, hdiff));
    DIR *d = opendir(layers);
    struct dirent *de;
    int leftovers = 0;
    while (d && (de = readdir(d)))
        leftovers += !strncmp(de->d_name, "tmp-", 4);
    if (d)
        closedir(d);
    CHECK(leftovers == 0);
    CHECK(layers_remove(layers, diff, &e) == 0 && !layers_has(layers, diff));
    free(blob);
    free(hblob);
    close(plain);
    close(gz);
    close(hb);
    blob_store_free(bs);
    rm_rf(root);
}

static void cleanup(void)
{
    if (scratch[0])
        rm_rf(scratch);
}

int main(void)
{
    if (geteuid() != 0) {
        printf("0 passed, 0 failed\n");
        return 0;
    }
    static const struct test_case cases[] = {TEST(ordinary), TEST(whiteouts),
                                             TEST(same_layer_and_implied), TEST(hostile),
                                             TEST(corrupt), TEST(diff_ids), TEST(layer_store)};
    int rc = test_run(cases, ARRAY_SIZE(cases));
    cleanup();
    return rc;
}
