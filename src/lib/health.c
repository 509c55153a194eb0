/* GET /v1/health: whether runrad answers, its version and what the host
 * offers (backends, cgroup layout, landlock ABI). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "json-read.h"

void runra_health_free(struct runra_health *h)
{
    if (!h)
        return;
    free(h->status);
    free(h->version);
    free(h->cgroup);
    for (size_t i = 0; i < h->n_backends; i++)
        free(h->backends[i].name);
    free(h->backends);
    free(h->json);
    free(h);
}
DEFINE_CLEANUP(struct runra_health, runra_health_free)

static int decode(json_t *o, struct runra_health *h, struct runra_error **err)
{
    int r = jr_string(o, "status", &h->status, err);
    if (r >= 0)
        r = jr_string(o, "version", &h->version, err);
    if (r >= 0)
        r = jr_string(o, "cgroup", &h->cgroup, err);
    if (r >= 0)
        r = jr_int(o, "landlock", &h->landlock, err);
    if (r < 0)
        return r;
    json_t *b = json_object_get(o, "backends");
    if (!json_is_object(b))
        return 0;
    h->backends = calloc(json_object_size(b) + 1, sizeof(*h->backends));
    if (!h->backends)
        return lib_err_set(err, ENOMEM, "out of memory");
    const char *name;
    json_t *v;
    json_object_foreach(b, name, v) {
        struct runra_backend_status *s = &h->backends[h->n_backends];
        s->name = strdup(name);
        if (!s->name)
            return lib_err_set(err, ENOMEM, "out of memory");
        h->n_backends++;
        if (json_is_object(v))
            r = jr_bool(v, "available", &s->available, err);
        if (r < 0)
            return r;
    }
    return 0;
}

int runra_health(runra_client *c, struct runra_health **ret, struct runra_error **err)
{
    json_auto_t *o = NULL;
    _cleanup_free_ char *text = NULL;
    int r = client_call(c, "GET", "/v1/health", NULL, &o, &text, err);
    if (r < 0)
        return r;
    _cleanup_(runra_health_freep) struct runra_health *h = calloc(1, sizeof(*h));
    if (!h)
        return lib_err_set(err, ENOMEM, "out of memory");
    r = decode(o, h, err);
    if (r < 0)
        return r;
    h->json = TAKE_PTR(text);
    *ret = TAKE_PTR(h);
    return 0;
}
