/* The daemon's durable state in SQLite (WAL): sandboxes with their spec,
 * state and host resources, so a restarted daemon can find what exists. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/spec.h"

struct store;

struct store_sandbox {
    char *id;
    struct sandbox_spec *spec;
    char *state;          /* "running", "destroyed", ... */
    int64_t created_ms;   /* wall clock */
    int64_t expires_ms;   /* 0: never */
    uint32_t uid_base;
    int64_t init_pid;     /* host pid of runra-init, -1 when unknown */
    char owner[32];       /* the API key that made it; "" for the admin */
    void *secrets;        /* sealed (see daemon/secrets.h); never plain text */
    size_t secrets_len;
    uint32_t net_slot;    /* its place in the network range; 0: none */
    char *ports;          /* exposed ports, "PORT:HOSTPORT,..." ("" or NULL: none) */
    bool spec_ok;         /* false: the stored spec did not parse (defaults stand in) */
};

int store_open(const char *path, struct store **ret, struct runra_err **err);
void store_close(struct store *s);

int store_sandbox_insert(struct store *s, const struct store_sandbox *sb, struct runra_err **err);
int store_sandbox_set_state(struct store *s, const char *id, const char *state,
                            struct runra_err **err);
int store_sandbox_set_expiry(struct store *s, const char *id, int64_t expires_ms,
                             struct runra_err **err);
int store_sandbox_set_init_pid(struct store *s, const char *id, int64_t pid,
                               struct runra_err **err);
int store_sandbox_set_net_slot(struct store *s, const char *id, uint32_t slot,
                               struct runra_err **err);
int store_sandbox_set_ports(struct store *s, const char *id, const char *ports,
                            struct runra_err **err);
/* The spec as it is now (network and timeout change at runtime). */
int store_sandbox_set_spec(struct store *s, const char *id, const struct sandbox_spec *spec,
                           struct runra_err **err);
int store_sandbox_delete(struct store *s, const char *id, struct runra_err **err);
/* Every stored sandbox, oldest first. */
int store_sandbox_list(struct store *s, struct store_sandbox **ret, size_t *ret_n,
                       struct runra_err **err);
void store_sandbox_done(struct store_sandbox *sb);

/* The audit trail: events in order, each with an id that only grows. */
#define STORE_EVENTS_KEPT 200000 /* the newest kept; older ones are deleted */

struct store_event {
    int64_t id;
    int64_t time_ms;
    char *sandbox; /* or NULL */
    char *type;
    char *data;    /* a JSON object */
};

int store_event_add(struct store *s, int64_t time_ms, const char *sandbox, const char *type,
                    const char *data, int64_t *ret_id, struct runra_err **err);
/* Events after since, optionally of one sandbox and/or type, at most limit. */
int store_event_list(struct store *s, int64_t since, const char *sandbox, const char *type,
                     size_t limit, struct store_event **ret, size_t *ret_n,
                     struct runra_err **err);
void store_event_list_free(struct store_event *v, size_t n);
/* API keys: an id, a name, the SHA-256 of the key (hex); never the key. */
struct store_key {
    char id[32];
    char name[128];
    char hash[65];
    int64_t created_ms;
};
int store_key_add(struct store *s, const struct store_key *k, struct runra_err **err);
int store_key_delete(struct store *s, const char *id, struct runra_err **err);
int store_key_list(struct store *s, struct store_key **ret, size_t *ret_n, struct runra_err **err);

/* The newest event's id, 0 when there is none. */
int64_t store_event_last(struct store *s);
void store_sandbox_list_free(struct store_sandbox *v, size_t n);
