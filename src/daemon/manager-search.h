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
