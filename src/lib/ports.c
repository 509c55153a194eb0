/* Exposed ports: expose, list and remove, and the decoding of a Port object
 * (range-checked: runrad's answer is not trusted to be well formed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "client.h"
#include "error.h"

static int port_num(json_t *o, const char *key, uint16_t *ret, struct runra_error **err)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
        return lib_err_set(err, EPROTO, "runrad's answer: bad '%s' in a port", key);
    *ret = (uint16_t)json_integer_value(v);
    return 0;
}

static int decode(json_t *o, struct runra_port *p, struct runra_error **err)
{
    if (!json_is_object(o))
        return lib_err_set(err, EPROTO, "runrad's answer: a port is not an object");
    int r = port_num(o, "port", &p->port, err);
    if (r >= 0)
        r = port_num(o, "hostPort", &p->host_port, err);
    if (r >= 0)
        snprintf(p->url, sizeof(p->url), "http://127.0.0.1:%u", p->host_port);
    return r;
}

int runra_port_expose(runra_client *c, const char *id, uint16_t port, struct runra_port *ret,
                      struct runra_error **err)
{
    json_auto_t *body = json_pack("{s:i}", "port", (json_int_t)port);
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    struct buf t = {0};
    int r = client_target(&t, id, "/ports", err);
    json_auto_t *ans = NULL;
    if (r >= 0)
        r = client_call(c, "POST", t.data, body, &ans, NULL, err);
    buf_done(&t);
    struct runra_port p = {0};
    if (r >= 0)
        r = decode(ans, &p, err);
    if (r < 0)
        return r;
    *ret = p;
    return 0;
}

int runra_port_list(runra_client *c, const char *id, struct runra_port **ret, size_t *ret_n,
                    struct runra_error **err)
{
    struct buf t = {0};
    int r = client_target(&t, id, "/ports", err);
    json_auto_t *ans = NULL;
    if (r >= 0)
        r = client_call(c, "GET", t.data, NULL, &ans, NULL, err);
    buf_done(&t);
    if (r < 0)
        return r;
    json_t *a = json_object_get(ans, "ports");
    if (!json_is_array(a))
        return lib_err_set(err, EPROTO, "runrad's answer: no port list");
    _cleanup_free_ struct runra_port *v = calloc(json_array_size(a) + 1, sizeof(*v));
    if (!v)
        return lib_err_set(err, ENOMEM, "out of memory");
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        if ((r = decode(e, &v[i], err)) < 0)
            return r;
    }
    *ret_n = json_array_size(a);
    *ret = TAKE_PTR(v);
    return 0;
}

int runra_port_remove(runra_client *c, const char *id, uint16_t port, struct runra_error **err)
{
    char suffix[32];
    snprintf(suffix, sizeof(suffix), "/ports/%u", port);
    struct buf t = {0};
    int r = client_target(&t, id, suffix, err);
    if (r >= 0)
        r = client_call(c, "DELETE", t.data, NULL, NULL, NULL, err);
    buf_done(&t);
    return r;
}
