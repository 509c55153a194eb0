/* API keys for the TCP listener: created and removed over the unix socket
 * (the admin door), kept in the store as SHA-256 digests only, and checked
 * on every TCP request. A key's id names the tenant that owns the
 * sandboxes it creates. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"
#include "store/store.h"

#define KEY_NAME_MAX 100
#define KEYS_MAX 1000

struct keys;

int keys_new(struct store *store, struct keys **ret, struct runra_err **err);
void keys_free(struct keys *k);
/* A new key: {"id","name","key","createdAt"}; the key is shown only here. */
int keys_create(struct keys *k, const char *name, json_t **ret, struct runra_err **err);
json_t *keys_list_json(struct keys *k);
int keys_remove(struct keys *k, const char *id, struct runra_err **err);
/* An "Authorization: Bearer KEY" value: true with the key's id in ret_id. */
bool keys_check(struct keys *k, const char *authorization, char ret_id[32]);

/* Revocation of a key that already let a request in. A stream or WebSocket
 * outlives the gate() check that admitted it, so it holds a watch on its
 * key and asks it, in the wait loop it already runs, whether the key is
 * gone. While no key is removed that costs one atomic load; after any
 * removal the next call looks the key up once. */
struct key_watch {
    struct keys *k; /* NULL, or an empty id: nothing to watch (the admin) */
    char id[32];
    uint64_t seen; /* the removal count when the key was last seen present */
    bool revoked;
};

/* Watches key id of k; id "" (the unix socket) is never revoked. */
void keys_watch_init(struct key_watch *w, struct keys *k, const char *id);
/* True once the key has been removed, and from then on. A watch belongs to
 * one thread at a time; any number of watches may be asked concurrently. */
bool keys_watch_revoked(struct key_watch *w);
