/* A test driver for image_pull: pulls one reference into a blob store
 * directory and prints one JSON line per event and a final result line
 * ({"result":"ok",...} or {"result":"error","errno":N,"code":"E...",
 * "message":...}); exits 1 on failure with the message on stderr. SIGTERM
 * or SIGINT cancels the pull. Built for tests/images/test_pull.py only.
 *
 * usage: image-pull-tool --store DIR [--registries FILE] [--docker-config FILE]
 *          [--parallel N] [--retries N] [--max-blob-bytes N] [--os OS --arch ARCH
 *          [--variant V]] [--have DIFF_ID]... [--quiet-progress] REF */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "image/pull.h"

static volatile int cancel_flag;

static void on_signal(int sig) { cancel_flag = 1; }

#define HAVE_MAX 64

struct tool {
    const char *have[HAVE_MAX];
    size_t nhave;
    bool quiet_progress;
};

static bool have_layer(const char *diff_id, void *ud)
{
    struct tool *t = ud;
    for (size_t i = 0; i < t->nhave; i++)
        if (!strcmp(t->have[i], diff_id))
            return true;
    return false;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    if (s)
        printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(j);
}

static void on_event(const struct pull_event *ev, void *ud)
{
    struct tool *t = ud;
    static const char *const names[] = {
        [PULL_EV_RESOLVED] = "resolved", [PULL_EV_LAYER_CACHED] = "cached",
        [PULL_EV_LAYER_START] = "start", [PULL_EV_LAYER_PROGRESS] = "progress",
        [PULL_EV_LAYER_RETRY] = "retry", [PULL_EV_LAYER_DONE] = "done",
    };
    if (t->quiet_progress && ev->kind == PULL_EV_LAYER_PROGRESS)
        return;
    print_json(json_pack("{s:s,s:s?,s:I,s:I,s:s?,s:I}", "event", names[ev->kind], "digest",
                         ev->digest, "current", (json_int_t)ev->current, "total",
                         (json_int_t)ev->total, "message", ev->message, "ms",
                         (json_int_t)now_ms()));
}

static int load(const char *path, char **ret)
{
    int r = read_file_str(path, 4u << 20, ret);
    if (r < 0)
        fprintf(stderr, "image-pull-tool: %s: %s\n", path, strerror(-r));
    return r;
}

static const char *errno_name(int code)
{
    static const struct {
        int code;
        const char *name;
    } t[] = {{ENOENT, "ENOENT"},     {EACCES, "EACCES"},       {EBADMSG, "EBADMSG"},
             {E2BIG, "E2BIG"},       {ETIMEDOUT, "ETIMEDOUT"}, {ECONNREFUSED, "ECONNREFUSED"},
             {EIO, "EIO"},           {ECANCELED, "ECANCELED"}, {EINVAL, "EINVAL"},
             {ENOMEM, "ENOMEM"},     {EEXIST, "EEXIST"},       {ENOTSUP, "ENOTSUP"}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        if (t[i].code == code)
            return t[i].name;
    return "E?";
}

static int fail(int r, struct runra_err *e)
{
    int code = r < 0 ? -r : EIO;
    const char *msg = e && e->msg ? e->msg : strerror(code);
    print_json(json_pack("{s:s,s:i,s:s,s:s}", "result", "error", "errno", code, "code",
                         errno_name(code), "message", msg));
    fprintf(stderr, "image-pull-tool: %s\n", msg);
    err_free(e);
    return 1;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"store", required_argument, NULL, 's'},
        {"registries", required_argument, NULL, 'r'},
        {"docker-config", required_argument, NULL, 'd'},
        {"parallel", required_argument, NULL, 'p'},
        {"retries", required_argument, NULL, 'R'},
        {"max-blob-bytes", required_argument, NULL, 'm'},
        {"os", required_argument, NULL, 'o'},
        {"arch", required_argument, NULL, 'a'},
        {"variant", required_argument, NULL, 'v'},
        {"have", required_argument, NULL, 'h'},
        {"quiet-progress", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct tool t = {0};
    struct pull_opts o = {.on_event = on_event, .ud = &t, .have_layer = have_layer,
                          .cancel = &cancel_flag};
    const char *store = NULL, *registries = NULL, *docker_config = NULL;
    uint64_t u;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': store = optarg; break;
        case 'r': registries = optarg; break;
        case 'd': docker_config = optarg; break;
        case 'o': o.os = optarg; break;
        case 'a': o.arch = optarg; break;
        case 'v': o.variant = optarg; break;
        case 'q': t.quiet_progress = true; break;
        case 'h':
            if (t.nhave >= HAVE_MAX)
                return 2;
            t.have[t.nhave++] = optarg;
            break;
        case 'p':
        case 'R':
        case 'm':
            if (parse_u64(optarg, &u) < 0 || (c != 'm' && u > 1000)) {
                fprintf(stderr, "image-pull-tool: bad number '%s'\n", optarg);
                return 2;
            }
            if (c == 'p')
                o.parallel = (unsigned)u;
            else if (c == 'R')
                o.retries = (unsigned)u;
            else
                o.max_blob_bytes = u;
            break;
        default:
            return 2;
        }
    }
    if (!store || optind + 1 != argc) {
        fprintf(stderr, "usage: image-pull-tool --store DIR [options] REF\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    struct runra_err *e = NULL;
    struct registry_config *cfg = NULL;
    int r = registry_config_new(&cfg);
    if (r < 0)
        return fail(r, e);
    _cleanup_free_ char *rj = NULL, *dj = NULL;
    if (registries && ((r = load(registries, &rj)) < 0 ||
                       (r = registry_config_add_registries(cfg, rj, strlen(rj), &e)) < 0)) {
        registry_config_free(cfg);
        return fail(r, e);
    }
    if (docker_config && ((r = load(docker_config, &dj)) < 0 ||
                          (r = registry_config_add_docker_auths(cfg, dj, strlen(dj), &e)) < 0)) {
        registry_config_free(cfg);
        return fail(r, e);
    }
    o.cfg = cfg;
    struct image_ref ref;
    struct blob_store *blobs = NULL;
    if ((r = image_ref_parse(argv[optind], &ref, &e)) < 0) {
        registry_config_free(cfg);
        return fail(r, e);
    }
    if ((r = blob_store_open(store, &blobs, &e)) < 0) {
        image_ref_done(&ref);
        registry_config_free(cfg);
        return fail(r, e);
    }
    struct pull_result res;
    r = image_pull(blobs, &ref, &o, &res, &e);
    blob_store_free(blobs);
    image_ref_done(&ref);
    registry_config_free(cfg);
    if (r < 0)
        return fail(r, e);
    print_json(json_pack("{s:s,s:s,s:s,s:s?}", "result", "ok", "manifest", res.manifest_digest,
                         "config", res.config_digest, "index", res.index_digest));
    pull_result_done(&res);
    return 0;
}
