/* The error object. Allocation failure while recording an error keeps the
 * code and drops the message; an error must never turn into a crash. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 4, 0))) static int vset(struct runra_err **err, int code, const char *suffix, const char *fmt, va_list ap)
{
    if (code < 0)
        code = -code;
    if (code == 0)
        code = EIO;
    if (!err || *err)
        return -code;
    struct runra_err *e = calloc(1, sizeof(*e));
    if (!e)
        return -code;
    e->code = code;
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) >= 0 && suffix) {
        char *m2 = NULL;
        if (asprintf(&m2, "%s: %s", m, suffix) >= 0) {
            free(m);
            m = m2;
        }
    }
    e->msg = m;
    *err = e;
    return -code;
}

int err_set(struct runra_err **err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vset(err, code, NULL, fmt, ap);
    va_end(ap);
    return r;
}

int err_sys(struct runra_err **err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vset(err, code, strerror(code < 0 ? -code : code), fmt, ap);
    va_end(ap);
    return r;
}

int err_prefix(struct runra_err **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -EIO;
    struct runra_err *e = *err;
    char *p = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        char *m = NULL;
        if (asprintf(&m, "%s: %s", p, e->msg ? e->msg : strerror(e->code)) >= 0) {
            free(e->msg);
            e->msg = m;
        }
        free(p);
    }
    return -e->code;
}

void err_free(struct runra_err *e)
{
    if (!e)
        return;
    free(e->msg);
    free(e);
}
