/* API keys (keys.h). A key reads "rk_<id>_<secret>": the id finds the
 * record, the SHA-256 of the whole key must match it (compared in constant
 * time), and the store never sees the key itself. */
#include "keys.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "base/sha256.h"
#include "base/util.h"
#include "proto/msg.h"


struct keys {
    struct store *store;
    pthread_mutex_t lock;
    struct store_key *v;
    size_t n;
    /* Keys removed so far, bumped under lock with the removal itself: a
     * watch that read it before taking the lock and then found its key
     * cannot miss a removal (see keys_watch_revoked). */
    _Atomic uint64_t removals;
};

int keys_new(struct store *store, struct keys **ret, struct runra_err **err)
{
    struct keys *k = calloc(1, sizeof(*k));
    if (!k)
        return -ENOMEM;
    k->store = store;
    pthread_mutex_init(&k->lock, NULL);
    int r = store ? store_key_list(store, &k->v, &k->n, err) : 0;
    if (r < 0) {
        keys_free(k);
        return r;
    }
    *ret = k;
    return 0;
}

void keys_free(struct keys *k)
{
    if (!k)
        return;
    free(k->v);
    pthread_mutex_destroy(&k->lock);
    free(k);
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = 0;
}

int keys_create(struct keys *k, const char *name, json_t **ret, struct runra_err **err)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl > KEY_NAME_MAX)
        return err_set(err, EINVAL, "a key's name must be 1 to %d bytes", KEY_NAME_MAX);
    for (size_t i = 0; i < nl; i++)
        if ((unsigned char)name[i] < 0x20)
            return err_set(err, EINVAL, "a key's name must not hold control characters");
    uint8_t idb[6], secret[24];
    if (getrandom(idb, sizeof(idb), 0) != sizeof(idb) ||
        getrandom(secret, sizeof(secret), 0) != sizeof(secret))
        return err_sys(err, errno, "getrandom");
    struct store_key rec = {.created_ms = (int64_t)wall_ms()};
    hex(idb, sizeof(idb), rec.id);
    snprintf(rec.name, sizeof(rec.name), "%s", name);
    char sec[2 * sizeof(secret) + 1], key[96];
    hex(secret, sizeof(secret), sec);
    snprintf(key, sizeof(key), "rk_%s_%s", rec.id, sec);
    sha256_hex(key, strlen(key), rec.hash);
    pthread_mutex_lock(&k->lock);
    int r = 0;
    if (k->n >= KEYS_MAX)
        r = err_set(err, EBUSY, "there are %d keys already", KEYS_MAX);
    if (r >= 0 && k->store)
        r = store_key_add(k->store, &rec, err);
    struct store_key *nv = r >= 0 ? realloc(k->v, (k->n + 1) * sizeof(*nv)) : NULL;
    if (r >= 0 && !nv)
        r = -ENOMEM;
    if (r >= 0) {
        k->v = nv;
        k->v[k->n++] = rec;
    }
    pthread_mutex_unlock(&k->lock);
    if (r < 0)
        return r;
    *ret = json_pack("{s:s,s:s,s:s,s:o}", "id", rec.id, "name", rec.name, "key", key,
                     "createdAt", msg_time_json(rec.created_ms));
    return *ret ? 0 : -ENOMEM;
}

json_t *keys_list_json(struct keys *k)
{
    json_t *a = json_array();
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; a && i < k->n; i++)
        json_array_append_new(a, json_pack("{s:s,s:s,s:o}", "id", k->v[i].id, "name",
                                           k->v[i].name, "createdAt",
                                           msg_time_json(k->v[i].created_ms)));
    pthread_mutex_unlock(&k->lock);
    return a ? json_pack("{s:o}", "keys", a) : NULL;
}

int keys_remove(struct keys *k, const char *id, struct runra_err **err)
{
    pthread_mutex_lock(&k->lock);
    int r = err_set(err, ENOENT, "no key '%.64s'", id);
    for (size_t i = 0; i < k->n; i++)
        if (!strcmp(k->v[i].id, id)) {
            r = k->store ? store_key_delete(k->store, id, err) : 0;
            if (r >= 0) {
                k->v[i] = k->v[--k->n];
                atomic_fetch_add(&k->removals, 1);
            }
            break;
        }
    pthread_mutex_unlock(&k->lock);
    return r;
}

bool keys_check(struct keys *k, const char *authorization, char ret_id[32])
{
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *key = authorization + 7;
    while (*key == ' ')
        key++;
    if (strncmp(key, "rk_", 3) != 0 || strlen(key) > 90)
        return false;
    const char *id = key + 3, *us = strchr(id, '_');
    if (!us || us - id != 12)
        return false;
    char hash[65];
    sha256_hex(key, strlen(key), hash);
    bool ok = false;
    pthread_mutex_lock(&k->lock);
    for (size_t i = 0; i < k->n; i++) {
        if (strncmp(k->v[i].id, id, 12) != 0)
            continue;
        unsigned diff = 0;
        for (int j = 0; j < 64; j++)
            diff |= (unsigned)(hash[j] ^ k->v[i].hash[j]);
        if (diff == 0) {
            snprintf(ret_id, 32, "%s", k->v[i].id);
            ok = true;
        }
    }
    pthread_mutex_unlock(&k->lock);
    return ok;
}

/* Never equal to k->removals, so a new watch looks its key up at the first
 * call: the key may have gone between gate() and the watch's start. */
#define WATCH_UNSEEN UINT64_MAX

void keys_watch_init(struct key_watch *w, struct keys *k, const char *id)
{
    *w = (struct key_watch){.k = id && id[0] ? k : NULL, .seen = WATCH_UNSEEN};
    if (w->k)
        snprintf(w->id, sizeof(w->id), "%s", id);
}

bool keys_watch_revoked(struct key_watch *w)
{
    if (!w->k || w->revoked)
        return w->revoked;
    /* Why this cannot miss a removal: the count is read before the lock.
     * A removal of our key bumps it in the same critical section that
     * drops the key, so either that section ran before our lookup below
     * (the key is missing now) or it runs after it (the count moves past
     * what we record, and the next call looks again). */
    uint64_t now = atomic_load(&w->k->removals);
    if (now == w->seen)
        return false;
    bool present = false;
    pthread_mutex_lock(&w->k->lock);
    for (size_t i = 0; i < w->k->n && !present; i++)
        present = !strcmp(w->k->v[i].id, w->id);
    pthread_mutex_unlock(&w->k->lock);
    if (present)
        w->seen = now;
    else
        w->revoked = true;
    return w->revoked;
}
