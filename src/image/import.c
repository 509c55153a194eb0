/* Local image sources (import.h). A layout directory is walked from its
 * index.json, each blob copied in as it is needed; an archive is read once,
 * front to back, every blob it carries going into the store (verified), and
 * then walked the same way. Nothing in a source names a path that is
 * written: archive member names are only looked up, never created. */
#include "image/import.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/util.h"
#include "image/manifest.h"
#include "image/ref.h"

#define IMPORT_BLOB_MAX (8ull << 30)
#define IMPORT_ENTRIES_MAX 100000
#define IMPORT_IMAGES_MAX 64
#define ANN_REF "org.opencontainers.image.ref.name"
#define ANN_CONTAINERD "io.containerd.image.name"

const char *image_host_arch(void)
{
#if defined(__x86_64__)
    return "amd64";
#elif defined(__aarch64__)
    return "arm64";
#elif defined(__i386__)
    return "386";
#elif defined(__riscv) && __riscv_xlen == 64
    return "riscv64";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    return "ppc64le";
#elif defined(__s390x__)
    return "s390x";
#else
    return "unknown";
#endif
}

int image_source_parse(const char *s, enum image_source_kind *kind, const char **path)
{
    static const struct {
        const char *prefix;
        enum image_source_kind k;
    } pre[] = {{"oci:", IMAGE_SRC_LAYOUT},
               {"oci-archive:", IMAGE_SRC_OCI_ARCHIVE},
               {"docker-archive:", IMAGE_SRC_DOCKER_ARCHIVE}};
    for (size_t i = 0; i < ARRAY_SIZE(pre); i++)
        if (str_has_prefix(s, pre[i].prefix)) {
            *kind = pre[i].k;
            *path = s + strlen(pre[i].prefix);
            return 1;
        }
    if (s[0] == '/' || str_has_prefix(s, "./") || str_has_prefix(s, "../")) {
        *kind = IMAGE_SRC_LAYOUT;
        *path = s;
        return 1;
    }
    return 0;
}

/* What the walk needs of its source: the blob named digest in the store. */
struct source {
    struct image_store *s;
    enum image_source_kind kind;
    int dirfd; /* a layout: its directory */
    bool named; /* the source's own names count */
    struct image_imported *out;
    size_t nout, nnames;
    uint64_t written; /* bytes stored so far, bounded by IMPORT_BYTES_MAX */
    char **fresh;     /* blobs this import stored (NULL-terminated) */
    size_t nfresh;
    char **used;      /* manifests and configs an imported image uses */
    size_t nused;
};

static int strv_add(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 2) * sizeof(char *));
    if (!nv)
        return -ENOMEM;
    *v = nv;
    if (!(nv[*n] = strdup(s)))
        return -ENOMEM;
    nv[++*n] = NULL;
    return 0;
}

static void strv_drop(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* The most a blob may still have, given what the import stored so far. */
static uint64_t room(const struct source *src)
{
    uint64_t left = src->written < IMPORT_BYTES_MAX ? IMPORT_BYTES_MAX - src->written : 0;
    return left < IMPORT_BLOB_MAX ? left : IMPORT_BLOB_MAX;
}

static int fetch(struct source *src, const char *digest, struct runra_err **err)
{
    struct blob_store *blobs = image_store_blobs(src->s);
    if (blob_has(blobs, digest))
        return 0;
    if (src->kind != IMAGE_SRC_LAYOUT)
        return err_set(err, ENOENT, "the archive has no blob %.80s", digest);
    if (!image_digest_ok(digest) || !str_has_prefix(digest, "sha256:"))
        return err_set(err, EINVAL, "bad digest '%.80s'", digest);
    char path[96];
    snprintf(path, sizeof(path), "blobs/sha256/%s", digest + 7);
    /* Beneath the layout, no symlinks: a layout names its blobs plainly. */
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    _cleanup_close_ int fd = (int)syscall(SYS_openat2, src->dirfd, path, &how, sizeof(how));
    if (fd < 0)
        return err_sys(err, errno, "the layout's %s", path);
    struct blob_writer *w = NULL;
    int r = blob_writer_new(blobs, digest, room(src), &w, err);
    if (r < 0)
        return r;
    char buf[1 << 16];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            blob_writer_abort(w);
            return err_sys(err, errno, "read the layout's %s", path);
        }
        if (n == 0)
            break;
        if ((r = blob_writer_write(w, buf, (size_t)n, err)) < 0) {
            blob_writer_abort(w);
            return r;
        }
    }
    src->written += blob_writer_size(w);
    r = blob_writer_commit(w, err);
    return r < 0 ? r : strv_add(&src->fresh, &src->nfresh, digest);
}

static int read_blob(struct source *src, const char *digest, char **ret, size_t *ret_len,
                     struct runra_err **err)
{
    int r = fetch(src, digest, err);
    return r < 0 ? r : image_store_read_blob(src->s, digest, ret, ret_len, err);
}

static int add_out(struct source *src, const char *name, const char *digest)
{
    for (size_t i = 0; i < src->nout; i++)
        if (!strcmp(src->out[i].digest, digest) &&
            ((!name && !src->out[i].name) ||
             (name && src->out[i].name && !strcmp(name, src->out[i].name))))
            return 0;
    struct image_imported *v = realloc(src->out, (src->nout + 1) * sizeof(*v));
    if (!v)
        return -ENOMEM;
    src->out = v;
    v[src->nout] = (struct image_imported){.name = name ? strdup(name) : NULL,
                                           .digest = strdup(digest)};
    src->nout++; /* freed with the rest, even half made */
    if (!v[src->nout - 1].digest || (name && !v[src->nout - 1].name))
        return -ENOMEM;
    return 0;
}

/* Stores the image a descriptor names (an index: this platform's entry). */
static int walk(struct source *src, const char *digest, const char *media_type, const char *name,
                int depth, struct runra_err **err)
{
    if (depth > 2)
        return err_set(err, EINVAL, "indexes nested too deep");
    _cleanup_free_ char *body = NULL;
    size_t len;
    int r = read_blob(src, digest, &body, &len, err);
    if (r < 0)
        return r;
    int kind = manifest_kind(media_type, body, len, err);
    if (kind < 0)
        return kind;
    if ((r = strv_add(&src->used, &src->nused, digest)) < 0)
        return r;
    if (kind == 1) {
        struct descriptor d = {0};
        r = index_pick(body, len, "linux", image_host_arch(), NULL, &d, err);
        if (r >= 0)
            r = walk(src, d.digest, d.media_type, name, depth + 1, err);
        descriptor_done(&d);
        return r;
    }
    struct image_manifest m = {0};
    struct image_config c = {0};
    _cleanup_free_ char *cb = NULL;
    size_t cl;
    r = manifest_parse(body, len, &m, err);
    if (r >= 0)
        r = strv_add(&src->used, &src->nused, m.config.digest);
    if (r >= 0)
        r = read_blob(src, m.config.digest, &cb, &cl, err);
    if (r >= 0)
        r = config_parse(cb, cl, &c, err);
    if (r >= 0 && c.ndiff_ids != m.nlayers)
        r = err_set(err, EBADMSG, "the config names %zu layers, the manifest %zu", c.ndiff_ids,
                    m.nlayers);
    for (size_t i = 0; r >= 0 && i < m.nlayers; i++)
        if (!image_store_has_layer(src->s, c.diff_ids[i]))
            r = fetch(src, m.layers[i].digest, err);
    if (r >= 0 && name && ++src->nnames > IMPORT_NAMES_MAX)
        r = err_set(err, E2BIG, "the source names more than %d images", IMPORT_NAMES_MAX);
    if (r >= 0)
        r = image_store_commit(src->s, name, digest, NULL, NULL, err);
    if (r >= 0)
        r = add_out(src, name, digest);
    image_manifest_done(&m);
    image_config_done(&c);
    return r;
}

/* The canonical name an index entry's annotations give, or NULL: a full
 * reference is taken, a bare tag ("22", what skopeo writes for oci:DIR:22)
 * names no repository and so no image. */
static char *entry_name(json_t *ann)
{
    const char *cands[] = {json_string_value(json_object_get(ann, ANN_CONTAINERD)),
                           json_string_value(json_object_get(ann, ANN_REF))};
    for (size_t i = 0; i < ARRAY_SIZE(cands); i++) {
        if (!cands[i] || (!strchr(cands[i], '/') && !strchr(cands[i], ':')))
            continue;
        struct image_ref ref = {0};
        if (image_ref_parse(cands[i], &ref, NULL) < 0)
            continue;
        char *s = image_ref_string(&ref);
        image_ref_done(&ref);
        return s;
    }
    return NULL;
}

static int canonical(const char *name, char **ret, struct runra_err **err)
{
    struct image_ref ref = {0};
    int r = image_ref_parse(name, &ref, err);
    if (r < 0)
        return err_prefix(err, "image name");
    *ret = image_ref_string(&ref);
    image_ref_done(&ref);
    return *ret ? 0 : -ENOMEM;
}

/* An OCI layout's index.json, from the directory or the archive. */
static int import_index(struct source *src, const char *text, size_t len, const char *name,
                        const char *tag, struct runra_err **err)
{
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    json_t *ms = root ? json_object_get(root, "manifests") : NULL;
    if (!json_is_array(ms)) {
        json_decref(root);
        return err_set(err, EBADMSG, "index.json: %s", root ? "no 'manifests'" : je.text);
    }
    size_t n = json_array_size(ms), picked = 0, i;
    json_t *m;
    int r = 0;
    if (n > IMPORT_IMAGES_MAX)
        r = err_set(err, E2BIG, "index.json lists more than %d images", IMPORT_IMAGES_MAX);
    size_t nnamed = 0;
    json_array_foreach(ms, i, m) {
        _cleanup_free_ char *nm = src->named && !name ? entry_name(json_object_get(m, "annotations"))
                                                      : NULL;
        nnamed += nm != NULL;
    }
    if (r >= 0 && nnamed > IMPORT_NAMES_MAX)
        r = err_set(err, E2BIG, "the source names %zu images, more than %d", nnamed,
                    IMPORT_NAMES_MAX);
    json_array_foreach(ms, i, m) {
        if (r < 0)
            break;
        const char *d = json_string_value(json_object_get(m, "digest"));
        const char *mt = json_string_value(json_object_get(m, "mediaType"));
        json_t *ann = json_object_get(m, "annotations");
        const char *refname = json_string_value(json_object_get(ann, ANN_REF));
        if (!d) {
            r = err_set(err, EBADMSG, "index.json: an entry has no digest");
            break;
        }
        if (tag && (!refname || strcmp(refname, tag) != 0))
            continue;
        if (name && n > 1 && !tag) {
            r = err_set(err, EINVAL, "the source holds %zu images: say which (a tag) to name '%s'",
                        n, name);
            break;
        }
        _cleanup_free_ char *nm = NULL;
        if (name)
            r = canonical(name, &nm, err);
        else if (src->named)
            nm = entry_name(ann);
        if (r >= 0)
            r = walk(src, d, mt, nm, 0, err);
        picked++;
    }
    json_decref(root);
    if (r >= 0 && picked == 0)
        r = err_set(err, ENOENT, tag ? "no image tagged '%s' in the source" : "no image in the source%s",
                    tag ? tag : "");
    return r;
}

static int import_layout(struct source *src, const char *name, const char *tag,
                         struct runra_err **err)
{
    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW,
                           .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    _cleanup_close_ int fd = (int)syscall(SYS_openat2, src->dirfd, "index.json", &how, sizeof(how));
    if (fd < 0)
        return err_sys(err, errno, "the layout's index.json");
    char *text = malloc(MANIFEST_MAX_BYTES + 1);
    if (!text)
        return -ENOMEM;
    size_t len = 0;
    for (;;) {
        ssize_t k = read(fd, text + len, MANIFEST_MAX_BYTES + 1 - len);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
        if (len > MANIFEST_MAX_BYTES)
            break;
    }
    int r = len > MANIFEST_MAX_BYTES ? err_set(err, E2BIG, "index.json is too large")
                                     : import_index(src, text, len, name, tag, err);
    free(text);
    return r;
}

/* Member paths the archive had, and the blob each became. */
struct member {
    char *path;
    char digest[BLOB_DIGEST_LEN]; /* "" for a symlink not yet resolved */
    char *link;                   /* a symlink's target path in the archive, or NULL */
};

struct archive_scan {
    char *index, *manifest; /* index.json, manifest.json */
    size_t index_len, manifest_len;
    struct member *members;
    size_t nmembers;
};

static void scan_done(struct archive_scan *a)
{
    free(a->index);
    free(a->manifest);
    for (size_t i = 0; i < a->nmembers; i++) {
        free(a->members[i].path);
        free(a->members[i].link);
    }
    free(a->members);
}

static int slurp(struct archive *ar, const char *what, char **ret, size_t *ret_len,
                 struct runra_err **err)
{
    char *buf = malloc(MANIFEST_MAX_BYTES + 1);
    if (!buf)
        return -ENOMEM;
    size_t len = 0;
    for (;;) {
        la_ssize_t k = archive_read_data(ar, buf + len, MANIFEST_MAX_BYTES + 1 - len);
        if (k < 0) {
            free(buf);
            return err_set(err, EBADMSG, "%s: %s", what, archive_error_string(ar));
        }
        if (k == 0)
            break;
        len += (size_t)k;
        if (len > MANIFEST_MAX_BYTES) {
            free(buf);
            return err_set(err, E2BIG, "%s is too large", what);
        }
    }
    buf[len] = 0;
    free(*ret);
    *ret = buf;
    *ret_len = len;
    return 0;
}

/* One member into the store: under its name's digest when it is
 * "blobs/sha256/<hex>" (verified), else under whatever digest it has. */
static int store_member(struct archive *ar, struct source *src, const char *path,
                        struct archive_scan *a, struct runra_err **err)
{
    struct blob_store *blobs = image_store_blobs(src->s);
    const char *want = NULL;
    char named[BLOB_DIGEST_LEN];
    if (str_has_prefix(path, "blobs/sha256/") && strlen(path) == 13 + 64) {
        snprintf(named, sizeof(named), "sha256:%s", path + 13);
        if (!image_digest_ok(named))
            return err_set(err, EBADMSG, "archive member '%.100s' is not a blob name", path);
        want = named;
    }
    struct member *nm = realloc(a->members, (a->nmembers + 1) * sizeof(*nm));
    if (!nm)
        return -ENOMEM;
    a->members = nm;
    struct member *m = &nm[a->nmembers];
    *m = (struct member){.path = strdup(path)};
    if (!m->path)
        return -ENOMEM;
    a->nmembers++;
    if (want && blob_has(blobs, want)) {
        snprintf(m->digest, sizeof(m->digest), "%s", want);
        return 0;
    }
    struct blob_writer *w = NULL;
    int r = blob_writer_new(blobs, want, room(src), &w, err);
    if (r < 0)
        return r;
    for (;;) {
        const void *p;
        size_t n;
        la_int64_t off;
        int ar_r = archive_read_data_block(ar, &p, &n, &off);
        if (ar_r == ARCHIVE_EOF)
            break;
        if (ar_r < ARCHIVE_WARN) {
            blob_writer_abort(w);
            return err_set(err, EBADMSG, "archive member '%.100s': %s", path,
                           archive_error_string(ar));
        }
        /* Sparse members would have holes here; an image blob has none. */
        if ((uint64_t)off != blob_writer_size(w)) {
            blob_writer_abort(w);
            return err_set(err, EBADMSG, "archive member '%.100s' is sparse", path);
        }
        if ((r = blob_writer_write(w, p, n, err)) < 0) {
            blob_writer_abort(w);
            return r;
        }
    }
    src->written += blob_writer_size(w);
    if (want) {
        r = blob_writer_commit(w, err);
        if (r >= 0)
            snprintf(m->digest, sizeof(m->digest), "%s", want);
        if (r < 0)
            return err_prefix(err, "archive member '%.100s'", path);
    } else if ((r = blob_writer_commit_any(w, m->digest, err)) < 0) {
        return r;
    }
    return strv_add(&src->fresh, &src->nfresh, m->digest);
}

/* A symlink member (old `docker save` links a layer.tar it has already
 * written): its target as a clean path in the archive, or NULL when it
 * climbs out. */
static char *link_path(const char *member, const char *target)
{
    char buf[4096];
    if (target[0] == '/')
        snprintf(buf, sizeof(buf), "%s", target + 1);
    else {
        const char *slash = strrchr(member, '/');
        snprintf(buf, sizeof(buf), "%.*s%s", slash ? (int)(slash - member + 1) : 0, member,
                 target);
    }
    /* Resolve "." and ".." lexically; nothing may climb above the top. */
    char out[4096] = "";
    size_t olen = 0;
    for (char *save = NULL, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, "."))
            continue;
        if (!strcmp(c, "..")) {
            if (olen == 0)
                return NULL;
            char *s = strrchr(out, '/');
            olen = s ? (size_t)(s - out) : 0;
            out[olen] = 0;
            continue;
        }
        int k = snprintf(out + olen, sizeof(out) - olen, "%s%s", olen ? "/" : "", c);
        if (k < 0 || (size_t)k >= sizeof(out) - olen)
            return NULL;
        olen += (size_t)k;
    }
    return olen ? strdup(out) : NULL;
}

static int add_link(struct archive_scan *a, const char *path, const char *target)
{
    struct member *nm = realloc(a->members, (a->nmembers + 1) * sizeof(*nm));
    if (!nm)
        return -ENOMEM;
    a->members = nm;
    nm[a->nmembers] = (struct member){.path = strdup(path), .link = link_path(path, target)};
    if (!nm[a->nmembers].path) {
        free(nm[a->nmembers].link);
        return -ENOMEM;
    }
    a->nmembers++;
    return 0;
}

/* A reader of the tars images come in (plain, gzip or zstd). */
static struct archive *archive_for_images(void)
{
    struct archive *ar = archive_read_new();
    if (!ar)
        return NULL;
    archive_read_support_format_tar(ar);
    archive_read_support_format_gnutar(ar);
    archive_read_support_filter_none(ar);
    archive_read_support_filter_gzip(ar);
    archive_read_support_filter_zstd(ar);
    return ar;
}

static const char *clean_path(const char *p)
{
    while (str_has_prefix(p, "./"))
        p += 2;
    while (*p == '/')
        p++;
    return p;
}

static int scan_archive(struct source *src, int fd, struct archive_scan *a,
                        struct runra_err **err)
{
    struct archive *ar = archive_for_images();
    if (!ar)
        return -ENOMEM;
    int r = 0;
    if (archive_read_open_fd(ar, fd, 1 << 16) != ARCHIVE_OK)
        r = err_set(err, EBADMSG, "not an archive: %s", archive_error_string(ar));
    struct archive_entry *e;
    size_t count = 0;
    while (r >= 0) {
        int ar_r = archive_read_next_header(ar, &e);
        if (ar_r == ARCHIVE_EOF)
            break;
        if (ar_r < ARCHIVE_WARN) {
            r = err_set(err, EBADMSG, "archive: %s", archive_error_string(ar));
            break;
        }
        if (++count > IMPORT_ENTRIES_MAX) {
            r = err_set(err, E2BIG, "the archive has more than %d members", IMPORT_ENTRIES_MAX);
            break;
        }
        const char *path = clean_path(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
        if (archive_entry_filetype(e) == AE_IFLNK && src->kind == IMAGE_SRC_DOCKER_ARCHIVE &&
            archive_entry_symlink(e)) {
            r = add_link(a, path, archive_entry_symlink(e));
            continue;
        }
        if (archive_entry_filetype(e) != AE_IFREG)
            continue;
        if (!strcmp(path, "index.json"))
            r = slurp(ar, "index.json", &a->index, &a->index_len, err);
        else if (!strcmp(path, "manifest.json"))
            r = slurp(ar, "manifest.json", &a->manifest, &a->manifest_len, err);
        else if (!strcmp(path, "oci-layout") || !strcmp(path, "repositories"))
            continue;
        else if (src->kind == IMAGE_SRC_OCI_ARCHIVE && !str_has_prefix(path, "blobs/"))
            continue;
        else
            r = store_member(ar, src, path, a, err);
    }
    archive_read_free(ar);
    return r;
}

static const char *member_digest(const struct archive_scan *a, const char *path)
{
    path = clean_path(path);
    /* A few hops of symlinks, to a member that was written. */
    for (int hop = 0; path && hop < 8; hop++) {
        const struct member *m = NULL;
        for (size_t i = 0; i < a->nmembers && !m; i++)
            if (!strcmp(a->members[i].path, path))
                m = &a->members[i];
        if (!m)
            return NULL;
        if (!m->link)
            return m->digest[0] ? m->digest : NULL;
        path = m->link;
    }
    return NULL;
}

/* The media type a layer's first bytes say it has. */
static int layer_media_type(struct image_store *s, const char *digest, const char **ret,
                            uint64_t *ret_size, struct runra_err **err)
{
    _cleanup_close_ int fd = -1;
    int r = blob_open(image_store_blobs(s), digest, &fd, err);
    if (r < 0)
        return r;
    unsigned char m[4] = {0};
    struct stat st;
    if (fstat(fd, &st) < 0 || pread(fd, m, sizeof(m), 0) < 0)
        return err_sys(err, errno, "blob %s", digest);
    *ret_size = (uint64_t)st.st_size;
    if (m[0] == 0x1f && m[1] == 0x8b)
        *ret = "application/vnd.oci.image.layer.v1.tar+gzip";
    else if (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd)
        *ret = "application/vnd.oci.image.layer.v1.tar+zstd";
    else
        *ret = "application/vnd.oci.image.layer.v1.tar";
    return 0;
}

/* A Docker archive's manifest.json entry as an OCI manifest in the store. */
static int docker_entry(struct source *src, const struct archive_scan *a, json_t *ent,
                        char ret_digest[BLOB_DIGEST_LEN], struct runra_err **err)
{
    const char *cfgpath = json_string_value(json_object_get(ent, "Config"));
    json_t *layers = json_object_get(ent, "Layers");
    if (!cfgpath || !json_is_array(layers) || json_array_size(layers) > MANIFEST_LAYERS_MAX)
        return err_set(err, EBADMSG, "manifest.json: an entry lacks Config or Layers");
    const char *cfg = member_digest(a, cfgpath);
    if (!cfg)
        return err_set(err, EBADMSG, "manifest.json names '%.100s', which the archive lacks",
                       cfgpath);
    _cleanup_close_ int cfd = -1;
    struct stat st;
    int r = blob_open(image_store_blobs(src->s), cfg, &cfd, err);
    if (r < 0)
        return r;
    if (fstat(cfd, &st) < 0)
        return err_sys(err, errno, "config blob");
    json_t *ls = json_array();
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) {
        const char *lp = json_string_value(l);
        const char *d = lp ? member_digest(a, lp) : NULL;
        const char *mt = NULL;
        uint64_t size = 0;
        if (!d) {
            json_decref(ls);
            return err_set(err, EBADMSG, "manifest.json names layer '%.100s', which the archive "
                                         "lacks", lp ? lp : "?");
        }
        if ((r = layer_media_type(src->s, d, &mt, &size, err)) < 0) {
            json_decref(ls);
            return r;
        }
        json_array_append_new(ls, json_pack("{s:s,s:s,s:I}", "mediaType", mt, "digest", d,
                                            "size", (json_int_t)size));
    }
    json_t *m = json_pack("{s:i,s:s,s:{s:s,s:s,s:I},s:o}", "schemaVersion", 2, "mediaType",
                          MT_OCI_MANIFEST, "config", "mediaType", MT_OCI_CONFIG, "digest", cfg,
                          "size", (json_int_t)st.st_size, "layers", ls);
    _cleanup_free_ char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    json_decref(m);
    if (!text)
        return -ENOMEM;
    struct blob_writer *w = NULL;
    if ((r = blob_writer_new(image_store_blobs(src->s), NULL, MANIFEST_MAX_BYTES, &w, err)) < 0)
        return r;
    if ((r = blob_writer_write(w, text, strlen(text), err)) < 0) {
        blob_writer_abort(w);
        return r;
    }
    r = blob_writer_commit_any(w, ret_digest, err);
    return r < 0 ? r : strv_add(&src->fresh, &src->nfresh, ret_digest);
}

static int import_docker(struct source *src, const struct archive_scan *a, const char *name,
                         struct runra_err **err)
{
    json_error_t je;
    json_t *root = json_loadb(a->manifest, a->manifest_len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_array(root) || json_array_size(root) == 0) {
        json_decref(root);
        return err_set(err, EBADMSG, "manifest.json: %s", root ? "not a list of images" : je.text);
    }
    size_t n = json_array_size(root), i;
    json_t *ent;
    int r = 0;
    if (n > IMPORT_IMAGES_MAX)
        r = err_set(err, E2BIG, "manifest.json lists more than %d images", IMPORT_IMAGES_MAX);
    if (r >= 0 && name && n > 1)
        r = err_set(err, EINVAL, "the archive holds %zu images; it cannot be named '%s'", n, name);
    /* The names are counted before any is given: a refused import names
     * nothing. */
    size_t ntags = 0;
    json_array_foreach(root, i, ent) {
        json_t *tags = json_object_get(ent, "RepoTags");
        ntags += json_is_array(tags) ? json_array_size(tags) : 0;
    }
    if (r >= 0 && !name && src->named && ntags > IMPORT_NAMES_MAX)
        r = err_set(err, E2BIG, "the archive names %zu images, more than %d", ntags,
                    IMPORT_NAMES_MAX);
    json_array_foreach(root, i, ent) {
        if (r < 0)
            break;
        char digest[BLOB_DIGEST_LEN];
        if ((r = docker_entry(src, a, ent, digest, err)) < 0)
            break;
        json_t *tags = json_object_get(ent, "RepoTags");
        size_t k, named = 0;
        json_t *t;
        if (name) {
            _cleanup_free_ char *nm = NULL;
            r = canonical(name, &nm, err);
            if (r >= 0)
                r = walk(src, digest, MT_OCI_MANIFEST, nm, 0, err);
            continue;
        }
        json_array_foreach(tags, k, t) {
            _cleanup_free_ char *nm = NULL;
            if (r < 0 || !src->named || !json_is_string(t) ||
                canonical(json_string_value(t), &nm, NULL) < 0)
                continue;
            r = walk(src, digest, MT_OCI_MANIFEST, nm, 0, err);
            named++;
        }
        if (r >= 0 && named == 0)
            r = walk(src, digest, MT_OCI_MANIFEST, NULL, 0, err);
    }
    json_decref(root);
    return r;
}

int image_archive_kind(int fd, enum image_source_kind *ret, struct runra_err **err)
{
    struct archive *ar = archive_for_images();
    if (!ar)
        return -ENOMEM;
    int r = -ENOENT;
    if (archive_read_open_fd(ar, fd, 1 << 16) == ARCHIVE_OK) {
        struct archive_entry *e;
        bool index = false, manifest = false;
        for (size_t count = 0; count < IMPORT_ENTRIES_MAX &&
                               archive_read_next_header(ar, &e) == ARCHIVE_OK;
             count++) {
            const char *p = clean_path(archive_entry_pathname(e) ? archive_entry_pathname(e) : "");
            index = index || !strcmp(p, "index.json");
            manifest = manifest || !strcmp(p, "manifest.json");
        }
        /* docker save since 25 writes both; its manifest.json is the one
         * that carries the tags. */
        if (manifest)
            *ret = IMAGE_SRC_DOCKER_ARCHIVE, r = 0;
        else if (index)
            *ret = IMAGE_SRC_OCI_ARCHIVE, r = 0;
    }
    archive_read_free(ar);
    if (lseek(fd, 0, SEEK_SET) < 0)
        return err_sys(err, errno, "rewind the archive");
    return r < 0 ? err_set(err, EINVAL, "not an image archive (no index.json or manifest.json "
                                        "at its top)")
                 : 0;
}

int image_import(struct image_store *s, enum image_source_kind kind, int fd, const char *name,
                 const char *tag, bool named, struct image_imported **ret, size_t *ret_n,
                 struct runra_err **err)
{
    struct source src = {.s = s, .kind = kind, .dirfd = fd, .named = named};
    struct archive_scan a = {0};
    image_store_begin(s);
    int r = 0;
    if (kind == IMAGE_SRC_LAYOUT) {
        r = import_layout(&src, name, tag, err);
    } else {
        r = scan_archive(&src, fd, &a, err);
        if (r >= 0 && kind == IMAGE_SRC_OCI_ARCHIVE && !a.index)
            r = err_set(err, EBADMSG, "the archive has no index.json (not an OCI archive)");
        if (r >= 0 && kind == IMAGE_SRC_DOCKER_ARCHIVE && !a.manifest)
            r = err_set(err, EBADMSG, "the archive has no manifest.json (not a Docker archive)");
        if (r >= 0)
            r = kind == IMAGE_SRC_OCI_ARCHIVE ? import_index(&src, a.index, a.index_len, name, tag, err)
                                              : import_docker(&src, &a, name, err);
    }
    /* What this import stored and no imported image uses goes now (layer
     * blobs went already, once unpacked): an archive cannot leave the store
     * fuller than the images it brought. */
    for (size_t i = 0; i < src.nfresh; i++) {
        bool used = false;
        for (size_t k = 0; k < src.nused && !used; k++)
            used = !strcmp(src.used[k], src.fresh[i]);
        if (!used || r < 0)
            blob_remove(image_store_blobs(s), src.fresh[i], NULL);
    }
    image_store_end(s);
    strv_drop(src.fresh, src.nfresh);
    strv_drop(src.used, src.nused);
    scan_done(&a);
    if (r < 0) {
        image_imported_free(src.out, src.nout);
        return r;
    }
    *ret = src.out;
    *ret_n = src.nout;
    return 0;
}

void image_imported_free(struct image_imported *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].name);
        free(v[i].digest);
    }
    free(v);
}
