/* Sandbox table and lifecycle. One mutex guards the table and reference
 * counts; no backend or guest I/O happens under it. A sandbox being destroyed
 * leaves the table first, so new requests get 404, then its guest stream is
 * shut (waking every in-flight call with EPIPE), then the backend tears the
 * box down once the last request let go. */
#include "manager.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "base/log.h"
#include "base/util.h"
#include "guest.h"
#include "manager-internal.h"
#include "proto/frame.h"
#include "proto/limits.h"
#include "store/store.h"

static uint32_t slot_uid_base(uint32_t slot) { return UID_BASE_FIRST + slot * 65536u; }

static struct sandbox *find_locked(struct manager *m, const char *id)
{
    for (struct sandbox *s = m->list; s; s = s->next)
        if (!strcmp(s->id, id))
            return s;
    return NULL;
}

int manager_acquire(struct manager *m, const char *id, struct sandbox **ret, struct runra_err **err)
{
    pthread_mutex_lock(&m->lock);
    struct sandbox *s = find_locked(m, id);
    if (!s || s->destroying) {
        pthread_mutex_unlock(&m->lock);
        return err_set(err, ENOENT, "sandbox '%.64s' not found", id);
    }
    s->refs++;
    pthread_mutex_unlock(&m->lock);
    *ret = s;
    return 0;
}

void manager_release(struct manager *m, struct sandbox *s)
{
    pthread_mutex_lock(&m->lock);
    s->refs--;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

static void sandbox_free(struct sandbox *s)
{
    if (!s)
        return;
    spec_free(s->spec);
    free(s->dir);
    free(s);
}

static int info_from(const struct sandbox *s, const char *state, struct sandbox_info **ret)
{
    struct sandbox_info *i = calloc(1, sizeof(*i));
    if (!i)
        return -ENOMEM;
    _cleanup_free_ char *json = NULL;
    _cleanup_err_ struct runra_err *e = NULL;
    i->id = strdup(s->id);
    i->state = strdup(state);
    i->created_ms = s->created_ms;
    i->expires_ms = s->expires_ms;
    if (!i->id || !i->state || spec_to_json(s->spec, true, &json) < 0 ||
        spec_parse_json(json, strlen(json), &i->spec, &e) < 0) {
        sandbox_info_free(i);
        return -ENOMEM;
    }
    *ret = i;
    return 0;
}

void sandbox_info_free(struct sandbox_info *i)
{
    if (!i)
        return;
    free(i->id);
    free(i->state);
    spec_free(i->spec);
    free(i);
}

void sandbox_info_list_free(struct sandbox_info **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        sandbox_info_free(v[i]);
    free(v);
}

/* Tears a sandbox down. The caller has already unlinked it from the table. */
static void teardown(struct manager *m, struct sandbox *s)
{
    if (s->guest) {
        /* Wake every request still using the sandbox, then wait for them. */
        guest_shutdown(s->guest);
    }
    pthread_mutex_lock(&m->lock);
    while (s->refs > 0)
        pthread_cond_wait(&m->cond, &m->lock);
    pthread_mutex_unlock(&m->lock);
    _cleanup_err_ struct runra_err *e = NULL;
    if (s->box && s->ops->destroy(s->box, &e) < 0)
        log_warn("event=destroy_failed sandbox=%s err=\"%s\"", s->id, e && e->msg ? e->msg : "?");
    s->box = NULL;
    guest_free(s->guest);
    s->guest = NULL;
    if (s->dir)
        rm_rf(s->dir);
    _cleanup_err_ struct runra_err *e2 = NULL;
    if (m->cfg.store)
        store_sandbox_delete(m->cfg.store, s->id, &e2);
    pthread_mutex_lock(&m->lock);
    m->slots[s->slot] = false;
    pthread_mutex_unlock(&m->lock);
    log_info("event=destroyed sandbox=%s", s->id);
    sandbox_free(s);
}

static void unlink_locked(struct manager *m, struct sandbox *s)
{
    for (struct sandbox **p = &m->list; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            m->count--;
            break;
        }
    s->destroying = true;
}

static void *reaper_main(void *arg)
{
    struct manager *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        int64_t now = (int64_t)wall_ms();
        struct sandbox *expired = NULL;
        int64_t next = now + 1000;
        for (struct sandbox *s = m->list; s; s = s->next) {
            if (s->expires_ms <= 0 || s->destroying)
                continue;
            if (s->expires_ms <= now) {
                expired = s;
                break;
            }
            if (s->expires_ms < next)
                next = s->expires_ms;
        }
        if (expired) {
            unlink_locked(m, expired);
            pthread_mutex_unlock(&m->lock);
            log_info("event=timeout sandbox=%s", expired->id);
            teardown(m, expired);
            pthread_mutex_lock(&m->lock);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait = next - now;
        if (wait < 1)
            wait = 1;
        ts.tv_sec += wait / 1000;
        ts.tv_nsec += (wait % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* Removes what a previous daemon left behind: state dirs and rows of
 * sandboxes that no longer have a daemon. Reattaching to survivors is the
 * lifecycle issue's work; until then they are cleaned up. */
static void cleanup_leftovers(struct manager *m)
{
    struct store_sandbox *v = NULL;
    size_t n = 0;
    _cleanup_err_ struct runra_err *e = NULL;
    if (m->cfg.store && store_sandbox_list(m->cfg.store, &v, &n, &e) >= 0) {
        for (size_t i = 0; i < n; i++) {
            _cleanup_err_ struct runra_err *e2 = NULL;
            _cleanup_free_ char *dir = NULL;
            if (asprintf(&dir, "%s/%s", m->sandboxes_dir, v[i].id) >= 0 && ns_backend_ops.cleanup)
                ns_backend_ops.cleanup(v[i].id, dir, &e2);
            store_sandbox_delete(m->cfg.store, v[i].id, NULL);
            log_info("event=leftover_removed sandbox=%s", v[i].id);
        }
        store_sandbox_list_free(v, n);
    }
    rm_rf(m->sandboxes_dir);
}

int manager_new(const struct manager_config *cfg, struct manager **ret, struct runra_err **err)
{
    struct manager *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    m->cfg = *cfg;
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (asprintf(&m->sandboxes_dir, "%s/sandboxes", cfg->state_dir) < 0) {
        free(m);
        return -ENOMEM;
    }
    cleanup_leftovers(m);
    if (mkdir(m->sandboxes_dir, 0700) < 0 && errno != EEXIST) {
        int r = err_sys(err, errno, "create '%s'", m->sandboxes_dir);
        free(m->sandboxes_dir);
        free(m);
        return r;
    }
    int r = pthread_create(&m->reaper, NULL, reaper_main, m);
    if (r != 0) {
        free(m->sandboxes_dir);
        free(m);
        return err_sys(err, r, "start reaper");
    }
    *ret = m;
    return 0;
}

void manager_free(struct manager *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->reaper, NULL);
    for (;;) {
        pthread_mutex_lock(&m->lock);
        struct sandbox *s = m->list;
        if (s)
            unlink_locked(m, s);
        pthread_mutex_unlock(&m->lock);
        if (!s)
            break;
        teardown(m, s);
    }
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m->sandboxes_dir);
    free(m);
}

size_t manager_count(struct manager *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->count;
    pthread_mutex_unlock(&m->lock);
    return n;
}

int manager_create(struct manager *m, struct sandbox_spec *spec, struct sandbox_info **ret,
                   struct runra_err **err)
{
    _cleanup_(spec_freep) struct sandbox_spec *sp = spec;
    struct sandbox *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int r = random_hex(s->id, 12);
    if (r < 0) {
        free(s);
        return err_sys(err, r, "generate id");
    }
    pthread_mutex_lock(&m->lock);
    if (m->stopping) {
        pthread_mutex_unlock(&m->lock);
        free(s);
        return err_set(err, EAGAIN, "daemon is shutting down");
    }
    uint32_t slot = UID_SLOTS;
    for (uint32_t i = 0; i < UID_SLOTS; i++)
        if (!m->slots[i]) {
            slot = i;
            break;
        }
    if (slot == UID_SLOTS) {
        pthread_mutex_unlock(&m->lock);
        free(s);
        return err_set(err, EAGAIN, "too many sandboxes (max %d)", UID_SLOTS);
    }
    m->slots[slot] = true;
    pthread_mutex_unlock(&m->lock);
    s->slot = slot;
    s->spec = TAKE_PTR(sp);
    s->ops = &ns_backend_ops;
    s->created_ms = (int64_t)wall_ms();
    s->expires_ms = s->spec->timeout_ms ? s->created_ms + (int64_t)s->spec->timeout_ms : 0;
    int fd = -1;
    if (asprintf(&s->dir, "%s/%s", m->sandboxes_dir, s->id) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    if (mkdir(s->dir, 0700) < 0) {
        r = err_sys(err, errno, "create '%s'", s->dir);
        goto fail;
    }
    const char *hide[] = {m->cfg.state_dir, m->cfg.socket_path, NULL};
    struct backend_create_args a = {.id = s->id,
                                    .spec = s->spec,
                                    .dir = s->dir,
                                    .hide = hide,
                                    .uid_base = slot_uid_base(slot),
                                    .init_path = m->cfg.init_path};
    r = s->ops->create(&a, &s->box, &fd, err);
    if (r < 0)
        goto fail;
    r = guest_new(fd, s->id, &s->guest, err);
    if (r < 0) {
        close(fd);
        goto fail;
    }
    if (m->cfg.store) {
        struct store_sandbox row = {.id = s->id,
                                    .spec = s->spec,
                                    .state = "running",
                                    .created_ms = s->created_ms,
                                    .expires_ms = s->expires_ms,
                                    .uid_base = slot_uid_base(slot),
                                    .init_pid = s->ops->init_pid(s->box)};
        r = store_sandbox_insert(m->cfg.store, &row, err);
        if (r < 0)
            goto fail;
    }
    r = info_from(s, "running", ret);
    if (r < 0)
        goto fail;
    pthread_mutex_lock(&m->lock);
    s->next = m->list;
    m->list = s;
    m->count++;
    pthread_cond_broadcast(&m->cond); /* the reaper may need an earlier wake-up */
    pthread_mutex_unlock(&m->lock);
    log_info("event=created sandbox=%s", s->id);
    return 0;
fail:
    err_prefix(err, "create sandbox");
    teardown(m, s);
    return r;
}

int manager_get(struct manager *m, const char *id, struct sandbox_info **ret,
                struct runra_err **err)
{
    struct sandbox *s;
    int r = manager_acquire(m, id, &s, err);
    if (r < 0)
        return r;
    r = info_from(s, guest_alive(s->guest) ? "running" : "failed", ret);
    manager_release(m, s);
    return r;
}

int manager_list(struct manager *m, const struct kv_list *filter, struct sandbox_info ***ret,
                 size_t *ret_n, struct runra_err **err)
{
    pthread_mutex_lock(&m->lock);
    struct sandbox_info **v = calloc(m->count + 1, sizeof(*v));
    size_t n = 0;
    int r = v ? 0 : -ENOMEM;
    for (struct sandbox *s = m->list; r >= 0 && s; s = s->next) {
        bool match = true;
        for (size_t i = 0; filter && i < filter->n; i++) {
            const char *val = kv_get(&s->spec->metadata, filter->items[i].key);
            if (!val || strcmp(val, filter->items[i].value) != 0)
                match = false;
        }
        if (!match)
            continue;
        r = info_from(s, guest_alive(s->guest) ? "running" : "failed", &v[n]);
        if (r >= 0)
            n++;
    }
    pthread_mutex_unlock(&m->lock);
    if (r < 0) {
        sandbox_info_list_free(v, n);
        return r;
    }
    *ret = v;
    *ret_n = n;
    return 0;
}

int manager_destroy(struct manager *m, const char *id, struct runra_err **err)
{
    pthread_mutex_lock(&m->lock);
    struct sandbox *s = find_locked(m, id);
    if (!s || s->destroying) {
        pthread_mutex_unlock(&m->lock);
        return err_set(err, ENOENT, "sandbox '%.64s' not found", id);
    }
    unlink_locked(m, s);
    pthread_mutex_unlock(&m->lock);
    teardown(m, s);
    return 0;
}

const struct manager_config *manager_config(struct manager *m) { return &m->cfg; }
