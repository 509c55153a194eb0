/* Code search in a sandbox: one SEARCH guest call whose streamed match
 * records are decoded strictly and collected, bounded by the request's own
 * maxResults and SEARCH_OUTPUT_MAX whatever the guest claims. */
#pragma once

#include "manager.h"
#include "proto/search.h"

struct search_result {
    struct search_matches matches;
    struct search_done done;
};

/* req is checked (and defaults filled) here. */
int manager_search(struct manager *m, const char *id, struct search_req *req,
                   struct search_result *ret, struct runra_err **err);
void search_result_done(struct search_result *r);

/* The same search, read as it comes: each call hands out the records of
 * one guest DATA frame (decoded and bounded as above), then, once, the
 * summary. */
struct search_stream;
int manager_search_open(struct manager *m, const char *id, struct search_req *req,
                        struct search_stream **ret, struct runra_err **err);
/* 1: *ret_matches holds the next records (the caller frees them with
 * search_matches_done); 0: the search is over, *ret_done filled (and every
 * later call returns 0 again); -errno on failure. */
int manager_search_next(struct search_stream *st, struct search_matches *ret_matches,
                        struct search_done *ret_done, struct runra_err **err);
void manager_search_close(struct search_stream *st);
