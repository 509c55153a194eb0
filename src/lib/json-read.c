/* The readers behind every decoder in librunra. Integers are checked
 * against their C type's range, so a hostile or buggy answer cannot wrap a
 * size or a mode. */
#include "json-read.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"

static int bad_type(struct runra_error **err, const char *key, const char *want)
{
    return lib_err_set(err, EPROTO, "runrad's answer: '%s' is not %s", key, want);
}

static json_t *field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

int jr_string(json_t *o, const char *key, char **ret, struct runra_error **err)
{
    json_t *v = field(o, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return bad_type(err, key, "a string");
    char *s = strndup(json_string_value(v), json_string_length(v));
    if (!s)
        return lib_err_set(err, ENOMEM, "out of memory");
    free(*ret);
    *ret = s;
    return 0;
}

int jr_i64(json_t *o, const char *key, int64_t *ret, struct runra_error **err)
{
    json_t *v = field(o, key);
    if (!v)
        return 0;
    if (json_is_integer(v)) {
        *ret = json_integer_value(v);
        return 0;
    }
    /* Some encoders write whole numbers as reals ("5.0"); accept exact ones. */
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= -9.2e18 && d <= 9.2e18 && d == (double)(int64_t)d) {
            *ret = (int64_t)d;
            return 0;
        }
    }
    return bad_type(err, key, "an integer");
}

int jr_u64(json_t *o, const char *key, uint64_t *ret, struct runra_error **err)
{
    int64_t v;
    if (!field(o, key))
        return 0;
    int r = jr_i64(o, key, &v, err);
    if (r < 0)
        return r;
    if (v < 0)
        return bad_type(err, key, "a non-negative integer");
    *ret = (uint64_t)v;
    return 0;
}

int jr_int(json_t *o, const char *key, int *ret, struct runra_error **err)
{
    int64_t v;
    if (!field(o, key))
        return 0;
    int r = jr_i64(o, key, &v, err);
    if (r < 0)
        return r;
    if (v < INT_MIN || v > INT_MAX)
        return bad_type(err, key, "a small integer");
    *ret = (int)v;
    return 0;
}

int jr_double(json_t *o, const char *key, double *ret, struct runra_error **err)
{
    json_t *v = field(o, key);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return bad_type(err, key, "a number");
    *ret = json_number_value(v);
    return 0;
}

int jr_bool(json_t *o, const char *key, bool *ret, struct runra_error **err)
{
    json_t *v = field(o, key);
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return bad_type(err, key, "a boolean");
    *ret = json_is_true(v);
    return 0;
}

void jr_kv_free(struct runra_kv *kv, size_t n)
{
    for (size_t i = 0; kv && i < n; i++) {
        free((char *)kv[i].key);
        free((char *)kv[i].value);
    }
    free(kv);
}

int jr_kv(json_t *o, const char *key, struct runra_kv **ret, size_t *ret_n,
          struct runra_error **err)
{
    json_t *v = field(o, key);
    if (!v)
        return 0;
    if (!json_is_object(v))
        return bad_type(err, key, "an object");
    size_t n = json_object_size(v), i = 0;
    struct runra_kv *kv = calloc(n ? n : 1, sizeof(*kv));
    if (!kv)
        return lib_err_set(err, ENOMEM, "out of memory");
    const char *k;
    json_t *val;
    json_object_foreach(v, k, val) {
        if (!json_is_string(val)) {
            jr_kv_free(kv, i);
            return lib_err_set(err, EPROTO, "runrad's answer: '%s.%s' is not a string", key, k);
        }
        kv[i].key = strdup(k);
        kv[i].value = strndup(json_string_value(val), json_string_length(val));
        i++;
        if (!kv[i - 1].key || !kv[i - 1].value) {
            jr_kv_free(kv, i);
            return lib_err_set(err, ENOMEM, "out of memory");
        }
    }
    jr_kv_free(*ret, *ret_n);
    *ret = kv;
    *ret_n = i;
    return 0;
}

int jr_dump(json_t *v, char **ret, struct runra_error **err)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return lib_err_set(err, ENOMEM, "out of memory");
    *ret = s;
    return 0;
}

int jr_parse_object(const char *text, size_t len, json_t **ret, struct runra_error **err)
{
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_ALLOW_NUL, &je);
    if (!v)
        return lib_err_set(err, EPROTO, "runrad's answer is not JSON: %s", je.text);
    if (!json_is_object(v)) {
        json_decref(v);
        return lib_err_set(err, EPROTO, "runrad's answer is not a JSON object");
    }
    *ret = v;
    return 0;
}
