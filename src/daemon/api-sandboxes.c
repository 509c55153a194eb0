/* /v1/health and the sandbox lifecycle routes: JSON in, typed spec to the
 * manager, sandbox snapshots back out as JSON. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "backend/backend.h"
#include "backend/vm/vm.h"
#include "base/util.h"
#include "net/policy.h"
#include "proto/limits.h"
#include "proto/msg.h"
#include "proto/spec.h"

/* The policy as the daemon reads it (normalized rules), or mode none. */
static json_t *network_json(const char *text)
{
    json_auto_t *j = text ? json_loads(text, 0, NULL) : NULL;
    struct net_policy p = {0};
    json_t *out = NULL;
    if (net_policy_from_json(j, &p, NULL) >= 0)
        out = net_policy_to_json(&p);
    net_policy_done(&p);
    return out ? out : json_pack("{s:s}", "mode", "none");
}

static json_t *sandbox_json_base(const struct sandbox_info *i);

static json_t *sandbox_json(const struct sandbox_info *i)
{
    json_t *j = sandbox_json_base(i);
    json_t *mounts = json_array();
    for (size_t k = 0; j && mounts && k < i->spec->nmounts; k++)
        json_array_append_new(mounts, json_pack("{s:s,s:s,s:b}", "source",
                                                i->spec->mounts[k].source, "target",
                                                i->spec->mounts[k].target, "readOnly",
                                                i->spec->mounts[k].readonly));
    if (j && mounts)
        json_object_set_new(j, "mounts", mounts);
    else
        json_decref(mounts);
    return j;
}

static json_t *sandbox_json_base(const struct sandbox_info *i)
{
    const struct sandbox_spec *s = i->spec;
    json_t *meta = json_object();
    for (size_t k = 0; k < s->metadata.n; k++)
        json_object_set_new(meta, s->metadata.items[k].key,
                            json_string(s->metadata.items[k].value));
    /* Env values are secrets as often as not: only their names are shown. */
    json_t *env_keys = json_array();
    for (size_t k = 0; k < s->env.n; k++)
        json_array_append_new(env_keys, json_string(s->env.items[k].key));
    return json_pack("{s:s,s:s,s:s,s:s,s:{s:f,s:I,s:I,s:I},s:I,s:o,s:o,s:s,s:o,s:o,s:o,s:o,s:o,"
                     "s:o,s:s?,s:s?}",
                     "id",
                     i->id, "state", i->state, "image", s->image, "backend", s->backend,
                     "resources", "cpu", s->resources.cpu, "memoryMb",
                     (json_int_t)s->resources.memory_mb, "pids", (json_int_t)s->resources.pids,
                     "diskMb", (json_int_t)s->resources.disk_mb, "timeoutMs",
                     (json_int_t)s->timeout_ms, "metadata", meta, "envKeys", env_keys, "workdir",
                     s->workdir, "network", network_json(s->network), "autoResume",
                     json_boolean(s->auto_resume), "persist", json_boolean(s->persist), "onTimeout",
                     json_string(s->pause_on_timeout ? "pause" : "destroy"), "createdAt",
                     msg_time_json(i->created_ms), "expiresAt", msg_time_json(i->expires_ms),
                     "imageDigest", s->image_digest, "user", s->user);
}

enum MHD_Result api_health(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    if (api_check_query(c, NULL, NULL, &e) < 0)
        return api_respond_err(c, -EINVAL, e);
    _cleanup_err_ struct runra_err *ns_err = NULL;
    int ns_ok = ns_backend_ops.available(&ns_err);
    json_t *ns = json_pack("{s:b}", "available", ns_ok >= 0);
    if (ns_ok < 0)
        json_object_set_new(ns, "reason",
                            json_string(ns_err && ns_err->msg ? ns_err->msg : "unavailable"));
    _cleanup_err_ struct runra_err *vm_err = NULL;
    int vm_ok = vm_backend_ops.available(&vm_err);
    json_t *vm = json_pack("{s:b}", "available", vm_ok >= 0);
    if (vm_ok < 0)
        json_object_set_new(vm, "reason",
                            json_string(vm_err && vm_err->msg ? vm_err->msg : "unavailable"));
    /* The acceleration VMs run with, once the first VM has shown it. */
    const char *accel = vm_backend_accel();
    if (vm_ok >= 0)
        json_object_set_new(vm, "accel", json_string(accel ? accel : "unknown"));
    const char *net_why = manager_network_unavailable(a->m);
    json_t *net = json_pack("{s:b}", "available", net_why == NULL);
    if (net_why)
        json_object_set_new(net, "reason", json_string(net_why));
    /* With an API key, the counts are the key's own sandboxes only: the
     * daemon's totals say how busy other tenants are. */
    size_t count = manager_count(a->m), pool = manager_pool_count(a->m),
           destroying = manager_destroying_count(a->m);
    if (rq->tenant[0]) {
        struct sandbox_info **v = NULL;
        size_t n = 0;
        count = 0;
        if (manager_list(a->m, NULL, &v, &n, NULL) >= 0) {
            for (size_t i = 0; i < n; i++)
                count += !strcmp(v[i]->owner, rq->tenant);
            sandbox_info_list_free(v, n);
        }
        pool = destroying = 0;
    }
    return api_respond_json(
        c, 200,
        json_pack("{s:s,s:s,s:{s:o,s:o},s:o,s:s,s:i,s:I,s:I,s:I}", "status", "ok", "version",
                  RUNRA_VERSION, "backends", "ns", ns, "vm", vm, "network", net, "cgroup",
                  ns_cgroup_mode_name(), "landlock", ns_landlock_abi(), "sandboxes",
                  (json_int_t)count, "pool", (json_int_t)pool, "destroying",
                  (json_int_t)destroying));
}

enum MHD_Result api_sandbox_create(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    struct sandbox_spec *spec = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = spec_parse_json(rq->body ? rq->body : "{}", rq->body ? rq->body_len : 2, &spec, &e);
    if (r >= 0 && spec->network)
        r = manager_net_check(spec->network, &e);
    /* Host paths are the host admin's to hand out, never an API key's. */
    if (r >= 0 && spec->nmounts && a->tcp)
        r = err_set(&e, EPERM, "mounts of host paths are only for the admin (runrad's unix "
                               "socket)");
    if (r >= 0)
        snprintf(spec->owner, sizeof(spec->owner), "%s", rq->tenant);
    if (r < 0) {
        spec_free(spec);
        return api_respond_err(c, r, e);
    }
    struct sandbox_info *info = NULL;
    r = manager_create(a->m, spec, &info, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    enum MHD_Result ret = api_respond_json(c, 201, sandbox_json(info));
    sandbox_info_free(info);
    return ret;
}

struct filter_ctx {
    struct kv_list *l;
    int r;
};

static enum MHD_Result add_filter(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct filter_ctx *f = cls;
    if (!str_has_prefix(key, "metadata.") || !key[9])
        return MHD_YES;
    struct kv *items = realloc(f->l->items, (f->l->n + 1) * sizeof(struct kv));
    if (!items) {
        f->r = -ENOMEM;
        return MHD_NO;
    }
    f->l->items = items;
    items[f->l->n].key = strdup(key + 9);
    items[f->l->n].value = strdup(value ? value : "");
    f->l->n++;
    return MHD_YES;
}

enum MHD_Result api_sandbox_list(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    int r = api_check_query(c, NULL, "metadata.", &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    struct kv_list filter = {0};
    struct filter_ctx f = {.l = &filter};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_filter, &f);
    struct sandbox_info **v = NULL;
    size_t n = 0;
    r = f.r < 0 ? f.r : manager_list(a->m, &filter, &v, &n, &e);
    kv_list_done(&filter);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        if (!rq->tenant[0] || !strcmp(v[i]->owner, rq->tenant)) /* a key sees its own */
            json_array_append_new(arr, sandbox_json(v[i]));
    sandbox_info_list_free(v, n);
    return api_respond_json(c, 200, json_pack("{s:o}", "sandboxes", arr));
}

enum MHD_Result api_sandbox_get(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    struct sandbox_info *info = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = manager_get(a->m, rq->match.id, &info, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    enum MHD_Result ret = api_respond_json(c, 200, sandbox_json(info));
    sandbox_info_free(info);
    return ret;
}

enum MHD_Result api_sandbox_delete(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = manager_destroy(a->m, rq->match.id, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_empty(c, 204);
}

enum MHD_Result api_sandbox_patch(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_auto_t *j = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_error_t je;
    json_t *net = NULL, *tmo = NULL;
    const char *on_timeout = NULL;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s?o,s?o,s?s}", "network", &net, "timeoutMs", &tmo,
                       "onTimeout", &on_timeout) < 0)
        return api_respond_errf(c, EINVAL, "invalid sandbox update: %s", je.text);
    if (!net && !tmo && !on_timeout)
        return api_respond_errf(c, EINVAL, "nothing to update: give network, timeoutMs or "
                                           "onTimeout");
    uint64_t timeout = 0;
    bool pause_on_timeout = false;
    if (tmo && (!json_is_integer(tmo) || json_integer_value(tmo) < 0 ||
                (uint64_t)json_integer_value(tmo) > RUNRA_TIMEOUT_MAX_MS))
        return api_respond_errf(c, EINVAL, "timeoutMs must be an integer in [0, %llu]",
                                (unsigned long long)RUNRA_TIMEOUT_MAX_MS);
    if (tmo)
        timeout = (uint64_t)json_integer_value(tmo);
    if (on_timeout && (r = spec_parse_on_timeout(on_timeout, &pause_on_timeout, &e)) < 0)
        return api_respond_err(c, r, e);
    /* The network first: it is the part that can fail on the host. */
    if (net)
        r = manager_set_network(a->m, rq->match.id, net, &e);
    if (r >= 0 && (tmo || on_timeout))
        r = manager_set_timeout(a->m, rq->match.id, tmo ? &timeout : NULL,
                                on_timeout ? &pause_on_timeout : NULL, &e);
    struct sandbox_info *info = NULL;
    if (r >= 0)
        r = manager_get(a->m, rq->match.id, &info, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    enum MHD_Result ret = api_respond_json(c, 200, sandbox_json(info));
    sandbox_info_free(info);
    return ret;
}

static enum MHD_Result network_get(struct api *a, struct MHD_Connection *c, struct api_req *rq,
                                   bool denied)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_t *j = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = manager_network_get(a->m, rq->match.id, denied, &j, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_json(c, 200, j);
}

enum MHD_Result api_network_get(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    return network_get(a, c, rq, false);
}

enum MHD_Result api_network_denied(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    return network_get(a, c, rq, true);
}

static enum MHD_Result pause_or_resume(struct api *a, struct MHD_Connection *c, struct api_req *rq,
                                       bool pause)
{
    _cleanup_err_ struct runra_err *e = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = manager_pause(a->m, rq->match.id, pause, &e);
    struct sandbox_info *info = NULL;
    if (r >= 0)
        r = manager_get(a->m, rq->match.id, &info, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    enum MHD_Result ret = api_respond_json(c, 200, sandbox_json(info));
    sandbox_info_free(info);
    return ret;
}

enum MHD_Result api_sandbox_pause(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    return pause_or_resume(a, c, rq, true);
}

enum MHD_Result api_sandbox_resume(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    return pause_or_resume(a, c, rq, false);
}

enum MHD_Result api_metrics(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    char *text = NULL;
    size_t len = 0;
    if ((r = manager_metrics(a->m, &text, &len)) < 0)
        return api_respond_err(c, r, NULL);
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
