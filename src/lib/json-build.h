/* Builders for request bodies. Every caller string is checked for valid
 * UTF-8 here (JSON cannot carry anything else), with an error naming the
 * field instead of a silently dropped key. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "runra/runra.h"

/* Each setter does nothing when the value is NULL (or the list empty). */
int jb_str(json_t *o, const char *key, const char *value, struct runra_error **err);
/* A string with a length: may hold NUL bytes, must be UTF-8. */
int jb_strn(json_t *o, const char *key, const char *value, size_t len, struct runra_error **err);
int jb_u64(json_t *o, const char *key, uint64_t value, struct runra_error **err);
int jb_bool(json_t *o, const char *key, int value, struct runra_error **err);
int jb_kv(json_t *o, const char *key, const struct runra_kv *kv, size_t n,
          struct runra_error **err);
int jb_strv(json_t *o, const char *key, const char *const *v, struct runra_error **err);
