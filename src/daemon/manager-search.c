/* The search call. The guest walks and reads the sandbox's files; the
 * daemon only forwards the request and decodes what comes back, never
 * trusting the guest to respect the bounds it was given. */
#include "manager-search.h"

#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "manager-internal.h"
#include "proto/frame.h"

/* How long past its own time limit a search may take to report. */
#define SEARCH_GRACE_MS 5000

void search_result_done(struct search_result *r)
{
    search_matches_done(&r->matches);
    *r = (struct search_result){0};
}

/* A reply that does not decode is the guest's fault, not the caller's. */
static int bad_reply(int r, const struct runra_err *bad, struct runra_err **err)
{
    if (r == -ENOMEM)
        return r;
    return err_set(err, EPROTO, "bad search reply from the sandbox: %s",
                   bad && bad->msg ? bad->msg : "malformed");
}

static int collect(struct guest_call *call, const struct search_req *req,
                   struct search_result *res, struct runra_err **err)
{
    uint64_t deadline = now_ms() + req->timeout_ms + SEARCH_GRACE_MS;
    uint64_t bytes = 0;
    for (;;) {
        struct guest_frame *f = NULL;
        int r = guest_call_recv(call, deadline, &f);
        if (r == -ETIMEDOUT)
            return err_set(err, ETIMEDOUT, "sandbox did not finish the search in time");
        if (r < 0)
            return err_set(err, EPIPE, "sandbox stopped during the search");
        _cleanup_free_ struct guest_frame *fr = f;
        _cleanup_err_ struct runra_err *bad = NULL;
        switch (f->type) {
        case FRAME_DATA:
            bytes += f->len;
            if (bytes > SEARCH_OUTPUT_MAX)
                return err_set(err, EPROTO, "sandbox sent more search output than allowed");
            r = search_matches_decode(f->data, f->len, req->max_results, &res->matches, &bad);
            if (r < 0)
                return bad_reply(r, bad, err);
            break;
        case FRAME_RESULT:
            r = search_done_decode(f->data, f->len, &res->done, &bad);
            if (r < 0)
                return bad_reply(r, bad, err);
            return 0;
        case FRAME_ERROR:
            return guest_frame_error(f, "search", err);
        default:
            break; /* stray frame types are ignored */
        }
    }
}

int manager_search(struct manager *m, const char *id, struct search_req *req,
                   struct search_result *ret, struct runra_err **err)
{
    int r = search_req_check(req, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *payload = NULL;
    if ((r = search_req_encode(req, &payload)) < 0)
        return r;
    struct sandbox *s;
    if ((r = manager_acquire(m, id, &s, err)) < 0)
        return r;
    struct guest_call *call = NULL;
    struct search_result res = {0};
    r = guest_call_start(s->guest, FRAME_SEARCH, payload, strlen(payload), &call, err);
    if (r >= 0) {
        r = collect(call, req, &res, err);
        guest_call_end(call);
    }
    manager_release(m, s);
    if (r < 0) {
        search_result_done(&res);
        return r;
    }
    /* The count the guest claims must be the records it sent. */
    res.done.matches = res.matches.n;
    *ret = res;
    return 0;
}

struct search_stream {
    struct manager *m;
    struct sandbox *s;
    struct guest_call *call;
    uint64_t deadline, bytes;
    size_t left; /* records still allowed */
    size_t sent;
    bool done;
    struct search_done summary;
};

int manager_search_open(struct manager *m, const char *id, struct search_req *req,
                        struct search_stream **ret, struct runra_err **err)
{
    int r = search_req_check(req, err);
    if (r < 0)
        return r;
    _cleanup_free_ char *payload = NULL;
    if ((r = search_req_encode(req, &payload)) < 0)
        return r;
    struct search_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return -ENOMEM;
    st->m = m;
    st->left = req->max_results;
    st->deadline = now_ms() + req->timeout_ms + SEARCH_GRACE_MS;
    if ((r = manager_acquire(m, id, &st->s, err)) < 0) {
        free(st);
        return r;
    }
    r = guest_call_start(st->s->guest, FRAME_SEARCH, payload, strlen(payload), &st->call, err);
    if (r < 0) {
        manager_search_close(st);
        return r;
    }
    /* A bad pattern or path comes back at once: an HTTP error, not a
     * stream that fails in its first line. */
    *ret = st;
    return 0;
}

int manager_search_next(struct search_stream *st, struct search_matches *ret_matches,
                        struct search_done *ret_done, struct runra_err **err)
{
    if (st->done) {
        *ret_done = st->summary;
        return 0;
    }
    for (;;) {
        struct guest_frame *f = NULL;
        int r = guest_call_recv(st->call, st->deadline, &f);
        if (r == -ETIMEDOUT)
            return err_set(err, ETIMEDOUT, "sandbox did not finish the search in time");
        if (r < 0)
            return err_set(err, EPIPE, "sandbox stopped during the search");
        _cleanup_free_ struct guest_frame *fr = f;
        _cleanup_err_ struct runra_err *bad = NULL;
        switch (f->type) {
        case FRAME_DATA: {
            st->bytes += f->len;
            if (st->bytes > SEARCH_OUTPUT_MAX)
                return err_set(err, EPROTO, "sandbox sent more search output than allowed");
            struct search_matches l = {0};
            r = search_matches_decode(f->data, f->len, st->left, &l, &bad);
            if (r < 0) {
                search_matches_done(&l);
                return bad_reply(r, bad, err);
            }
            st->left -= l.n;
            st->sent += l.n;
            if (!l.n) {
                search_matches_done(&l);
                continue;
            }
            *ret_matches = l;
            return 1;
        }
        case FRAME_RESULT:
            r = search_done_decode(f->data, f->len, &st->summary, &bad);
            if (r < 0)
                return bad_reply(r, bad, err);
            st->summary.matches = st->sent;
            st->done = true;
            *ret_done = st->summary;
            return 0;
        case FRAME_ERROR:
            return guest_frame_error(f, "search", err);
        default:
            break;
        }
    }
}

void manager_search_close(struct search_stream *st)
{
    if (!st)
        return;
    guest_call_end(st->call);
    if (st->s)
        manager_release(st->m, st->s);
    free(st);
}
