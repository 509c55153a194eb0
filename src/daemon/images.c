/* The daemon's images (images.h). A pull runs in the thread that asked for
 * it; a second caller for the same name waits for it and then reads the
 * store, so one download serves every create that needed the image. */
#include "images.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "image/import.h"
#include "image/pull.h"
#include "image/ref.h"
#include "image/regconfig.h"

#define CONFIG_MAX_BYTES (1u << 20)
#define DEFAULT_CONFIG "/etc/runra/runrad.json"
/* What one layer may unpack to: generous for real images, a wall for a
 * decompression bomb. */
#define LAYER_MAX_BYTES (32ull << 30)
#define LAYER_MAX_ENTRIES 2000000ull
#define LAYER_MAX_BYTES_CAP (1ull << 40)

struct inflight {
    char *name;
    bool done;
    int r;
    char *msg;
    int waiters;
    struct inflight *next;
};

struct images {
    struct image_store *store;
    struct layer_limits lim;
    struct registry_config *reg;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    struct inflight *pulls;
    volatile int stopping; /* read by pulls as their cancel flag */
    int active;            /* pulls running, under mu */
};

/* The "images" object: bounds on what one layer may unpack to. */
static int load_limits(struct images *im, json_t *o, struct runra_err **err)
{
    json_error_t je;
    json_int_t bytes = -1, entries = -1;
    if (json_unpack_ex(o, &je, JSON_STRICT, "{s?I,s?I}", "maxLayerBytes", &bytes,
                       "maxLayerEntries", &entries) < 0)
        return err_set(err, EINVAL, "images: %s", je.text);
    if (bytes != -1 && (bytes < (1 << 20) || (uint64_t)bytes > LAYER_MAX_BYTES_CAP))
        return err_set(err, EINVAL, "images.maxLayerBytes must be in [1 MiB, 1 TiB]");
    if (entries != -1 && (entries < 100 || entries > 100000000))
        return err_set(err, EINVAL, "images.maxLayerEntries must be in [100, 100000000]");
    if (bytes != -1)
        im->lim.max_bytes = (uint64_t)bytes;
    if (entries != -1)
        im->lim.max_entries = (uint64_t)entries;
    return 0;
}

/* runrad's config file: {"registries": {...}, "images": {...}}; only what
 * it knows. */
static int load_config(struct images *im, const struct images_config *c, struct runra_err **err)
{
    const char *path = c->config_path ? c->config_path : DEFAULT_CONFIG;
    _cleanup_free_ char *text = NULL;
    int r = read_file_str(path, CONFIG_MAX_BYTES, &text);
    if (r == -ENOENT && !c->config_required)
        return 0;
    if (r < 0)
        return err_sys(err, r, "config file '%s'", path);
    json_error_t je;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!root)
        return err_set(err, EINVAL, "config file '%s': %s (line %d)", path, je.text, je.line);
    json_t *regs = NULL, *imgs = NULL;
    if (json_unpack_ex(root, &je, JSON_STRICT, "{s?o,s?o}", "registries", &regs, "images",
                       &imgs) < 0) {
        json_decref(root);
        return err_set(err, EINVAL, "config file '%s': %s", path, je.text);
    }
    r = imgs ? load_limits(im, imgs, err) : 0;
    if (r >= 0 && regs) {
        _cleanup_free_ char *rt = json_dumps(regs, JSON_COMPACT);
        r = rt ? registry_config_add_registries(im->reg, rt, strlen(rt), err) : -ENOMEM;
    }
    json_decref(root);
    return r < 0 ? err_prefix(err, "config file '%s'", path) : 0;
}

/* Credentials as docker keeps them: $DOCKER_CONFIG/config.json or
 * ~/.docker/config.json, then RUNRA_REGISTRY_AUTH (the same JSON). */
static int load_auths(struct images *im, struct runra_err **err)
{
    char path[4096];
    const char *dc = getenv("DOCKER_CONFIG"), *home = getenv("HOME");
    if (dc)
        snprintf(path, sizeof(path), "%s/config.json", dc);
    else
        snprintf(path, sizeof(path), "%s/.docker/config.json", home ? home : "/root");
    _cleanup_free_ char *text = NULL;
    int r = read_file_str(path, CONFIG_MAX_BYTES, &text);
    if (r >= 0 && (r = registry_config_add_docker_auths(im->reg, text, strlen(text), err)) < 0)
        return err_prefix(err, "%s", path);
    const char *env = getenv("RUNRA_REGISTRY_AUTH");
    if (env && *env && (r = registry_config_add_docker_auths(im->reg, env, strlen(env), err)) < 0)
        return err_prefix(err, "RUNRA_REGISTRY_AUTH");
    return 0;
}

int images_open(const struct images_config *c, struct images **ret, struct runra_err **err)
{
    struct images *im = calloc(1, sizeof(*im));
    if (!im)
        return -ENOMEM;
    pthread_mutex_init(&im->mu, NULL);
    pthread_cond_init(&im->cond, NULL);
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/images", c->state_dir);
    im->lim = (struct layer_limits){.max_bytes = LAYER_MAX_BYTES,
                                    .max_entries = LAYER_MAX_ENTRIES};
    int r = registry_config_new(&im->reg);
    if (r >= 0)
        r = load_config(im, c, err);
    if (r >= 0)
        r = image_store_open(dir, &im->lim, &im->store, err);
    if (r >= 0)
        r = load_auths(im, err);
    if (r < 0) {
        images_free(im);
        return r;
    }
    *ret = im;
    return 0;
}

void images_stop(struct images *im)
{
    if (!im)
        return;
    pthread_mutex_lock(&im->mu);
    im->stopping = 1;
    pthread_mutex_unlock(&im->mu);
}

void images_free(struct images *im)
{
    if (!im)
        return;
    /* Pulls see the flag at their next read and end with ECANCELED. */
    pthread_mutex_lock(&im->mu);
    im->stopping = 1;
    while (im->active > 0)
        pthread_cond_wait(&im->cond, &im->mu);
    pthread_mutex_unlock(&im->mu);
    image_store_free(im->store);
    registry_config_free(im->reg);
    pthread_mutex_destroy(&im->mu);
    pthread_cond_destroy(&im->cond);
    free(im);
}

struct image_store *images_store(struct images *im) { return im->store; }

struct pull_ctx {
    images_event_fn fn;
    void *ud;
    struct image_store *store;
};

static const char *const ev_status[] = {
    [PULL_EV_LAYER_CACHED] = "cached",     [PULL_EV_LAYER_START] = "downloading",
    [PULL_EV_LAYER_PROGRESS] = "downloading", [PULL_EV_LAYER_RETRY] = "retry",
    [PULL_EV_LAYER_DONE] = "downloaded",
};

static void on_pull_event(const struct pull_event *ev, void *ud)
{
    struct pull_ctx *p = ud;
    if (!p->fn)
        return;
    json_t *j = NULL;
    if (ev->kind == PULL_EV_RESOLVED)
        j = json_pack("{s:s,s:s}", "event", "resolved", "digest", ev->digest);
    else
        j = json_pack("{s:s,s:s,s:s,s:I,s:I}", "event", "layer", "digest", ev->digest, "status",
                      ev_status[ev->kind], "current", (json_int_t)ev->current, "total",
                      (json_int_t)ev->total);
    if (j && ev->message)
        json_object_set_new(j, "message", json_string(ev->message));
    if (j)
        p->fn(j, p->ud);
}

static void on_unpack(const char *blob, bool done, void *ud)
{
    struct pull_ctx *p = ud;
    if (p->fn)
        p->fn(json_pack("{s:s,s:s,s:s}", "event", "layer", "digest", blob, "status",
                        done ? "done" : "extracting"),
              p->ud);
}

static bool have_layer(const char *diff_id, void *ud)
{
    return image_store_has_layer(((struct pull_ctx *)ud)->store, diff_id);
}

/* Pulls ref (canonical name name) and stores it: the pull proper. */
static int pull_now(struct images *im, const struct image_ref *ref, const char *name,
                    struct pull_ctx *p, struct runra_err **err)
{
    struct pull_opts o = {.cfg = im->reg,
                          .os = "linux",
                          .arch = image_host_arch(),
                          .have_layer = have_layer,
                          .on_event = on_pull_event,
                          .ud = p,
                          .cancel = &im->stopping};
    struct pull_result res = {0};
    image_store_begin(im->store);
    int r = image_pull(image_store_blobs(im->store), ref, &o, &res, err);
    if (r >= 0)
        r = image_store_commit(im->store, name, res.manifest_digest, on_unpack, p, err);
    image_store_end(im->store);
    pull_result_done(&res);
    return r;
}

int images_pull(struct images *im, const char *refstr, bool admin, images_event_fn fn, void *ud,
                struct image_info *ret, struct runra_err **err)
{
    struct image_ref ref = {0};
    int r = image_ref_parse(refstr, &ref, err);
    if (r < 0)
        return r;
    if (!admin && !registry_config_known(im->reg, ref.registry)) {
        r = err_set(err, EPERM, "an API key may pull only from docker.io and the registries "
                                "runrad's config file names, not from '%.200s'",
                    ref.registry);
        image_ref_done(&ref);
        return r;
    }
    _cleanup_free_ char *name = image_ref_string(&ref);
    if (!name) {
        image_ref_done(&ref);
        return -ENOMEM;
    }
    if (fn)
        fn(json_pack("{s:s,s:s}", "event", "pulling", "image", name), ud);
    /* Join a pull of the same name, or become the one others join. */
    pthread_mutex_lock(&im->mu);
    if (im->stopping) {
        pthread_mutex_unlock(&im->mu);
        image_ref_done(&ref);
        return err_set(err, ECANCELED, "runrad is stopping");
    }
    im->active++;
    struct inflight *f = im->pulls;
    while (f && strcmp(f->name, name) != 0)
        f = f->next;
    if (f) {
        f->waiters++;
        if (fn) {
            pthread_mutex_unlock(&im->mu);
            fn(json_pack("{s:s,s:s}", "event", "waiting", "image", name), ud);
            pthread_mutex_lock(&im->mu);
        }
        while (!f->done)
            pthread_cond_wait(&im->cond, &im->mu);
        r = f->r;
        if (r < 0)
            err_set(err, -r, "%s", f->msg ? f->msg : "pull failed");
        if (--f->waiters == 0) {
            free(f->name);
            free(f->msg);
            free(f);
        }
        pthread_mutex_unlock(&im->mu);
    } else {
        f = calloc(1, sizeof(*f));
        if (!f || !(f->name = strdup(name))) {
            free(f);
            im->active--;
            pthread_cond_broadcast(&im->cond);
            pthread_mutex_unlock(&im->mu);
            image_ref_done(&ref);
            return -ENOMEM;
        }
        f->waiters = 1;
        f->next = im->pulls;
        im->pulls = f;
        pthread_mutex_unlock(&im->mu);
        struct pull_ctx p = {.fn = fn, .ud = ud, .store = im->store};
        struct runra_err *e = NULL;
        uint64_t t0 = now_ms();
        r = pull_now(im, &ref, name, &p, &e);
        log_info("event=image_pull image=%s ms=%llu result=%d", name,
                 (unsigned long long)(now_ms() - t0), r);
        pthread_mutex_lock(&im->mu);
        for (struct inflight **pp = &im->pulls; *pp; pp = &(*pp)->next)
            if (*pp == f) {
                *pp = f->next;
                break;
            }
        f->done = true;
        f->r = r;
        if (r < 0 && e && e->msg)
            f->msg = strdup(e->msg);
        pthread_cond_broadcast(&im->cond);
        if (--f->waiters == 0) {
            free(f->name);
            free(f->msg);
            free(f);
        }
        pthread_mutex_unlock(&im->mu);
        if (r < 0) {
            if (err && !*err)
                *err = e;
            else
                err_free(e);
        }
    }
    image_ref_done(&ref);
    pthread_mutex_lock(&im->mu);
    im->active--;
    pthread_cond_broadcast(&im->cond);
    pthread_mutex_unlock(&im->mu);
    if (r < 0)
        return r;
    return image_store_get(im->store, name, ret, err);
}

static int resolve_local(struct images *im, enum image_source_kind kind, const char *path,
                         struct image_info *ret, struct runra_err **err)
{
    /* skopeo's "oci:DIR:TAG" picks one image of a layout. */
    _cleanup_free_ char *dir = strdup(path);
    if (!dir)
        return -ENOMEM;
    const char *tag = NULL;
    char *colon = kind == IMAGE_SRC_LAYOUT ? strrchr(dir, ':') : NULL;
    if (colon && !strchr(colon, '/')) {
        *colon = 0;
        tag = colon + 1;
    }
    if (dir[0] != '/')
        return err_set(err, EINVAL, "image source path '%.200s' must be absolute", dir);
    int fd = open(dir, (kind == IMAGE_SRC_LAYOUT ? O_RDONLY | O_DIRECTORY : O_RDONLY) |
                           O_CLOEXEC);
    if (fd < 0)
        return err_sys(err, errno, "image source '%.200s'", dir);
    struct image_imported *v = NULL;
    size_t n = 0;
    int r = image_import(im->store, kind, fd, NULL, tag, true, &v, &n, err);
    close(fd);
    if (r >= 0 && n != 1)
        r = err_set(err, EINVAL, "'%.200s' holds %zu images; name one (oci:DIR:TAG)", dir, n);
    if (r >= 0)
        r = image_store_get(im->store, v[0].digest, ret, err);
    image_imported_free(v, n);
    return r;
}

int images_resolve(struct images *im, const char *image, bool admin, images_event_fn fn,
                   void *ud, struct image_info *ret, struct runra_err **err)
{
    enum image_source_kind kind;
    const char *path;
    if (image_source_parse(image, &kind, &path) == 1)
        return resolve_local(im, kind, path, ret, err);
    /* A stored image by its manifest digest (an import without a name). */
    if (image_digest_ok(image))
        return image_store_get(im->store, image, ret, err);
    struct image_ref ref = {0};
    int r = image_ref_parse(image, &ref, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *name = image_ref_string(&ref);
    /* By digest, any stored image with that manifest will do. */
    bool by_digest = ref.digest != NULL;
    _cleanup_free_ char *digest = ref.digest ? strdup(ref.digest) : NULL;
    image_ref_done(&ref);
    if (!name)
        return -ENOMEM;
    r = image_store_get(im->store, name, ret, NULL);
    if (r == -ENOENT && by_digest && digest)
        r = image_store_get(im->store, digest, ret, NULL);
    if (r >= 0)
        return r;
    return images_pull(im, image, admin, fn, ud, ret, err);
}

json_t *images_info_json(const struct image_info *i)
{
    json_t *names = json_array(), *env = json_array();
    for (size_t k = 0; names && i->names && i->names[k]; k++)
        json_array_append_new(names, json_string(i->names[k]));
    for (size_t k = 0; env && i->config.env && i->config.env[k]; k++)
        json_array_append_new(env, json_string(i->config.env[k]));
    json_t *ep = json_null(), *cmd = json_null();
    if (i->config.entrypoint) {
        ep = json_array();
        for (size_t k = 0; i->config.entrypoint[k]; k++)
            json_array_append_new(ep, json_string(i->config.entrypoint[k]));
    }
    if (i->config.cmd) {
        cmd = json_array();
        for (size_t k = 0; i->config.cmd[k]; k++)
            json_array_append_new(cmd, json_string(i->config.cmd[k]));
    }
    return json_pack("{s:o,s:s?,s:s?,s:I,s:I,s:s?,s:s?,s:I,s:o,s:s?,s:s?,s:o,s:o}", "names",
                     names ? names : json_array(), "digest", i->digest, "configDigest",
                     i->config_digest, "size", (json_int_t)i->size, "layers",
                     (json_int_t)i->nlayers, "os", i->config.os, "architecture",
                     i->config.architecture, "storedMs", (json_int_t)i->stored_ms, "env",
                     env ? env : json_array(), "workdir", i->config.workdir, "user",
                     i->config.user, "entrypoint", ep ? ep : json_null(), "cmd",
                     cmd ? cmd : json_null());
}
