/* Sealing a sandbox's secrets for the store: AES-256-GCM with a key that
 * lives outside the state dir (by default on /run, a tmpfs), bound to the
 * sandbox's id. The database and the disk it sits on never hold them in
 * plain text; a restarted daemon reading the same key file gets them back.
 * After a host reboot the key is gone and so are the stored secrets, by
 * design: what decrypts them never touches the disk. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "proto/spec.h"

#define SECRETS_KEY_LEN 32

struct secrets_key {
    uint8_t k[SECRETS_KEY_LEN];
};

/* Reads the key at path, or makes a new random one there (0600, its dir
 * 0700 when created) if there is none. A file of the wrong size or mode
 * open to others is refused. */
int secrets_key_load(const char *path, struct secrets_key *ret, struct runra_err **err);
/* The sealed form of l for sandbox id (caller frees *ret). */
int secrets_seal(const struct secrets_key *k, const char *id, const struct kv_list *l, void **ret,
                 size_t *ret_len, struct runra_err **err);
/* The secrets back; EBADMSG when the blob was not sealed by this key for
 * this id (or was changed). */
int secrets_open(const struct secrets_key *k, const char *id, const void *blob, size_t len,
                 struct kv_list *ret, struct runra_err **err);
