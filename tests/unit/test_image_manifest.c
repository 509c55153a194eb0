/* Manifests, indexes and configs: the host's platform picked from an index
 * (attestations skipped), layer media types mapped to their compression,
 * configs read for what a sandbox applies; malformed ones refused. */
#include <errno.h>
#include <stdlib.h>

#include "image/manifest.h"
#include "test.h"

#define D(c) "sha256:" c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c \
    c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c c

static const char index_json[] =
    "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_INDEX "\",\"manifests\":["
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D("a") "\",\"size\":10,"
    " \"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\",\"variant\":\"v8\"}},"
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D("c") "\",\"size\":5,"
    " \"platform\":{\"os\":\"unknown\",\"architecture\":\"unknown\"},"
    " \"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}},"
    "{\"mediaType\":\"" MT_OCI_MANIFEST "\",\"digest\":\"" D("b") "\",\"size\":11,"
    " \"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";

static void index_picks_the_platform(void)
{
    struct runra_err *e = NULL;
    CHECK(manifest_kind(NULL, index_json, sizeof(index_json) - 1, &e) == 1);
    CHECK(manifest_kind(MT_DOCKER_LIST, "{}", 2, &e) == 1);
    CHECK(manifest_kind(MT_DOCKER_MANIFEST, "{}", 2, &e) == 0);
    CHECK(manifest_kind("text/html", "{}", 2, &e) == -EINVAL);
    err_free(e);
    e = NULL;
    struct descriptor d;
    CHECK(index_pick(index_json, sizeof(index_json) - 1, "linux", "amd64", NULL, &d, &e) == 0);
    CHECK_STREQ(d.digest, D("b"));
    CHECK(d.size == 11);
    descriptor_done(&d);
    CHECK(index_pick(index_json, sizeof(index_json) - 1, "linux", "arm64", "v8", &d, &e) == 0);
    CHECK_STREQ(d.digest, D("a"));
    descriptor_done(&d);
    CHECK(index_pick(index_json, sizeof(index_json) - 1, "linux", "s390x", NULL, &d, &e) ==
          -ENOENT);
    err_free(e);
    e = NULL;
    /* Only an attestation for the platform: nothing to pull. */
    static const char only_att[] =
        "{\"manifests\":[{\"digest\":\"" D("c") "\",\"size\":1,\"platform\":{\"os\":\"linux\","
        "\"architecture\":\"amd64\"},\"annotations\":{\"vnd.docker.reference.type\":"
        "\"attestation-manifest\"}}]}";
    CHECK(index_pick(only_att, sizeof(only_att) - 1, "linux", "amd64", NULL, &d, &e) == -ENOENT);
    err_free(e);
}

static void manifest_layers(void)
{
    static const char m[] =
        "{\"schemaVersion\":2,\"mediaType\":\"" MT_OCI_MANIFEST "\","
        "\"config\":{\"mediaType\":\"" MT_OCI_CONFIG "\",\"digest\":\"" D("1") "\",\"size\":100},"
        "\"layers\":["
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D("2") "\",\"size\":7},"
        "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D("3") "\",\"size\":8},"
        "{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar\",\"digest\":\"" D("4") "\",\"size\":9}],"
        "\"annotations\":{\"x\":\"y\"}}";
    struct image_manifest mf;
    struct runra_err *e = NULL;
    CHECK(manifest_parse(m, sizeof(m) - 1, &mf, &e) == 0);
    CHECK(mf.nlayers == 3);
    CHECK(mf.compression[0] == LAYER_GZIP && mf.compression[1] == LAYER_ZSTD &&
          mf.compression[2] == LAYER_PLAIN);
    CHECK_STREQ(mf.config.digest, D("1"));
    CHECK(mf.layers[2].size == 9);
    image_manifest_done(&mf);
    static const char *const bad[] = {
        "{\"schemaVersion\":1,\"config\":{},\"layers\":[]}",
        "{\"schemaVersion\":2,\"layers\":[]}",
        "{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:../x\",\"size\":1},\"layers\":[]}",
        "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D("1") "\",\"size\":-1},\"layers\":[]}",
        "{\"schemaVersion\":2,\"config\":{\"digest\":\"" D("1") "\",\"size\":1},\"layers\":"
        "[{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\","
        "\"digest\":\"" D("2") "\",\"size\":1}]}",
        "[1,2]", "not json",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(manifest_parse(bad[i], strlen(bad[i]), &mf, &e) == -EINVAL);
        CHECK(e && e->msg);
        err_free(e);
        e = NULL;
    }
}

static void config_fields(void)
{
    static const char c[] =
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":[\"PATH=/usr/bin\","
        "\"NODE_VERSION=22.1.0\"],\"WorkingDir\":\"/app\",\"User\":\"node\",\"Cmd\":[\"node\"],"
        "\"Entrypoint\":null},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D("5") "\",\""
        D("6") "\"]},\"history\":[]}";
    struct image_config cf;
    struct runra_err *e = NULL;
    CHECK(config_parse(c, sizeof(c) - 1, &cf, &e) == 0);
    CHECK(cf.ndiff_ids == 2);
    CHECK_STREQ(cf.diff_ids[1], D("6"));
    CHECK_STREQ(cf.env[1], "NODE_VERSION=22.1.0");
    CHECK_STREQ(cf.workdir, "/app");
    CHECK_STREQ(cf.user, "node");
    CHECK(cf.entrypoint == NULL && cf.cmd && !strcmp(cf.cmd[0], "node") && !cf.cmd[1]);
    CHECK_STREQ(cf.architecture, "amd64");
    image_config_done(&cf);
    static const char *const bad[] = {
        "{\"rootfs\":{\"type\":\"other\",\"diff_ids\":[]}}",
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"nope\"]}}",
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Env\":[\"NOEQUALS\"]}}",
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"WorkingDir\":\"rel\"}}",
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":{\"Cmd\":[1]}}",
        "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"config\":7}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECK(config_parse(bad[i], strlen(bad[i]), &cf, &e) == -EINVAL);
        err_free(e);
        e = NULL;
    }
}

TEST_MAIN(TEST(index_picks_the_platform), TEST(manifest_layers), TEST(config_fields))
