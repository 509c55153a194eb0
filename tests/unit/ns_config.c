/* Unit tests for the ns_config argv codec: round trips (hostile values
 * included) and strict rejection of anything the daemon would not write. */
#include <errno.h>
#include <stdlib.h>

#include "backend/ns/config.h"
#include "proto/msg.h"
#include "test.h"

static int argc_of(char **v)
{
    int n = 0;
    while (v[n])
        n++;
    return n;
}

static void round_trip(void)
{
    char *hide[] = {"/var/lib/runra", "/run/runra.sock", "/a b\nc",
                    "/--root",        "/x=y/\xc3\xa9",   NULL};
    struct ns_config in = {.layers_fd = -1,
                           .root = "/state/sandboxes/ab/root --hide /x",
                           .hostname = "ab12-cd.x",
                           .image = "host\n--ns",
                           .workdir = "/work space/--workdir",
                           .hide = hide,
                           .listen_fd = 3,
                           .root_fd = 4};
    char **argv = NULL;
    CHECK(ns_config_to_argv(&in, &argv) == 0);
    CHECK_STREQ(argv[0], "runra-init");
    CHECK_STREQ(argv[1], "--ns");
    struct ns_config out;
    if (ns_config_from_argv(argc_of(argv), argv, &out, NULL) < 0) {
        CHECK(!"parse");
        strv_free(argv);
        return;
    }
    CHECK_STREQ(out.root, in.root);
    CHECK_STREQ(out.hostname, in.hostname);
    CHECK_STREQ(out.image, in.image);
    CHECK_STREQ(out.workdir, in.workdir);
    CHECK(out.listen_fd == 3 && out.root_fd == 4);
    for (int i = 0; i < 5; i++)
        CHECK_STREQ(out.hide[i], hide[i]);
    CHECK(out.hide[5] == NULL);
    ns_config_done(&out);
    strv_free(argv);
}

static void no_hide_no_root_fd(void)
{
    struct ns_config in = {.layers_fd = -1,
                           .root = "/r",
                           .hostname = "h",
                           .image = "host",
                           .workdir = "/",
                           .listen_fd = 7,
                           .root_fd = -1};
    char **argv = NULL;
    CHECK(ns_config_to_argv(&in, &argv) == 0);
    struct ns_config out = {0};
    CHECK(ns_config_from_argv(argc_of(argv), argv, &out, NULL) == 0);
    CHECK(out.hide && out.hide[0] == NULL);
    CHECK(out.root_fd == -1 && out.listen_fd == 7);
    ns_config_done(&out);
    strv_free(argv);
    in.hostname = NULL;
    CHECK(ns_config_to_argv(&in, &argv) == -EINVAL);
}

/* Parses a hand-written argv; returns the result and frees everything. */
static int parse(char **argv)
{
    struct ns_config out;
    struct runra_err *e = NULL;
    int r = ns_config_from_argv(argc_of(argv), argv, &out, &e);
    if (r == 0)
        ns_config_done(&out);
    else
        CHECK(e && e->msg);
    err_free(e);
    return r;
}

#define BASE "x", "--ns", "--root", "/r", "--hostname", "h", "--image", "host", "--workdir", "/w"

static void rejects(void)
{
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", NULL}) == 0);
    CHECK(parse((char *[]){BASE, NULL}) == -EINVAL);                /* no listen fd */
    CHECK(parse((char *[]){"x", "--root", "/r", NULL}) == -EINVAL); /* no --ns */
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--bogus", "1", NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--hide", NULL}) == -EINVAL); /* no value */
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--root", "/s", NULL}) == -EINVAL); /* twice */
    CHECK(parse((char *[]){BASE, "--listen-fd", "3x", NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "2", NULL}) == -EINVAL); /* stdio */
    CHECK(parse((char *[]){BASE, "--listen-fd", "-1", NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "99999", NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--root-fd", "3", NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--hide", "/", NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--hide", "rel", NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--hide", "/a/../b", NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--hide", "/a/", NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--hide", "/a//b", NULL}) == -EINVAL);
    CHECK(parse((char *[]){"x", "--ns", "--root", "/r", "--hostname", "a b", "--image", "host",
                           "--workdir", "/w", "--listen-fd", "3", NULL}) == -EINVAL);
    CHECK(parse((char *[]){"x", "--ns", "--root", "/r", "--hostname", "-lead", "--image", "host",
                           "--workdir", "/w", "--listen-fd", "3", NULL}) == -EINVAL);
    CHECK(parse((char *[]){"x", "--ns", "--root", "/r", "--hostname", "h\n", "--image", "host",
                           "--workdir", "/w", "--listen-fd", "3", NULL}) == -EINVAL);
    CHECK(parse((char *[]){"x", "--ns", "--root", "/r", "--hostname", "h", "--image", "host",
                           "--workdir", "w", "--listen-fd", "3", NULL}) == -EINVAL);
    CHECK(parse((char *[]){"x", "--ns", "--root", "/r", "--hostname", "h", "--image", "",
                           "--workdir", "/w", "--listen-fd", "3", NULL}) == -EINVAL);
    char longname[80];
    memset(longname, 'a', 65);
    longname[65] = 0;
    CHECK(parse((char *[]){"x", "--ns", "--root", "/r", "--hostname", longname, "--image", "host",
                           "--workdir", "/w", "--listen-fd", "3", NULL}) == -EINVAL);
}

static void too_many_hides(void)
{
    char *argv[12 + 2 * (NS_CONFIG_HIDE_MAX + 1) + 1] = {BASE, "--listen-fd", "3"};
    int n = 12;
    for (int i = 0; i <= NS_CONFIG_HIDE_MAX; i++) {
        argv[n++] = "--hide";
        argv[n++] = "/h";
    }
    argv[n] = NULL;
    CHECK(parse(argv) == -E2BIG);
    argv[n - 2] = NULL;
    CHECK(parse(argv) == 0);
}

#define HEX_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HEX_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void layers(void)
{
    char *ls[] = {HEX_A, HEX_B, NULL};
    struct ns_config in = {.root = "/r", .hostname = "h", .image = "docker.io/library/node:22",
                           .workdir = "/app", .listen_fd = 3, .root_fd = -1, .layers_fd = 9,
                           .layers = ls, .nlayers = 2};
    char **argv = NULL;
    CHECK(ns_config_to_argv(&in, &argv) == 0);
    struct ns_config out;
    if (ns_config_from_argv(argc_of(argv), argv, &out, NULL) < 0) {
        CHECK(!"parse");
        strv_free(argv);
        return;
    }
    CHECK(out.layers_fd == 9 && out.nlayers == 2);
    CHECK_STREQ(out.layers[0], HEX_A);
    CHECK_STREQ(out.layers[1], HEX_B);
    CHECK(out.layers[2] == NULL);
    ns_config_done(&out);
    strv_free(argv);
    /* An image with no layers still has its layer store. */
    in.nlayers = 0;
    CHECK(ns_config_to_argv(&in, &argv) == 0);
    CHECK(ns_config_from_argv(argc_of(argv), argv, &out, NULL) == 0);
    CHECK(out.layers_fd == 9 && out.nlayers == 0);
    ns_config_done(&out);
    strv_free(argv);

    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--layer", HEX_A, NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--layers-fd", "5", "--layer", HEX_A,
                           NULL}) == 0);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--layers-fd", "5", "--layer", "../x",
                           NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--layers-fd", "5", "--layer",
                           "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", NULL}) ==
          -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--layers-fd", "5", "--layers-fd", "6",
                           NULL}) == -EINVAL);
    CHECK(parse((char *[]){BASE, "--listen-fd", "3", "--layers-fd", "1", NULL}) == -EINVAL);
}

TEST_MAIN(TEST(round_trip), TEST(no_hide_no_root_fd), TEST(rejects), TEST(too_many_hides),
          TEST(layers))
