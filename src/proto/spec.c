/* Sandbox spec parsing. The API's create body is untrusted: every key is
 * known (JSON_STRICT), every size bounded, every string checked, and the
 * result is a typed struct with the defaults filled in. */
#include "spec.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "limits.h"
#include "msg.h"
#include "base/util.h"

void kv_list_done(struct kv_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->items[i].key);
        free(l->items[i].value);
    }
    free(l->items);
    l->items = NULL;
    l->n = 0;
}

const char *kv_get(const struct kv_list *l, const char *key)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].key, key))
            return l->items[i].value;
    return NULL;
}

void spec_free(struct sandbox_spec *s)
{
    if (!s)
        return;
    free(s->image);
    free(s->backend);
    free(s->image_digest);
    free(s->user);
    free(s->workdir);
    free(s->network);
    kv_list_done(&s->metadata);
    kv_list_done(&s->env);
    kv_list_done(&s->secrets);
    for (size_t i = 0; i < s->nmounts; i++) {
        free(s->mounts[i].source);
        free(s->mounts[i].target);
    }
    free(s);
}

int spec_new_default(struct sandbox_spec **ret)
{
    struct sandbox_spec *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->image = strdup("host");
    s->backend = strdup("ns");
    s->workdir = strdup("/workspace");
    s->resources = (struct sandbox_resources){.cpu = RUNRA_DEFAULT_CPU,
                                              .memory_mb = RUNRA_DEFAULT_MEMORY_MB,
                                              .pids = RUNRA_DEFAULT_PIDS,
                                              .disk_mb = RUNRA_DEFAULT_DISK_MB};
    if (!s->image || !s->backend || !s->workdir) {
        spec_free(s);
        return -ENOMEM;
    }
    *ret = s;
    return 0;
}

static int kv_from_json(json_t *o, const char *what, size_t max, size_t kmax, size_t vmax,
                        bool env, struct kv_list *ret, struct runra_err **err)
{
    if (!json_is_object(o))
        return err_set(err, EINVAL, "%s must be an object of strings", what);
    size_t n = json_object_size(o);
    if (n > max)
        return err_set(err, E2BIG, "%s has more than %zu entries", what, max);
    struct kv_list l = {.items = calloc(n ? n : 1, sizeof(struct kv))};
    if (!l.items)
        return -ENOMEM;
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (!json_is_string(v)) {
            kv_list_done(&l);
            return err_set(err, EINVAL, "%s.%s must be a string", what, k);
        }
        size_t klen = strlen(k), vlen = json_string_length(v);
        if (klen == 0 || klen > kmax || vlen > vmax || memchr(json_string_value(v), 0, vlen)) {
            kv_list_done(&l);
            return err_set(err, EINVAL, "%s: key or value of '%.64s' is empty, too long or holds NUL",
                           what, k);
        }
        if (env && msg_check_env_key(k, err) < 0) {
            kv_list_done(&l);
            return err_prefix(err, "%s", what);
        }
        l.items[l.n].key = strdup(k);
        l.items[l.n].value = strdup(json_string_value(v));
        l.n++;
        if (!l.items[l.n - 1].key || !l.items[l.n - 1].value) {
            kv_list_done(&l);
            return -ENOMEM;
        }
    }
    *ret = l;
    return 0;
}

int spec_check_workdir(const char *w, struct runra_err **err)
{
    if (w[0] != '/')
        return err_set(err, EINVAL, "workdir must be an absolute path");
    if (strlen(w) > RUNRA_PATH_MAX)
        return err_set(err, ENAMETOOLONG, "workdir too long");
    /* The workdir is created inside the sandbox by runra-init; keep it to
     * plain components so it cannot name /proc or climb with "..". */
    if (strstr(w, "/../") || !strcmp(w + strlen(w) - (strlen(w) >= 3 ? 3 : 0), "/..") ||
        str_has_prefix_path(w, "/proc") || str_has_prefix_path(w, "/sys") ||
        str_has_prefix_path(w, "/dev"))
        return err_set(err, EINVAL, "workdir '%s' is not allowed", w);
    return 0;
}

int spec_parse_on_timeout(const char *s, bool *ret_pause, struct runra_err **err)
{
    if (!strcmp(s, "destroy") || !strcmp(s, "pause")) {
        *ret_pause = s[0] == 'p';
        return 0;
    }
    return err_set(err, EINVAL, "onTimeout must be \"destroy\" or \"pause\"");
}

/* An absolute path without "." or ".." segments, empty segments or NUL. */
static bool clean_abs_path(const char *p)
{
    if (p[0] != '/' || strlen(p) > RUNRA_PATH_MAX)
        return false;
    for (const char *seg = p; *seg;) {
        seg++; /* past the '/' */
        size_t n = strcspn(seg, "/");
        if ((n == 0 && seg[0]) || (n == 1 && seg[0] == '.') ||
            (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return false;
        seg += n;
    }
    return strcmp(p, "/") != 0;
}

/* Targets that would shadow what the sandbox is made of. */
static bool target_reserved(const char *t)
{
    static const char *const tops[] = {"/proc", "/sys", "/dev", "/usr", "/etc", "/bin", "/sbin",
                                       "/lib", "/lib32", "/lib64", "/libx32", "/run"};
    for (size_t i = 0; i < ARRAY_SIZE(tops); i++) {
        size_t n = strlen(tops[i]);
        if (!strncmp(t, tops[i], n) && (t[n] == 0 || t[n] == '/'))
            return true;
    }
    return false;
}

static int mounts_from_json(json_t *a, struct sandbox_spec *s, struct runra_err **err)
{
    if (!json_is_array(a) || json_array_size(a) > SPEC_MOUNTS_MAX)
        return err_set(err, EINVAL, "mounts must be an array of at most %d mounts",
                       SPEC_MOUNTS_MAX);
    size_t i;
    json_t *m;
    json_array_foreach(a, i, m) {
        const char *src = NULL, *dst = NULL;
        int ro = 0;
        json_error_t je;
        if (json_unpack_ex(m, &je, JSON_STRICT, "{s:s,s:s,s?b}", "source", &src, "target", &dst,
                           "readOnly", &ro) < 0)
            return err_set(err, EINVAL, "mounts[%zu]: %s", i, je.text);
        if (!clean_abs_path(src))
            return err_set(err, EINVAL, "mounts[%zu].source must be a clean absolute host path "
                                        "other than /", i);
        if (!clean_abs_path(dst) || target_reserved(dst))
            return err_set(err, EINVAL, "mounts[%zu].target must be a clean absolute path "
                                        "outside /proc, /sys, /dev, /usr, /etc, /run and the "
                                        "system dirs", i);
        for (size_t k = 0; k < s->nmounts; k++)
            if (!strcmp(s->mounts[k].target, dst))
                return err_set(err, EINVAL, "mounts[%zu].target '%s' is used twice", i, dst);
        struct sandbox_mount *sm = &s->mounts[s->nmounts];
        if (!(sm->source = strdup(src)) || !(sm->target = strdup(dst))) {
            free(sm->source);
            sm->source = NULL;
            return -ENOMEM;
        }
        sm->readonly = ro;
        s->nmounts++;
    }
    return 0;
}

/* An image as a create names it: "host", a registry reference, or a local
 * source. Only the spelling is checked here; the daemon parses a
 * reference strictly and opens a source, as its admin allows. */
static int check_image(const char *image, struct runra_err **err)
{
    if (!*image || strlen(image) > RUNRA_IMAGE_MAX)
        return err_set(err, EINVAL, "image must be a non-empty name under %d bytes",
                       RUNRA_IMAGE_MAX);
    for (const unsigned char *p = (const unsigned char *)image; *p; p++)
        if (*p < 0x21 || *p == 0x7f)
            return err_set(err, EINVAL, "image must not contain spaces or control characters");
    return 0;
}

int spec_parse_json(const char *buf, size_t len, struct sandbox_spec **ret, struct runra_err **err)
{
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return err_set(err, EINVAL, "malformed JSON: %s (line %d, column %d)", je.text, je.line,
                       je.column);
    const char *image = NULL, *backend = NULL, *workdir = NULL, *user = NULL;
    json_t *res = NULL, *meta = NULL, *env = NULL, *timeout = NULL, *net = NULL, *sec = NULL;
    int auto_resume = 0, persist = 0;
    const char *on_timeout = NULL;
    json_t *mounts = NULL;
    if (json_unpack_ex(j, &je, JSON_STRICT,
                       "{s?s,s?s,s?o,s?o,s?o,s?o,s?s,s?o,s?b,s?s,s?o,s?b,s?o,s?s}", "image", &image,
                       "backend", &backend, "resources", &res, "timeoutMs", &timeout, "metadata",
                       &meta, "env", &env, "workdir", &workdir, "network", &net, "autoResume",
                       &auto_resume, "onTimeout", &on_timeout, "secrets", &sec, "persist",
                       &persist, "mounts", &mounts, "user", &user) < 0) {
        json_decref(j);
        return err_set(err, EINVAL, "invalid sandbox spec: %s", je.text);
    }
    _cleanup_(spec_freep) struct sandbox_spec *s = NULL;
    int r = spec_new_default(&s);
    if (r < 0)
        goto out;
    if (image) {
        if (!*image || strlen(image) > RUNRA_IMAGE_MAX) {
            r = err_set(err, EINVAL, "image must be a non-empty name");
            goto out;
        }
        if ((r = check_image(image, err)) < 0)
            goto out;
        free(s->image);
        if (!(s->image = strdup(image))) {
            r = -ENOMEM;
            goto out;
        }
    }
    if (user) {
        if ((r = msg_check_user(user, err)) < 0)
            goto out;
        if (!(s->user = strdup(user))) {
            r = -ENOMEM;
            goto out;
        }
    }
    if (backend && strcmp(backend, "ns") != 0 && strcmp(backend, "vm") != 0) {
        r = err_set(err, EINVAL, "unknown backend '%s' (ns or vm)", backend);
        goto out;
    }
    if (backend && !strcmp(backend, "vm")) {
        free(s->backend);
        if (!(s->backend = strdup("vm"))) {
            r = -ENOMEM;
            goto out;
        }
    }
    if (res) {
        json_t *cpu = NULL, *mem = NULL, *pids = NULL, *disk = NULL;
        if (json_unpack_ex(res, &je, JSON_STRICT, "{s?o,s?o,s?o,s?o}", "cpu", &cpu, "memoryMb",
                           &mem, "pids", &pids, "diskMb", &disk) < 0) {
            r = err_set(err, EINVAL, "invalid resources: %s", je.text);
            goto out;
        }
        struct sandbox_resources *rs = &s->resources;
        if (cpu) {
            if (!json_is_number(cpu) || !isfinite(json_number_value(cpu)) ||
                json_number_value(cpu) < RUNRA_MIN_CPU || json_number_value(cpu) > RUNRA_MAX_CPU) {
                r = err_set(err, EINVAL, "resources.cpu must be a number of cores in [%g, %g]",
                            RUNRA_MIN_CPU, RUNRA_MAX_CPU);
                goto out;
            }
            rs->cpu = json_number_value(cpu);
        }
        struct {
            json_t *v;
            const char *name;
            uint64_t min, max, *dst;
        } ints[] = {
            {mem, "memoryMb", RUNRA_MIN_MEMORY_MB, RUNRA_MAX_MEMORY_MB, &rs->memory_mb},
            {pids, "pids", RUNRA_MIN_PIDS, RUNRA_MAX_PIDS, &rs->pids},
            {disk, "diskMb", RUNRA_MIN_DISK_MB, RUNRA_MAX_DISK_MB, &rs->disk_mb},
        };
        for (size_t i = 0; i < ARRAY_SIZE(ints); i++) {
            if (!ints[i].v)
                continue;
            if (!json_is_integer(ints[i].v) ||
                json_integer_value(ints[i].v) < (json_int_t)ints[i].min ||
                (uint64_t)json_integer_value(ints[i].v) > ints[i].max) {
                r = err_set(err, EINVAL, "resources.%s must be an integer in [%llu, %llu]",
                            ints[i].name, (unsigned long long)ints[i].min,
                            (unsigned long long)ints[i].max);
                goto out;
            }
            *ints[i].dst = (uint64_t)json_integer_value(ints[i].v);
        }
    }
    if (timeout) {
        if (!json_is_integer(timeout) || json_integer_value(timeout) < 0 ||
            (uint64_t)json_integer_value(timeout) > RUNRA_TIMEOUT_MAX_MS) {
            r = err_set(err, EINVAL, "timeoutMs must be an integer in [0, %llu]",
                        (unsigned long long)RUNRA_TIMEOUT_MAX_MS);
            goto out;
        }
        s->timeout_ms = (uint64_t)json_integer_value(timeout);
    }
    if (meta && (r = kv_from_json(meta, "metadata", RUNRA_META_MAX, RUNRA_META_KEY_MAX,
                                  RUNRA_META_VALUE_MAX, false, &s->metadata, err)) < 0)
        goto out;
    if (env && (r = kv_from_json(env, "env", RUNRA_ENV_MAX, RUNRA_ENV_KEY_MAX, RUNRA_ARG_MAX_BYTES,
                                 true, &s->env, err)) < 0)
        goto out;
    if (sec && (r = kv_from_json(sec, "secrets", RUNRA_ENV_MAX, RUNRA_ENV_KEY_MAX,
                                 RUNRA_ARG_MAX_BYTES, true, &s->secrets, err)) < 0)
        goto out;
    s->auto_resume = auto_resume;
    s->persist = persist;
    if (mounts && (r = mounts_from_json(mounts, s, err)) < 0)
        goto out;
    if (on_timeout && (r = spec_parse_on_timeout(on_timeout, &s->pause_on_timeout, err)) < 0)
        goto out;
    if (net && !json_is_null(net)) {
        if (!json_is_object(net)) {
            r = err_set(err, EINVAL, "network must be an object");
            goto out;
        }
        if (!(s->network = json_dumps(net, JSON_COMPACT | JSON_SORT_KEYS))) {
            r = -ENOMEM;
            goto out;
        }
    }
    if (workdir) {
        if ((r = spec_check_workdir(workdir, err)) < 0)
            goto out;
        free(s->workdir);
        if (!(s->workdir = strdup(workdir))) {
            r = -ENOMEM;
            goto out;
        }
        s->workdir_set = true;
    }
    *ret = TAKE_PTR(s);
    r = 0;
out:
    json_decref(j);
    return r;
}

static json_t *kv_to_json(const struct kv_list *l)
{
    json_t *o = json_object();
    for (size_t i = 0; o && i < l->n; i++)
        json_object_set_new(o, l->items[i].key, json_string(l->items[i].value));
    return o;
}

int spec_to_json(const struct sandbox_spec *s, bool with_env, char **ret)
{
    json_t *j = json_pack("{s:s,s:s,s:{s:f,s:I,s:I,s:I},s:I,s:o,s:s}", "image", s->image,
                          "backend", s->backend, "resources", "cpu", s->resources.cpu, "memoryMb",
                          (json_int_t)s->resources.memory_mb, "pids",
                          (json_int_t)s->resources.pids, "diskMb",
                          (json_int_t)s->resources.disk_mb, "timeoutMs", (json_int_t)s->timeout_ms,
                          "metadata", kv_to_json(&s->metadata), "workdir", s->workdir);
    if (!j)
        return -ENOMEM;
    if (with_env)
        json_object_set_new(j, "env", kv_to_json(&s->env));
    if (s->auto_resume)
        json_object_set_new(j, "autoResume", json_true());
    if (s->pause_on_timeout)
        json_object_set_new(j, "onTimeout", json_string("pause"));
    if (s->persist)
        json_object_set_new(j, "persist", json_true());
    if (s->user)
        json_object_set_new(j, "user", json_string(s->user));
    if (s->nmounts) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < s->nmounts; i++)
            json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "source", s->mounts[i].source,
                                               "target", s->mounts[i].target, "readOnly",
                                               s->mounts[i].readonly));
        json_object_set_new(j, "mounts", a);
    }
    if (s->network) {
        json_t *n = json_loads(s->network, 0, NULL);
        if (!n) {
            json_decref(j);
            return -ENOMEM;
        }
        json_object_set_new(j, "network", n);
    }
    char *out = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(j);
    if (!out)
        return -ENOMEM;
    *ret = out;
    return 0;
}

int spec_dup(const struct sandbox_spec *s, struct sandbox_spec **ret)
{
    _cleanup_free_ char *json = NULL;
    int r = spec_to_json(s, true, &json);
    if (r < 0)
        return r;
    _cleanup_err_ struct runra_err *e = NULL;
    struct sandbox_spec *d = NULL;
    r = spec_parse_json(json, strlen(json), &d, &e);
    if (r < 0)
        return r;
    d->workdir_set = s->workdir_set;
    if (s->image_digest && !(d->image_digest = strdup(s->image_digest))) {
        spec_free(d);
        return -ENOMEM;
    }
    *ret = d;
    return 0;
}

bool spec_same_box(const struct sandbox_spec *a, const struct sandbox_spec *b)
{
    return !strcmp(a->image, b->image) && !strcmp(a->backend, b->backend) &&
           !strcmp(a->workdir, b->workdir) && a->resources.cpu == b->resources.cpu &&
           a->resources.memory_mb == b->resources.memory_mb &&
           a->resources.pids == b->resources.pids && a->resources.disk_mb == b->resources.disk_mb &&
           a->persist == b->persist && a->nmounts == 0 && b->nmounts == 0;
}
