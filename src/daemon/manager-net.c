/* A sandbox's network as the manager runs it (manager.h): attached at
 * create when the spec's mode is not none, changed at runtime (PATCH), shown
 * and audited. Network changes are serialized by one lock, since each is a
 * few netlink and nftables requests and they are rare. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "manager-internal.h"
#include "store/store.h"

static pthread_mutex_t net_lock = PTHREAD_MUTEX_INITIALIZER;

static int parse(const char *json, struct net_policy *ret, struct runra_err **err)
{
    json_error_t je;
    json_auto_t *j = json ? json_loads(json, JSON_REJECT_DUPLICATES, &je) : NULL;
    if (json && !j)
        return err_set(err, EINVAL, "network: malformed JSON");
    return net_policy_from_json(j, ret, err);
}

int manager_net_check(const char *json, struct runra_err **err)
{
    struct net_policy p = {0};
    int r = parse(json, &p, err);
    net_policy_done(&p);
    return r;
}

/* Attaches, with net_lock held. */
static int attach_locked(struct manager *m, struct sandbox *s, const struct net_policy *p,
                         struct runra_err **err)
{
    if (!m->cfg.egress)
        return err_set(err, ENOSYS, "network access is not available on this host: %s",
                       m->cfg.egress_error ? m->cfg.egress_error : "egress is off");
    pthread_mutex_lock(&m->lock);
    bool no_box = s->stopped || s->lost || s->unreachable, attached = s->net != NULL;
    pthread_mutex_unlock(&m->lock);
    if (no_box || attached)
        return 0; /* attached when a resume starts it again, or already */
    int64_t pid = s->ops->init_pid(s->box);
    if (pid <= 0)
        return err_set(err, EPIPE, "the sandbox's init is gone");
    struct egress_box *b = NULL;
    int r = egress_attach(m->cfg.egress, s->id, (pid_t)pid, p, s->net_slot, &b, err);
    if (r < 0)
        return r;
    /* Its addresses are kept across daemon restarts (HTTP_PROXY in the
     * environment of processes already running names the gateway). */
    uint32_t slot = egress_box_slot(b);
    if (slot != s->net_slot && m->cfg.store && s->stored)
        store_sandbox_set_net_slot(m->cfg.store, s->id, slot, NULL);
    char **env = egress_env(b);
    if (!env) {
        egress_detach(b);
        return -ENOMEM;
    }
    pthread_mutex_lock(&m->lock);
    s->net = b;
    s->net_slot = slot;
    strv_free(s->net_env);
    s->net_env = env;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static void detach_locked(struct manager *m, struct sandbox *s)
{
    pthread_mutex_lock(&m->lock);
    struct egress_box *b = s->net;
    s->net = NULL;
    strv_free(s->net_env);
    s->net_env = NULL;
    pthread_mutex_unlock(&m->lock);
    egress_detach(b);
}

int manager_net_setup(struct manager *m, struct sandbox *s, struct runra_err **err)
{
    /* A copy: a PATCH may replace the spec's network meanwhile. */
    pthread_mutex_lock(&m->lock);
    _cleanup_free_ char *text = s->spec->network ? strdup(s->spec->network) : NULL;
    bool had = s->spec->network != NULL;
    pthread_mutex_unlock(&m->lock);
    if (!had)
        return 0;
    if (!text)
        return -ENOMEM;
    struct net_policy p = {0};
    int r = parse(text, &p, err);
    if (r >= 0 && p.mode != NET_MODE_NONE) {
        pthread_mutex_lock(&net_lock);
        r = attach_locked(m, s, &p, err);
        pthread_mutex_unlock(&net_lock);
    }
    net_policy_done(&p);
    return r;
}

void manager_net_teardown(struct manager *m, struct sandbox *s)
{
    if (!s->net)
        return;
    pthread_mutex_lock(&net_lock);
    detach_locked(m, s);
    pthread_mutex_unlock(&net_lock);
}

int manager_set_network(struct manager *m, const char *id, json_t *network,
                        struct runra_err **err)
{
    struct net_policy p = {0};
    int r = net_policy_from_json(network, &p, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *text = json_dumps(network, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text) {
        net_policy_done(&p);
        return -ENOMEM;
    }
    struct sandbox *s;
    r = manager_acquire_any(m, id, &s, err);
    if (r < 0) {
        net_policy_done(&p);
        return r;
    }
    pthread_mutex_lock(&net_lock);
    if (p.mode == NET_MODE_NONE) {
        if (s->net)
            detach_locked(m, s);
    } else if (s->net) {
        r = egress_set_policy(s->net, &p, err);
    } else {
        r = attach_locked(m, s, &p, err);
    }
    if (r >= 0) {
        pthread_mutex_lock(&m->lock);
        free(s->spec->network);
        s->spec->network = TAKE_PTR(text);
        struct sandbox_spec *copy = NULL;
        if (m->cfg.store && s->stored)
            spec_dup(s->spec, &copy);
        pthread_mutex_unlock(&m->lock);
        /* Written after the lock: a SQLite write must not stall the table. */
        if (copy)
            store_sandbox_set_spec(m->cfg.store, s->id, copy, NULL);
        spec_free(copy);
        log_info("event=network_changed sandbox=%s mode=%s", s->id,
                 p.mode == NET_MODE_NONE ? "none" : p.mode == NET_MODE_OPEN ? "open" : "allowlist");
    }
    pthread_mutex_unlock(&net_lock);
    manager_release(m, s);
    net_policy_done(&p);
    return r;
}

int manager_network_get(struct manager *m, const char *id, bool denied, json_t **ret,
                        struct runra_err **err)
{
    struct sandbox *s;
    int r = manager_acquire_any(m, id, &s, err);
    if (r < 0)
        return r;
    pthread_mutex_lock(&net_lock);
    json_t *j = NULL;
    if (denied) {
        j = s->net ? egress_denied_json(s->net) : json_array();
        j = j ? json_pack("{s:o}", "denied", j) : NULL;
    } else {
        pthread_mutex_lock(&m->lock);
        _cleanup_free_ char *text = s->spec->network ? strdup(s->spec->network) : NULL;
        pthread_mutex_unlock(&m->lock);
        struct net_policy p = {0};
        r = parse(text, &p, err);
        if (r >= 0)
            j = net_policy_to_json(&p);
        net_policy_done(&p);
        if (j && s->net)
            json_object_update_missing_new(j, egress_box_json(s->net));
    }
    pthread_mutex_unlock(&net_lock);
    manager_release(m, s);
    if (r < 0)
        return r;
    if (!j)
        return -ENOMEM;
    *ret = j;
    return 0;
}

const char *manager_network_unavailable(struct manager *m)
{
    return m->cfg.egress ? NULL : m->cfg.egress_error ? m->cfg.egress_error : "egress is off";
}

uint64_t manager_net_denied_total(struct manager *m, struct sandbox *s)
{
    (void)m;
    pthread_mutex_lock(&net_lock);
    uint64_t n = s->net ? egress_denied_total(s->net) : 0;
    pthread_mutex_unlock(&net_lock);
    return n;
}
