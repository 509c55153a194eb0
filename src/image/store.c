/* The image index and its collection (store.h). images.json is read and
 * written whole under the index mutex: it holds a few hundred bytes per
 * image, and every change is rare next to the pulls that cause it. What an
 * image is made of is never copied into it: the manifest and config blobs
 * say that, and are read again when asked. */
#include "image/store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/util.h"
#include "image/layers.h"
#include "image/ref.h"

#define INDEX_MAX_BYTES (8u << 20)
#define UNPACK_THREADS 4

struct entry {
    char *digest, *config;
    char **names;
    size_t nnames;
    int64_t stored_ms;
};

struct image_store {
    char *dir, *layers, *index;
    struct blob_store *blobs;
    struct layer_limits lim;
    pthread_mutex_t mu;      /* the index */
    pthread_rwlock_t gc;     /* readers: begin/end; the writer: a collection */
};

static void strv_done(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void entry_done(struct entry *e)
{
    free(e->digest);
    free(e->config);
    for (size_t i = 0; i < e->nnames; i++)
        free(e->names[i]);
    free(e->names);
}

static void entries_free(struct entry *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        entry_done(&v[i]);
    free(v);
}

/* images.json: {"images": [{"digest", "config", "names": [...], "stored"}]}.
 * Written only by this file, but read strictly all the same. */
static int index_load(struct image_store *s, struct entry **ret, size_t *ret_n,
                      struct runra_err **err)
{
    _cleanup_free_ char *buf = NULL;
    int r = read_file_str(s->index, INDEX_MAX_BYTES, &buf);
    if (r == -ENOENT) {
        *ret = NULL;
        *ret_n = 0;
        return 0;
    }
    if (r < 0)
        return err_sys(err, r, "read %s", s->index);
    json_error_t je;
    json_t *root = json_loads(buf, JSON_REJECT_DUPLICATES, &je);
    json_t *arr = root ? json_object_get(root, "images") : NULL;
    if (!json_is_array(arr)) {
        json_decref(root);
        return err_set(err, EBADMSG, "%s is damaged: %s", s->index, root ? "no images" : je.text);
    }
    size_t n = json_array_size(arr);
    struct entry *v = calloc(n ? n : 1, sizeof(*v));
    if (!v) {
        json_decref(root);
        return -ENOMEM;
    }
    r = 0;
    for (size_t i = 0; i < n && r >= 0; i++) {
        const char *d = NULL, *c = NULL;
        json_t *names = NULL;
        json_int_t stored = 0;
        if (json_unpack_ex(json_array_get(arr, i), &je, JSON_STRICT, "{s:s,s:s,s:o,s:I}",
                           "digest", &d, "config", &c, "names", &names, "stored", &stored) < 0 ||
            !json_is_array(names) || !image_digest_ok(d) || !image_digest_ok(c)) {
            r = err_set(err, EBADMSG, "%s is damaged (entry %zu)", s->index, i);
            break;
        }
        v[i].digest = strdup(d);
        v[i].config = strdup(c);
        v[i].stored_ms = stored;
        v[i].names = calloc(json_array_size(names) + 1, sizeof(char *));
        if (!v[i].digest || !v[i].config || !v[i].names) {
            r = -ENOMEM;
            break;
        }
        size_t k;
        json_t *nm;
        json_array_foreach(names, k, nm) {
            if (!json_is_string(nm) || !(v[i].names[v[i].nnames++] = strdup(json_string_value(nm)))) {
                r = err_set(err, EBADMSG, "%s is damaged (entry %zu)", s->index, i);
                break;
            }
        }
    }
    json_decref(root);
    if (r < 0) {
        entries_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

static int index_save(struct image_store *s, const struct entry *v, size_t n,
                      struct runra_err **err)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++) {
        json_t *names = json_array();
        for (size_t k = 0; names && k < v[i].nnames; k++)
            json_array_append_new(names, json_string(v[i].names[k]));
        json_array_append_new(arr, json_pack("{s:s,s:s,s:o,s:I}", "digest", v[i].digest, "config",
                                             v[i].config, "names", names ? names : json_array(),
                                             "stored", (json_int_t)v[i].stored_ms));
    }
    json_t *root = json_pack("{s:o}", "images", arr ? arr : json_array());
    _cleanup_free_ char *text = root ? json_dumps(root, JSON_INDENT(1)) : NULL;
    json_decref(root);
    if (!text)
        return -ENOMEM;
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s.tmp", s->index);
    _cleanup_close_ int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return err_sys(err, errno, "write %s", tmp);
    int r = write_full(fd, text, strlen(text));
    if (r >= 0 && fsync(fd) < 0)
        r = -errno;
    if (r >= 0 && rename(tmp, s->index) < 0)
        r = -errno;
    if (r < 0) {
        unlink(tmp);
        return err_sys(err, r, "write %s", s->index);
    }
    return 0;
}

int image_store_open(const char *dir, const struct layer_limits *lim, struct image_store **ret,
                     struct runra_err **err)
{
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return err_sys(err, errno, "image store '%s'", dir);
    struct image_store *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    /* Readers first, explicitly: a create holds the lock while the pull it
     * waits for takes it again, so a waiting collection must not block new
     * readers (that would deadlock them). */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_READER_NP);
    pthread_rwlock_init(&s->gc, &ra);
    pthread_rwlockattr_destroy(&ra);
    s->lim = *lim;
    _cleanup_free_ char *blobs = NULL;
    if (asprintf(&s->dir, "%s", dir) < 0 || asprintf(&s->layers, "%s/layers", dir) < 0 ||
        asprintf(&s->index, "%s/images.json", dir) < 0 || asprintf(&blobs, "%s/blobs", dir) < 0) {
        image_store_free(s);
        return -ENOMEM;
    }
    int r = blob_store_open(blobs, &s->blobs, err);
    if (r >= 0 && mkdir(s->layers, 0700) < 0 && errno != EEXIST)
        r = err_sys(err, errno, "layer store '%s'", s->layers);
    if (r < 0) {
        image_store_free(s);
        return r;
    }
    /* Layers whose unpacking a crash interrupted. */
    DIR *d = opendir(s->layers);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (strncmp(de->d_name, "tmp-", 4) == 0) {
            char p[PATH_MAX];
            snprintf(p, sizeof(p), "%s/%s", s->layers, de->d_name);
            rm_rf(p);
        }
    }
    if (d)
        closedir(d);
    *ret = s;
    return 0;
}

void image_store_free(struct image_store *s)
{
    if (!s)
        return;
    blob_store_free(s->blobs);
    pthread_mutex_destroy(&s->mu);
    pthread_rwlock_destroy(&s->gc);
    free(s->dir);
    free(s->layers);
    free(s->index);
    free(s);
}

struct blob_store *image_store_blobs(struct image_store *s) { return s->blobs; }
const char *image_store_layers_dir(const struct image_store *s) { return s->layers; }
bool image_store_has_layer(struct image_store *s, const char *diff_id)
{
    return layers_has(s->layers, diff_id);
}

void image_store_begin(struct image_store *s) { pthread_rwlock_rdlock(&s->gc); }
void image_store_end(struct image_store *s) { pthread_rwlock_unlock(&s->gc); }

int image_store_read_blob(struct image_store *s, const char *digest, char **ret,
                          size_t *ret_len, struct runra_err **err)
{
    _cleanup_close_ int fd = -1;
    int r = blob_open(s->blobs, digest, &fd, err);
    if (r < 0)
        return r;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return err_sys(err, errno, "blob %s", digest);
    if ((uint64_t)st.st_size > MANIFEST_MAX_BYTES)
        return err_set(err, E2BIG, "blob %.80s is too large for a manifest or config", digest);
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return -ENOMEM;
    r = read_full(fd, buf, (size_t)st.st_size);
    if (r < 0) {
        free(buf);
        return err_sys(err, r, "read blob %s", digest);
    }
    buf[st.st_size] = 0;
    *ret = buf;
    *ret_len = (size_t)st.st_size;
    return 0;
}

/* The manifest and config of a stored image, parsed and checked against
 * each other. */
static int image_load(struct image_store *s, const char *digest, struct image_manifest *m,
                      struct image_config *c, struct runra_err **err)
{
    _cleanup_free_ char *mb = NULL, *cb = NULL;
    size_t ml, cl;
    int r = image_store_read_blob(s, digest, &mb, &ml, err);
    if (r >= 0)
        r = manifest_parse(mb, ml, m, err);
    if (r < 0)
        return err_prefix(err, "image %.19s", digest);
    r = image_store_read_blob(s, m->config.digest, &cb, &cl, err);
    if (r >= 0)
        r = config_parse(cb, cl, c, err);
    if (r >= 0 && c->ndiff_ids != m->nlayers)
        r = err_set(err, EBADMSG, "the config names %zu layers, the manifest %zu", c->ndiff_ids,
                    m->nlayers);
    if (r < 0) {
        image_manifest_done(m);
        image_config_done(c);
        return err_prefix(err, "image %.19s", digest);
    }
    return 0;
}

struct unpack_slot {
    char *tmp;              /* unpacked, not yet placed (it implies directories) */
    struct layer_stats st;
};

struct unpack_job {
    struct image_store *s;
    const struct image_manifest *m;
    const struct image_config *c;
    char **chains;
    struct unpack_slot *slots;
    image_unpack_fn progress;
    void *ud;
    pthread_mutex_t mu;
    size_t next;
    int r;
    struct runra_err *err;
};

/* A layer blob is only the way to its directory: once that is there, the
 * blob is dead weight. */
static void drop_blob(struct image_store *s, const char *digest)
{
    blob_remove(s->blobs, digest, NULL);
}

/* Unpacks one missing layer: placed at once under its diff-id when it
 * implies nothing, else left in its slot for the bottom-up pass. */
static int unpack_one(struct unpack_job *j, size_t i, struct runra_err **err)
{
    const char *blob = j->m->layers[i].digest, *diff = j->c->diff_ids[i];
    char name[65];
    if (layers_present(j->s->layers, diff, j->chains[i], name) == 0)
        return 0;
    struct unpack_slot *sl = &j->slots[i];
    int r = layers_unpack_tmp(j->s->layers, j->s->blobs, blob, diff, &j->s->lim, &sl->tmp,
                              &sl->st, err);
    if (r == -ENOENT && layers_present(j->s->layers, diff, j->chains[i], name) == 0)
        return 0; /* another commit made it and dropped the blob meanwhile */
    if (r < 0 || sl->st.nimplied)
        return r;
    r = layers_place(j->s->layers, sl->tmp, diff, err);
    free(sl->tmp);
    sl->tmp = NULL;
    layer_stats_done(&sl->st);
    if (r >= 0)
        drop_blob(j->s, blob);
    return r;
}

/* Unpacks layers until none is left or one failed; several run at once,
 * each layer in its own directory. */
static void *unpack_worker(void *p)
{
    struct unpack_job *j = p;
    for (;;) {
        pthread_mutex_lock(&j->mu);
        size_t i = j->next++;
        bool stop = j->r < 0 || i >= j->m->nlayers;
        if (!stop && j->progress)
            j->progress(j->m->layers[i].digest, false, j->ud);
        pthread_mutex_unlock(&j->mu);
        if (stop)
            return NULL;
        struct runra_err *e = NULL;
        int r = unpack_one(j, i, &e);
        pthread_mutex_lock(&j->mu);
        if (r < 0 && j->r >= 0) {
            j->r = r;
            j->err = e;
            e = NULL;
        }
        if (r >= 0 && j->progress && !j->slots[i].tmp)
            j->progress(j->m->layers[i].digest, true, j->ud);
        pthread_mutex_unlock(&j->mu);
        err_free(e);
    }
}

/* The layers that imply directories, bottom up: each takes what its lower
 * layers (all placed by now) say those are, and is placed under its chain
 * id. */
static int place_implied(struct unpack_job *j, struct runra_err **err)
{
    int r = 0;
    for (size_t i = 0; r >= 0 && i < j->m->nlayers; i++) {
        struct unpack_slot *sl = &j->slots[i];
        if (!sl->tmp)
            continue;
        int lowers[MANIFEST_LAYERS_MAX];
        size_t n = 0;
        for (size_t k = i; r >= 0 && k-- > 0;) {
            char name[65], path[PATH_MAX];
            if (layers_present(j->s->layers, j->c->diff_ids[k], j->chains[k], name) < 0) {
                r = err_set(err, ENOENT, "layer %zu vanished while unpacking", k);
                break;
            }
            snprintf(path, sizeof(path), "%s/sha256/%s", j->s->layers, name);
            lowers[n] = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (lowers[n] < 0)
                r = err_sys(err, errno, "open layer %s", name);
            else
                n++;
        }
        if (r >= 0)
            r = layers_fix_implied(sl->tmp, &sl->st, lowers, n, err);
        for (size_t k = 0; k < n; k++)
            close(lowers[k]);
        if (r >= 0)
            r = layers_place(j->s->layers, sl->tmp, j->chains[i], err);
        if (r >= 0) {
            drop_blob(j->s, j->m->layers[i].digest);
            if (j->progress)
                j->progress(j->m->layers[i].digest, true, j->ud);
        }
    }
    return r;
}

static int unpack_all(struct image_store *s, const struct image_manifest *m,
                      const struct image_config *c, image_unpack_fn progress, void *ud,
                      struct runra_err **err)
{
    struct unpack_job j = {.s = s, .m = m, .c = c, .progress = progress, .ud = ud};
    int r = layers_chain_ids(c->diff_ids, c->ndiff_ids, &j.chains);
    if (r < 0)
        return err_set(err, EBADMSG, "the config's diff-ids are not all sha256");
    j.slots = calloc(m->nlayers + 1, sizeof(*j.slots));
    if (!j.slots) {
        strv_done(j.chains);
        return -ENOMEM;
    }
    pthread_mutex_init(&j.mu, NULL);
    pthread_t t[UNPACK_THREADS];
    size_t nt = 0;
    size_t want = m->nlayers < UNPACK_THREADS ? m->nlayers : UNPACK_THREADS;
    for (; nt + 1 < want; nt++)
        if (pthread_create(&t[nt], NULL, unpack_worker, &j) != 0)
            break;
    unpack_worker(&j);
    for (size_t i = 0; i < nt; i++)
        pthread_join(t[i], NULL);
    pthread_mutex_destroy(&j.mu);
    r = j.r;
    if (r < 0) {
        if (err && !*err)
            *err = j.err;
        else
            err_free(j.err);
    } else {
        r = place_implied(&j, err);
    }
    for (size_t i = 0; i < m->nlayers; i++) {
        if (j.slots[i].tmp) {
            rm_rf(j.slots[i].tmp);
            free(j.slots[i].tmp);
        }
        layer_stats_done(&j.slots[i].st);
    }
    free(j.slots);
    strv_done(j.chains);
    return r;
}

static ssize_t find_digest(const struct entry *v, size_t n, const char *digest)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(v[i].digest, digest))
            return (ssize_t)i;
    return -1;
}

/* Takes name off every entry but keep. */
static void drop_name(struct entry *v, size_t n, const char *name, ssize_t keep)
{
    for (size_t i = 0; i < n; i++) {
        if ((ssize_t)i == keep)
            continue;
        for (size_t k = 0; k < v[i].nnames; k++) {
            if (strcmp(v[i].names[k], name) != 0)
                continue;
            free(v[i].names[k]);
            memmove(&v[i].names[k], &v[i].names[k + 1],
                    (v[i].nnames - k) * sizeof(char *)); /* the NULL moves too */
            v[i].nnames--;
            k--;
        }
    }
}

int image_store_commit(struct image_store *s, const char *name, const char *manifest_digest,
                       image_unpack_fn progress, void *ud, struct runra_err **err)
{
    struct image_manifest m = {0};
    struct image_config c = {0};
    int r = image_load(s, manifest_digest, &m, &c, err);
    if (r < 0)
        return r;
    r = unpack_all(s, &m, &c, progress, ud, err);
    if (r < 0)
        goto out;
    pthread_mutex_lock(&s->mu);
    struct entry *v = NULL;
    size_t n = 0;
    r = index_load(s, &v, &n, err);
    if (r >= 0) {
        ssize_t at = find_digest(v, n, manifest_digest);
        if (at < 0) {
            struct entry *nv = realloc(v, (n + 1) * sizeof(*v));
            if (!nv) {
                r = -ENOMEM;
            } else {
                v = nv;
                at = (ssize_t)n++;
                v[at] = (struct entry){.digest = strdup(manifest_digest),
                                       .config = strdup(m.config.digest),
                                       .names = calloc(1, sizeof(char *)),
                                       .stored_ms = (int64_t)wall_ms()};
                if (!v[at].digest || !v[at].config || !v[at].names)
                    r = -ENOMEM;
            }
        }
        size_t total = 0;
        for (size_t k = 0; k < n; k++)
            total += v[k].nnames;
        if (r >= 0 && name && total >= IMAGE_NAMES_MAX)
            r = err_set(err, E2BIG, "the store names %d images already: remove some",
                        IMAGE_NAMES_MAX);
        if (r >= 0 && name) {
            drop_name(v, n, name, at);
            bool has = false;
            for (size_t k = 0; k < v[at].nnames; k++)
                has = has || !strcmp(v[at].names[k], name);
            if (!has) {
                char **nn = realloc(v[at].names, (v[at].nnames + 2) * sizeof(char *));
                if (!nn || !(nn[v[at].nnames] = strdup(name))) {
                    if (nn)
                        v[at].names = nn;
                    r = -ENOMEM;
                } else {
                    v[at].names = nn;
                    nn[++v[at].nnames] = NULL;
                }
            }
        }
        if (r >= 0)
            r = index_save(s, v, n, err);
    }
    entries_free(v, n);
    pthread_mutex_unlock(&s->mu);
out:
    image_manifest_done(&m);
    image_config_done(&c);
    return r;
}

static int fill_info(struct image_store *s, const struct entry *e, struct image_info *ret,
                     struct runra_err **err)
{
    struct image_manifest m = {0};
    struct image_info i = {.stored_ms = e->stored_ms};
    int r = image_load(s, e->digest, &m, &i.config, err);
    if (r < 0)
        return r;
    i.digest = strdup(e->digest);
    i.config_digest = strdup(e->config ? e->config : m.config.digest);
    i.names = calloc(e->nnames + 1, sizeof(char *));
    r = i.digest && i.config_digest && i.names ? 0 : -ENOMEM;
    for (size_t k = 0; r >= 0 && k < e->nnames; k++)
        if (!(i.names[k] = strdup(e->names[k])))
            r = -ENOMEM;
    char **chains = NULL;
    i.layer_dirs = calloc(m.nlayers + 1, sizeof(char *));
    if (r >= 0 && !i.layer_dirs)
        r = -ENOMEM;
    if (r >= 0 && layers_chain_ids(i.config.diff_ids, i.config.ndiff_ids, &chains) < 0)
        r = err_set(err, EBADMSG, "image %.19s: diff-ids not sha256", e->digest);
    for (size_t k = 0; r >= 0 && k < m.nlayers; k++) {
        i.size += m.layers[k].size;
        char name[65] = "";
        layers_present(s->layers, i.config.diff_ids[k], chains[k], name);
        if (!(i.layer_dirs[k] = strdup(name)))
            r = -ENOMEM;
    }
    strv_done(chains);
    i.nlayers = m.nlayers;
    image_manifest_done(&m);
    if (r < 0) {
        image_info_done(&i);
        return r;
    }
    *ret = i;
    return 0;
}

/* The entry ref names: a name, a digest, or a unique hex prefix. */
static int lookup(const struct entry *v, size_t n, const char *ref, size_t *ret,
                  struct runra_err **err)
{
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < v[i].nnames; k++)
            if (!strcmp(v[i].names[k], ref)) {
                *ret = i;
                return 0;
            }
    const char *hex = str_has_prefix(ref, "sha256:") ? ref + 7 : ref;
    size_t len = strlen(hex);
    if (len < 12 || len > 64 || strspn(hex, "0123456789abcdef") != len)
        return err_set(err, ENOENT, "no image '%.300s'", ref);
    ssize_t found = -1;
    for (size_t i = 0; i < n; i++) {
        if (strncmp(v[i].digest + 7, hex, len) != 0)
            continue;
        if (found >= 0)
            return err_set(err, EINVAL, "'%.80s' names more than one image", ref);
        found = (ssize_t)i;
    }
    if (found < 0)
        return err_set(err, ENOENT, "no image '%.300s'", ref);
    *ret = (size_t)found;
    return 0;
}

int image_store_get(struct image_store *s, const char *ref, struct image_info *ret,
                    struct runra_err **err)
{
    pthread_mutex_lock(&s->mu);
    struct entry *v = NULL;
    size_t n = 0, at;
    int r = index_load(s, &v, &n, err);
    struct runra_err *le = NULL;
    if (r >= 0)
        r = lookup(v, n, ref, &at, &le);
    if (r >= 0) {
        r = fill_info(s, &v[at], ret, err);
    } else if (r == -ENOENT && image_digest_ok(ref) && blob_has(s->blobs, ref)) {
        /* An image no name points at any more, which a sandbox still
         * uses: its blobs say what it is. */
        char *d = strdup(ref), *none = NULL;
        struct entry e = {.digest = d, .names = &none};
        r = d ? fill_info(s, &e, ret, err) : -ENOMEM;
        free(d);
    } else if (r < 0 && err && !*err) {
        *err = le;
        le = NULL;
    }
    err_free(le);
    entries_free(v, n);
    pthread_mutex_unlock(&s->mu);
    return r;
}

int image_store_list(struct image_store *s, struct image_info **ret, size_t *ret_n,
                     struct runra_err **err)
{
    pthread_mutex_lock(&s->mu);
    struct entry *v = NULL;
    size_t n = 0;
    int r = index_load(s, &v, &n, err);
    struct image_info *out = r >= 0 ? calloc(n ? n : 1, sizeof(*out)) : NULL;
    if (r >= 0 && !out)
        r = -ENOMEM;
    size_t k = 0;
    for (size_t i = 0; r >= 0 && i < n; i++) {
        /* An image whose blobs went missing is listed by what the index
         * knows, so it can still be seen and removed. */
        if (fill_info(s, &v[i], &out[k], NULL) < 0) {
            out[k] = (struct image_info){.digest = strdup(v[i].digest),
                                         .config_digest = strdup(v[i].config),
                                         .names = calloc(v[i].nnames + 1, sizeof(char *)),
                                         .stored_ms = v[i].stored_ms};
            for (size_t j = 0; out[k].names && j < v[i].nnames; j++)
                out[k].names[j] = strdup(v[i].names[j]);
        }
        k++;
    }
    entries_free(v, n);
    pthread_mutex_unlock(&s->mu);
    if (r < 0) {
        image_info_list_free(out, k);
        return r;
    }
    *ret = out;
    *ret_n = k;
    return 0;
}

int image_store_remove(struct image_store *s, const char *ref, struct image_info *ret_removed,
                       struct runra_err **err)
{
    pthread_mutex_lock(&s->mu);
    struct entry *v = NULL;
    size_t n = 0, at;
    int r = index_load(s, &v, &n, err);
    if (r >= 0)
        r = lookup(v, n, ref, &at, err);
    if (r >= 0 && ret_removed && fill_info(s, &v[at], ret_removed, NULL) < 0)
        *ret_removed = (struct image_info){.digest = strdup(v[at].digest)};
    if (r >= 0) {
        bool by_name = false;
        for (size_t k = 0; k < v[at].nnames; k++)
            by_name = by_name || !strcmp(v[at].names[k], ref);
        if (by_name)
            drop_name(v, n, ref, -1);
        /* An image goes from the index with its last name (docker's rmi
         * by name) or when named by its digest. */
        if (!by_name || v[at].nnames == 0) {
            entry_done(&v[at]);
            memmove(&v[at], &v[at + 1], (n - at - 1) * sizeof(*v));
            n--;
        }
        r = index_save(s, v, n, err);
    }
    entries_free(v, n);
    pthread_mutex_unlock(&s->mu);
    return r;
}

static bool in(char *const *v, const char *s)
{
    for (size_t i = 0; v && v[i]; i++)
        if (!strcmp(v[i], s))
            return true;
    return false;
}

/* Adds s to the growing set *v (of *n). */
static int add(char ***v, size_t *n, const char *s)
{
    if (in(*v, s))
        return 0;
    char **nv = realloc(*v, (*n + 2) * sizeof(char *));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return -ENOMEM;
    nv[++*n] = NULL;
    return 0;
}

/* Removes every entry of <dir>/sha256 not in live ("sha256:<hex>"). */
static uint64_t sweep(const char *dir, char *const *live, bool dirs)
{
    char sub[PATH_MAX];
    snprintf(sub, sizeof(sub), "%s/sha256", dir);
    DIR *d = opendir(sub);
    if (!d)
        return 0;
    uint64_t removed = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char digest[96], p[PATH_MAX + 256];
        snprintf(digest, sizeof(digest), "sha256:%.64s", de->d_name);
        if (in(live, digest))
            continue;
        snprintf(p, sizeof(p), "%s/%s", sub, de->d_name);
        if ((dirs ? rm_rf(p) : unlink(p)) == 0) {
            removed++;
            if (dirs) {
                snprintf(p, sizeof(p), "%s/implied/%.64s", dir, de->d_name);
                unlink(p);
            }
        }
    }
    closedir(d);
    return removed;
}

int image_store_gc(struct image_store *s, image_keep_fn keep, void *ud,
                   struct image_gc_stats *ret, struct runra_err **err)
{
    pthread_rwlock_wrlock(&s->gc);
    pthread_mutex_lock(&s->mu);
    char **kept = NULL, **blobs = NULL, **layers = NULL;
    size_t nb = 0, nl = 0;
    struct entry *v = NULL;
    size_t n = 0;
    int r = index_load(s, &v, &n, err);
    if (r >= 0 && keep)
        r = keep(&kept, ud);
    /* The roots: every indexed image and every image a sandbox uses, with
     * the manifest, config and layers each names. An image whose manifest
     * cannot be read keeps what the index says of it. */
    size_t nroots = n;
    for (size_t i = 0; kept && kept[i]; i++)
        nroots++;
    for (size_t i = 0; r >= 0 && i < nroots; i++) {
        const char *d = i < n ? v[i].digest : kept[i - n];
        if (!image_digest_ok(d))
            continue;
        r = add(&blobs, &nb, d);
        if (r >= 0 && i < n)
            r = add(&blobs, &nb, v[i].config);
        struct image_manifest m = {0};
        struct image_config c = {0};
        if (r < 0)
            break;
        /* An image whose manifest cannot be read cannot say what it holds,
         * so nothing is collected: better a full disk than a sandbox
         * whose layers went from under it. */
        if ((r = image_load(s, d, &m, &c, err)) < 0)
            break;
        char **chains = NULL;
        r = add(&blobs, &nb, m.config.digest);
        if (r >= 0 && layers_chain_ids(c.diff_ids, c.ndiff_ids, &chains) < 0)
            r = err_set(err, EBADMSG, "image %.19s: diff-ids not sha256", d);
        for (size_t k = 0; r >= 0 && k < m.nlayers; k++) {
            char name[65];
            /* A layer blob lives only until its directory does. */
            if (layers_present(s->layers, c.diff_ids[k], chains[k], name) < 0)
                r = add(&blobs, &nb, m.layers[k].digest);
            if (r >= 0)
                r = add(&layers, &nl, c.diff_ids[k]);
            if (r >= 0)
                r = add(&layers, &nl, chains[k]);
        }
        strv_done(chains);
        image_manifest_done(&m);
        image_config_done(&c);
    }
    struct image_gc_stats st = {0};
    if (r >= 0) {
        char bdir[PATH_MAX];
        snprintf(bdir, sizeof(bdir), "%s/blobs", s->dir);
        st.blobs = sweep(bdir, blobs, false);
        st.layers = sweep(s->layers, layers, true);
    }
    entries_free(v, n);
    strv_done(kept);
    strv_done(blobs);
    strv_done(layers);
    pthread_mutex_unlock(&s->mu);
    pthread_rwlock_unlock(&s->gc);
    if (r < 0)
        return r == -ENOMEM ? r : err_prefix(err, "image collection");
    if (ret)
        *ret = st;
    return 0;
}

void image_info_done(struct image_info *i)
{
    if (!i)
        return;
    free(i->digest);
    free(i->config_digest);
    strv_done(i->names);
    strv_done(i->layer_dirs);
    image_config_done(&i->config);
    *i = (struct image_info){0};
}

void image_info_list_free(struct image_info *l, size_t n)
{
    for (size_t i = 0; l && i < n; i++)
        image_info_done(&l[i]);
    free(l);
}
