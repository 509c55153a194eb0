/* Unit tests for the daemon's pure parts: the route matcher, the errno
 * table and the sealing of secrets. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/errmap.h"
#include "daemon/router.h"
#include "daemon/secrets.h"
#include "test.h"

static void routes_match(void)
{
    struct route_match m;
    CHECK(router_match("GET", "/v1/health", &m) == 0 && m.route->id == ROUTE_HEALTH);
    CHECK(router_match("POST", "/v1/sandboxes", &m) == 0 && m.route->id == ROUTE_SANDBOX_CREATE);
    CHECK(router_match("GET", "/v1/sandboxes/abc123", &m) == 0 &&
          m.route->id == ROUTE_SANDBOX_GET);
    CHECK_STREQ(m.id, "abc123");
    CHECK(router_match("POST", "/v1/sandboxes/abc/exec", &m) == 0 && m.route->id == ROUTE_EXEC);
    CHECK(router_match("GET", "/v1/sandboxes/abc/files/list", &m) == 0 &&
          m.route->id == ROUTE_FILE_LIST);
    CHECK(router_match("PUT", "/v1/sandboxes/abc/files", &m) == 0 &&
          m.route->id == ROUTE_FILE_WRITE);
}

static void routes_reject(void)
{
    struct route_match m;
    CHECK(router_match("GET", "/v2/health", &m) == -ENOENT);
    CHECK(router_match("GET", "/v1/sandboxes/", &m) == -ENOENT);
    CHECK(router_match("GET", "/v1/sandboxes/a/b/c", &m) == -ENOENT);
    CHECK(router_match("PATCH", "/v1/health", &m) == -EOPNOTSUPP);
    CHECK(router_match("PUT", "/v1/sandboxes/abc/exec", &m) == -EOPNOTSUPP);
    CHECK(router_match("GET", "/v1/sandboxes/a.b", &m) == -EINVAL);
    CHECK(router_match("GET", "/v1/sandboxes/..", &m) == -EINVAL);
    char longid[200];
    memset(longid, 'a', sizeof(longid));
    memcpy(longid, "/v1/sandboxes/", 14);
    longid[199] = 0;
    CHECK(router_match("GET", longid, &m) == -EINVAL);
}

static void table_unique(void)
{
    size_t n;
    const struct route *rt = router_table(&n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            CHECK(strcmp(rt[i].method, rt[j].method) || strcmp(rt[i].pattern, rt[j].pattern));
}

static void errmap(void)
{
    CHECK(errmap_lookup(ENOENT)->status == 404);
    CHECK_STREQ(errmap_lookup(-ENOENT)->code, "not_found");
    CHECK(errmap_lookup(EINVAL)->status == 400);
    CHECK(errmap_lookup(EEXIST)->status == 409);
    CHECK(errmap_lookup(E2BIG)->status == 413);
    CHECK(errmap_lookup(ETIMEDOUT)->status == 504);
    CHECK(errmap_lookup(ENOSPC)->status == 507);
    CHECK(errmap_lookup(EOPNOTSUPP)->status == 405);
    CHECK(errmap_lookup(12345)->status == 500);
}

static void secrets_roundtrip(void)
{
    char dir[] = "/tmp/runra-secrets-XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[128];
    snprintf(path, sizeof(path), "%s/k/secrets.key", dir);
    struct secrets_key k1, k2, k3;
    struct runra_err *e = NULL;
    /* Made on first use (0600, in a 0700 dir), the same key read back. */
    CHECK(secrets_key_load(path, &k1, &e) == 0);
    CHECK(secrets_key_load(path, &k2, &e) == 0);
    CHECK(memcmp(k1.k, k2.k, sizeof(k1.k)) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == SECRETS_KEY_LEN);

    struct kv items[] = {{"TOKEN", "hunter2-value"}, {"EMPTY", ""}};
    struct kv_list in = {.items = items, .n = 2};
    void *blob = NULL;
    size_t len = 0;
    CHECK(secrets_seal(&k1, "sb1", &in, &blob, &len, &e) == 0);
    CHECK(memmem(blob, len, "hunter2", 7) == NULL); /* never in plain text */
    struct kv_list out = {0};
    CHECK(secrets_open(&k1, "sb1", blob, len, &out, &e) == 0);
    CHECK(out.n == 2);
    for (size_t i = 0; i < out.n; i++)
        CHECK_STREQ(out.items[i].value, !strcmp(out.items[i].key, "TOKEN") ? "hunter2-value" : "");
    kv_list_done(&out);
    /* Another sandbox's row, a flipped bit, a truncation, another key: no. */
    CHECK(secrets_open(&k1, "sb2", blob, len, &out, &e) == -EBADMSG);
    err_free(e);
    e = NULL;
    ((unsigned char *)blob)[len / 2] ^= 1;
    CHECK(secrets_open(&k1, "sb1", blob, len, &out, &e) == -EBADMSG);
    err_free(e);
    e = NULL;
    ((unsigned char *)blob)[len / 2] ^= 1;
    CHECK(secrets_open(&k1, "sb1", blob, 10, &out, &e) == -EBADMSG);
    err_free(e);
    e = NULL;
    char other[128];
    snprintf(other, sizeof(other), "%s/other.key", dir);
    CHECK(secrets_key_load(other, &k3, &e) == 0);
    CHECK(secrets_open(&k3, "sb1", blob, len, &out, &e) == -EBADMSG);
    err_free(e);
    e = NULL;
    free(blob);
    /* A key file others can read is refused. */
    CHECK(chmod(other, 0644) == 0);
    CHECK(secrets_key_load(other, &k3, &e) == -EPERM);
    err_free(e);
    unlink(other);
    unlink(path);
    snprintf(path, sizeof(path), "%s/k", dir);
    rmdir(path);
    rmdir(dir);
}

TEST_MAIN(TEST(routes_match), TEST(routes_reject), TEST(table_unique), TEST(errmap),
          TEST(secrets_roundtrip))
