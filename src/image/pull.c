/* Pulling an image (pull.h). The calling thread resolves the reference
 * through the endpoints in order (mirrors first), verifies and stores the
 * manifest and the config, then starts a few worker threads that fetch the
 * missing layer blobs, each with its own curl handle, all sharing one
 * registry client and so one token cache. Workers never call on_event:
 * they queue events and the calling thread hands them on, so the caller
 * sees them from its own thread only. Nothing here is global; several
 * pulls may run at once in one process. */
#include "image/pull.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/sha256.h"
#include "base/util.h"
#include "image/manifest.h"
#include "image/regclient.h"

#define PULL_PARALLEL_DEFAULT 3
#define PULL_PARALLEL_MAX 16
#define PULL_RETRIES_DEFAULT 4
#define PULL_RETRIES_MAX 20
#define PULL_MAX_BLOB_DEFAULT (8ull << 30)
/* Backoff between tries: 250 ms, doubling, at most 8 s. */
#define BACKOFF_BASE_MS 250
#define BACKOFF_MAX_MS 8000
/* A layer's progress is reported at most every 100 ms or every 1%. */
#define PROGRESS_INTERVAL_MS 100

#if defined(__x86_64__)
#define HOST_ARCH "amd64"
#define HOST_VARIANT NULL
#elif defined(__aarch64__)
#define HOST_ARCH "arm64"
#define HOST_VARIANT NULL /* index_pick takes "v8" or no variant alike */
#elif defined(__i386__)
#define HOST_ARCH "386"
#define HOST_VARIANT NULL
#elif defined(__arm__) && defined(__ARM_ARCH) && __ARM_ARCH >= 7
#define HOST_ARCH "arm"
#define HOST_VARIANT "v7"
#elif defined(__arm__)
#define HOST_ARCH "arm"
#define HOST_VARIANT "v6"
#elif defined(__riscv) && __riscv_xlen == 64
#define HOST_ARCH "riscv64"
#define HOST_VARIANT NULL
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_ARCH "ppc64le"
#define HOST_VARIANT NULL
#elif defined(__s390x__)
#define HOST_ARCH "s390x"
#define HOST_VARIANT NULL
#else
#error "unknown host architecture: add its OCI name here"
#endif

static const char ACCEPT_MANIFESTS[] =
    MT_OCI_INDEX ", " MT_OCI_MANIFEST ", " MT_DOCKER_LIST ", " MT_DOCKER_MANIFEST;

struct ev {
    struct ev *next;
    struct pull_event e;
    char *msg;
};

struct pull {
    struct blob_store *blobs;
    const struct image_ref *ref;
    const char *refname; /* repository:tag for messages */
    const struct pull_opts *o;
    unsigned parallel, retries;
    uint64_t max_blob;
    struct reg_client *client; /* the endpoint that served the manifest */
    struct image_manifest m;
    volatile int stop; /* a worker failed: the others end */

    pthread_mutex_t lock; /* guards what follows */
    pthread_cond_t cond;
    struct ev *head, *tail;
    size_t *jobs, njobs, next_job;
    unsigned alive;
    int first_r;
    struct runra_err *first_err;
};

static bool cancelled(const struct pull *p)
{
    return (p->o->cancel && *p->o->cancel) || __atomic_load_n(&p->stop, __ATOMIC_RELAXED);
}

/* Queues an event for the calling thread (from any thread). */
static void post(struct pull *p, enum pull_event_kind kind, const char *digest, uint64_t cur,
                 uint64_t total, const char *msg)
{
    if (!p->o->on_event)
        return;
    struct ev *v = calloc(1, sizeof(*v));
    if (!v)
        return; /* an event is news, not state: losing one under ENOMEM is fine */
    v->e = (struct pull_event){kind, digest, cur, total, NULL};
    if (msg && (v->msg = strdup(msg)))
        v->e.message = v->msg;
    pthread_mutex_lock(&p->lock);
    if (p->tail)
        p->tail->next = v;
    else
        p->head = v;
    p->tail = v;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

/* Hands queued events on; the calling thread only, with p->lock held. */
static void drain_locked(struct pull *p)
{
    while (p->head) {
        struct ev *v = p->head;
        p->head = p->tail = NULL;
        pthread_mutex_unlock(&p->lock);
        while (v) {
            struct ev *next = v->next;
            p->o->on_event(&v->e, p->o->ud);
            free(v->msg);
            free(v);
            v = next;
        }
        pthread_mutex_lock(&p->lock);
    }
}

static void drain(struct pull *p)
{
    pthread_mutex_lock(&p->lock);
    drain_locked(p);
    pthread_mutex_unlock(&p->lock);
}

/* Sleeps ms, waking early (ECANCELED) when the pull is cancelled. */
static int nap(struct pull *p, unsigned ms)
{
    while (ms > 0) {
        if (cancelled(p))
            return -ECANCELED;
        unsigned step = ms < 50 ? ms : 50;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return cancelled(p) ? -ECANCELED : 0;
}

static int backoff(struct pull *p, unsigned attempt, unsigned retry_after_s)
{
    unsigned ms = BACKOFF_BASE_MS << (attempt < 8 ? attempt : 8);
    if (ms > BACKOFF_MAX_MS)
        ms = BACKOFF_MAX_MS;
    if (retry_after_s * 1000u > ms)
        ms = retry_after_s * 1000u;
    return nap(p, ms);
}

static bool transport_retryable(int r)
{
    return r == -EIO || r == -ETIMEDOUT || r == -ECONNREFUSED || r == -ECONNRESET;
}

/* An answer other than 200/206 as an error; *retry: whether trying again
 * may help (a busy or failing server, not a refusal). */
static int status_error(long st, const char *what, const struct reg_client *c, bool *retry,
                        struct runra_err **err)
{
    *retry = st == 408 || st == 429 || st >= 500;
    const char *base = reg_client_base(c);
    switch (st) {
    case 404:
        return err_set(err, ENOENT, "%s: not found at %s", what, base);
    case 401:
    case 403:
        return err_set(err, EACCES, "%s: access denied by %s (status %ld)", what, base, st);
    default:
        return err_set(err, EIO, "%s: %s answered %ld", what, base, st);
    }
}

/* GETs a small document into buf with up to `retries` more tries. */
static int fetch_doc(struct pull *p, struct reg_client *c, struct reg_conn *h, const char *path,
                     const char *accept, const char *what, unsigned retries,
                     struct reg_membuf *buf, char ctype[128], struct runra_err **err)
{
    struct reg_sink sink = reg_membuf_sink(buf);
    for (unsigned attempt = 0;; attempt++) {
        if (cancelled(p))
            return err_set(err, ECANCELED, "pull cancelled");
        struct reg_request rq = {.path = path, .accept = accept, .sink = &sink};
        struct runra_err *e = NULL;
        bool retry = false;
        int r = reg_client_get(c, h, &rq, &e);
        if (r == 0 && rq.status == 200) {
            snprintf(ctype, 128, "%s", rq.content_type);
            return 0;
        }
        if (r == 0)
            r = status_error(rq.status, what, c, &retry, &e);
        else
            retry = transport_retryable(r);
        if (!retry || attempt >= retries) {
            if (err && !*err)
                *err = e;
            else
                err_free(e);
            return r;
        }
        err_free(e);
        if ((r = backoff(p, attempt, rq.retry_after_s)) < 0)
            return err_set(err, ECANCELED, "pull cancelled");
    }
}

/* The Content-Type to judge a manifest by: one of the four we asked for,
 * else NULL so the body's own mediaType decides (some registries and
 * mirrors answer "application/octet-stream" or nothing). */
static const char *manifest_ctype(const char *ct)
{
    static const char *const known[] = {MT_OCI_INDEX, MT_OCI_MANIFEST, MT_DOCKER_LIST,
                                        MT_DOCKER_MANIFEST};
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (!strcmp(ct, known[i]))
            return ct;
    return NULL;
}

static void digest_of(const void *body, size_t n, char out[7 + 2 * SHA256_LEN + 1])
{
    memcpy(out, "sha256:", 7);
    sha256_hex(body, n, out + 7);
}

/* Stores bytes already verified to have this digest (the writer checks
 * again; nothing is stored on a mismatch). */
static int store_bytes(struct pull *p, const char *digest, const char *body, size_t n,
                       struct runra_err **err)
{
    if (blob_has(p->blobs, digest))
        return 0;
    struct blob_writer *w = NULL;
    int r = blob_writer_new(p->blobs, digest, n, &w, err);
    if (r < 0)
        return r;
    if ((r = blob_writer_write(w, body, n, err)) < 0) {
        blob_writer_abort(w);
        return r;
    }
    return blob_writer_commit(w, err);
}

/* The endpoint's host[:port], which is what credentials are filed under. */
static const char *host_of(const char *base)
{
    const char *s = strstr(base, "://");
    return s ? s + 3 : base;
}

/* Fetches the manifest the reference names, trying each endpoint in turn;
 * the one that answers becomes p->client. */
static int resolve(struct pull *p, struct reg_conn *h, struct reg_membuf *body, char ctype[128],
                   struct runra_err **err)
{
    struct registry_endpoint eps[REGISTRY_MIRRORS_MAX + 1];
    size_t n = 0;
    int r = registry_config_endpoints(p->o->cfg, p->ref->registry, eps, ARRAY_SIZE(eps), &n);
    if (r < 0)
        return err_set(err, r, "registry %s: no endpoints", p->ref->registry);
    if (n == 0)
        return err_set(err, ENOENT, "registry %s: no endpoints", p->ref->registry);
    _cleanup_free_ char *path = NULL, *what = NULL;
    if (asprintf(&path, "/v2/%s/manifests/%s", p->ref->repository,
                 p->ref->digest ? p->ref->digest : p->ref->tag) < 0 ||
        asprintf(&what, "manifest %s", p->refname) < 0)
        return -ENOMEM;
    struct runra_err *last = NULL;
    int last_r = -ENOENT;
    for (size_t i = 0; i < n; i++) {
        const char *user = NULL, *password = NULL;
        const char *cred_name = eps[i].mirror ? host_of(eps[i].base) : p->ref->registry;
        registry_config_credentials(p->o->cfg, cred_name, &user, &password);
        struct reg_client *c = NULL;
        err_free(last);
        last = NULL;
        r = reg_client_new(eps[i].base, p->ref->repository, user, password, p->o->cancel, &p->stop,
                           &c, &last);
        if (r < 0) {
            last_r = r;
            continue;
        }
        /* A mirror that fails hands over to the next endpoint at once; the
         * last endpoint gets the retries. */
        r = fetch_doc(p, c, h, path, ACCEPT_MANIFESTS, what, i + 1 == n ? p->retries : 0, body,
                      ctype, &last);
        if (r == 0) {
            p->client = c;
            return 0;
        }
        reg_client_free(c);
        last_r = r;
        if (r == -ECANCELED || r == -ENOMEM)
            break;
    }
    if (err && !*err)
        *err = last;
    else
        err_free(last);
    return last_r;
}

/* The config: from the store when it is there (stored means verified),
 * else from the registry, verified and stored. */
static int get_config(struct pull *p, struct reg_conn *h, struct image_config *ret,
                      struct runra_err **err)
{
    const struct descriptor *d = &p->m.config;
    struct reg_membuf buf = {.max = MANIFEST_MAX_BYTES};
    int r;
    if (d->size > MANIFEST_MAX_BYTES)
        return err_set(err, E2BIG, "config %s: %llu bytes, more than %u", d->digest,
                       (unsigned long long)d->size, MANIFEST_MAX_BYTES);
    if (blob_has(p->blobs, d->digest)) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        if ((r = blob_open(p->blobs, d->digest, &fd, err)) < 0)
            return r;
        if (fstat(fd, &st) < 0)
            return err_sys(err, errno, "config %s", d->digest);
        if ((uint64_t)st.st_size > MANIFEST_MAX_BYTES)
            return err_set(err, E2BIG, "config %s: larger than %u bytes", d->digest,
                           MANIFEST_MAX_BYTES);
        buf.n = (size_t)st.st_size;
        if (!(buf.p = malloc(buf.n + 1)))
            return -ENOMEM;
        if ((r = read_full(fd, buf.p, buf.n)) < 0) {
            reg_membuf_done(&buf);
            return err_sys(err, r, "config %s", d->digest);
        }
        buf.p[buf.n] = 0;
    } else {
        _cleanup_free_ char *path = NULL, *what = NULL;
        char ctype[128];
        if (asprintf(&path, "/v2/%s/blobs/%s", p->ref->repository, d->digest) < 0 ||
            asprintf(&what, "config %s of %s", d->digest, p->refname) < 0)
            return -ENOMEM;
        if ((r = fetch_doc(p, p->client, h, path, NULL, what, p->retries, &buf, ctype, err)) < 0) {
            reg_membuf_done(&buf);
            return r;
        }
        char got[80];
        digest_of(buf.p ? buf.p : "", buf.n, got);
        if (strcmp(got, d->digest) != 0 || (d->size && d->size != buf.n)) {
            reg_membuf_done(&buf);
            return err_set(err, EBADMSG, "config %s: the registry sent %zu bytes with digest %s",
                           d->digest, buf.n, got);
        }
        if ((r = store_bytes(p, d->digest, buf.p ? buf.p : "", buf.n, err)) < 0) {
            reg_membuf_done(&buf);
            return r;
        }
    }
    r = config_parse(buf.p ? buf.p : "", buf.n, ret, err);
    reg_membuf_done(&buf);
    if (r == -ENOMEM)
        return r;
    if (r < 0) {
        err_prefix(err, "config %s", d->digest);
        return -EBADMSG;
    }
    return 0;
}

/* A layer download's state, behind the sink. */
struct dl {
    struct pull *p;
    const struct descriptor *d;
    struct blob_writer *w;
    uint64_t max;
    uint64_t last_bytes, last_ms;
    bool restart; /* the next try starts over from byte 0 */
};

static int dl_reset(struct dl *b, struct runra_err **err)
{
    blob_writer_abort(b->w);
    b->w = NULL;
    return blob_writer_new(b->p->blobs, b->d->digest, b->max, &b->w, err);
}

static int dl_begin(void *ud, uint64_t offset, int64_t length, struct runra_err **err)
{
    struct dl *b = ud;
    uint64_t have = blob_writer_size(b->w);
    int r;
    if (offset == 0 && have > 0) {
        /* The server ignored our Range and sends it all: start over. */
        if ((r = dl_reset(b, err)) < 0)
            return r;
        have = 0;
    } else if (offset != have) {
        b->restart = true;
        return err_set(err, EIO, "blob %s: the server resumed at byte %llu, not %llu",
                       b->d->digest, (unsigned long long)offset, (unsigned long long)have);
    }
    if (length >= 0) {
        uint64_t end = offset + (uint64_t)length;
        if (b->d->size && end != b->d->size)
            return err_set(err, EBADMSG,
                           "blob %s: the registry sends %llu bytes, the manifest says %llu",
                           b->d->digest, (unsigned long long)end, (unsigned long long)b->d->size);
        if (end > b->max)
            return err_set(err, E2BIG, "blob %s: %llu bytes, more than the limit of %llu",
                           b->d->digest, (unsigned long long)end, (unsigned long long)b->max);
    }
    return 0;
}

static int dl_data(void *ud, const void *data, size_t n, struct runra_err **err)
{
    struct dl *b = ud;
    if (!b->w)
        return err_set(err, EIO, "blob %s: no writer", b->d->digest);
    uint64_t have = blob_writer_size(b->w);
    if (n > b->max - have)
        return err_set(err, E2BIG, "blob %s: more than %llu bytes", b->d->digest,
                       (unsigned long long)b->max);
    int r = blob_writer_write(b->w, data, n, err);
    if (r < 0)
        return r;
    have += n;
    uint64_t now = now_ms(), total = b->d->size;
    if (now - b->last_ms >= PROGRESS_INTERVAL_MS ||
        (total && (have - b->last_bytes) * 100 >= total)) {
        b->last_ms = now;
        b->last_bytes = have;
        post(b->p, PULL_EV_LAYER_PROGRESS, b->d->digest, have, total, NULL);
    }
    return 0;
}

static int download(struct pull *p, struct reg_conn *h, const struct descriptor *d,
                    struct runra_err **err)
{
    _cleanup_free_ char *path = NULL;
    if (asprintf(&path, "/v2/%s/blobs/%s", p->ref->repository, d->digest) < 0)
        return -ENOMEM;
    struct dl b = {.p = p, .d = d, .max = d->size ? d->size : p->max_blob,
                   .last_ms = now_ms()};
    post(p, PULL_EV_LAYER_START, d->digest, 0, d->size, NULL);
    int r = blob_writer_new(p->blobs, d->digest, b.max, &b.w, err);
    if (r < 0)
        return r;
    struct reg_sink sink = {dl_begin, dl_data, &b};
    for (unsigned attempt = 0;; attempt++) {
        struct runra_err *e = NULL;
        bool retry = false;
        /* A failed reset inside dl_begin leaves no writer: make one. */
        if ((b.restart || !b.w) && (r = dl_reset(&b, err)) < 0)
            return r;
        b.restart = false;
        if (d->size && blob_writer_size(b.w) == d->size)
            break; /* every byte arrived before the connection dropped */
        struct reg_request rq = {.path = path, .range_from = blob_writer_size(b.w), .sink = &sink};
        if (cancelled(p)) {
            r = err_set(&e, ECANCELED, "pull cancelled");
        } else if ((r = reg_client_get(p->client, h, &rq, &e)) == 0) {
            if (rq.status == 200 || rq.status == 206)
                break;
            if (rq.status == 416 && rq.range_from > 0) {
                b.restart = true;
                retry = true;
                r = err_set(&e, EIO, "blob %s: the server refused to resume", d->digest);
            } else {
                _cleanup_free_ char *what = NULL;
                if (asprintf(&what, "blob %s of %s", d->digest, p->refname) < 0)
                    what = NULL;
                r = status_error(rq.status, what ? what : d->digest, p->client, &retry, &e);
            }
        } else {
            retry = transport_retryable(r);
        }
        if (!retry || attempt >= p->retries || cancelled(p)) {
            blob_writer_abort(b.w);
            if (err && !*err)
                *err = e;
            else
                err_free(e);
            return r;
        }
        post(p, PULL_EV_LAYER_RETRY, d->digest, b.w ? blob_writer_size(b.w) : 0, d->size,
             e && e->msg ? e->msg : "transfer failed");
        err_free(e);
        if (backoff(p, attempt, rq.retry_after_s) < 0) {
            blob_writer_abort(b.w);
            return err_set(err, ECANCELED, "pull cancelled");
        }
    }
    uint64_t size = blob_writer_size(b.w);
    if ((r = blob_writer_commit(b.w, err)) < 0)
        return r;
    post(p, PULL_EV_LAYER_DONE, d->digest, size, size, NULL);
    return 0;
}

static void *worker(void *arg)
{
    struct pull *p = arg;
    struct reg_conn *h = NULL;
    struct runra_err *e = NULL;
    int r = reg_conn_new(&h, &e);
    while (r == 0) {
        pthread_mutex_lock(&p->lock);
        bool done = p->next_job >= p->njobs || cancelled(p);
        size_t i = done ? 0 : p->jobs[p->next_job++];
        pthread_mutex_unlock(&p->lock);
        if (done)
            break;
        r = download(p, h, &p->m.layers[i], &e);
    }
    if (r == 0 && p->o->cancel && *p->o->cancel)
        r = err_set(&e, ECANCELED, "pull cancelled");
    pthread_mutex_lock(&p->lock);
    if (r < 0 && p->first_r == 0) {
        /* The first failure is the one reported; the others stop. */
        p->first_r = r;
        p->first_err = e;
        e = NULL;
        __atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
    }
    p->alive--;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
    err_free(e);
    reg_conn_free(h);
    return NULL;
}

/* Runs the layer jobs on up to p->parallel threads and hands their events
 * on until every one has ended. */
static int run_jobs(struct pull *p, struct runra_err **err)
{
    pthread_t th[PULL_PARALLEL_MAX];
    size_t n = p->njobs < p->parallel ? p->njobs : p->parallel, started = 0;
    pthread_mutex_lock(&p->lock);
    p->alive = (unsigned)n;
    pthread_mutex_unlock(&p->lock);
    int cr = 0;
    for (; started < n; started++)
        if ((cr = pthread_create(&th[started], NULL, worker, p)) != 0)
            break;
    pthread_mutex_lock(&p->lock);
    p->alive -= (unsigned)(n - started);
    for (;;) {
        drain_locked(p);
        if (p->alive == 0)
            break;
        pthread_cond_wait(&p->cond, &p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (p->first_r < 0) {
        if (err && !*err)
            *err = TAKE_PTR(p->first_err);
        return p->first_r;
    }
    if (started == 0 && n > 0)
        return err_sys(err, cr, "pull: start a download thread");
    return 0;
}

/* The platform's image manifest, whether the reference names it or an
 * index holding it; verified against every digest that names it. */
static int get_manifest(struct pull *p, struct reg_conn *h, struct reg_membuf *body,
                        char digest[80], char **ret_index, struct runra_err **err)
{
    char ctype[128];
    int r = resolve(p, h, body, ctype, err);
    if (r < 0)
        return r;
    const char *b = body->p ? body->p : "";
    digest_of(b, body->n, digest);
    if (p->ref->digest && strcmp(digest, p->ref->digest) != 0)
        return err_set(err, EBADMSG, "manifest %s: the registry sent one with digest %s",
                       p->refname, digest);
    int kind = manifest_kind(manifest_ctype(ctype), b, body->n, err);
    if (kind < 0) {
        err_prefix(err, "manifest %s", p->refname);
        return -EBADMSG;
    }
    if (kind == 0)
        return 0;
    /* An index: pick the platform, fetch that manifest by digest. */
    const char *os = p->o->os ? p->o->os : "linux";
    const char *arch = p->o->arch ? p->o->arch : HOST_ARCH;
    const char *variant = p->o->arch ? p->o->variant : HOST_VARIANT;
    struct descriptor d;
    if ((r = index_pick(b, body->n, os, arch, variant, &d, err)) < 0) {
        err_prefix(err, "%s", p->refname);
        return r == -ENOENT || r == -ENOMEM ? r : -EBADMSG;
    }
    if (!(*ret_index = strdup(digest))) {
        descriptor_done(&d);
        return -ENOMEM;
    }
    _cleanup_free_ char *path = NULL, *what = NULL;
    if (asprintf(&path, "/v2/%s/manifests/%s", p->ref->repository, d.digest) < 0 ||
        asprintf(&what, "manifest %s for %s/%s of %s", d.digest, os, arch, p->refname) < 0) {
        descriptor_done(&d);
        return -ENOMEM;
    }
    r = fetch_doc(p, p->client, h, path, ACCEPT_MANIFESTS, what, p->retries, body, ctype, err);
    if (r == 0) {
        b = body->p ? body->p : "";
        digest_of(b, body->n, digest);
        if (strcmp(digest, d.digest) != 0 || (d.size && d.size != body->n))
            r = err_set(err, EBADMSG, "%s: the registry sent %zu bytes with digest %s", what,
                        body->n, digest);
        else if ((kind = manifest_kind(manifest_ctype(ctype), b, body->n, err)) < 0) {
            err_prefix(err, "%s", what);
            r = -EBADMSG;
        }
        else if (kind != 0)
            r = err_set(err, EBADMSG, "%s: an index inside an index", what);
    }
    descriptor_done(&d);
    return r;
}

static int pull(struct pull *p, struct pull_result *res, struct runra_err **err)
{
    _cleanup_(reg_membuf_done) struct reg_membuf body = {.max = MANIFEST_MAX_BYTES};
    struct reg_conn *h = NULL;
    struct image_config cfg = {0};
    char digest[80];
    int r = reg_conn_new(&h, err);
    if (r < 0)
        return r;
    if ((r = get_manifest(p, h, &body, digest, &res->index_digest, err)) < 0)
        goto out;
    const char *b = body.p ? body.p : "";
    if ((r = manifest_parse(b, body.n, &p->m, err)) < 0) {
        err_prefix(err, "manifest %s", digest);
        r = r == -ENOMEM ? r : -EBADMSG;
        goto out;
    }
    if ((r = store_bytes(p, digest, b, body.n, err)) < 0)
        goto out;
    if (!(res->manifest_digest = strdup(digest)) ||
        !(res->config_digest = strdup(p->m.config.digest))) {
        r = -ENOMEM;
        goto out;
    }
    post(p, PULL_EV_RESOLVED, res->manifest_digest, 0, 0, NULL);
    drain(p);
    if ((r = get_config(p, h, &cfg, err)) < 0)
        goto out;
    if (cfg.ndiff_ids != p->m.nlayers) {
        r = err_set(err, EBADMSG, "%s: the config lists %zu diff-ids for %zu layers", p->refname,
                    cfg.ndiff_ids, p->m.nlayers);
        goto out;
    }
    if (!(p->jobs = calloc(p->m.nlayers + 1, sizeof(*p->jobs)))) {
        r = -ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < p->m.nlayers; i++) {
        const struct descriptor *d = &p->m.layers[i];
        if (d->size > p->max_blob) {
            r = err_set(err, E2BIG, "layer %s: %llu bytes, more than the limit of %llu",
                        d->digest, (unsigned long long)d->size, (unsigned long long)p->max_blob);
            goto out;
        }
        bool dup = false;
        for (size_t k = 0; k < p->njobs && !dup; k++)
            dup = !strcmp(p->m.layers[p->jobs[k]].digest, d->digest);
        if (dup || (p->o->have_layer && p->o->have_layer(cfg.diff_ids[i], p->o->ud)) ||
            blob_has(p->blobs, d->digest))
            post(p, PULL_EV_LAYER_CACHED, d->digest, 0, d->size, NULL);
        else
            p->jobs[p->njobs++] = i;
    }
    drain(p);
    if (cancelled(p)) {
        r = err_set(err, ECANCELED, "pull cancelled");
        goto out;
    }
    r = run_jobs(p, err);
out:
    image_config_done(&cfg);
    reg_conn_free(h);
    return r;
}

int image_pull(struct blob_store *blobs, const struct image_ref *ref, const struct pull_opts *o,
               struct pull_result *ret, struct runra_err **err)
{
    static const struct pull_opts defaults = {0};
    if (!o)
        o = &defaults;
    if (ref->digest && strncmp(ref->digest, "sha256:", 7) != 0)
        return err_set(err, EINVAL, "image '%s': only sha256 digests can be pulled",
                       ref->repository);
    _cleanup_free_ char *refname = NULL;
    if (asprintf(&refname, "%s/%s%s%s", ref->registry, ref->repository,
                 ref->digest ? "@" : ":", ref->digest ? ref->digest : ref->tag) < 0)
        return -ENOMEM;
    struct pull p = {
        .blobs = blobs,
        .ref = ref,
        .refname = refname,
        .o = o,
        .parallel = o->parallel ? o->parallel : PULL_PARALLEL_DEFAULT,
        .retries = o->retries ? o->retries : PULL_RETRIES_DEFAULT,
        .max_blob = o->max_blob_bytes ? o->max_blob_bytes : PULL_MAX_BLOB_DEFAULT,
    };
    if (p.parallel > PULL_PARALLEL_MAX)
        p.parallel = PULL_PARALLEL_MAX;
    if (p.retries > PULL_RETRIES_MAX)
        p.retries = PULL_RETRIES_MAX;
    pthread_mutex_init(&p.lock, NULL);
    pthread_cond_init(&p.cond, NULL);
    struct pull_result res = {0};
    int r = pull(&p, &res, err);
    drain(&p);
    image_manifest_done(&p.m);
    free(p.jobs);
    err_free(p.first_err);
    reg_client_free(p.client);
    pthread_cond_destroy(&p.cond);
    pthread_mutex_destroy(&p.lock);
    if (r < 0) {
        pull_result_done(&res);
        return r;
    }
    *ret = res;
    return 0;
}

void pull_result_done(struct pull_result *r)
{
    if (!r)
        return;
    free(r->manifest_digest);
    free(r->config_digest);
    free(r->index_digest);
    *r = (struct pull_result){0};
}
