/* The image blob store: a blob is stored only whole and only under its own
 * digest; a wrong, oversized or aborted one leaves nothing. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/sha256.h"
#include "base/util.h"
#include "image/blob.h"
#include "test.h"

static char dir[64];

static char *digest_of(const char *data)
{
    char hex[2 * SHA256_LEN + 1];
    sha256_hex(data, strlen(data), hex);
    char *d = NULL;
    if (asprintf(&d, "sha256:%s", hex) < 0)
        abort();
    return d;
}

static void stores_and_verifies(void)
{
    snprintf(dir, sizeof(dir), "/tmp/runra-blobs-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    struct blob_store *s = NULL;
    struct runra_err *e = NULL;
    CHECK(blob_store_open(dir, &s, &e) == 0);
    const char *data = "{\"schemaVersion\":2}";
    char *d = digest_of(data);
    CHECK(!blob_has(s, d));
    struct blob_writer *w = NULL;
    CHECK(blob_writer_new(s, d, 1024, &w, &e) == 0);
    CHECK(blob_writer_write(w, data, 5, &e) == 0);
    CHECK(blob_writer_write(w, data + 5, strlen(data) - 5, &e) == 0);
    CHECK(blob_writer_size(w) == strlen(data));
    CHECK(blob_writer_commit(w, &e) == 0);
    CHECK(blob_has(s, d));
    int fd = -1;
    CHECK(blob_open(s, d, &fd, &e) == 0);
    char buf[64] = {0};
    CHECK(read(fd, buf, sizeof(buf)) == (ssize_t)strlen(data) && !strcmp(buf, data));
    close(fd);

    /* The wrong bytes for a digest: refused, nothing stored. */
    char *other = digest_of("something else");
    CHECK(blob_writer_new(s, other, 1024, &w, &e) == 0);
    CHECK(blob_writer_write(w, data, strlen(data), &e) == 0);
    CHECK(blob_writer_commit(w, &e) == -EBADMSG && e && strstr(e->msg, "mismatch"));
    err_free(e);
    e = NULL;
    CHECK(!blob_has(s, other));
    /* Past its bound. */
    CHECK(blob_writer_new(s, other, 4, &w, &e) == 0);
    CHECK(blob_writer_write(w, "12345", 5, &e) == -EFBIG);
    err_free(e);
    e = NULL;
    blob_writer_abort(w);
    CHECK(!blob_has(s, other));
    /* Names that are not digests never reach the file system. */
    static const char *const bad[] = {"sha256:../../etc/passwd", "md5:abc", "sha256:",
                                      "sha512:00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(blob_writer_new(s, bad[i], 10, &w, &e) == -EINVAL);
        err_free(e);
        e = NULL;
        CHECK(!blob_has(s, bad[i]));
    }
    CHECK(blob_remove(s, d, &e) == 0);
    CHECK(!blob_has(s, d));
    /* Nothing left in tmp/. */
    char tmp[128];
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir);
    int n = 0;
    DIR *dd = opendir(tmp);
    struct dirent *de;
    while (dd && (de = readdir(dd)))
        n += de->d_name[0] != '.';
    if (dd)
        closedir(dd);
    CHECK(n == 0);
    free(d);
    free(other);
    blob_store_free(s);
    rm_rf(dir);
}

TEST_MAIN(TEST(stores_and_verifies))
