/* The audit trail (GET /v1/events): NDJSON lines handed to the caller one
 * by one, raw, as runrad sent them. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "ndjson.h"
#include "url.h"

#define EVENT_LINE_MAX (1u << 20)

struct esink {
    struct ndlines nd;
    runra_event_fn fn;
    void *ud;
    bool stopped;
    struct runra_error *err;
};

static int ev_line(void *ud, const char *p, size_t n)
{
    struct esink *s = ud;
    (void)n;
    if (s->fn(s->ud, p) != 0) {
        s->stopped = true;
        return -ECANCELED;
    }
    return 0;
}

int runra_events(runra_client *c, const struct runra_events_opts *o, runra_event_fn on_event,
                 void *userdata, struct runra_error **err)
{
    static const struct runra_events_opts none = {0};
    if (!o)
        o = &none;
    if (!on_event)
        return lib_err_set(err, EINVAL, "events: no callback");
    struct buf t = {0};
    char num[32];
    int r = buf_append_str(&t, "/v1/events?since=") < 0 ? -ENOMEM : 0;
    snprintf(num, sizeof(num), "%" PRIu64, o->since);
    if (r >= 0 && buf_append_str(&t, num) < 0)
        r = -ENOMEM;
    if (r >= 0 && o->sandbox && url_append_query(&t, "sandbox", o->sandbox) < 0)
        r = -ENOMEM;
    if (r >= 0 && o->type && url_append_query(&t, "type", o->type) < 0)
        r = -ENOMEM;
    if (r >= 0 && o->follow && buf_append_str(&t, "&follow=true") < 0)
        r = -ENOMEM;
    if (r < 0) {
        buf_done(&t);
        return lib_err_set(err, ENOMEM, "out of memory");
    }
    struct esink s = {.fn = on_event, .ud = userdata};
    s.nd = (struct ndlines){.max = EVENT_LINE_MAX,
                            .what = "an event",
                            .on_line = ev_line,
                            .userdata = &s,
                            .err = &s.err};
    struct http_request req = {.method = "GET", .target = t.data, .body_fd = -1};
    struct http_response resp = {.body = {.max = CLIENT_JSON_MAX},
                                 .sink_fd = -1,
                                 .sink_cb = ndlines_feed,
                                 .sink_userdata = &s.nd};
    struct runra_error *e = NULL;
    uint64_t saved = c->conn.timeout_ms;
    if (o->follow)
        c->conn.timeout_ms = 0; /* a follow waits as long as it takes */
    r = client_exchange(c, &req, &resp, &e);
    c->conn.timeout_ms = saved;
    buf_done(&t);
    buf_done(&resp.body);
    ndlines_done(&s.nd);
    if (s.stopped || s.err) {
        http_conn_close(&c->conn);
        runra_error_free(e);
        if (s.stopped) {
            runra_error_free(s.err);
            return 0;
        }
        int n = s.err->errnum;
        if (err)
            *err = s.err;
        else
            runra_error_free(s.err);
        return -n;
    }
    if (r < 0) {
        if (err)
            *err = e;
        else
            runra_error_free(e);
        return r;
    }
    return 0;
}

int runra_key_create(runra_client *c, const char *name, char **ret_json,
                     struct runra_error **err)
{
    json_auto_t *body = json_pack("{s:s}", "name", name ? name : "");
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    json_auto_t *ans = NULL;
    return client_call(c, "POST", "/v1/keys", body, &ans, ret_json, err);
}

int runra_key_list(runra_client *c, char **ret_json, struct runra_error **err)
{
    json_auto_t *ans = NULL;
    return client_call(c, "GET", "/v1/keys", NULL, &ans, ret_json, err);
}

int runra_key_remove(runra_client *c, const char *id, struct runra_error **err)
{
    struct buf t = {0};
    int r = buf_append_str(&t, "/v1/keys/") < 0 || url_append_escaped(&t, id, false) < 0
                ? lib_err_set(err, ENOMEM, "out of memory")
                : 0;
    if (r >= 0)
        r = client_call(c, "DELETE", t.data, NULL, NULL, NULL, err);
    buf_done(&t);
    return r;
}
