/* /v1/keys: API keys for the TCP listener, managed over the unix socket. */
#include <stdlib.h>

#include "api.h"
#include "keys.h"

enum MHD_Result api_keys_create(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_auto_t *j = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_error_t je;
    const char *name = NULL;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s}", "name", &name) < 0)
        return api_respond_errf(c, EINVAL, "invalid key request: %s", je.text);
    json_t *out = NULL;
    r = keys_create(a->keys, name, &out, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_json(c, 201, out);
}

enum MHD_Result api_keys_list(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_json(c, 200, keys_list_json(a->keys));
}

enum MHD_Result api_keys_delete(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = keys_remove(a->keys, rq->match.id, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_empty(c, 204);
}
