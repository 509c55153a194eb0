/* A streamed body cut into lines (NDJSON), each bounded, handed to a
 * callback as it completes: what streaming exec, logs, search and the
 * event log all read. */
#pragma once

#include <stddef.h>

#include "buf.h"
#include "runra/runra.h"

struct ndlines {
    struct buf line;
    size_t max;                 /* the longest line accepted */
    const char *what;           /* names the lines in the over-long error */
    /* A complete, non-empty line, NUL-terminated (n excludes the NUL); a
     * negative return stops the stream and is returned by the feed. */
    int (*on_line)(void *userdata, const char *p, size_t n);
    void *userdata;
    struct runra_error **err;   /* where an over-long line is reported */
};

/* An http_response sink_cb: userdata is the struct ndlines. */
int ndlines_feed(void *userdata, const char *p, size_t n);
void ndlines_done(struct ndlines *l);
