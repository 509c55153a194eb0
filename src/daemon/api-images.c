/* /v1/images: list, inspect, pull (streamed as NDJSON progress on request),
 * remove, import (the archive is the request body, spooled to a file in
 * the state dir first) and prune. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "base/util.h"
#include "errmap.h"
#include "image/import.h"
#include "image/ref.h"
#include "images.h"

enum MHD_Result api_images_list(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    if (api_check_query(c, NULL, NULL, &e) < 0)
        return api_respond_err(c, -EINVAL, e);
    struct image_info *v = NULL;
    size_t n = 0;
    int r = image_store_list(images_store(a->images), &v, &n, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, images_info_json(&v[i]));
    image_info_list_free(v, n);
    return api_respond_json(c, 200, arr ? json_pack("{s:o}", "images", arr) : NULL);
}

static const char *name_query(struct MHD_Connection *c, const char *const *allowed,
                              struct runra_err **err)
{
    if (api_check_query(c, allowed, NULL, err) < 0)
        return NULL;
    const char *name = api_query(c, "name");
    if (!name || !*name)
        err_set(err, EINVAL, "say which image: ?name=REF");
    return name && *name ? name : NULL;
}

/* A user's spelling ("node:22") as the store names it. */
static char *store_name(const char *ref)
{
    /* A digest, or a prefix of one, names an image as it is: the reference
     * grammar would read "sha256:<hex>" as a repository and a tag. */
    const char *hex = strncmp(ref, "sha256:", 7) == 0 ? ref + 7 : ref;
    if (strlen(hex) >= 12 && strspn(hex, "0123456789abcdef") == strlen(hex))
        return strdup(ref);
    struct image_ref r = {0};
    if (image_ref_parse(ref, &r, NULL) < 0)
        return strdup(ref); /* a digest or a prefix of one */
    char *s = image_ref_string(&r);
    image_ref_done(&r);
    return s;
}

enum MHD_Result api_images_inspect(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    const char *name = name_query(c, (const char *const[]){"name", NULL}, &e);
    if (!name)
        return api_respond_err(c, -EINVAL, e);
    _cleanup_free_ char *sn = store_name(name);
    struct image_info i = {0};
    int r = sn ? image_store_get(images_store(a->images), sn, &i, &e) : -ENOMEM;
    if (r < 0)
        return api_respond_err(c, r, e);
    json_t *j = images_info_json(&i);
    image_info_done(&i);
    return api_respond_json(c, 200, j);
}

/* A pull's events on their way to the client: a queue the pulling thread
 * fills and the response callback drains, freed by whichever is last. */
struct pull_stream {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    char *buf;
    size_t len, off;
    bool finished;
    int refs;
    struct images *im;
    char *image;
    bool admin;
};

static void ps_unref(struct pull_stream *ps)
{
    pthread_mutex_lock(&ps->mu);
    bool last = --ps->refs == 0;
    pthread_mutex_unlock(&ps->mu);
    if (!last)
        return;
    pthread_mutex_destroy(&ps->mu);
    pthread_cond_destroy(&ps->cond);
    free(ps->buf);
    free(ps->image);
    free(ps);
}

static void ps_push(json_t *ev, void *ud)
{
    struct pull_stream *ps = ud;
    char *line = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (!line)
        return;
    size_t n = strlen(line);
    pthread_mutex_lock(&ps->mu);
    char *nb = realloc(ps->buf, ps->len + n + 2);
    if (nb) {
        ps->buf = nb;
        memcpy(nb + ps->len, line, n);
        nb[ps->len + n] = '\n';
        ps->len += n + 1;
        pthread_cond_broadcast(&ps->cond);
    }
    pthread_mutex_unlock(&ps->mu);
    free(line);
}

static void *pull_thread(void *arg)
{
    struct pull_stream *ps = arg;
    struct image_info i = {0};
    _cleanup_err_ struct runra_err *e = NULL;
    int r = images_pull(ps->im, ps->image, ps->admin, ps_push, ps, &i, &e);
    if (r >= 0) {
        ps_push(json_pack("{s:s,s:o}", "event", "done", "image", images_info_json(&i)), ps);
        image_info_done(&i);
    } else {
        const struct errmap_entry *em = errmap_lookup(-r);
        ps_push(json_pack("{s:s,s:{s:s,s:s}}", "event", "error", "error", "code", em->code,
                          "message",
                          e && e->msg ? e->msg : strerror(-r)),
                ps);
    }
    pthread_mutex_lock(&ps->mu);
    ps->finished = true;
    pthread_cond_broadcast(&ps->cond);
    pthread_mutex_unlock(&ps->mu);
    ps_unref(ps);
    return NULL;
}

static ssize_t ps_read(void *cls, uint64_t pos, char *out, size_t max)
{
    struct pull_stream *ps = cls;
    pthread_mutex_lock(&ps->mu);
    while (ps->off == ps->len && !ps->finished)
        pthread_cond_wait(&ps->cond, &ps->mu);
    ssize_t n;
    if (ps->off == ps->len) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        size_t k = ps->len - ps->off < max ? ps->len - ps->off : max;
        memcpy(out, ps->buf + ps->off, k);
        ps->off += k;
        n = (ssize_t)k;
        if (ps->off == ps->len)
            ps->off = ps->len = 0; /* all sent: the buffer starts over */
    }
    pthread_mutex_unlock(&ps->mu);
    return n;
}

static void ps_free(void *cls) { ps_unref(cls); }

enum MHD_Result api_images_pull(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_t *j = NULL;
    int r = api_body_json(rq, &j, &e);
    const char *image = NULL;
    int stream = 0;
    json_error_t je;
    if (r >= 0 && json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?b}", "image", &image, "stream",
                                 &stream) < 0)
        r = err_set(&e, EINVAL, "invalid pull request: %s", je.text);
    struct image_ref ref = {0};
    if (r >= 0)
        r = image_ref_parse(image, &ref, &e);
    image_ref_done(&ref);
    if (r < 0) {
        json_decref(j);
        return api_respond_err(c, r, e);
    }
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    if (!stream && !(accept && strstr(accept, "application/x-ndjson"))) {
        struct image_info i = {0};
        r = images_pull(a->images, image, rq->tenant[0] == 0, NULL, NULL, &i, &e);
        json_decref(j);
        if (r < 0)
            return api_respond_err(c, r, e);
        json_t *out = images_info_json(&i);
        image_info_done(&i);
        return api_respond_json(c, 200, out);
    }
    struct pull_stream *ps = calloc(1, sizeof(*ps));
    if (!ps || !(ps->image = strdup(image))) {
        free(ps);
        json_decref(j);
        return api_respond_err(c, -ENOMEM, NULL);
    }
    json_decref(j);
    pthread_mutex_init(&ps->mu, NULL);
    pthread_cond_init(&ps->cond, NULL);
    ps->im = a->images;
    ps->admin = rq->tenant[0] == 0;
    ps->refs = 2;
    /* The pull goes on even if the client leaves: a create may be waiting
     * for the same image, and what was fetched is kept either way. */
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    r = pthread_create(&t, &attr, pull_thread, ps);
    pthread_attr_destroy(&attr);
    if (r != 0) {
        ps->refs = 1;
        ps_unref(ps);
        return api_respond_errf(c, EAGAIN, "cannot start the pull");
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, ps_read, ps, ps_free);
    if (!resp) {
        ps_unref(ps);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int keep_sandboxes(char ***ret, void *ud) { return manager_image_digests(ud, ret); }

static json_t *reclaimed_json(const struct image_gc_stats *st)
{
    return json_pack("{s:I,s:I}", "blobs", (json_int_t)st->blobs, "layers",
                     (json_int_t)st->layers);
}

enum MHD_Result api_images_delete(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    const char *name = name_query(c, (const char *const[]){"name", "force", NULL}, &e);
    if (!name)
        return api_respond_err(c, -EINVAL, e);
    bool force = false;
    int r = api_query_bool(c, "force", &force, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    _cleanup_free_ char *sn = store_name(name);
    if (!sn)
        return api_respond_err(c, -ENOMEM, NULL);
    struct image_store *st = images_store(a->images);
    struct image_info i = {0};
    if ((r = image_store_get(st, sn, &i, &e)) < 0)
        return api_respond_err(c, r, e);
    int users = manager_image_users(a->m, i.digest);
    image_info_done(&i);
    if (users > 0 && !force)
        return api_respond_errf(c, EBUSY, "image '%s' is in use by %d sandbox%s (force=true "
                                          "removes the name; the data stays while they run)",
                                name, users, users == 1 ? "" : "es");
    struct image_info removed = {0};
    if ((r = image_store_remove(st, sn, &removed, &e)) < 0)
        return api_respond_err(c, r, e);
    struct image_gc_stats gs = {0};
    r = image_store_gc(st, keep_sandboxes, a->m, &gs, &e);
    json_t *out = json_pack("{s:o,s:o}", "removed", images_info_json(&removed), "reclaimed",
                            reclaimed_json(&gs));
    image_info_done(&removed);
    if (r < 0) {
        json_decref(out);
        return api_respond_err(c, r, e);
    }
    return api_respond_json(c, 200, out);
}

enum MHD_Result api_images_prune(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    if (api_check_query(c, NULL, NULL, &e) < 0)
        return api_respond_err(c, -EINVAL, e);
    struct image_gc_stats gs = {0};
    int r = image_store_gc(images_store(a->images), keep_sandboxes, a->m, &gs, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_json(c, 200, json_pack("{s:o}", "reclaimed", reclaimed_json(&gs)));
}

enum MHD_Result api_images_import_begin(struct api *a, struct MHD_Connection *c,
                                        struct api_req *rq)
{
    /* Spooled next to the store (the same file system, root only), and
     * unlinked at once: a crash leaves nothing. */
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/images", a->state_dir);
    rq->import_fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (rq->import_fd < 0)
        rq->upload_r = err_sys(&rq->upload_err, errno, "spool the import");
    return MHD_YES;
}

int api_images_import_data(struct api_req *rq, const void *p, size_t n)
{
    int r = write_full(rq->import_fd, p, n);
    return r < 0 ? err_sys(&rq->upload_err, r, "spool the import") : 0;
}

enum MHD_Result api_images_import_end(struct api *a, struct MHD_Connection *c,
                                      struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    int r = rq->upload_r;
    if (r < 0)
        return api_respond_err(c, r, rq->upload_err);
    if (api_check_query(c, (const char *const[]){"format", "name", NULL}, NULL, &e) < 0)
        return api_respond_err(c, -EINVAL, e);
    const char *format = api_query(c, "format"), *name = api_query(c, "name");
    /* Names are shared by every key: a key that could name an import
     * "node:22" would choose what everyone's node:22 is. A key's imports
     * are known by their digests only. */
    bool admin = rq->tenant[0] == 0;
    if (!admin && name && *name)
        return api_respond_errf(c, EPERM, "an API key's imports have no name: create from the "
                                          "digest the answer gives");
    enum image_source_kind kind;
    if (lseek(rq->import_fd, 0, SEEK_SET) < 0)
        return api_respond_err(c, -errno, NULL);
    if (!format || !strcmp(format, "auto"))
        r = image_archive_kind(rq->import_fd, &kind, &e);
    else if (!strcmp(format, "oci-archive"))
        kind = IMAGE_SRC_OCI_ARCHIVE;
    else if (!strcmp(format, "docker-archive"))
        kind = IMAGE_SRC_DOCKER_ARCHIVE;
    else
        r = err_set(&e, EINVAL, "format must be auto, oci-archive or docker-archive");
    struct image_imported *v = NULL;
    size_t n = 0;
    if (r >= 0)
        r = image_import(images_store(a->images), kind, rq->import_fd, name && *name ? name : NULL,
                         NULL, admin, &v, &n, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        struct image_info info = {0};
        if (image_store_get(images_store(a->images), v[i].digest, &info, NULL) >= 0) {
            json_array_append_new(arr, images_info_json(&info));
            image_info_done(&info);
        }
    }
    image_imported_free(v, n);
    return api_respond_json(c, 200, arr ? json_pack("{s:o}", "images", arr) : NULL);
}
