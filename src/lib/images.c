/* The image calls: list, inspect, pull (waiting, or with its NDJSON progress
 * stream handed to a callback), remove, prune and import (an archive
 * streamed from an fd), and the decoding of an Image object into struct
 * runra_image. Trusts nothing in runrad's answers beyond their JSON shape. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "error.h"
#include "json-build.h"
#include "json-read.h"
#include "ndjson.h"

/* One pull event is a small object, but "done" carries a whole Image with
 * its Env and Cmd; a megabyte leaves room for any real image config. */
#define PULL_LINE_MAX (1u << 20)
#define IMPORT_ANSWER_MAX (16u << 20)

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

/* An array of strings into a NULL-terminated copy; absent or null leaves
 * *ret NULL (the caller tells "unset" from "empty" that way). */
static int read_strv(json_t *o, const char *key, char ***ret, size_t *ret_n,
                     struct runra_error **err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return lib_err_set(err, EPROTO, "runrad's answer: '%s' is not an array", key);
    size_t n = json_array_size(v);
    char **a = calloc(n + 1, sizeof(*a));
    if (!a)
        return lib_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            strv_free(a);
            return lib_err_set(err, EPROTO, "runrad's answer: '%s' holds a non-string", key);
        }
        if (!(a[i] = strndup(json_string_value(s), json_string_length(s)))) {
            strv_free(a);
            return lib_err_set(err, ENOMEM, "out of memory");
        }
    }
    strv_free(*ret);
    *ret = a;
    if (ret_n)
        *ret_n = n;
    return 0;
}

static void image_done(struct runra_image *i)
{
    strv_free(i->names);
    free(i->digest);
    free(i->config_digest);
    free(i->os);
    free(i->architecture);
    strv_free(i->env);
    free(i->workdir);
    free(i->user);
    strv_free(i->entrypoint);
    strv_free(i->cmd);
    free(i->json);
    *i = (struct runra_image){ 0 };
}

void runra_image_free(struct runra_image *i)
{
    if (!i)
        return;
    image_done(i);
    free(i);
}
DEFINE_CLEANUP(struct runra_image, runra_image_free)

void runra_image_list_free(struct runra_image_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        image_done(&l->items[i]);
    free(l->items);
    free(l->json);
    free(l);
}
DEFINE_CLEANUP(struct runra_image_list, runra_image_list_free)

/* Fills img from an Image object, with its compact text; on failure img
 * holds what was read so far, for the caller to free. names and env are
 * never NULL afterwards, so callers can walk them without a check. */
static int decode(json_t *o, struct runra_image *img, struct runra_error **err)
{
    if (!json_is_object(o))
        return lib_err_set(err, EPROTO, "runrad's answer: an image is not an object");
    int r = jr_string(o, "digest", &img->digest, err);
    if (r >= 0 && !img->digest)
        r = lib_err_set(err, EPROTO, "runrad's answer: an image has no digest");
    if (r >= 0)
        r = read_strv(o, "names", &img->names, &img->n_names, err);
    if (r >= 0)
        r = jr_string(o, "configDigest", &img->config_digest, err);
    if (r >= 0)
        r = jr_u64(o, "size", &img->size, err);
    if (r >= 0)
        r = jr_u64(o, "layers", &img->layers, err);
    if (r >= 0)
        r = jr_string(o, "os", &img->os, err);
    if (r >= 0)
        r = jr_string(o, "architecture", &img->architecture, err);
    if (r >= 0)
        r = jr_i64(o, "storedMs", &img->stored_ms, err);
    if (r >= 0)
        r = read_strv(o, "env", &img->env, &img->n_env, err);
    if (r >= 0)
        r = jr_string(o, "workdir", &img->workdir, err);
    if (r >= 0)
        r = jr_string(o, "user", &img->user, err);
    if (r >= 0)
        r = read_strv(o, "entrypoint", &img->entrypoint, NULL, err);
    if (r >= 0)
        r = read_strv(o, "cmd", &img->cmd, NULL, err);
    if (r >= 0 && !img->names && !(img->names = calloc(1, sizeof(char *))))
        r = lib_err_set(err, ENOMEM, "out of memory");
    if (r >= 0 && !img->env && !(img->env = calloc(1, sizeof(char *))))
        r = lib_err_set(err, ENOMEM, "out of memory");
    if (r >= 0)
        r = jr_dump(o, &img->json, err);
    return r;
}

static int decode_new(json_t *o, struct runra_image **ret, struct runra_error **err)
{
    _cleanup_(runra_image_freep) struct runra_image *img = calloc(1, sizeof(*img));
    if (!img)
        return lib_err_set(err, ENOMEM, "out of memory");
    int r = decode(o, img, err);
    if (r < 0)
        return r;
    *ret = TAKE_PTR(img);
    return 0;
}

/* {"images": [Image]} into a list that keeps the answer's text. */
static int decode_list(json_t *ans, char **text, struct runra_image_list **ret,
                       struct runra_error **err)
{
    json_t *arr = json_object_get(ans, "images");
    if (!json_is_array(arr))
        return lib_err_set(err, EPROTO, "runrad's answer has no 'images' array");
    _cleanup_(runra_image_list_freep) struct runra_image_list *l = calloc(1, sizeof(*l));
    if (!l || !(l->items = calloc(json_array_size(arr) + 1, sizeof(*l->items))))
        return lib_err_set(err, ENOMEM, "out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        /* Count first, so a failure halfway still frees this item. */
        l->n = i + 1;
        int r = decode(v, &l->items[i], err);
        if (r < 0)
            return r;
    }
    l->json = TAKE_PTR(*text);
    *ret = TAKE_PTR(l);
    return 0;
}

static int read_reclaimed(json_t *ans, struct runra_image_reclaimed *ret, struct runra_error **err)
{
    json_t *o = json_object_get(ans, "reclaimed");
    struct runra_image_reclaimed rc = { 0 };
    int r = 0;
    if (o && !json_is_null(o)) {
        if (!json_is_object(o))
            return lib_err_set(err, EPROTO, "runrad's answer: 'reclaimed' is not an object");
        r = jr_u64(o, "blobs", &rc.blobs, err);
        if (r >= 0)
            r = jr_u64(o, "layers", &rc.layers, err);
    }
    if (r >= 0 && ret)
        *ret = rc;
    return r;
}

/* "/v1/images<suffix>?name=<ref>" */
static int ref_target(struct buf *t, const char *suffix, const char *ref,
                      struct runra_error **err)
{
    if (!ref || !*ref)
        return lib_err_set(err, EINVAL, "no image named");
    if (buf_append_str(t, "/v1/images") < 0 || buf_append_str(t, suffix) < 0 ||
        url_append_query(t, "name", ref) < 0)
        return lib_err_set(err, ENOMEM, "out of memory");
    return 0;
}

int runra_image_list(runra_client *c, struct runra_image_list **ret, struct runra_error **err)
{
    json_auto_t *ans = NULL;
    _cleanup_free_ char *text = NULL;
    int r = client_call(c, "GET", "/v1/images", NULL, &ans, &text, err);
    if (r < 0)
        return r;
    return decode_list(ans, &text, ret, err);
}

int runra_image_inspect(runra_client *c, const char *ref, struct runra_image **ret,
                        struct runra_error **err)
{
    struct buf t = { 0 };
    int r = ref_target(&t, "/inspect", ref, err);
    json_auto_t *ans = NULL;
    if (r >= 0)
        r = client_call(c, "GET", t.data, NULL, &ans, NULL, err);
    buf_done(&t);
    if (r < 0)
        return r;
    return decode_new(ans, ret, err);
}

int runra_image_remove(runra_client *c, const char *ref, bool force,
                       struct runra_image **ret_removed,
                       struct runra_image_reclaimed *ret_reclaimed, struct runra_error **err)
{
    struct buf t = { 0 };
    int r = ref_target(&t, "", ref, err);
    if (r >= 0 && force && url_append_query(&t, "force", "true") < 0)
        r = lib_err_set(err, ENOMEM, "out of memory");
    json_auto_t *ans = NULL;
    if (r >= 0)
        r = client_call(c, "DELETE", t.data, NULL, &ans, NULL, err);
    buf_done(&t);
    if (r < 0)
        return r;
    struct runra_image_reclaimed rc;
    r = read_reclaimed(ans, &rc, err);
    if (r < 0)
        return r;
    if (ret_removed) {
        json_t *o = json_object_get(ans, "removed");
        if (!o)
            return lib_err_set(err, EPROTO, "runrad's answer has no 'removed' image");
        r = decode_new(o, ret_removed, err);
        if (r < 0)
            return r;
    }
    if (ret_reclaimed)
        *ret_reclaimed = rc;
    return 0;
}

int runra_image_prune(runra_client *c, struct runra_image_reclaimed *ret,
                      struct runra_error **err)
{
    json_auto_t *ans = NULL;
    int r = client_call(c, "POST", "/v1/images/prune", NULL, &ans, NULL, err);
    if (r < 0)
        return r;
    return read_reclaimed(ans, ret, err);
}

/* ---- pull ----------------------------------------------------------------- */

static const struct {
    const char *name;
    enum runra_layer_status status;
} layer_statuses[] = {
    { "cached", RUNRA_LAYER_CACHED },         { "downloading", RUNRA_LAYER_DOWNLOADING },
    { "retry", RUNRA_LAYER_RETRY },           { "downloaded", RUNRA_LAYER_DOWNLOADED },
    { "extracting", RUNRA_LAYER_EXTRACTING }, { "done", RUNRA_LAYER_DONE },
};

struct psink {
    struct ndlines nd;
    runra_pull_fn fn;
    void *ud;
    bool stopped;                /* the callback asked to stop */
    bool ended;                  /* a "done" or "error" line arrived */
    struct runra_image *result;  /* from "done" */
    struct runra_error *failure; /* from "error": the pull's own failure */
    struct runra_error *err;     /* the stream itself was bad */
};

static const char *str_field(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* Fills ev from one event object; the strings point into o. */
static int read_event(struct psink *s, json_t *o, struct runra_pull_event *ev)
{
    const char *kind = str_field(o, "event");
    if (!kind)
        return lib_err_set(&s->err, EPROTO, "runrad's pull stream: a line without 'event'");
    ev->digest = str_field(o, "digest");
    ev->image = str_field(o, "image"); /* NULL for "done", where it is an object */
    if (strcmp(kind, "pulling") == 0) {
        ev->kind = RUNRA_PULL_STARTED;
        return 0;
    }
    if (strcmp(kind, "waiting") == 0) {
        ev->kind = RUNRA_PULL_WAITING;
        return 0;
    }
    if (strcmp(kind, "resolved") == 0) {
        ev->kind = RUNRA_PULL_RESOLVED;
        return 0;
    }
    if (strcmp(kind, "layer") == 0) {
        ev->kind = RUNRA_PULL_LAYER;
        ev->status_name = str_field(o, "status");
        ev->message = str_field(o, "message");
        for (size_t i = 0; ev->status_name && i < ARRAY_SIZE(layer_statuses); i++)
            if (strcmp(ev->status_name, layer_statuses[i].name) == 0)
                ev->status = layer_statuses[i].status;
        int r = jr_u64(o, "current", &ev->current, &s->err);
        if (r >= 0)
            r = jr_u64(o, "total", &ev->total, &s->err);
        return r;
    }
    if (strcmp(kind, "done") == 0) {
        ev->kind = RUNRA_PULL_DONE;
        int r = decode_new(json_object_get(o, "image"), &s->result, &s->err);
        if (r < 0)
            return r;
        ev->image_info = s->result;
        ev->digest = s->result->digest;
        s->ended = true;
        return 0;
    }
    if (strcmp(kind, "error") == 0) {
        json_t *e = json_object_get(o, "error");
        ev->kind = RUNRA_PULL_ERROR;
        ev->error_code = str_field(e, "code");
        ev->message = str_field(e, "message");
        /* The stream's HTTP status was 200; the failure is the pull's. */
        lib_err_api(&s->failure, 0, ev->error_code,
                    ev->message ? ev->message : "the pull failed");
        s->ended = true;
        return 0;
    }
    ev->kind = RUNRA_PULL_OTHER;
    return 0;
}

static int pull_line(void *ud, const char *p, size_t n)
{
    struct psink *s = ud;
    if (s->ended)
        return 0; /* nothing is meant to follow the last event */
    json_error_t je;
    json_auto_t *o = json_loadb(p, n, 0, &je);
    if (!json_is_object(o))
        return lib_err_set(&s->err, EPROTO, "runrad's pull stream: a line is not a JSON object");
    struct runra_pull_event ev = { .line = p };
    int r = read_event(s, o, &ev);
    if (r < 0)
        return r;
    if (s->fn && s->fn(s->ud, &ev) != 0 && ev.kind != RUNRA_PULL_ERROR) {
        s->stopped = true;
        return -ECANCELED;
    }
    return 0;
}

static int pull_body(const char *ref, bool stream, char **ret, struct runra_error **err)
{
    if (!ref || !*ref)
        return lib_err_set(err, EINVAL, "pull: no image named");
    json_auto_t *body = json_object();
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    int r = jb_str(body, "image", ref, err);
    if (r >= 0 && stream)
        r = jb_bool(body, "stream", 1, err);
    if (r < 0)
        return r;
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        return lib_err_set(err, ENOMEM, "out of memory");
    *ret = text;
    return 0;
}

/* Hands over one of two errors, freeing the other. */
static int give_error(struct runra_error **err, struct runra_error **e)
{
    int n = (*e)->errnum;
    if (err && !*err)
        *err = TAKE_PTR(*e);
    else
        runra_error_free(TAKE_PTR(*e));
    return -n;
}

static int pull_wait(runra_client *c, const char *ref, struct runra_image **ret,
                     struct runra_error **err)
{
    _cleanup_free_ char *text = NULL;
    int r = pull_body(ref, false, &text, err);
    if (r < 0)
        return r;
    struct http_request req = { .method = "POST",
                                .target = "/v1/images/pull",
                                .content_type = "application/json",
                                .body = text,
                                .body_len = strlen(text),
                                .body_fd = -1 };
    struct http_response resp = { .body = { .max = CLIENT_JSON_MAX }, .sink_fd = -1 };
    r = client_exchange(c, &req, &resp, err);
    json_auto_t *o = NULL;
    if (r >= 0)
        r = jr_parse_object(resp.body.data ? resp.body.data : "", resp.body.len, &o, err);
    buf_done(&resp.body);
    if (r < 0)
        return r;
    _cleanup_(runra_image_freep) struct runra_image *img = NULL;
    r = decode_new(o, &img, err);
    if (r >= 0 && ret)
        *ret = TAKE_PTR(img);
    return r;
}

int runra_image_pull(runra_client *c, const char *ref, runra_pull_fn on_event, void *userdata,
                     struct runra_image **ret, struct runra_error **err)
{
    if (!on_event)
        return pull_wait(c, ref, ret, err);
    _cleanup_free_ char *text = NULL;
    int r = pull_body(ref, true, &text, err);
    if (r < 0)
        return r;
    struct psink s = { .fn = on_event, .ud = userdata };
    s.nd = (struct ndlines){ .max = PULL_LINE_MAX,
                             .what = "a pull event",
                             .on_line = pull_line,
                             .userdata = &s,
                             .err = &s.err };
    struct http_request req = { .method = "POST",
                                .target = "/v1/images/pull",
                                .content_type = "application/json",
                                .body = text,
                                .body_len = strlen(text),
                                .body_fd = -1 };
    struct http_response resp = { .body = { .max = CLIENT_JSON_MAX },
                                  .sink_fd = -1,
                                  .sink_cb = ndlines_feed,
                                  .sink_userdata = &s.nd };
    struct runra_error *e = NULL;
    r = client_exchange(c, &req, &resp, &e);
    buf_done(&resp.body);
    ndlines_done(&s.nd);
    _cleanup_(runra_image_freep) struct runra_image *result = TAKE_PTR(s.result);
    if (s.stopped || s.err) {
        /* Mid-stream: the connection cannot carry another request. */
        http_conn_close(&c->conn);
        runra_error_free(e);
        runra_error_free(s.failure);
        if (s.stopped) {
            runra_error_free(s.err);
            return lib_err_set(err, ECANCELED, "pull stopped by the event callback");
        }
        return give_error(err, &s.err);
    }
    if (r < 0) {
        runra_error_free(s.failure);
        if (r == -ECANCELED)
            http_conn_close(&c->conn);
        return give_error(err, &e);
    }
    if (s.failure)
        return give_error(err, &s.failure);
    if (!result)
        return lib_err_set(err, EPROTO, "runrad's pull stream ended without its result");
    if (ret)
        *ret = TAKE_PTR(result);
    return 0;
}

/* ---- import --------------------------------------------------------------- */

int runra_image_import_fd(runra_client *c, int fd, const struct runra_image_import_opts *opts,
                          struct runra_image_list **ret, struct runra_error **err)
{
    static const struct runra_image_import_opts none = { 0 };
    if (!opts)
        opts = &none;
    if (fd < 0)
        return lib_err_set(err, EBADF, "import: bad fd");
    struct buf t = { 0 };
    int r = buf_append_str(&t, "/v1/images/import") < 0 ||
                    url_append_query(&t, "format", opts->format ? opts->format : "auto") < 0 ||
                    (opts->name && url_append_query(&t, "name", opts->name) < 0)
                ? lib_err_set(err, ENOMEM, "out of memory")
                : 0;
    if (r < 0) {
        buf_done(&t);
        return r;
    }
    struct http_request req = {
        .method = "POST",
        .target = t.data,
        .content_type = "application/x-tar",
        .body_fd = fd,
    };
    struct http_response resp = { .body = { .max = IMPORT_ANSWER_MAX }, .sink_fd = -1 };
    r = client_exchange(c, &req, &resp, err);
    buf_done(&t);
    json_auto_t *ans = NULL;
    _cleanup_free_ char *text = NULL;
    if (r >= 0)
        r = jr_parse_object(resp.body.data ? resp.body.data : "", resp.body.len, &ans, err);
    if (r >= 0 && buf_steal(&resp.body, &text, NULL) < 0)
        r = lib_err_set(err, ENOMEM, "out of memory");
    buf_done(&resp.body);
    if (r < 0)
        return r;
    _cleanup_(runra_image_list_freep) struct runra_image_list *l = NULL;
    r = decode_list(ans, &text, &l, err);
    if (r >= 0 && ret)
        *ret = TAKE_PTR(l);
    return r;
}

int runra_image_import_file(runra_client *c, const char *path,
                            const struct runra_image_import_opts *opts,
                            struct runra_image_list **ret, struct runra_error **err)
{
    if (!path || !*path)
        return lib_err_set(err, EINVAL, "import: no file named");
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return lib_err_sys(err, errno, "import: '%s'", path);
    return runra_image_import_fd(c, fd, opts, ret, err);
}
