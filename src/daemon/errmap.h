/* The one table from the internal errno vocabulary to HTTP status and the
 * API's error code. */
#pragma once

struct errmap_entry {
    int err;
    unsigned status;
    const char *code;
};

const struct errmap_entry *errmap_lookup(int err);
