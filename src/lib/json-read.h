/* Lenient readers for runrad's JSON answers. Unknown keys are ignored on
 * purpose: a newer daemon may add fields, and an older client must keep
 * working. Present keys of the wrong type are protocol errors (EPROTO). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "runra/runra.h"

/* Each reader leaves *ret untouched when the key is absent or null. */
int jr_string(json_t *o, const char *key, char **ret, struct runra_error **err);
int jr_u64(json_t *o, const char *key, uint64_t *ret, struct runra_error **err);
int jr_i64(json_t *o, const char *key, int64_t *ret, struct runra_error **err);
int jr_int(json_t *o, const char *key, int *ret, struct runra_error **err);
int jr_double(json_t *o, const char *key, double *ret, struct runra_error **err);
int jr_bool(json_t *o, const char *key, bool *ret, struct runra_error **err);
/* An object of string values into an array of owned pairs. */
int jr_kv(json_t *o, const char *key, struct runra_kv **ret, size_t *ret_n,
          struct runra_error **err);
void jr_kv_free(struct runra_kv *kv, size_t n);
/* The compact text of v, for the `json` fields of results. */
int jr_dump(json_t *v, char **ret, struct runra_error **err);
/* Parses a whole answer that must be an object. */
int jr_parse_object(const char *text, size_t len, json_t **ret, struct runra_error **err);
