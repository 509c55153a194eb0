/* Unit tests for the daemon's pure parts: the route matcher and the errno
 * table. */
#include <errno.h>

#include "daemon/errmap.h"
#include "daemon/router.h"
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

TEST_MAIN(TEST(routes_match), TEST(routes_reject), TEST(table_unique), TEST(errmap))
