/* libFuzzer target: the search call's messages, as a hostile guest (match
 * records, the summary) or a caller (the request) could send them. The
 * first byte picks the decoder. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/search.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t which = data[0] % 3;
    const char *p = (const char *)data + 1;
    size_t n = size - 1;
    struct runra_err *e = NULL;
    if (which == 0) {
        struct search_req *r = NULL;
        if (search_req_decode(p, n, &r, &e) == 0) {
            /* What decodes must encode and decode again. */
            char *json = NULL;
            struct search_req *r2 = NULL;
            struct runra_err *e2 = NULL;
            if (search_req_encode(r, &json) == 0 &&
                search_req_decode(json, strlen(json), &r2, &e2) != 0)
                abort();
            search_req_free(r2);
            err_free(e2);
            free(json);
            search_req_free(r);
        }
    } else if (which == 1) {
        struct search_matches l = {0};
        search_matches_decode(p, n, 100, &l, &e);
        for (size_t i = 0; i < l.n; i++) {
            char *json = NULL;
            if (search_match_encode(&l.v[i], &json) == 0)
                free(json);
        }
        search_matches_done(&l);
    } else {
        struct search_done d;
        search_done_decode(p, n, &d, &e);
    }
    err_free(e);
    return 0;
}
