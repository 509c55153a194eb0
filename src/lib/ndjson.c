/* NDJSON line splitting (ndjson.h). */
#include "ndjson.h"

#include <errno.h>
#include <string.h>

#include "error.h"

int ndlines_feed(void *userdata, const char *p, size_t n)
{
    struct ndlines *l = userdata;
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) : n;
        if (l->line.len + take > l->max)
            return lib_err_set(l->err, EPROTO, "runrad sent %s over %zu bytes", l->what, l->max);
        if (buf_append(&l->line, p, take) < 0)
            return -ENOMEM;
        p += take;
        n -= take;
        if (!nl)
            break;
        p++;
        n--;
        size_t len = l->line.len;
        int r = 0;
        if (len) {
            if (buf_append(&l->line, "", 1) < 0)
                return -ENOMEM;
            r = l->on_line(l->userdata, l->line.data, len);
        }
        l->line.len = 0;
        if (r < 0)
            return r;
    }
    return 0;
}

void ndlines_done(struct ndlines *l) { buf_done(&l->line); }
