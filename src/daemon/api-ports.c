/* Exposed ports: POST/GET/DELETE .../ports. Translates only: the port is
 * range-checked here (400) and everything else is the manager's. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "manager-ports.h"

static json_t *port_json(const struct port_info *p)
{
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u", p->host_port);
    return json_pack("{s:i,s:i,s:s}", "port", (json_int_t)p->port, "hostPort",
                     (json_int_t)p->host_port, "url", url);
}

enum MHD_Result api_port_add(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_auto_t *j = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_error_t je;
    json_int_t port = 0;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:I}", "port", &port) < 0)
        return api_respond_errf(c, EINVAL, "invalid port request: %s", je.text);
    if (port < 1 || port > 65535)
        return api_respond_errf(c, EINVAL, "port must be within 1..65535");
    struct port_info pi;
    r = manager_port_add(a->m, rq->match.id, (uint16_t)port, &pi, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_json(c, 201, port_json(&pi));
}

enum MHD_Result api_port_list(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    _cleanup_free_ struct port_info *v = NULL;
    size_t n = 0;
    if (r >= 0)
        r = manager_port_list(a->m, rq->match.id, &v, &n, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, port_json(&v[i]));
    return api_respond_json(c, 200, arr ? json_pack("{s:o}", "ports", arr) : NULL);
}

enum MHD_Result api_port_remove(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    /* The {proc} segment holds the port: decimal digits only, 1..65535. */
    const char *s = rq->match.proc;
    unsigned long v = 0;
    bool ok = s[0] != 0 && strlen(s) <= 5;
    for (const char *p = s; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9';
        v = v * 10 + (unsigned long)(*p - '0');
    }
    if (!ok || v < 1 || v > 65535)
        return api_respond_errf(c, EINVAL, "port must be within 1..65535");
    r = manager_port_remove(a->m, rq->match.id, (uint16_t)v, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    return api_respond_empty(c, 204);
}
