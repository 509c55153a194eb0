/* TCP_CONNECT and TCP_ACK codecs. Both sides decode strictly and range-check,
 * because a hostile peer could otherwise grant itself unbounded credit. */
#include "tcpmsg.h"

#include <errno.h>
#include <jansson.h>

#include "msg.h"

int msg_tcp_connect_encode(uint16_t port, char **ret)
{
    return msg_json_dump(json_pack("{s:i}", "port", (json_int_t)port), ret);
}

/* Reads {key: integer} strictly and checks lo <= value <= hi. */
static int decode_one(const void *buf, size_t len, const char *key, json_int_t lo, json_int_t hi,
                      json_int_t *ret, struct runra_err **err)
{
    json_t *j = NULL;
    int r = msg_json_load(buf, len, &j, err);
    if (r < 0)
        return r;
    json_error_t je;
    json_int_t v = 0;
    r = json_unpack_ex(j, &je, JSON_STRICT, "{s:I}", key, &v);
    json_decref(j);
    if (r < 0)
        return err_set(err, EINVAL, "bad %s message: %s", key, je.text);
    if (v < lo || v > hi)
        return err_set(err, EINVAL, "%s %lld is out of range %lld..%lld", key, (long long)v,
                       (long long)lo, (long long)hi);
    *ret = v;
    return 0;
}

int msg_tcp_connect_decode(const void *buf, size_t len, uint16_t *ret_port,
                           struct runra_err **err)
{
    json_int_t v;
    int r = decode_one(buf, len, "port", 1, 65535, &v, err);
    if (r < 0)
        return r;
    *ret_port = (uint16_t)v;
    return 0;
}

int msg_tcp_ack_encode(uint32_t bytes, char **ret)
{
    return msg_json_dump(json_pack("{s:I}", "bytes", (json_int_t)bytes), ret);
}

int msg_tcp_ack_decode(const void *buf, size_t len, uint32_t *ret_bytes, struct runra_err **err)
{
    json_int_t v;
    int r = decode_one(buf, len, "bytes", 1, RUNRA_TCP_WINDOW, &v, err);
    if (r < 0)
        return r;
    *ret_bytes = (uint32_t)v;
    return 0;
}
