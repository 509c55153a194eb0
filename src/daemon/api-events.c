/* GET /v1/events?sandbox=&type=&since=&limit=&follow=1: the audit trail as
 * NDJSON, oldest first, from after event id `since`; with follow, then new
 * events as they happen until the client leaves or, over TCP, its API key
 * is revoked (then the response simply ends, between two lines). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api.h"
#include "events.h"
#include "keys.h"

#define EVENTS_BATCH 512
#define EVENTS_LIMIT_MAX 100000
#define FOLLOW_SLICE_MS 500

struct evstream {
    struct events *ev;
    char *sandbox, *type;
    int64_t since;
    uint64_t left; /* limit still to send; UINT64_MAX: none */
    bool follow;
    int fd;
    struct key_watch key; /* the API key that let the request in */
    char *buf;
    size_t len, off;
};

/* The next batch of lines into s->buf; 0 when there is nothing now. */
static int fill(struct evstream *s)
{
    struct store_event *v = NULL;
    size_t n = 0;
    size_t want = s->left < EVENTS_BATCH ? (size_t)s->left : EVENTS_BATCH;
    if (want == 0 || store_event_list(events_store(s->ev), s->since, s->sandbox, s->type, want,
                                      &v, &n, NULL) < 0)
        return 0;
    free(s->buf);
    s->buf = NULL;
    s->len = s->off = 0;
    size_t cap = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *j = events_json(&v[i]);
        char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
        json_decref(j);
        if (!t)
            continue;
        size_t tl = strlen(t);
        if (s->len + tl + 1 > cap) {
            size_t nc = (cap ? cap * 2 : 4096) + tl + 1;
            char *nb = realloc(s->buf, nc);
            if (!nb) {
                free(t);
                break;
            }
            s->buf = nb;
            cap = nc;
        }
        memcpy(s->buf + s->len, t, tl);
        s->buf[s->len + tl] = '\n';
        s->len += tl + 1;
        free(t);
        s->since = v[i].id;
        if (s->left != UINT64_MAX)
            s->left--;
    }
    store_event_list_free(v, n);
    return (int)n;
}

static ssize_t ev_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct evstream *s = cls;
    (void)pos;
    for (;;) {
        if (s->off < s->len) {
            size_t n = s->len - s->off < max ? s->len - s->off : max;
            memcpy(buf, s->buf + s->off, n);
            s->off += n;
            return (ssize_t)n;
        }
        if (s->left == 0 || keys_watch_revoked(&s->key))
            return MHD_CONTENT_READER_END_OF_STREAM;
        if (fill(s) > 0)
            continue;
        if (!s->follow)
            return MHD_CONTENT_READER_END_OF_STREAM;
        events_wait(s->ev, s->since, FOLLOW_SLICE_MS);
        if (api_client_gone(s->fd))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void ev_free(void *cls)
{
    struct evstream *s = cls;
    free(s->sandbox);
    free(s->type);
    free(s->buf);
    free(s);
}

enum MHD_Result api_events(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    static const char *const allowed[] = {"sandbox", "type", "since", "limit", "follow", NULL};
    _cleanup_err_ struct runra_err *e = NULL;
    uint64_t since = 0, limit = 0;
    bool follow = false;
    int r = api_check_query(c, allowed, NULL, &e);
    if (r >= 0)
        r = api_query_u64(c, "since", &since, &e);
    if (r >= 0)
        r = api_query_u64(c, "limit", &limit, &e);
    if (r >= 0)
        r = api_query_bool(c, "follow", &follow, &e);
    if (r >= 0 && (since > INT64_MAX || limit > EVENTS_LIMIT_MAX))
        r = err_set(&e, EINVAL, "since or limit out of range (limit at most %d)",
                    EVENTS_LIMIT_MAX);
    const char *sandbox = api_query(c, "sandbox"), *type = api_query(c, "type");
    if (r >= 0 && ((sandbox && (!*sandbox || strlen(sandbox) > 63)) ||
                   (type && (!*type || strlen(type) > 63))))
        r = err_set(&e, EINVAL, "sandbox and type must be 1 to 63 bytes");
    /* With an API key: one of its own sandboxes' events at a time. */
    if (r >= 0 && rq->tenant[0] && !sandbox)
        r = err_set(&e, EINVAL, "with an API key, name one of your sandboxes (sandbox=ID)");
    if (r >= 0 && rq->tenant[0] && !manager_owned_by(a->m, sandbox, rq->tenant))
        r = err_set(&e, ENOENT, "sandbox '%.64s' not found", sandbox);
    if (r >= 0 && (!a->events || !events_store(a->events)))
        r = err_set(&e, ENOSYS, "this daemon keeps no events");
    if (r < 0)
        return api_respond_err(c, r, e);
    struct evstream *s = calloc(1, sizeof(*s));
    if (!s)
        return MHD_NO;
    *s = (struct evstream){.ev = a->events,
                           .since = (int64_t)since,
                           .left = limit ? limit : UINT64_MAX,
                           .follow = follow,
                           .fd = api_conn_fd(c)};
    keys_watch_init(&s->key, a->keys, rq->tenant);
    if ((sandbox && !(s->sandbox = strdup(sandbox))) || (type && !(s->type = strdup(type)))) {
        ev_free(s);
        return MHD_NO;
    }
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, ev_read, s, ev_free);
    if (!resp) {
        ev_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/x-ndjson");
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}
