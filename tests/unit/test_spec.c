/* Unit tests for sandbox spec parsing: defaults, bounds, strictness. */
#include <errno.h>
#include <stdlib.h>

#include "proto/limits.h"
#include "proto/spec.h"
#include "test.h"

static int parse(const char *json, struct sandbox_spec **ret)
{
    _cleanup_err_ struct runra_err *e = NULL;
    struct sandbox_spec *s = NULL;
    int r = spec_parse_json(json, strlen(json), &s, &e);
    if (ret)
        *ret = s;
    else
        spec_free(s);
    return r;
}

static void defaults(void)
{
    struct sandbox_spec *s = NULL;
    CHECK(parse("{}", &s) == 0);
    CHECK_STREQ(s->image, "host");
    CHECK_STREQ(s->backend, "ns");
    CHECK_STREQ(s->workdir, "/workspace");
    CHECK(s->resources.memory_mb == RUNRA_DEFAULT_MEMORY_MB);
    CHECK(s->resources.pids == RUNRA_DEFAULT_PIDS);
    CHECK(s->timeout_ms == 0);
    spec_free(s);
    CHECK(parse("{\"backend\":\"vm\"}", &s) == 0);
    CHECK_STREQ(s->backend, "vm");
    spec_free(s);
    CHECK(parse("{\"backend\":\"ns\"}", &s) == 0);
    CHECK_STREQ(s->backend, "ns");
    spec_free(s);
}

static void full(void)
{
    struct sandbox_spec *s = NULL;
    CHECK(parse("{\"image\":\"host\",\"resources\":{\"cpu\":0.5,\"memoryMb\":256,\"pids\":64,"
                "\"diskMb\":100},\"timeoutMs\":60000,\"metadata\":{\"taskId\":\"t1\"},"
                "\"env\":{\"API_KEY\":\"s3cret\"},\"workdir\":\"/app\"}",
                &s) == 0);
    CHECK(s->resources.cpu == 0.5 && s->resources.memory_mb == 256);
    CHECK(s->resources.pids == 64 && s->resources.disk_mb == 100);
    CHECK(s->timeout_ms == 60000);
    CHECK_STREQ(kv_get(&s->metadata, "taskId"), "t1");
    CHECK_STREQ(kv_get(&s->env, "API_KEY"), "s3cret");
    CHECK_STREQ(s->workdir, "/app");
    char *json = NULL;
    CHECK(spec_to_json(s, true, &json) == 0);
    struct sandbox_spec *s2 = NULL;
    CHECK(parse(json, &s2) == 0);
    CHECK(s2 && s2->resources.cpu == 0.5);
    CHECK_STREQ(kv_get(&s2->env, "API_KEY"), "s3cret");
    free(json);
    spec_free(s2);
    spec_free(s);
}

static void rejects(void)
{
    CHECK(parse("{\"imag\":\"host\"}", NULL) == -EINVAL);
    CHECK(parse("{\"image\":5}", NULL) == -EINVAL);
    CHECK(parse("{\"image\":\"\"}", NULL) == -EINVAL);
    CHECK(parse("{\"image\":\"node 22\"}", NULL) == -EINVAL);
    CHECK(parse("{\"image\":\"node:22\\n\"}", NULL) == -EINVAL);
    CHECK(parse("{\"user\":\"a b\"}", NULL) == -EINVAL);
    CHECK(parse("{\"user\":\"a:b:c\"}", NULL) == -EINVAL);
    CHECK(parse("{\"user\":\":1\"}", NULL) == -EINVAL);
    CHECK(parse("{\"backend\":\"kvm\"}", NULL) == -EINVAL);
    CHECK(parse("{\"backend\":\"\"}", NULL) == -EINVAL);
    CHECK(parse("{\"resources\":{\"cpu\":0}}", NULL) == -EINVAL);
    CHECK(parse("{\"resources\":{\"cpu\":\"1\"}}", NULL) == -EINVAL);
    CHECK(parse("{\"resources\":{\"memoryMb\":1}}", NULL) == -EINVAL);
    CHECK(parse("{\"resources\":{\"memoryMb\":1.5}}", NULL) == -EINVAL);
    CHECK(parse("{\"resources\":{\"pids\":-1}}", NULL) == -EINVAL);
    CHECK(parse("{\"resources\":{\"gpu\":1}}", NULL) == -EINVAL);
    CHECK(parse("{\"timeoutMs\":-5}", NULL) == -EINVAL);
    CHECK(parse("{\"metadata\":{\"a\":1}}", NULL) == -EINVAL);
    CHECK(parse("{\"env\":{\"1BAD\":\"x\"}}", NULL) == -EINVAL);
    CHECK(parse("{\"env\":{\"A-B\":\"x\"}}", NULL) == -EINVAL);
    CHECK(parse("{\"env\":{\"A=B\":\"x\"}}", NULL) == -EINVAL);
    CHECK(parse("{\"workdir\":\"relative\"}", NULL) == -EINVAL);
    CHECK(parse("{\"workdir\":\"/proc/self\"}", NULL) == -EINVAL);
    CHECK(parse("{\"workdir\":\"/a/../..\"}", NULL) == -EINVAL);
    CHECK(parse("[]", NULL) == -EINVAL);
    CHECK(parse("{\"a\":1,\"a\":2}", NULL) == -EINVAL);
    CHECK(parse("not json", NULL) == -EINVAL);
}

static void metadata_bound(void)
{
    char buf[8192] = "{\"metadata\":{";
    for (int i = 0; i <= RUNRA_META_MAX; i++) {
        char item[32];
        snprintf(item, sizeof(item), "%s\"k%d\":\"v\"", i ? "," : "", i);
        strncat(buf, item, sizeof(buf) - strlen(buf) - 1);
    }
    strncat(buf, "}}", sizeof(buf) - strlen(buf) - 1);
    CHECK(parse(buf, NULL) == -E2BIG);
}

/* Images and users: the spelling is checked here, the rest by the daemon;
 * the user survives a round trip, the workdir's origin is remembered. */
static void image_and_user(void)
{
    struct sandbox_spec *s = NULL;
    CHECK(parse("{\"image\":\"node:22\",\"user\":\"node:staff\"}", &s) == 0);
    CHECK(s && !strcmp(s->image, "node:22") && !strcmp(s->user, "node:staff"));
    CHECK(s && !s->workdir_set && !s->image_digest);
    char *json = NULL;
    CHECK(s && spec_to_json(s, true, &json) == 0);
    struct sandbox_spec *d = NULL;
    CHECK(json && parse(json, &d) == 0);
    CHECK(d && !strcmp(d->user, "node:staff") && !strcmp(d->image, "node:22"));
    free(json);
    spec_free(d);
    spec_free(s);
    s = NULL;
    CHECK(parse("{\"image\":\"oci-archive:/srv/x.tar\",\"workdir\":\"/w\"}", &s) == 0);
    CHECK(s && s->workdir_set);
    if (s)
        s->image_digest = strdup("sha256:00");
    struct sandbox_spec *c = NULL;
    CHECK(s && spec_dup(s, &c) == 0);
    CHECK(c && c->workdir_set && c->image_digest && !strcmp(c->image_digest, "sha256:00"));
    spec_free(c);
    spec_free(s);
}

TEST_MAIN(TEST(defaults), TEST(full), TEST(rejects), TEST(metadata_bound), TEST(image_and_user))
