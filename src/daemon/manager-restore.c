/* Taking sandboxes back from the store after runrad restarted (see
 * manager_new): each is reattached, or reported stopped, failed or
 * unreachable; and the network and ports a taken-back or restarted sandbox
 * needs made again; a sandbox let go of on exit (--keep-sandboxes) and a
 * stopped one started again. Split from manager.c, whose lock rules apply. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "manager-internal.h"
#include "secrets.h"
#include "store/store.h"

/* Makes a taken-back or restarted sandbox's network and exposed ports
 * (stored as "PORT:HOSTPORT,...") again; a failure costs that part only,
 * and is an audit event. */
void manager_rewire(struct manager *m, struct sandbox *s, const char *ports)
{
    _cleanup_err_ struct runra_err *e = NULL;
    if (manager_net_setup(m, s, &e) < 0) {
        log_warn("event=network_restore_failed sandbox=%s err=\"%s\"", s->id,
                 e && e->msg ? e->msg : "?");
        manager_emit(m, s->id, "sandbox.network_lost",
                     json_pack("{s:s}", "reason", e && e->msg ? e->msg : "?"));
    }
    manager_ports_restore(m, s, ports);
}

/* The secrets a stored row sealed, back in s's spec; without the key (a
 * host reboot emptied /run, or another key file) they are lost, and said so. */
static void restore_secrets(struct manager *m, struct sandbox *s, const struct store_sandbox *row)
{
    if (!row->secrets_len)
        return;
    _cleanup_err_ struct runra_err *e = NULL;
    struct kv_list l = {0};
    if (m->cfg.secrets_key &&
        secrets_open(m->cfg.secrets_key, s->id, row->secrets, row->secrets_len, &l, &e) >= 0) {
        kv_list_done(&s->spec->secrets);
        s->spec->secrets = l;
        return;
    }
    log_warn("event=secrets_lost sandbox=%s err=\"%s\"", s->id,
             e && e->msg ? e->msg : "no secrets key");
    manager_emit(m, s->id, "sandbox.secrets_lost",
                 json_pack("{s:s}", "reason", e && e->msg ? e->msg : "no secrets key"));
}

/* A stored sandbox whose processes are gone: a persisted one keeps its disk
 * and waits for a resume ("stopped"); any other is only a record ("failed")
 * until it is deleted. Either way it is reported, not dropped. */
static void mark_dead(struct manager *m, struct sandbox *s, const char *why)
{
    bool persist = s->spec->persist;
    if (s->ops->cleanup)
        s->ops->cleanup(s->id, s->dir, persist, NULL);
    egress_cleanup_leftover(s->id);
    s->stopped = persist;
    s->lost = !persist;
    const char *state = persist ? "stopped" : "failed";
    if (m->cfg.store)
        store_sandbox_set_state(m->cfg.store, s->id, state, NULL);
    log_warn("event=sandbox_%s sandbox=%s reason=\"%s\"", state, s->id, why);
    manager_emit(m, s->id, persist ? "sandbox.stopped" : "sandbox.failed",
                 json_pack("{s:s}", "reason", why));
}

/* Takes one stored sandbox back (see manager_new). */
static void restore_one(struct manager *m, struct store_sandbox *row)
{
    uint32_t slot = (row->uid_base - UID_BASE_FIRST) / 65536u;
    _cleanup_free_ char *dir = NULL;
    if (asprintf(&dir, "%s/%s", m->sandboxes_dir, row->id) < 0)
        return;
    if (strlen(row->id) >= sizeof(((struct sandbox *)0)->id) || row->uid_base < UID_BASE_FIRST ||
        (row->uid_base - UID_BASE_FIRST) % 65536u || slot >= UID_SLOTS || m->slots[slot] ||
        strchr(row->id, '/') || row->id[0] == '.') {
        /* Not a row this daemon wrote: remove what it may name. */
        log_warn("event=leftover_removed sandbox=%.64s reason=\"unusable store row\"", row->id);
        if (!strchr(row->id, '/') && row->id[0] != '.')
            ns_backend_ops.cleanup(row->id, dir, false, NULL);
        store_sandbox_delete(m->cfg.store, row->id, NULL);
        return;
    }
    struct sandbox *s = calloc(1, sizeof(*s));
    if (!s)
        return;
    snprintf(s->id, sizeof(s->id), "%s", row->id);
    s->spec = TAKE_PTR(row->spec);
    snprintf(s->owner, sizeof(s->owner), "%s", row->owner);
    snprintf(s->spec->owner, sizeof(s->spec->owner), "%s", row->owner);
    s->created_ms = row->created_ms;
    s->expires_ms = row->expires_ms;
    s->slot = slot;
    s->ops = manager_backend(s->spec->backend);
    s->stored = true;
    s->net_slot = row->net_slot;
    s->dir = TAKE_PTR(dir);
    m->slots[slot] = true;
    restore_secrets(m, s, row);
    if (!row->spec_ok) {
        s->unreachable = true;
        log_warn("event=sandbox_unreachable sandbox=%s err=\"its stored spec does not parse\"",
                 s->id);
    } else if (!strcmp(row->state, "failed")) {
        s->lost = true;
    } else if (!strcmp(row->state, "stopped")) {
        s->stopped = true;
        s->ports_stored = row->ports ? strdup(row->ports) : NULL;
    } else {
        struct backend_reattach_args a = {.id = s->id, .dir = s->dir, .init_pid = row->init_pid};
        _cleanup_err_ struct runra_err *e = NULL;
        int fd = -1;
        bool frozen = false;
        int r = s->ops->reattach(&a, &s->box, &fd, &frozen, &e);
        if (r >= 0 && (r = guest_new(fd, s->id, &s->guest, &e)) < 0) {
            close(fd);
            s->ops->release(s->box);
            s->box = NULL;
        }
        if (r == -ESRCH) {
            if (s->spec->persist)
                s->ports_stored = row->ports ? strdup(row->ports) : NULL;
            mark_dead(m, s, e && e->msg ? e->msg : "its runra-init is gone");
        } else if (r < 0) {
            /* Alive, or not known to be dead: nothing of it is touched. */
            s->unreachable = true;
            log_warn("event=sandbox_unreachable sandbox=%s err=\"%s\"", s->id,
                     e && e->msg ? e->msg : "?");
            manager_emit(m, s->id, "sandbox.unreachable",
                         json_pack("{s:s}", "reason", e && e->msg ? e->msg : "?"));
        } else {
            /* A freeze asked for is a pause, even one a crashed daemon had
             * not yet written down; a sandbox not frozen is running. */
            s->paused = frozen;
            if (strcmp(row->state, frozen ? "paused" : "running") != 0)
                store_sandbox_set_state(m->cfg.store, s->id, frozen ? "paused" : "running", NULL);
            egress_cleanup_leftover(s->id);
            manager_rewire(m, s, row->ports);
            log_info("event=reattached sandbox=%s state=%s", s->id, manager_state_of(s));
            manager_emit(m, s->id, "sandbox.reattached",
                         json_pack("{s:s}", "state", manager_state_of(s)));
        }
    }
    s->next = m->list;
    m->list = s;
    m->count++;
}

/* What a previous daemon left: every stored sandbox is taken back (or
 * reported dead); sandbox dirs with no row (pooled boxes are never stored)
 * are removed through the backend's cleanup, which also kills processes
 * still in their cgroups. */
void manager_restore_all(struct manager *m)
{
    struct store_sandbox *v = NULL;
    size_t n = 0;
    if (m->cfg.store && store_sandbox_list(m->cfg.store, &v, &n, NULL) < 0) {
        /* Without the rows, no dir can be told from a leftover: keep all. */
        log_warn("event=restore_failed err=\"cannot list the stored sandboxes\"");
        return;
    }
    for (size_t i = 0; i < n; i++)
        restore_one(m, &v[i]);
    store_sandbox_list_free(v, n);
    DIR *d = opendir(m->sandboxes_dir);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' || manager_find_locked(m, de->d_name))
            continue;
        _cleanup_free_ char *dir = NULL;
        if (asprintf(&dir, "%s/%s", m->sandboxes_dir, de->d_name) >= 0)
            ns_backend_ops.cleanup(de->d_name, dir, false, NULL);
        log_info("event=leftover_removed sandbox=%s", de->d_name);
    }
    if (d)
        closedir(d);
}


/* Lets go of a sandbox (out of the table) and leaves it running for the
 * next daemon: its row stays; what lives in this process (the guest
 * stream, port listeners) goes, and so does its network, which must not
 * stay up while no proxy decides for it; the next daemon makes it again. */
void manager_release_kept(struct manager *m, struct sandbox *s)
{
    pthread_mutex_lock(&m->lock);
    log_info("event=kept sandbox=%s state=%s", s->id, manager_state_of(s));
    pthread_mutex_unlock(&m->lock);
    if (s->guest)
        guest_shutdown(s->guest);
    ports_table_close(s->ports);
    pthread_mutex_lock(&m->lock);
    while (s->refs > 0)
        pthread_cond_wait(&m->cond, &m->lock);
    pthread_mutex_unlock(&m->lock);
    manager_net_teardown(m, s);
    ports_table_free(s->ports);
    s->ports = NULL;
    guest_free(s->guest);
    s->guest = NULL;
    if (s->box)
        s->ops->release(s->box);
    s->box = NULL;
    manager_sandbox_free(s);
}

/* Starts a stopped (persisted) sandbox again on its disk: new processes,
 * the same files, network and ports. Called with pause_lock held. */
int manager_restart_stopped(struct manager *m, struct sandbox *s, struct runra_err **err)
{
    int r = manager_box_start(m, s, true, err);
    if (r < 0)
        return err_prefix(err, "restart sandbox '%s'", s->id);
    pthread_mutex_lock(&m->lock);
    s->stopped = false;
    pthread_mutex_unlock(&m->lock);
    if (m->cfg.store) {
        store_sandbox_set_init_pid(m->cfg.store, s->id, s->ops->init_pid(s->box), NULL);
        store_sandbox_set_state(m->cfg.store, s->id, "running", NULL);
    }
    log_info("event=restarted sandbox=%s", s->id);
    manager_emit(m, s->id, "sandbox.resumed", json_pack("{s:b}", "restarted", 1));
    return 0;
}

void manager_restart_rewire(struct manager *m, struct sandbox *s)
{
    manager_rewire(m, s, s->ports_stored);
    free(s->ports_stored);
    s->ports_stored = NULL;
}
