/* The daemon's durable state in SQLite (WAL): sandboxes with their spec,
 * state and host resources, so a restarted daemon can find what exists. */
#pragma once

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
};

int store_open(const char *path, struct store **ret, struct runra_err **err);
void store_close(struct store *s);

int store_sandbox_insert(struct store *s, const struct store_sandbox *sb, struct runra_err **err);
int store_sandbox_set_state(struct store *s, const char *id, const char *state,
                            struct runra_err **err);
int store_sandbox_set_expiry(struct store *s, const char *id, int64_t expires_ms,
                             struct runra_err **err);
int store_sandbox_delete(struct store *s, const char *id, struct runra_err **err);
/* Every stored sandbox, oldest first. */
int store_sandbox_list(struct store *s, struct store_sandbox **ret, size_t *ret_n,
                       struct runra_err **err);
void store_sandbox_done(struct store_sandbox *sb);
void store_sandbox_list_free(struct store_sandbox *v, size_t n);
