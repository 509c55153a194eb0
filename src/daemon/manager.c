/* Sandbox table and lifecycle. One mutex guards the table, the pool, the
 * teardown queue and reference counts; no backend or guest I/O happens under
 * it. A sandbox being destroyed leaves the table first (new requests get
 * 404), its guest stream is shut (waking every in-flight call with EPIPE),
 * and the janitor thread tears the box down once the last request let go, so
 * a DELETE answers at once. Creates take a warm sandbox from the pool when one
 * of the right shape is ready; the filler thread keeps it topped up. */
#include "manager.h"

#include <dirent.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "backend/backend.h"
#include "base/log.h"
#include "base/util.h"
#include "guest.h"
#include "images.h"
#include "manager-internal.h"
#include "proto/frame.h"
#include "proto/limits.h"
#include "secrets.h"
#include "store/store.h"

static uint32_t slot_uid_base(uint32_t slot) { return UID_BASE_FIRST + slot * 65536u; }

struct sandbox *manager_find_locked(struct manager *m, const char *id)
{
    for (struct sandbox *s = m->list; s; s = s->next)
        if (!strcmp(s->id, id))
            return s;
    return NULL;
}

void manager_emit(struct manager *m, const char *sandbox, const char *type, json_t *data)
{
    if (m->cfg.events)
        events_emit(m->cfg.events, sandbox, type, data);
    else
        json_decref(data);
}

int manager_acquire_any(struct manager *m, const char *id, struct sandbox **ret,
                        struct runra_err **err)
{
    pthread_mutex_lock(&m->lock);
    struct sandbox *s = manager_find_locked(m, id);
    if (!s || s->destroying) {
        pthread_mutex_unlock(&m->lock);
        return err_set(err, ENOENT, "sandbox '%.64s' not found", id);
    }
    s->refs++;
    pthread_mutex_unlock(&m->lock);
    *ret = s;
    return 0;
}

/* Pause and resume of any sandbox are serialized: each is a cgroup write
 * and a wait, and they are rare. */
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;


/* A pause that ends the box's processes (a VM's state goes to a file):
 * the stream is quiesced first, so the saved guest holds no half-read
 * frame, and dies with them; a resume connects it again. */
static int suspend_box(struct manager *m, struct sandbox *s, bool pause, struct runra_err **err)
{
    if (pause) {
        int r = guest_quiesce(s->guest, 10000, err);
        if (r < 0)
            return err_prefix(err, "pause");
        r = s->ops->suspend(s->box, err);
        guest_unquiesce(s->guest);
        return r;
    }
    int fd = -1;
    int r = s->ops->resume(s->box, &fd, err);
    if (r >= 0 && (r = guest_reconnect(s->guest, fd, err)) < 0)
        close(fd);
    /* A new process: the next daemon finds the box by it. */
    if (r >= 0 && m->cfg.store && s->stored)
        store_sandbox_set_init_pid(m->cfg.store, s->id, s->ops->init_pid(s->box), NULL);
    return r;
}

static int set_paused(struct manager *m, struct sandbox *s, bool pause, struct runra_err **err)
{
    pthread_mutex_lock(&pause_lock);
    pthread_mutex_lock(&m->lock);
    bool stopped = s->stopped, lost = s->lost || s->unreachable;
    pthread_mutex_unlock(&m->lock);
    if (lost || (stopped && pause)) {
        pthread_mutex_unlock(&pause_lock);
        return lost ? err_set(err, EPIPE, "sandbox '%s' is %s; delete it", s->id,
                              s->unreachable ? "unreachable since runrad restarted (see its "
                                               "sandbox.unreachable event)"
                                             : "gone: its processes ended while runrad was not "
                                               "running, and it did not persist")
                    : err_set(err, EBUSY, "sandbox '%s' is stopped; there is nothing to pause",
                              s->id);
    }
    if (stopped) {
        int r = manager_restart_stopped(m, s, err);
        pthread_mutex_unlock(&pause_lock);
        /* Its network and ports with pause_lock let go: a VM's guest is
         * told its address, and a slow one must not hold up the pause and
         * resume of every other sandbox. */
        if (r >= 0)
            manager_restart_rewire(m, s);
        return r;
    }
    pthread_mutex_lock(&m->lock);
    bool already = s->paused == pause;
    if (pause && !already)
        s->paused = true; /* new work is refused from here on */
    pthread_mutex_unlock(&m->lock);
    int r = 0;
    if (!already) {
        r = s->ops->suspend ? suspend_box(m, s, pause, err) : s->ops->freeze(s->box, pause, err);
        pthread_mutex_lock(&m->lock);
        s->paused = r < 0 ? !pause : pause;
        pthread_mutex_unlock(&m->lock);
        if (r >= 0) {
            if (m->cfg.store && s->stored)
                store_sandbox_set_state(m->cfg.store, s->id, pause ? "paused" : "running", NULL);
            log_info("event=%s sandbox=%s", pause ? "paused" : "resumed", s->id);
            manager_emit(m, s->id, pause ? "sandbox.paused" : "sandbox.resumed", NULL);
        }
    }
    pthread_mutex_unlock(&pause_lock);
    /* A resumed VM's network, in its new QEMU's namespace (see above for
     * why pause_lock is let go first). */
    if (r >= 0 && !already && !pause && s->ops->suspend)
        manager_net_rewire(m, s);
    return r;
}

int manager_acquire(struct manager *m, const char *id, struct sandbox **ret, struct runra_err **err)
{
    struct sandbox *s;
    int r = manager_acquire_any(m, id, &s, err);
    if (r < 0)
        return r;
    pthread_mutex_lock(&m->lock);
    bool paused = s->paused || s->stopped, autoresume = s->spec->auto_resume;
    const char *state = manager_state_of(s);
    bool lost = s->lost, unreachable = s->unreachable;
    pthread_mutex_unlock(&m->lock);
    if (lost || unreachable) {
        manager_release(m, s);
        return err_set(err, EPIPE, "sandbox '%.64s' is %s; delete it", id,
                       unreachable ? "unreachable since runrad restarted (see its "
                                     "sandbox.unreachable event)"
                                   : "gone: its processes ended while runrad was not running, "
                                     "and it did not persist");
    }
    if (paused && !autoresume) {
        manager_release(m, s);
        return err_set(err, EBUSY, "sandbox '%.64s' is %s; resume it first (or create it "
                                   "with autoResume)", id, state);
    }
    if (paused && (r = set_paused(m, s, false, err)) < 0) {
        manager_release(m, s);
        return r;
    }
    *ret = s;
    return 0;
}

int manager_set_timeout(struct manager *m, const char *id, const uint64_t *timeout_ms,
                        const bool *pause_on_timeout, struct runra_err **err)
{
    struct sandbox *s;
    int r = manager_acquire_any(m, id, &s, err);
    if (r < 0)
        return r;
    pthread_mutex_lock(&m->lock);
    if (pause_on_timeout)
        s->spec->pause_on_timeout = *pause_on_timeout;
    if (timeout_ms) {
        /* As E2B's setTimeout: the sandbox lives timeout_ms from now (0:
         * no limit). */
        s->spec->timeout_ms = *timeout_ms;
        s->expires_ms = *timeout_ms ? (int64_t)wall_ms() + (int64_t)*timeout_ms : 0;
        pthread_cond_broadcast(&m->cond); /* the reaper's next wake-up may change */
    }
    int64_t exp = s->expires_ms;
    /* A copy for the store, written after the lock (a SQLite write). */
    struct sandbox_spec *copy = NULL;
    if (m->cfg.store && s->stored)
        spec_dup(s->spec, &copy);
    pthread_mutex_unlock(&m->lock);
    if (copy)
        store_sandbox_set_spec(m->cfg.store, s->id, copy, NULL);
    spec_free(copy);
    if (timeout_ms && m->cfg.store && s->stored)
        store_sandbox_set_expiry(m->cfg.store, s->id, exp, NULL);
    manager_release(m, s);
    return 0;
}

bool manager_owned_by(struct manager *m, const char *id, const char *owner)
{
    pthread_mutex_lock(&m->lock);
    struct sandbox *s = manager_find_locked(m, id);
    bool ok = s && !s->destroying && (!owner[0] || !strcmp(s->owner, owner));
    pthread_mutex_unlock(&m->lock);
    return ok;
}

int manager_pause(struct manager *m, const char *id, bool pause, struct runra_err **err)
{
    struct sandbox *s;
    int r = manager_acquire_any(m, id, &s, err);
    if (r < 0)
        return r;
    r = set_paused(m, s, pause, err);
    manager_release(m, s);
    return r;
}

void manager_release(struct manager *m, struct sandbox *s)
{
    pthread_mutex_lock(&m->lock);
    s->refs--;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
}

const struct manager_config *manager_config(struct manager *m) { return &m->cfg; }

void manager_sandbox_free(struct sandbox *s)
{
    if (!s)
        return;
    spec_free(s->spec);
    strv_free(s->net_env);
    free(s->ports_stored);
    free(s->dir);
    free(s);
}

/* A paused sandbox's init is frozen, not dead: only a running one whose
 * stream broke has failed. */
const char *manager_state_of(const struct sandbox *s)
{
    if (s->lost || s->unreachable)
        return "failed";
    if (s->stopped)
        return "stopped";
    if (s->paused)
        return "paused";
    return s->guest && guest_alive(s->guest) ? "running" : "failed";
}

static int info_from(const struct sandbox *s, const char *state, struct sandbox_info **ret)
{
    struct sandbox_info *i = calloc(1, sizeof(*i));
    if (!i)
        return -ENOMEM;
    i->id = strdup(s->id);
    snprintf(i->owner, sizeof(i->owner), "%s", s->owner);
    i->state = strdup(state);
    i->created_ms = s->created_ms;
    i->expires_ms = s->expires_ms;
    if (!i->id || !i->state || spec_dup(s->spec, &i->spec) < 0) {
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

/* Tears a sandbox down, synchronously. It is already out of the table. */
static void teardown(struct manager *m, struct sandbox *s)
{
    if (s->guest)
        guest_shutdown(s->guest); /* wakes every request still using it */
    /* Listeners and forwarded connections go before the guest stream they
     * relay over is freed. */
    ports_table_close(s->ports);
    pthread_mutex_lock(&m->lock);
    while (s->refs > 0)
        pthread_cond_wait(&m->cond, &m->lock);
    pthread_mutex_unlock(&m->lock);
    manager_net_teardown(m, s);
    _cleanup_err_ struct runra_err *e = NULL;
    /* A frozen task does not die of SIGKILL under the v1 freezer. */
    if (s->box && s->paused && s->ops->freeze(s->box, false, &e) < 0) {
        err_free(e);
        e = NULL;
    }
    if (s->box && s->ops->destroy(s->box, &e) < 0)
        log_warn("event=destroy_failed sandbox=%s err=\"%s\"", s->id, e && e->msg ? e->msg : "?");
    if (!s->box && s->unreachable && s->ops->cleanup)
        s->ops->cleanup(s->id, s->dir, false, NULL);
    s->box = NULL;
    ports_table_free(s->ports);
    s->ports = NULL;
    guest_free(s->guest);
    s->guest = NULL;
    if (s->dir)
        rm_rf(s->dir);
    if (m->cfg.store && s->stored)
        store_sandbox_delete(m->cfg.store, s->id, NULL);
    pthread_mutex_lock(&m->lock);
    m->slots[s->slot] = false;
    pthread_mutex_unlock(&m->lock);
    log_info("event=destroyed sandbox=%s", s->id);
    if (s->created_ms) { /* a pooled box nobody used was never created */
        manager_note_destroyed();
        manager_emit(m, s->id, "sandbox.destroyed", NULL);
    }
    manager_sandbox_free(s);
}

static void unlink_locked(struct manager *m, struct sandbox *s)
{
    for (struct sandbox **p = &m->list; *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            m->count--;
            break;
        }
    s->next = NULL;
    s->destroying = true;
}

/* Hands a sandbox (out of the table) to the janitor. Its guest stream is
 * shut at once so in-flight requests end now, not when the janitor runs. */
static void doom_locked(struct manager *m, struct sandbox *s)
{
    if (s->guest)
        guest_shutdown(s->guest);
    s->next = m->doomed;
    m->doomed = s;
    m->doomed_count++;
    pthread_cond_broadcast(&m->cond);
}

static void *janitor_main(void *arg)
{
    struct manager *m = arg;
    pthread_mutex_lock(&m->lock);
    for (;;) {
        if (!m->doomed) {
            m->janitor_idle = true;
            pthread_cond_broadcast(&m->cond);
            if (m->janitor_stop)
                break;
            pthread_cond_wait(&m->cond, &m->lock);
            continue;
        }
        m->janitor_idle = false;
        struct sandbox *s = m->doomed;
        m->doomed = s->next;
        m->doomed_count--;
        pthread_mutex_unlock(&m->lock);
        teardown(m, s);
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

struct pause_job {
    struct manager *m;
    struct sandbox *s;
};

static void *pause_job_main(void *arg)
{
    struct pause_job *j = arg;
    _cleanup_err_ struct runra_err *e = NULL;
    if (set_paused(j->m, j->s, true, &e) < 0)
        log_warn("event=timeout_pause_failed sandbox=%s err=\"%s\"", j->s->id,
                 e && e->msg ? e->msg : "?");
    manager_release(j->m, j->s);
    free(j);
    return NULL;
}

/* A pause waits on the kernel, which the reaper must not do holding the
 * lock: a thread of its own does it, holding a reference. */
static void pause_later_locked(struct manager *m, struct sandbox *s)
{
    struct pause_job *j = malloc(sizeof(*j));
    if (!j)
        return;
    *j = (struct pause_job){m, s};
    s->refs++;
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, pause_job_main, j) != 0) {
        s->refs--;
        free(j);
    }
    pthread_attr_destroy(&attr);
}

static void *reaper_main(void *arg)
{
    struct manager *m = arg;
    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        int64_t now = (int64_t)wall_ms();
        int64_t next = now + 1000;
        for (struct sandbox *s = m->list, *n; s; s = n) {
            n = s->next;
            if (s->expires_ms <= 0)
                continue;
            if (s->expires_ms <= now) {
                log_info("event=timeout sandbox=%s action=%s", s->id,
                         s->spec->pause_on_timeout ? "pause" : "destroy");
                manager_emit(m, s->id, "sandbox.timeout",
                             json_pack("{s:s}", "action",
                                       s->spec->pause_on_timeout ? "pause" : "destroy"));
                s->expires_ms = 0;
                if (s->spec->pause_on_timeout) {
                    pause_later_locked(m, s);
                    continue;
                }
                unlink_locked(m, s);
                doom_locked(m, s);
                continue;
            }
            if (s->expires_ms < next)
                next = s->expires_ms;
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

/* Makes s's box (reuse_disk: on the disk a persisted sandbox left in its
 * dir) and connects to its runra-init. */
int manager_box_start(struct manager *m, struct sandbox *s, bool reuse_disk,
                     struct runra_err **err)
{
    const char *hide[] = {m->cfg.state_dir, m->cfg.socket_path, m->cfg.secrets_key_path, NULL};
    struct backend_create_args a = {.id = s->id,
                                    .spec = s->spec,
                                    .dir = s->dir,
                                    .hide = hide,
                                    .uid_base = slot_uid_base(s->slot),
                                    .init_path = m->cfg.init_path,
                                    .reuse_disk = reuse_disk};
    char **layers = NULL;
    if (s->spec->image_digest) {
        int lr = manager_image_layers(m, s->spec, &layers, &a.nlayers, err);
        if (lr < 0)
            return lr;
        a.layers = layers;
        a.layers_dir = image_store_layers_dir(images_store(m->cfg.images));
    }
    int fd = -1;
    struct box *box = NULL;
    struct guest *guest = NULL;
    int r = s->ops->create(&a, &box, &fd, err);
    strv_free(layers);
    if (r < 0)
        return r;
    r = guest_new(fd, s->id, &guest, err);
    if (r < 0) {
        close(fd);
        /* The box goes; with reuse_disk its disk image stays in the dir
         * (cleanup kills what the released box ran, keeping the image). */
        if (!reuse_disk) {
            s->ops->destroy(box, NULL);
        } else {
            s->ops->release(box);
            s->ops->cleanup(s->id, s->dir, true, NULL);
        }
        return r;
    }
    /* Published together, under the lock: metrics and teardown read them. */
    pthread_mutex_lock(&m->lock);
    s->box = box;
    s->guest = guest;
    pthread_mutex_unlock(&m->lock);
    return 0;
}

/* Builds a running box for spec (copied) under a fresh id, uid range and
 * dir. It is in no table yet. */
static int prepare(struct manager *m, const struct sandbox_spec *spec, struct sandbox **ret,
                   struct runra_err **err)
{
    struct sandbox *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    int r = random_hex(s->id, 12);
    if (r < 0) {
        free(s);
        return err_sys(err, r, "generate id");
    }
    pthread_mutex_lock(&m->lock);
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
    s->ops = manager_backend(spec->backend);
    r = spec_dup(spec, &s->spec);
    if (r < 0)
        goto fail;
    if (asprintf(&s->dir, "%s/%s", m->sandboxes_dir, s->id) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    if (mkdir(s->dir, 0700) < 0) {
        r = err_sys(err, errno, "create '%s'", s->dir);
        goto fail;
    }
    r = manager_box_start(m, s, false, err);
    if (r < 0)
        goto fail;
    *ret = s;
    return 0;
fail:
    teardown(m, s);
    return r;
}

/* Takes a pooled sandbox whose box fits spec, or NULL. */
static struct sandbox *pool_take(struct manager *m, const struct sandbox_spec *spec)
{
    pthread_mutex_lock(&m->lock);
    struct sandbox *found = NULL;
    for (struct sandbox **p = &m->pool; *p; p = &(*p)->next)
        if (spec_same_box((*p)->spec, spec)) {
            found = *p;
            *p = found->next;
            found->next = NULL;
            m->pool_count--;
            break;
        }
    if (!found && m->cfg.pool_size > 0 && spec->nmounts == 0 && !manager_is_vm(spec)) {
        /* Remember this shape so the next create like it is warm (one
         * with host mounts is never pooled: its box is its own; a VM's
         * warm start is its template, not an idle VM). */
        struct sandbox_spec *copy = NULL;
        if (spec_dup(spec, &copy) >= 0) {
            spec_free(m->shapes[POOL_SHAPES - 1]);
            m->shapes[POOL_SHAPES - 1] = copy;
        }
    }
    m->last_take_ms = now_ms();
    pthread_cond_broadcast(&m->cond); /* the filler may refill */
    pthread_mutex_unlock(&m->lock);
    return found;
}

/* Pooled plus being prepared, of one shape. */
static size_t pool_count_shape_locked(struct manager *m, const struct sandbox_spec *shape)
{
    size_t n = 0;
    for (struct sandbox *s = m->pool; s; s = s->next)
        if (spec_same_box(s->spec, shape))
            n++;
    for (size_t i = 0; i < POOL_FILLERS; i++)
        if (m->inflight[i] && spec_same_box(m->inflight[i], shape))
            n++;
    return n;
}

/* The shape below its target, or NULL: the default shape wants pool_size
 * sandboxes, the last cold shape one. */
static struct sandbox_spec *pool_wanted_locked(struct manager *m)
{
    for (size_t i = 0; i < POOL_SHAPES; i++) {
        struct sandbox_spec *shape = m->shapes[i];
        if (!shape)
            continue;
        size_t target = i == 0 ? m->cfg.pool_size : 1;
        if (i > 0 && spec_same_box(shape, m->shapes[0]))
            continue;
        if (pool_count_shape_locked(m, shape) < target)
            return shape;
    }
    return NULL;
}

struct filler {
    struct manager *m;
    size_t slot; /* index into m->inflight */
};

static void *filler_main(void *arg)
{
    struct filler *fl = arg;
    struct manager *m = fl->m;
    size_t me = fl->slot;
    free(fl);
    unsigned failures = 0;
    pthread_mutex_lock(&m->lock);
    while (!m->stopping) {
        struct sandbox_spec *want = pool_wanted_locked(m);
        struct sandbox_spec *shape = NULL;
        if (!want) {
            pthread_cond_wait(&m->cond, &m->lock);
            continue;
        }
        uint64_t quiet_until = m->last_take_ms + POOL_QUIET_MS, now = now_ms();
        if (m->pool_count > 0 && now < quiet_until) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += (long)(quiet_until - now) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&m->cond, &m->lock, &ts);
            continue;
        }
        if (spec_dup(want, &shape) < 0) {
            pthread_cond_wait(&m->cond, &m->lock);
            continue;
        }
        m->inflight[me] = shape;
        pthread_mutex_unlock(&m->lock);
        struct sandbox *s = NULL;
        _cleanup_err_ struct runra_err *e = NULL;
        int r = prepare(m, shape, &s, &e);
        pthread_mutex_lock(&m->lock);
        m->inflight[me] = NULL;
        spec_free(shape);
        if (r < 0) {
            /* Back off so a broken host does not spin; creates still work
             * (and report the real error) without the pool. */
            if (failures++ == 0)
                log_warn("event=pool_fill_failed err=\"%s\"", e && e->msg ? e->msg : "?");
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += failures < 5 ? 1 : 10;
            pthread_cond_timedwait(&m->cond, &m->lock, &ts);
            continue;
        }
        failures = 0;
        if (m->stopping) {
            doom_locked(m, s);
            break;
        }
        s->next = m->pool;
        m->pool = s;
        m->pool_count++;
    }
    m->fillers_running--;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* Starts the filler threads; returns how many started. */
static size_t start_fillers(struct manager *m)
{
    size_t n = 0;
    for (size_t i = 0; i < POOL_FILLERS; i++) {
        struct filler *fl = malloc(sizeof(*fl));
        if (!fl)
            break;
        *fl = (struct filler){.m = m, .slot = i};
        pthread_mutex_lock(&m->lock);
        m->fillers_running++;
        pthread_mutex_unlock(&m->lock);
        if (pthread_create(&m->fillers[i], NULL, filler_main, fl) != 0) {
            pthread_mutex_lock(&m->lock);
            m->fillers_running--;
            pthread_mutex_unlock(&m->lock);
            free(fl);
            break;
        }
        n++;
    }
    return n;
}

static void join_fillers(struct manager *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pthread_join(m->fillers[i], NULL);
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
    int r = -ENOMEM;
    if (asprintf(&m->sandboxes_dir, "%s/sandboxes", cfg->state_dir) < 0)
        goto fail;
    if (mkdir(m->sandboxes_dir, 0711) < 0 && errno != EEXIST) {
        r = err_sys(err, errno, "create '%s'", m->sandboxes_dir);
        goto fail;
    }
    manager_restore_all(m);
    if ((r = spec_new_default(&m->shapes[0])) < 0)
        goto fail;
    m->janitor_idle = true;
    if ((r = -pthread_create(&m->janitor, NULL, janitor_main, m)) < 0)
        goto fail;
    m->nfillers = m->cfg.pool_size > 0 ? start_fillers(m) : 0;
    if ((r = -pthread_create(&m->reaper, NULL, reaper_main, m)) < 0) {
        pthread_mutex_lock(&m->lock);
        m->stopping = true;
        pthread_cond_broadcast(&m->cond);
        pthread_mutex_unlock(&m->lock);
        join_fillers(m, m->nfillers);
        goto stop_janitor;
    }
    *ret = m;
    return 0;
stop_janitor:
    pthread_mutex_lock(&m->lock);
    m->stopping = true;
    m->janitor_stop = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->janitor, NULL);
fail:
    /* Whatever restore_all took back stays running for the next daemon. */
    while (m->list) {
        struct sandbox *s = m->list;
        m->list = s->next;
        manager_release_kept(m, s);
    }
    spec_free(m->shapes[0]);
    free(m->sandboxes_dir);
    free(m);
    return r == -ENOMEM ? r : err_sys(err, r, "start manager");
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
    join_fillers(m, m->nfillers);
    /* Sandboxes are kept running for the next daemon, or go to the
     * janitor with the pooled ones, which nobody owns; it exits once the
     * queue is empty. */
    pthread_mutex_lock(&m->lock);
    while (m->cfg.keep_sandboxes && m->list) {
        struct sandbox *s = m->list;
        unlink_locked(m, s);
        pthread_mutex_unlock(&m->lock);
        manager_release_kept(m, s);
        pthread_mutex_lock(&m->lock);
    }
    while (m->list) {
        struct sandbox *s = m->list;
        unlink_locked(m, s);
        doom_locked(m, s);
    }
    while (m->pool) {
        struct sandbox *s = m->pool;
        m->pool = s->next;
        m->pool_count--;
        doom_locked(m, s);
    }
    m->janitor_stop = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    pthread_join(m->janitor, NULL);
    for (size_t i = 0; i < POOL_SHAPES; i++)
        spec_free(m->shapes[i]);
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

size_t manager_destroying_count(struct manager *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->doomed_count + (m->janitor_idle ? 0 : 1);
    pthread_mutex_unlock(&m->lock);
    return n;
}

size_t manager_pool_count(struct manager *m)
{
    pthread_mutex_lock(&m->lock);
    size_t n = m->pool_count;
    pthread_mutex_unlock(&m->lock);
    return n;
}

/* A host mount's source must exist and must not hold, or be inside, the
 * daemon's own state (other sandboxes' disks, the store, the socket). */
static int check_mounts(struct manager *m, const struct sandbox_spec *spec,
                        struct runra_err **err)
{
    for (size_t i = 0; i < spec->nmounts; i++) {
        char real[PATH_MAX];
        const char *src = spec->mounts[i].source;
        if (!realpath(src, real))
            return err_sys(err, errno == ENOENT ? EINVAL : errno, "mounts[%zu].source '%s'", i,
                           src);
        const char *mine[] = {m->cfg.state_dir, m->cfg.socket_path};
        for (size_t k = 0; k < ARRAY_SIZE(mine); k++) {
            size_t a = strlen(real), b = strlen(mine[k]);
            bool holds = (a == 1) || (a <= b && !strncmp(real, mine[k], a) &&
                                      (mine[k][a] == '/' || mine[k][a] == 0));
            bool inside = b < a && !strncmp(real, mine[k], b) && real[b] == '/';
            if (holds || inside)
                return err_set(err, EPERM, "mounts[%zu].source '%s' would expose runrad's own "
                                           "state", i, src);
        }
    }
    return 0;
}

static int create_box(struct manager *m, struct sandbox_spec *spec, struct sandbox_info **ret,
                      struct runra_err **err);

/* What a VM sandbox cannot have (yet), refused before any image is pulled
 * or anything made. */
static int check_vm(const struct sandbox_spec *sp, struct runra_err **err)
{
    /* What no VM can have is refused first, whether or not QEMU is here. */
    if (sp->nmounts > 0)
        return err_set(err, EINVAL, "host mounts are not supported with backend vm");
    int r = vm_backend_ops.available(err);
    if (r < 0)
        return err_prefix(err, "backend 'vm' is not available");
    return 0;
}

int manager_create(struct manager *m, struct sandbox_spec *spec, struct sandbox_info **ret,
                   struct runra_err **err)
{
    _cleanup_(spec_freep) struct sandbox_spec *sp = spec;
    int cr = check_mounts(m, sp, err);
    if (cr < 0)
        return cr;
    if (manager_is_vm(sp) && (cr = check_vm(sp, err)) < 0)
        return cr;
    if (!strcmp(sp->image, "host"))
        return create_box(m, TAKE_PTR(sp), ret, err);
    if (!m->cfg.images)
        return err_set(err, ENOSYS, "this runrad has no image store");
    /* From resolving the image until the sandbox is listed, no collection
     * may take the image's layers away. */
    struct image_store *st = images_store(m->cfg.images);
    image_store_begin(st);
    cr = manager_image_apply(m, sp, sp->owner[0] == 0, err);
    if (cr >= 0)
        cr = create_box(m, TAKE_PTR(sp), ret, err);
    else
        err_prefix(err, "create sandbox");
    image_store_end(st);
    return cr;
}

static int create_box(struct manager *m, struct sandbox_spec *spec, struct sandbox_info **ret,
                      struct runra_err **err)
{
    _cleanup_(spec_freep) struct sandbox_spec *sp = spec;
    pthread_mutex_lock(&m->lock);
    bool stopping = m->stopping;
    pthread_mutex_unlock(&m->lock);
    if (stopping)
        return err_set(err, EAGAIN, "daemon is shutting down");
    struct sandbox *s = NULL;
    int r;
    /* A pooled box whose runra-init died meanwhile is discarded, not used. */
    /* An image's sandbox is never pooled: its box is made of what the
     * image is at the time of the create. */
    while (!sp->image_digest && (s = pool_take(m, sp)) && !guest_alive(s->guest)) {
        pthread_mutex_lock(&m->lock);
        doom_locked(m, s);
        pthread_mutex_unlock(&m->lock);
    }
    if (!s && (r = prepare(m, sp, &s, err)) < 0)
        return err_prefix(err, "create sandbox");
    /* The box fits; the caller's spec (env, metadata, timeout) is the one
     * the sandbox keeps. */
    spec_free(s->spec);
    s->spec = TAKE_PTR(sp);
    snprintf(s->owner, sizeof(s->owner), "%s", s->spec->owner);
    s->created_ms = (int64_t)wall_ms();
    s->expires_ms = s->spec->timeout_ms ? s->created_ms + (int64_t)s->spec->timeout_ms : 0;
    if ((r = manager_net_setup(m, s, err)) < 0)
        goto fail;
    if (m->cfg.store) {
        struct store_sandbox row = {.id = s->id,
                                    .spec = s->spec,
                                    .state = "running",
                                    .created_ms = s->created_ms,
                                    .expires_ms = s->expires_ms,
                                    .uid_base = slot_uid_base(s->slot),
                                    .init_pid = s->ops->init_pid(s->box),
                                    .net_slot = s->net_slot};
        snprintf(row.owner, sizeof(row.owner), "%s", s->owner);
        _cleanup_free_ void *sealed = NULL;
        if (s->spec->secrets.n && !m->cfg.secrets_key) {
            log_warn("event=secrets_unsealed sandbox=%s effect=\"kept in memory only\"", s->id);
            manager_emit(m, s->id, "sandbox.secrets_unsealed",
                         json_pack("{s:s}", "reason",
                                   "runrad has no secrets key: the secrets are kept in memory "
                                   "only and a restarted daemon will not have them"));
        }
        if (s->spec->secrets.n && m->cfg.secrets_key &&
            (r = secrets_seal(m->cfg.secrets_key, s->id, &s->spec->secrets, &sealed,
                              &row.secrets_len, err)) < 0)
            goto fail;
        row.secrets = sealed;
        r = store_sandbox_insert(m->cfg.store, &row, err);
        if (r < 0)
            goto fail;
        s->stored = true;
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
    manager_note_created();
    {
        /* What it is, not what it holds: env names only, never values. */
        json_t *keys = json_array();
        for (size_t i = 0; keys && i < s->spec->env.n; i++)
            json_array_append_new(keys, json_string(s->spec->env.items[i].key));
        manager_emit(m, s->id, "sandbox.created",
                     json_pack("{s:s,s:s,s:f,s:I,s:I,s:I,s:o}", "image", s->spec->image,
                               "backend", s->spec->backend, "cpu", s->spec->resources.cpu,
                               "memoryMb", (json_int_t)s->spec->resources.memory_mb,
                               "diskMb", (json_int_t)s->spec->resources.disk_mb, "timeoutMs",
                               (json_int_t)s->spec->timeout_ms, "envKeys",
                               keys ? keys : json_array()));
    }
    return 0;
fail:
    err_prefix(err, "create sandbox");
    pthread_mutex_lock(&m->lock);
    doom_locked(m, s);
    pthread_mutex_unlock(&m->lock);
    return r;
}

int manager_get(struct manager *m, const char *id, struct sandbox_info **ret,
                struct runra_err **err)
{
    struct sandbox *s;
    int r = manager_acquire_any(m, id, &s, err);
    if (r < 0)
        return r;
    pthread_mutex_lock(&m->lock); /* the spec's network may be changing */
    r = info_from(s, manager_state_of(s), ret);
    pthread_mutex_unlock(&m->lock);
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
        r = info_from(s, manager_state_of(s), &v[n]);
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
    struct sandbox *s = manager_find_locked(m, id);
    if (!s || s->destroying) {
        pthread_mutex_unlock(&m->lock);
        return err_set(err, ENOENT, "sandbox '%.64s' not found", id);
    }
    unlink_locked(m, s);
    doom_locked(m, s);
    pthread_mutex_unlock(&m->lock);
    return 0;
}
