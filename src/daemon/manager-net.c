/* A sandbox's network as the manager runs it (manager.h): attached at
 * create when the spec's mode is not none, changed at runtime (PATCH), shown
 * and audited. Network changes are serialized by one lock, since each is a
 * few netlink and nftables requests and they are rare. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/util.h"
#include "guest.h"
#include "manager-internal.h"
#include "proto/frame.h"
#include "proto/msg.h"
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

#define NET_CONFIG_TIMEOUT_MS 10000

/* A VM's guest puts its address on its own NIC (the veth's end is a port
 * of the bridge its tap is on). Saying it again is harmless. The guest is
 * untrusted: one deadline for the whole call, whatever it sends meanwhile,
 * and any failure is EPROTO (the guest does not choose the status). */
static int guest_net_config(struct sandbox *s, const struct net_config_msg *msg,
                            struct runra_err **err)
{
    _cleanup_free_ char *json = NULL;
    int r = msg_net_config_encode(msg, &json);
    if (r < 0)
        return r;
    struct guest_call *call = NULL;
    if ((r = guest_call_start(s->guest, FRAME_NET_CONFIG, json, strlen(json), &call, NULL)) < 0)
        return err_set(err, EPROTO, "the VM's network: runra-init is not reachable");
    struct guest_frame *f = NULL;
    uint64_t deadline = now_ms() + NET_CONFIG_TIMEOUT_MS;
    for (;;) {
        r = guest_call_recv(call, deadline, &f);
        if (r < 0 || f->type == FRAME_RESULT || f->type == FRAME_ERROR || f->type == FRAME_EXIT)
            break;
        free(f);
        f = NULL;
    }
    guest_call_end(call);
    if (r < 0)
        return err_set(err, EPROTO, "the VM did not configure its network%s",
                       r == -ETIMEDOUT ? " in time" : ": runra-init is gone");
    if (f->type == FRAME_ERROR) {
        _cleanup_err_ struct runra_err *ge = NULL;
        guest_frame_error(f, "configure the VM's network", &ge);
        r = err_set(err, EPROTO, "%s", ge && ge->msg ? ge->msg : "the VM's network failed");
    } else if (f->type == FRAME_EXIT) {
        r = err_set(err, EPROTO, "the VM answered its network setup out of turn");
    }
    free(f);
    return r;
}

/* Attaches, with net_lock held. For a VM, *vm_cfg is what its guest must
 * be told (prefix 0: nothing), after net_lock is let go: a guest is
 * untrusted, and one that is slow to answer must not hold up the network
 * of every other sandbox. */
static int attach_locked(struct manager *m, struct sandbox *s, const struct net_policy *p,
                         struct net_config_msg *vm_cfg, struct runra_err **err)
{
    vm_cfg->prefix = 0;
    if (!m->cfg.egress)
        return err_set(err, ENOSYS, "network access is not available on this host: %s",
                       m->cfg.egress_error ? m->cfg.egress_error : "egress is off");
    bool vm = manager_is_vm(s->spec);
    pthread_mutex_lock(&m->lock);
    bool no_box = s->stopped || s->lost || s->unreachable || (vm && s->paused),
         attached = s->net != NULL;
    pthread_mutex_unlock(&m->lock);
    /* Attached when a resume starts it again (a paused VM has no QEMU and
     * so no namespace until then), or already. */
    if (no_box || attached)
        return 0;
    int64_t pid = s->ops->init_pid(s->box);
    if (pid <= 0)
        return err_set(err, EPIPE, "the sandbox's init is gone");
    struct egress_box *b = NULL;
    int r = egress_attach(m->cfg.egress, s->id, (pid_t)pid, vm ? VM_TAP : NULL, p, s->net_slot,
                          &b, err);
    if (r < 0)
        return r;
    if (vm) {
        uint32_t addr, gw;
        egress_box_addr(b, &addr, &gw);
        inet_ntop(AF_INET, &addr, vm_cfg->address, sizeof(vm_cfg->address));
        inet_ntop(AF_INET, &gw, vm_cfg->gateway, sizeof(vm_cfg->gateway));
        snprintf(vm_cfg->mac, sizeof(vm_cfg->mac), "%s", VM_MAC);
        vm_cfg->prefix = 30;
    }
    /* Its addresses are kept across daemon restarts (HTTP_PROXY in the
     * environment of processes already running names the gateway). */
    uint32_t slot = egress_box_slot(b);
    if (slot != s->net_slot && m->cfg.store && s->stored)
        store_sandbox_set_net_slot(m->cfg.store, s->id, slot, NULL);
    char **env = egress_env(b);
    if (!env) {
        egress_detach(b);
        vm_cfg->prefix = 0;
        return -ENOMEM;
    }
    pthread_mutex_lock(&m->lock);
    s->net = b;
    s->net_slot = slot;
    strv_free(s->net_env);
    s->net_env = env;
    pthread_mutex_unlock(&m->lock);
    s->net_gen++;
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
    s->net_gen++;
}

/* Tells a VM's guest its address (cfg from attach_locked, at generation
 * gen), with net_lock let go; on failure the attach is undone, unless
 * another change came meanwhile (then that one stands). Called and
 * returns with net_lock held. */
static int vm_configure_locked(struct manager *m, struct sandbox *s,
                               const struct net_config_msg *cfg, uint64_t gen,
                               struct runra_err **err)
{
    pthread_mutex_unlock(&net_lock);
    int r = guest_net_config(s, cfg, err);
    pthread_mutex_lock(&net_lock);
    if (r < 0 && s->net_gen == gen && s->net)
        detach_locked(m, s);
    return r;
}

/* Attaches s by its spec's policy (detaching first when redo: a resumed
 * VM's new namespace), net_lock held. */
static int setup_locked(struct manager *m, struct sandbox *s, bool redo, struct runra_err **err)
{
    if (redo && s->net)
        detach_locked(m, s);
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
    struct net_config_msg cfg = {0};
    if (r >= 0 && p.mode != NET_MODE_NONE)
        r = attach_locked(m, s, &p, &cfg, err);
    net_policy_done(&p);
    if (r >= 0 && cfg.prefix)
        r = vm_configure_locked(m, s, &cfg, s->net_gen, err);
    return r;
}

int manager_net_setup(struct manager *m, struct sandbox *s, struct runra_err **err)
{
    pthread_mutex_lock(&net_lock);
    int r = setup_locked(m, s, false, err);
    pthread_mutex_unlock(&net_lock);
    return r;
}

void manager_net_rewire(struct manager *m, struct sandbox *s)
{
    if (!manager_is_vm(s->spec))
        return;
    /* The VM's namespace went with its QEMU at the pause; a new one holds
     * the new QEMU. The detach and the attach are one net_lock section, so
     * the slot (and the address the guest kept) is still this sandbox's. */
    _cleanup_err_ struct runra_err *e = NULL;
    pthread_mutex_lock(&net_lock);
    int r = setup_locked(m, s, true, &e);
    pthread_mutex_unlock(&net_lock);
    if (r < 0) {
        log_warn("event=network_restore_failed sandbox=%s err=\"%s\"", s->id,
                 e && e->msg ? e->msg : "?");
        manager_emit(m, s->id, "sandbox.network_lost",
                     json_pack("{s:s}", "reason", e && e->msg ? e->msg : "?"));
    }
}

void manager_net_teardown(struct manager *m, struct sandbox *s)
{
    pthread_mutex_lock(&net_lock);
    if (s->net)
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
    struct net_config_msg cfg = {0};
    pthread_mutex_lock(&net_lock);
    if (p.mode == NET_MODE_NONE) {
        if (s->net)
            detach_locked(m, s);
    } else if (s->net) {
        if ((r = egress_set_policy(s->net, &p, err)) >= 0)
            s->net_gen++;
    } else {
        r = attach_locked(m, s, &p, &cfg, err);
    }
    uint64_t gen = s->net_gen;
    if (r >= 0 && cfg.prefix) {
        /* The guest takes its address with net_lock let go; if it will
         * not, the attach is undone and the policy stays as it was. */
        r = vm_configure_locked(m, s, &cfg, gen, err);
        if (r >= 0 && s->net_gen != gen)
            r = err_set(err, EBUSY, "another change to the sandbox's network came first");
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
