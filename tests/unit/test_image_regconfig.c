/* Registry settings: the strict "registries" object (mirrors, mirrorsOnly,
 * insecure), Docker config.json auths in both forms, and the endpoints a
 * pull tries in order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "image/regconfig.h"
#include "test.h"

static struct registry_config *cfg_new(void)
{
    struct registry_config *c = NULL;
    CHECK(registry_config_new(&c) == 0);
    return c;
}

static int add_reg(struct registry_config *c, const char *json, const char *want_msg)
{
    struct runra_err *e = NULL;
    int r = registry_config_add_registries(c, json, strlen(json), &e);
    if (want_msg) {
        CHECK(r < 0);
        CHECK(e && e->msg && strstr(e->msg, want_msg));
        if (e && e->msg && !strstr(e->msg, want_msg))
            fprintf(stderr, "message: %s (wanted '%s')\n", e->msg, want_msg);
    } else if (r < 0) {
        fprintf(stderr, "unexpected error: %s\n", e && e->msg ? e->msg : "?");
    }
    err_free(e);
    return r;
}

static int add_auths(struct registry_config *c, const char *json)
{
    struct runra_err *e = NULL;
    int r = registry_config_add_docker_auths(c, json, strlen(json), &e);
    if (r < 0)
        CHECK(e && e->msg);
    err_free(e);
    return r;
}

static void defaults(void)
{
    struct registry_endpoint ep[9];
    size_t n = 0;
    CHECK(registry_config_endpoints(NULL, "docker.io", ep, 9, &n) == 0);
    CHECK(n == 1);
    CHECK_STREQ(ep[0].base, "https://registry-1.docker.io");
    CHECK(!ep[0].mirror);
    struct registry_config *c = cfg_new();
    CHECK(registry_config_endpoints(c, "ghcr.io", ep, 9, &n) == 0);
    CHECK(n == 1);
    CHECK_STREQ(ep[0].base, "https://ghcr.io");
    CHECK(registry_config_endpoints(c, "[::1]:5000", ep, 9, &n) == 0);
    CHECK_STREQ(ep[0].base, "https://[::1]:5000");
    const char *u, *p;
    CHECK(!registry_config_credentials(c, "docker.io", &u, &p));
    CHECK(!registry_config_credentials(NULL, "docker.io", &u, &p));
    registry_config_free(c);
}

static void mirrors_and_insecure(void)
{
    struct registry_config *c = cfg_new();
    CHECK(add_reg(c,
                  "{\"docker.io\": {\"mirrors\": [\"http://127.0.0.1:5000\", "
                  "\"https://mirror.example.com/\"]},"
                  " \"127.0.0.1:5001\": {\"insecure\": true},"
                  " \"quay.io\": {\"mirrors\": [\"https://[::1]:8443\"], \"mirrorsOnly\": true}}",
                  NULL) == 0);
    struct registry_endpoint ep[9];
    size_t n = 0;
    CHECK(registry_config_endpoints(c, "docker.io", ep, 9, &n) == 0);
    CHECK(n == 3);
    CHECK_STREQ(ep[0].base, "http://127.0.0.1:5000");
    CHECK(ep[0].mirror);
    CHECK_STREQ(ep[1].base, "https://mirror.example.com");
    CHECK(ep[1].mirror);
    CHECK_STREQ(ep[2].base, "https://registry-1.docker.io");
    CHECK(!ep[2].mirror);
    CHECK(registry_config_endpoints(c, "127.0.0.1:5001", ep, 9, &n) == 0);
    CHECK(n == 1);
    CHECK_STREQ(ep[0].base, "http://127.0.0.1:5001");
    CHECK(registry_config_endpoints(c, "quay.io", ep, 9, &n) == 0);
    CHECK(n == 1);
    CHECK_STREQ(ep[0].base, "https://[::1]:8443");
    /* Too small an array is an error, not a silent truncation. */
    CHECK(registry_config_endpoints(c, "docker.io", ep, 2, &n) == -E2BIG);
    registry_config_free(c);

    /* index.docker.io is docker.io. */
    c = cfg_new();
    CHECK(add_reg(c, "{\"index.docker.io\": {\"mirrors\": [\"http://localhost:1\"], "
                     "\"mirrorsOnly\": true}}",
                  NULL) == 0);
    CHECK(registry_config_endpoints(c, "docker.io", ep, 9, &n) == 0);
    CHECK(n == 1);
    CHECK_STREQ(ep[0].base, "http://localhost:1");
    registry_config_free(c);
}

static void registries_refused(void)
{
    struct registry_config *c = cfg_new();
    CHECK(add_reg(c, "[]", "not a JSON object") == -EINVAL);
    CHECK(add_reg(c, "{", "not JSON") == -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirror\": []}}", "docker.io") == -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"insecure\": \"yes\"}}", "docker.io") == -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": []}", "docker.io") == -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": \"http://x\"}}", "not an array") == -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": [1]}}", "not a string") == -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": [\"ftp://x\"]}}", "not an http") == -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": [\"127.0.0.1:5000\"]}}", "not an http") ==
          -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": [\"http://u:p@host\"]}}", "no user") ==
          -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": [\"http://host/path\"]}}", "no user") ==
          -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": [\"http://host?x=1\"]}}", "no user") ==
          -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": [\"http://host:0\"]}}", "no user") ==
          -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": [\"http://host:70000\"]}}", "no user") ==
          -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": [\"http://\"]}}", "no user") == -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrorsOnly\": true}}", "without mirrors") == -EINVAL);
    CHECK(add_reg(c, "{\"bad host!\": {}}", "not a registry name") == -EINVAL);
    CHECK(add_reg(c, "{\"a\": {}, \"a\": {}}", "not JSON") == -EINVAL);
    CHECK(add_reg(c, "{\"docker.io\": {}, \"index.docker.io\": {}}", "twice") == -EEXIST);
    CHECK(add_reg(c,
                  "{\"docker.io\": {\"mirrors\": [\"http://1\",\"http://2\",\"http://3\","
                  "\"http://4\",\"http://5\",\"http://6\",\"http://7\",\"http://8\","
                  "\"http://9\"]}}",
                  "more than 8") == -EINVAL);
    /* None of that changed anything... */
    struct registry_endpoint ep[9];
    size_t n = 0;
    CHECK(registry_config_endpoints(c, "docker.io", ep, 9, &n) == 0);
    CHECK(n == 1);
    CHECK_STREQ(ep[0].base, "https://registry-1.docker.io");
    /* ...not even the good half of a half-bad object... */
    CHECK(add_reg(c, "{\"ghcr.io\": {\"insecure\": true}, \"x.io\": 1}", "x.io") == -EINVAL);
    CHECK(registry_config_endpoints(c, "ghcr.io", ep, 9, &n) == 0);
    CHECK_STREQ(ep[0].base, "https://ghcr.io");
    /* ...and the good object alone is taken. */
    CHECK(add_reg(c, "{\"ghcr.io\": {\"insecure\": true}}", NULL) == 0);
    CHECK(registry_config_endpoints(c, "ghcr.io", ep, 9, &n) == 0);
    CHECK_STREQ(ep[0].base, "http://ghcr.io");
    /* The same registry configured by a second call is refused too. */
    CHECK(add_reg(c, "{\"ghcr.io\": {}}", "twice") == -EEXIST);
    registry_config_free(c);
}

static void docker_auths(void)
{
    struct registry_config *c = cfg_new();
    /* "runra:s3cret-pass" and "u2:p:with:colons". */
    CHECK(add_auths(c, "{\"auths\": {"
                       "\"https://index.docker.io/v1/\": {\"auth\": \"cnVucmE6czNjcmV0LXBhc3M=\"},"
                       "\"127.0.0.1:5000\": {\"username\": \"alice\", \"password\": \"pw\"},"
                       "\"http://localhost:5001/v2/\": {\"auth\": \"dTI6cDp3aXRoOmNvbG9ucw\"},"
                       "\"ghcr.io\": {},"
                       "\"quay.io\": {\"identitytoken\": \"x\"},"
                       "\"not a host\": {\"auth\": \"!!\"}},"
                       "\"credsStore\": \"desktop\", \"psFormat\": 7}") == 0);
    const char *u = NULL, *p = NULL;
    CHECK(registry_config_credentials(c, "docker.io", &u, &p));
    CHECK_STREQ(u, "runra");
    CHECK_STREQ(p, "s3cret-pass");
    CHECK(registry_config_credentials(c, "127.0.0.1:5000", &u, &p));
    CHECK_STREQ(u, "alice");
    CHECK_STREQ(p, "pw");
    CHECK(registry_config_credentials(c, "localhost:5001", &u, &p));
    CHECK_STREQ(u, "u2");
    CHECK_STREQ(p, "p:with:colons");
    CHECK(!registry_config_credentials(c, "ghcr.io", &u, &p));
    CHECK(!registry_config_credentials(c, "quay.io", &u, &p));
    CHECK(!registry_config_credentials(c, "127.0.0.1:5001", &u, &p));
    /* A later source overrides an earlier one. */
    CHECK(add_auths(c, "{\"auths\": {\"docker.io\": {\"username\": \"bob\", \"password\": "
                       "\"other\"}}}") == 0);
    CHECK(registry_config_credentials(c, "docker.io", &u, &p));
    CHECK_STREQ(u, "bob");
    /* Credentials and mirrors for one registry live side by side. */
    CHECK(add_reg(c, "{\"docker.io\": {\"mirrors\": [\"http://127.0.0.1:9\"]}}", NULL) == 0);
    CHECK(registry_config_credentials(c, "docker.io", &u, &p));
    CHECK_STREQ(p, "other");
    /* No auths at all is fine. */
    CHECK(add_auths(c, "{}") == 0);
    CHECK(add_auths(c, "{\"auths\": null}") == 0);
    registry_config_free(c);
}

static void docker_auths_refused(void)
{
    struct registry_config *c = cfg_new();
    CHECK(add_auths(c, "nope") == -EINVAL);
    CHECK(add_auths(c, "[]") == -EINVAL);
    CHECK(add_auths(c, "{\"auths\": []}") == -EINVAL);
    /* Not base64; base64 without a ':'; an empty user. */
    CHECK(add_auths(c, "{\"auths\": {\"docker.io\": {\"auth\": \"***\"}}}") == -EINVAL);
    CHECK(add_auths(c, "{\"auths\": {\"docker.io\": {\"auth\": \"bm9jb2xvbg==\"}}}") == -EINVAL);
    CHECK(add_auths(c, "{\"auths\": {\"docker.io\": {\"auth\": \"OnB3\"}}}") == -EINVAL);
    const char *u, *p;
    CHECK(!registry_config_credentials(c, "docker.io", &u, &p));
    /* The message names the registry, never the secret. */
    struct runra_err *e = NULL;
    const char *j = "{\"auths\": {\"docker.io\": {\"auth\": \"c2VjcmV0LW5vLWNvbG9u\"}}}";
    CHECK(registry_config_add_docker_auths(c, j, strlen(j), &e) == -EINVAL);
    CHECK(e && strstr(e->msg, "docker.io") && !strstr(e->msg, "c2VjcmV0") &&
          !strstr(e->msg, "secret"));
    err_free(e);
    registry_config_free(c);
}

static void many_registries(void)
{
    struct registry_config *c = cfg_new();
    char buf[8192];
    size_t o = (size_t)snprintf(buf, sizeof(buf), "{");
    for (int i = 0; i < REGISTRY_ENTRIES_MAX + 1; i++)
        o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s\"r%d.example\": {}", i ? "," : "", i);
    snprintf(buf + o, sizeof(buf) - o, "}");
    CHECK(add_reg(c, buf, "more than") == -E2BIG);
    registry_config_free(c);
}

TEST_MAIN(TEST(defaults), TEST(mirrors_and_insecure), TEST(registries_refused),
          TEST(docker_auths), TEST(docker_auths_refused), TEST(many_registries))
