/* The sandbox lifecycle calls: create, get, list, destroy, and the decoding
 * of a Sandbox object into struct runra_sandbox. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "json-build.h"
#include "json-read.h"

static void sandbox_done(struct runra_sandbox *s)
{
    free(s->id);
    free(s->state);
    free(s->image);
    free(s->backend);
    free(s->workdir);
    jr_kv_free(s->metadata, s->n_metadata);
    free(s->created_at);
    free(s->expires_at);
    free(s->json);
    *s = (struct runra_sandbox){ 0 };
}

void runra_sandbox_free(struct runra_sandbox *s)
{
    if (!s)
        return;
    sandbox_done(s);
    free(s);
}
DEFINE_CLEANUP(struct runra_sandbox, runra_sandbox_free)

void runra_sandbox_list_free(struct runra_sandbox_list *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++)
        sandbox_done(&l->items[i]);
    free(l->items);
    free(l->json);
    free(l);
}
DEFINE_CLEANUP(struct runra_sandbox_list, runra_sandbox_list_free)

/* Fills s from a Sandbox object; on failure s holds what was read so far,
 * for the caller to free. */
static int decode(json_t *o, struct runra_sandbox *s, struct runra_error **err)
{
    if (!json_is_object(o))
        return lib_err_set(err, EPROTO, "runrad's answer: a sandbox is not an object");
    int r = jr_string(o, "id", &s->id, err);
    if (r >= 0 && !s->id)
        r = lib_err_set(err, EPROTO, "runrad's answer: a sandbox has no id");
    if (r >= 0)
        r = jr_string(o, "state", &s->state, err);
    if (r >= 0)
        r = jr_string(o, "image", &s->image, err);
    if (r >= 0)
        r = jr_string(o, "backend", &s->backend, err);
    if (r >= 0)
        r = jr_string(o, "workdir", &s->workdir, err);
    if (r >= 0)
        r = jr_u64(o, "timeoutMs", &s->timeout_ms, err);
    if (r >= 0)
        r = jr_kv(o, "metadata", &s->metadata, &s->n_metadata, err);
    if (r >= 0)
        r = jr_string(o, "createdAt", &s->created_at, err);
    if (r >= 0)
        r = jr_string(o, "expiresAt", &s->expires_at, err);
    json_t *res = json_object_get(o, "resources");
    if (r >= 0 && json_is_object(res)) {
        r = jr_double(res, "cpu", &s->resources.cpu, err);
        if (r >= 0)
            r = jr_u64(res, "memoryMb", &s->resources.memory_mb, err);
        if (r >= 0)
            r = jr_u64(res, "pids", &s->resources.pids, err);
        if (r >= 0)
            r = jr_u64(res, "diskMb", &s->resources.disk_mb, err);
    }
    return r;
}

/* Decodes a whole answer holding one sandbox, keeping its text. */
static int decode_one(json_t *o, char **text, struct runra_sandbox **ret,
                      struct runra_error **err)
{
    _cleanup_(runra_sandbox_freep) struct runra_sandbox *s = calloc(1, sizeof(*s));
    if (!s)
        return lib_err_set(err, ENOMEM, "out of memory");
    int r = decode(o, s, err);
    if (r < 0)
        return r;
    s->json = TAKE_PTR(*text);
    *ret = TAKE_PTR(s);
    return 0;
}

static int network_json(const struct runra_network *n, json_t **ret, struct runra_error **err)
{
    json_t *o = json_object();
    if (!o)
        return lib_err_set(err, ENOMEM, "out of memory");
    int r = jb_str(o, "mode", n->mode, err);
    if (r >= 0 && n->allow && n->allow[0])
        r = jb_strv(o, "allow", n->allow, err);
    if (r >= 0 && n->deny && n->deny[0])
        r = jb_strv(o, "deny", n->deny, err);
    if (r < 0) {
        json_decref(o);
        return r;
    }
    *ret = o;
    return 0;
}

static int spec_to_json(const struct runra_sandbox_spec *spec, json_t *o, struct runra_error **err)
{
    int r = jb_str(o, "image", spec->image, err);
    if (r >= 0)
        r = jb_str(o, "backend", spec->backend, err);
    if (r >= 0)
        r = jb_str(o, "workdir", spec->workdir, err);
    if (r >= 0 && spec->timeout_ms)
        r = jb_u64(o, "timeoutMs", spec->timeout_ms, err);
    if (r >= 0)
        r = jb_kv(o, "metadata", spec->metadata, spec->n_metadata, err);
    if (r >= 0)
        r = jb_kv(o, "env", spec->env, spec->n_env, err);
    if (r >= 0 && spec->auto_resume)
        r = jb_bool(o, "autoResume", 1, err);
    if (r >= 0 && spec->persist)
        r = jb_bool(o, "persist", 1, err);
    if (r >= 0 && spec->n_secrets)
        r = jb_kv(o, "secrets", spec->secrets, spec->n_secrets, err);
    if (r >= 0 && spec->n_mounts) {
        json_t *a = json_array();
        for (size_t i = 0; a && i < spec->n_mounts; i++) {
            const struct runra_mount *m = &spec->mounts[i];
            if (!m->source || !m->target ||
                json_array_append_new(a, json_pack("{s:s,s:s,s:b}", "source", m->source,
                                                   "target", m->target, "readOnly",
                                                   m->read_only)) < 0) {
                json_decref(a);
                a = NULL;
            }
        }
        if (!a || json_object_set_new(o, "mounts", a) < 0)
            r = lib_err_set(err, EINVAL, "bad mounts");
    }
    if (r >= 0)
        r = jb_str(o, "onTimeout", spec->on_timeout, err);
    if (r >= 0 && spec->network.mode) {
        json_t *n = NULL;
        r = network_json(&spec->network, &n, err);
        if (r >= 0 && json_object_set_new(o, "network", n) < 0)
            r = lib_err_set(err, ENOMEM, "out of memory");
    }
    if (r < 0)
        return r;

    const struct runra_resources *rs = &spec->resources;
    if (!rs->cpu && !rs->memory_mb && !rs->pids && !rs->disk_mb)
        return 0;
    json_t *res = json_object();
    if (!res || json_object_set_new(o, "resources", res) < 0)
        return lib_err_set(err, ENOMEM, "out of memory");
    if (rs->cpu != 0) {
        json_t *v = json_real(rs->cpu);
        if (!v || json_object_set_new(res, "cpu", v) < 0)
            return lib_err_set(err, EINVAL, "bad cpu value");
    }
    if (rs->memory_mb)
        r = jb_u64(res, "memoryMb", rs->memory_mb, err);
    if (r >= 0 && rs->pids)
        r = jb_u64(res, "pids", rs->pids, err);
    if (r >= 0 && rs->disk_mb)
        r = jb_u64(res, "diskMb", rs->disk_mb, err);
    return r;
}

int runra_sandbox_create(runra_client *c, const struct runra_sandbox_spec *spec,
                         struct runra_sandbox **ret, struct runra_error **err)
{
    static const struct runra_sandbox_spec defaults = { 0 };
    json_auto_t *body = json_object();
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    int r = spec_to_json(spec ? spec : &defaults, body, err);
    if (r < 0)
        return lib_err_prefix(err, "create");
    json_auto_t *o = NULL;
    _cleanup_free_ char *text = NULL;
    r = client_call(c, "POST", "/v1/sandboxes", body, &o, &text, err);
    if (r < 0)
        return r;
    return decode_one(o, &text, ret, err);
}

int runra_sandbox_get(runra_client *c, const char *id, struct runra_sandbox **ret,
                      struct runra_error **err)
{
    struct buf t = { 0 };
    int r = client_target(&t, id, NULL, err);
    json_auto_t *o = NULL;
    _cleanup_free_ char *text = NULL;
    if (r >= 0)
        r = client_call(c, "GET", t.data, NULL, &o, &text, err);
    buf_done(&t);
    if (r < 0)
        return r;
    return decode_one(o, &text, ret, err);
}

int runra_sandbox_list(runra_client *c, const struct runra_kv *filter, size_t n_filter,
                       struct runra_sandbox_list **ret, struct runra_error **err)
{
    struct buf t = { 0 };
    int r = client_target(&t, NULL, NULL, err);
    for (size_t i = 0; r >= 0 && i < n_filter; i++) {
        if (!filter[i].key || !filter[i].value || !*filter[i].key) {
            buf_done(&t);
            return lib_err_set(err, EINVAL, "metadata filter %zu is incomplete", i);
        }
        _cleanup_free_ char *key = NULL;
        if (asprintf(&key, "metadata.%s", filter[i].key) < 0) {
            buf_done(&t);
            return lib_err_set(err, ENOMEM, "out of memory");
        }
        if (url_append_query(&t, key, filter[i].value) < 0)
            r = lib_err_set(err, ENOMEM, "out of memory");
    }
    json_auto_t *o = NULL;
    _cleanup_free_ char *text = NULL;
    if (r >= 0)
        r = client_call(c, "GET", t.data, NULL, &o, &text, err);
    buf_done(&t);
    if (r < 0)
        return r;

    json_t *arr = json_object_get(o, "sandboxes");
    if (!json_is_array(arr))
        return lib_err_set(err, EPROTO, "runrad's answer has no 'sandboxes' array");
    _cleanup_(runra_sandbox_list_freep) struct runra_sandbox_list *l = calloc(1, sizeof(*l));
    if (!l || !(l->items = calloc(json_array_size(arr) + 1, sizeof(*l->items))))
        return lib_err_set(err, ENOMEM, "out of memory");
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v) {
        /* Count first, so a failure halfway still frees this item. */
        l->n = i + 1;
        r = decode(v, &l->items[i], err);
        if (r >= 0)
            r = jr_dump(v, &l->items[i].json, err);
        if (r < 0)
            return r;
    }
    l->json = TAKE_PTR(text);
    *ret = TAKE_PTR(l);
    return 0;
}

int runra_sandbox_destroy(runra_client *c, const char *id, struct runra_error **err)
{
    struct buf t = { 0 };
    int r = client_target(&t, id, NULL, err);
    if (r >= 0)
        r = client_call(c, "DELETE", t.data, NULL, NULL, NULL, err);
    buf_done(&t);
    return r;
}

static int pause_call(runra_client *c, const char *id, const char *what, struct runra_error **err)
{
    struct buf t = {0};
    int r = client_target(&t, id, what, err);
    if (r >= 0)
        r = client_call(c, "POST", t.data, NULL, NULL, NULL, err);
    buf_done(&t);
    return r;
}

int runra_sandbox_pause(runra_client *c, const char *id, struct runra_error **err)
{
    return pause_call(c, id, "/pause", err);
}

int runra_sandbox_resume(runra_client *c, const char *id, struct runra_error **err)
{
    return pause_call(c, id, "/resume", err);
}

int runra_sandbox_set_network(runra_client *c, const char *id, const struct runra_network *n,
                              struct runra_error **err)
{
    if (!n || !n->mode)
        return lib_err_set(err, EINVAL, "network: no mode given");
    json_t *net = NULL;
    int r = network_json(n, &net, err);
    if (r < 0)
        return r;
    json_auto_t *body = json_pack("{s:o}", "network", net);
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    struct buf t = {0};
    r = client_target(&t, id, "", err);
    if (r >= 0)
        r = client_call(c, "PATCH", t.data, body, NULL, NULL, err);
    buf_done(&t);
    return r;
}

int runra_sandbox_network(runra_client *c, const char *id, bool denied, char **ret_json,
                          struct runra_error **err)
{
    struct buf t = {0};
    int r = client_target(&t, id, denied ? "/network/denied" : "/network", err);
    json_auto_t *ans = NULL;
    char *text = NULL;
    if (r >= 0)
        r = client_call(c, "GET", t.data, NULL, &ans, &text, err);
    buf_done(&t);
    if (r < 0)
        return r;
    *ret_json = text;
    return 0;
}
