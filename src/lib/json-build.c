/* Request-body builders over jansson. jansson validates UTF-8 when a string
 * is created, so a NULL from json_string* here means bad bytes, not only a
 * failed allocation; the error says which field. */
#include "json-build.h"

#include <errno.h>
#include <string.h>

#include "error.h"

static int put(json_t *o, const char *key, json_t *v, struct runra_error **err)
{
    if (!v)
        return lib_err_set(err, EINVAL, "'%s' is not valid UTF-8", key);
    if (json_object_set_new(o, key, v) < 0)
        return lib_err_set(err, ENOMEM, "out of memory");
    return 0;
}

int jb_str(json_t *o, const char *key, const char *value, struct runra_error **err)
{
    return value ? put(o, key, json_string(value), err) : 0;
}

int jb_strn(json_t *o, const char *key, const char *value, size_t len, struct runra_error **err)
{
    return value ? put(o, key, json_stringn(value, len), err) : 0;
}

int jb_u64(json_t *o, const char *key, uint64_t value, struct runra_error **err)
{
    if (value > INT64_MAX)
        return lib_err_set(err, EINVAL, "'%s' is out of range", key);
    return put(o, key, json_integer((json_int_t)value), err);
}

int jb_bool(json_t *o, const char *key, int value, struct runra_error **err)
{
    return put(o, key, json_boolean(value), err);
}

int jb_kv(json_t *o, const char *key, const struct runra_kv *kv, size_t n,
          struct runra_error **err)
{
    if (!n)
        return 0;
    if (!kv)
        return lib_err_set(err, EINVAL, "'%s': %zu entries but no array", key, n);
    json_t *m = json_object();
    if (!m)
        return lib_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (!kv[i].key || !kv[i].value) {
            json_decref(m);
            return lib_err_set(err, EINVAL, "'%s': entry %zu has a NULL key or value", key, i);
        }
        json_t *v = json_string(kv[i].value);
        if (!v || json_object_set_new(m, kv[i].key, v) < 0) {
            json_decref(m);
            return lib_err_set(err, EINVAL, "'%s': entry '%s' is not valid UTF-8", key,
                               kv[i].key);
        }
    }
    return put(o, key, m, err);
}

int jb_strv(json_t *o, const char *key, const char *const *v, struct runra_error **err)
{
    if (!v)
        return 0;
    json_t *a = json_array();
    if (!a)
        return lib_err_set(err, ENOMEM, "out of memory");
    for (size_t i = 0; v[i]; i++) {
        json_t *s = json_string(v[i]);
        if (!s || json_array_append_new(a, s) < 0) {
            json_decref(a);
            return lib_err_set(err, EINVAL, "'%s[%zu]' is not valid UTF-8", key, i);
        }
    }
    return put(o, key, a, err);
}
