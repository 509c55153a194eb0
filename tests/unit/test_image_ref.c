/* Image references: normalisation as docker pulls them, and the grammar's
 * edges refused with a message. */
#include <errno.h>
#include <stdlib.h>

#include "image/ref.h"
#include "test.h"

#define D64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void check_ref(const char *in, const char *registry, const char *repo, const char *tag,
                      const char *digest, const char *canon)
{
    struct image_ref r;
    struct runra_err *e = NULL;
    int rc = image_ref_parse(in, &r, &e);
    if (rc < 0) {
        fprintf(stderr, "'%s': %s\n", in, e && e->msg ? e->msg : "?");
        err_free(e);
        CHECK(rc == 0);
        return;
    }
    CHECK_STREQ(r.registry, registry);
    CHECK_STREQ(r.repository, repo);
    if (tag)
        CHECK_STREQ(r.tag, tag);
    else
        CHECK(r.tag == NULL);
    if (digest)
        CHECK_STREQ(r.digest, digest);
    else
        CHECK(r.digest == NULL);
    char *s = image_ref_string(&r);
    CHECK_STREQ(s, canon);
    free(s);
    image_ref_done(&r);
}

static void normalises(void)
{
    check_ref("node:22", "docker.io", "library/node", "22", NULL, "docker.io/library/node:22");
    check_ref("python", "docker.io", "library/python", "latest", NULL,
              "docker.io/library/python:latest");
    check_ref("bitnami/redis:7.2", "docker.io", "bitnami/redis", "7.2", NULL,
              "docker.io/bitnami/redis:7.2");
    check_ref("docker.io/node:22", "docker.io", "library/node", "22", NULL,
              "docker.io/library/node:22");
    check_ref("index.docker.io/library/node", "docker.io", "library/node", "latest", NULL,
              "docker.io/library/node:latest");
    check_ref("ghcr.io/org/sub/app:v1.2-rc_3", "ghcr.io", "org/sub/app", "v1.2-rc_3", NULL,
              "ghcr.io/org/sub/app:v1.2-rc_3");
    check_ref("localhost:5000/app", "localhost:5000", "app", "latest", NULL,
              "localhost:5000/app:latest");
    check_ref("localhost/app:1", "localhost", "app", "1", NULL, "localhost/app:1");
    check_ref("127.0.0.1:5000/a/b:c", "127.0.0.1:5000", "a/b", "c", NULL,
              "127.0.0.1:5000/a/b:c");
    check_ref("[::1]:5000/app:v", "[::1]:5000", "app", "v", NULL, "[::1]:5000/app:v");
    check_ref("node@sha256:" D64, "docker.io", "library/node", NULL, "sha256:" D64,
              "docker.io/library/node@sha256:" D64);
    check_ref("node:22@sha256:" D64, "docker.io", "library/node", "22", "sha256:" D64,
              "docker.io/library/node:22@sha256:" D64);
    check_ref("my-reg.example.com:443/a__b/c.d/e--f:T", "my-reg.example.com:443", "a__b/c.d/e--f",
              "T", NULL, "my-reg.example.com:443/a__b/c.d/e--f:T");
    struct image_ref r;
    CHECK(image_ref_parse("node", &r, NULL) == 0);
    CHECK_STREQ(image_ref_api_host(&r), "registry-1.docker.io");
    image_ref_done(&r);
    CHECK(image_ref_parse("ghcr.io/a/b", &r, NULL) == 0);
    CHECK_STREQ(image_ref_api_host(&r), "ghcr.io");
    image_ref_done(&r);
}

static void refuses(void)
{
    static const char *const bad[] = {
        "", ":tag", "@sha256:" D64, "reg.io/", "Node:22", "node:", "node:.x", "node:-x", "node:a/b", "/node", "node/", "a//b",
        "a/-b", "a/b-", "a/b.", "a..b", "a._b", "a___b", "reg.io:0/a", "reg.io:99999/a",
        "reg.io:/a", "[::1/a", "[]:5/a", "-reg.io/a", "reg..io/a", "node@sha256:abc",
        "node@md5:" D64, "node@sha256:" D64 "0", "node@sha256:" "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "no de", "node:22 ", "node\n", "a/b:" "0123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890123456789",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct image_ref r;
        struct runra_err *e = NULL;
        int rc = image_ref_parse(bad[i], &r, &e);
        if (rc == 0) {
            fprintf(stderr, "accepted '%s'\n", bad[i]);
            image_ref_done(&r);
        }
        CHECK(rc == -EINVAL);
        CHECK(rc == 0 || (e && e->msg));
        err_free(e);
    }
    /* A name past 255 characters. */
    char longname[400];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    struct image_ref r;
    struct runra_err *e = NULL;
    CHECK(image_ref_parse(longname, &r, &e) == -EINVAL);
    err_free(e);
}

TEST_MAIN(TEST(normalises), TEST(refuses))
