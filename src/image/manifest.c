/* Manifests, indexes and configs (manifest.h). Unknown fields are allowed
 * (registries and builders add their own), wrong types and out-of-bound
 * values are not; every digest is checked for form before it is used as a
 * name anywhere. */
#include "image/manifest.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "image/ref.h"

static void free_strv(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static int load(const char *body, size_t len, json_t **ret, struct runra_err **err)
{
    if (len > MANIFEST_MAX_BYTES)
        return err_set(err, E2BIG, "manifest larger than %u bytes", MANIFEST_MAX_BYTES);
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return err_set(err, EINVAL, "manifest is not JSON: %s", je.text);
    if (!json_is_object(j)) {
        json_decref(j);
        return err_set(err, EINVAL, "manifest is not a JSON object");
    }
    *ret = j;
    return 0;
}

static const char *str_of(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static int descriptor_of(json_t *o, const char *what, struct descriptor *ret,
                         struct runra_err **err)
{
    if (!json_is_object(o))
        return err_set(err, EINVAL, "%s is not an object", what);
    const char *mt = str_of(o, "mediaType"), *dg = str_of(o, "digest");
    json_t *sz = json_object_get(o, "size");
    if (!dg || !image_digest_ok(dg))
        return err_set(err, EINVAL, "%s: missing or bad digest", what);
    if (!json_is_integer(sz) || json_integer_value(sz) < 0)
        return err_set(err, EINVAL, "%s: missing or bad size", what);
    struct descriptor d = {.size = (uint64_t)json_integer_value(sz)};
    d.media_type = strdup(mt ? mt : "");
    d.digest = strdup(dg);
    if (!d.media_type || !d.digest) {
        descriptor_done(&d);
        return -ENOMEM;
    }
    *ret = d;
    return 0;
}

void descriptor_done(struct descriptor *d)
{
    if (!d)
        return;
    free(d->media_type);
    free(d->digest);
    *d = (struct descriptor){0};
}

int manifest_kind(const char *content_type, const char *body, size_t len, struct runra_err **err)
{
    json_t *j = NULL;
    const char *mt = content_type;
    int r = 0;
    if (!mt || !*mt || !strcmp(mt, "application/json")) {
        if ((r = load(body, len, &j, err)) < 0)
            return r;
        mt = str_of(j, "mediaType");
        /* An OCI index may leave mediaType out; its "manifests" says it. */
        if (!mt && json_is_array(json_object_get(j, "manifests")))
            mt = MT_OCI_INDEX;
        if (!mt && json_is_array(json_object_get(j, "layers")))
            mt = MT_OCI_MANIFEST;
    }
    if (mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST)))
        r = 1;
    else if (mt && (!strcmp(mt, MT_OCI_MANIFEST) || !strcmp(mt, MT_DOCKER_MANIFEST)))
        r = 0;
    else
        r = err_set(err, EINVAL, "unsupported manifest type '%.100s'", mt ? mt : "(none)");
    json_decref(j);
    return r;
}

/* Attestations and other non-images a builder puts in an index. */
static bool is_attestation(json_t *m)
{
    json_t *ann = json_object_get(m, "annotations");
    const char *ref = str_of(ann, "vnd.docker.reference.type");
    if (ref && !strcmp(ref, "attestation-manifest"))
        return true;
    json_t *p = json_object_get(m, "platform");
    const char *os = str_of(p, "os"), *arch = str_of(p, "architecture");
    return os && arch && !strcmp(os, "unknown") && !strcmp(arch, "unknown");
}

int index_pick(const char *body, size_t len, const char *os, const char *arch,
               const char *variant, struct descriptor *ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = load(body, len, &j, err);
    if (r < 0)
        return r;
    json_t *ms = json_object_get(j, "manifests");
    if (!json_is_array(ms) || json_array_size(ms) > INDEX_ENTRIES_MAX) {
        json_decref(j);
        return err_set(err, EINVAL, "index: 'manifests' missing or longer than %d",
                       INDEX_ENTRIES_MAX);
    }
    size_t i;
    json_t *m;
    int best = -1, best_score = -1;
    json_array_foreach(ms, i, m) {
        if (!json_is_object(m) || is_attestation(m))
            continue;
        json_t *p = json_object_get(m, "platform");
        const char *pos = str_of(p, "os"), *parch = str_of(p, "architecture"),
                   *pvar = str_of(p, "variant");
        if (!pos || !parch || strcmp(pos, os) || strcmp(parch, arch))
            continue;
        /* An exact variant beats none; a different variant does not match. */
        int score = variant && pvar ? (strcmp(variant, pvar) ? -1 : 2) : 1;
        if (score > best_score) {
            best = (int)i;
            best_score = score;
        }
    }
    if (best < 0) {
        json_decref(j);
        return err_set(err, ENOENT, "no image for %s/%s%s%s in the index", os, arch,
                       variant ? "/" : "", variant ? variant : "");
    }
    r = descriptor_of(json_array_get(ms, (size_t)best), "index entry", ret, err);
    json_decref(j);
    return r;
}

static int compression_of(const char *mt, enum layer_compression *ret)
{
    static const struct {
        const char *mt;
        enum layer_compression c;
    } known[] = {
        {"application/vnd.oci.image.layer.v1.tar", LAYER_PLAIN},
        {"application/vnd.oci.image.layer.v1.tar+gzip", LAYER_GZIP},
        {"application/vnd.oci.image.layer.v1.tar+zstd", LAYER_ZSTD},
        {"application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_GZIP},
        {"application/vnd.docker.image.rootfs.diff.tar", LAYER_PLAIN},
    };
    for (size_t i = 0; i < ARRAY_SIZE(known); i++)
        if (!strcmp(mt, known[i].mt)) {
            *ret = known[i].c;
            return 0;
        }
    return -EINVAL;
}

int manifest_parse(const char *body, size_t len, struct image_manifest *ret,
                   struct runra_err **err)
{
    json_t *j = NULL;
    int r = load(body, len, &j, err);
    if (r < 0)
        return r;
    struct image_manifest m = {0};
    json_t *sv = json_object_get(j, "schemaVersion");
    json_t *layers = json_object_get(j, "layers");
    if (!json_is_integer(sv) || json_integer_value(sv) != 2) {
        r = err_set(err, EINVAL, "manifest: schemaVersion must be 2");
        goto out;
    }
    if (!json_is_array(layers) || json_array_size(layers) > MANIFEST_LAYERS_MAX) {
        r = err_set(err, EINVAL, "manifest: 'layers' missing or more than %d",
                    MANIFEST_LAYERS_MAX);
        goto out;
    }
    if ((r = descriptor_of(json_object_get(j, "config"), "manifest config", &m.config, err)) < 0)
        goto out;
    m.layers = calloc(json_array_size(layers) + 1, sizeof(*m.layers));
    m.compression = calloc(json_array_size(layers) + 1, sizeof(*m.compression));
    if (!m.layers || !m.compression) {
        r = -ENOMEM;
        goto out;
    }
    size_t i;
    json_t *l;
    json_array_foreach(layers, i, l) {
        if ((r = descriptor_of(l, "layer", &m.layers[i], err)) < 0)
            goto out;
        m.nlayers++;
        if (compression_of(m.layers[i].media_type, &m.compression[i]) < 0) {
            r = err_set(err, EINVAL, "layer %zu: unsupported media type '%.100s' (foreign or "
                                     "encrypted layers are not pulled)",
                        i, m.layers[i].media_type);
            goto out;
        }
    }
out:
    json_decref(j);
    if (r < 0) {
        image_manifest_done(&m);
        return r;
    }
    *ret = m;
    return 0;
}

void image_manifest_done(struct image_manifest *m)
{
    if (!m)
        return;
    descriptor_done(&m->config);
    for (size_t i = 0; i < m->nlayers; i++)
        descriptor_done(&m->layers[i]);
    free(m->layers);
    free(m->compression);
    *m = (struct image_manifest){0};
}

/* A JSON array of strings as a NULL-terminated vector (NULL for null or
 * absent; -EINVAL for anything else). */
static int strv_of(json_t *a, const char *what, size_t max, char ***ret, struct runra_err **err)
{
    *ret = NULL;
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a) || json_array_size(a) > max)
        return err_set(err, EINVAL, "config: %s must be an array of at most %zu strings", what,
                       max);
    char **v = calloc(json_array_size(a) + 1, sizeof(*v));
    if (!v)
        return -ENOMEM;
    size_t i;
    json_t *s;
    json_array_foreach(a, i, s) {
        if (!json_is_string(s) || !(v[i] = strdup(json_string_value(s)))) {
            free_strv(v);
            return json_is_string(s) ? -ENOMEM
                                     : err_set(err, EINVAL, "config: %s holds a non-string", what);
        }
    }
    *ret = v;
    return 0;
}

static int dup_opt(json_t *o, const char *key, char **ret)
{
    const char *s = str_of(o, key);
    *ret = NULL;
    if (!s || !*s)
        return 0;
    *ret = strdup(s);
    return *ret ? 0 : -ENOMEM;
}

int config_parse(const char *body, size_t len, struct image_config *ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = load(body, len, &j, err);
    if (r < 0)
        return r;
    struct image_config c = {0};
    json_t *rootfs = json_object_get(j, "rootfs");
    json_t *cfg = json_object_get(j, "config");
    if (!json_is_object(rootfs) || !str_of(rootfs, "type") ||
        strcmp(str_of(rootfs, "type"), "layers") != 0) {
        r = err_set(err, EINVAL, "config: rootfs.type must be \"layers\"");
        goto out;
    }
    if ((r = strv_of(json_object_get(rootfs, "diff_ids"), "rootfs.diff_ids", MANIFEST_LAYERS_MAX,
                     &c.diff_ids, err)) < 0)
        goto out;
    while (c.diff_ids && c.diff_ids[c.ndiff_ids]) {
        if (!image_digest_ok(c.diff_ids[c.ndiff_ids])) {
            r = err_set(err, EINVAL, "config: a diff_id is not a digest");
            goto out;
        }
        c.ndiff_ids++;
    }
    if (cfg && !json_is_null(cfg) && !json_is_object(cfg)) {
        r = err_set(err, EINVAL, "config: 'config' must be an object");
        goto out;
    }
    if ((r = strv_of(json_object_get(cfg, "Env"), "Env", 4096, &c.env, err)) < 0 ||
        (r = strv_of(json_object_get(cfg, "Entrypoint"), "Entrypoint", 4096, &c.entrypoint,
                     err)) < 0 ||
        (r = strv_of(json_object_get(cfg, "Cmd"), "Cmd", 4096, &c.cmd, err)) < 0)
        goto out;
    for (size_t i = 0; c.env && c.env[i]; i++)
        if (!strchr(c.env[i], '=') || c.env[i][0] == '=') {
            r = err_set(err, EINVAL, "config: Env entry without NAME=");
            goto out;
        }
    if (!c.env && !(c.env = calloc(1, sizeof(char *)))) {
        r = -ENOMEM;
        goto out;
    }
    if ((r = dup_opt(cfg, "WorkingDir", &c.workdir)) < 0 || (r = dup_opt(cfg, "User", &c.user)) < 0 ||
        (r = dup_opt(j, "os", &c.os)) < 0 || (r = dup_opt(j, "architecture", &c.architecture)) < 0)
        goto out;
    if (c.workdir && c.workdir[0] != '/') {
        r = err_set(err, EINVAL, "config: WorkingDir must be absolute");
        goto out;
    }
out:
    json_decref(j);
    if (r < 0) {
        image_config_done(&c);
        return r;
    }
    *ret = c;
    return 0;
}

void image_config_done(struct image_config *c)
{
    if (!c)
        return;
    free_strv(c->diff_ids);
    free_strv(c->env);
    free_strv(c->entrypoint);
    free_strv(c->cmd);
    free(c->workdir);
    free(c->user);
    free(c->os);
    free(c->architecture);
    *c = (struct image_config){0};
}
