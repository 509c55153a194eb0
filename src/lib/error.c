/* The public error object. Like base/err.c, running out of memory while
 * recording an error keeps the errno and falls back to a static message, so
 * an error never turns into a crash or a NULL message. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int record(struct runra_error **err, int errnum, int status, const char *code, char *msg)
{
    if (errnum < 0)
        errnum = -errnum;
    if (errnum == 0)
        errnum = EIO;
    if (!err || *err) {
        free(msg);
        return -errnum;
    }
    struct runra_error *e = calloc(1, sizeof(*e));
    if (!e) {
        free(msg);
        return -errnum;
    }
    e->errnum = errnum;
    e->http_status = status;
    e->code = dup_or_null(code);
    e->message = msg ? msg : strdup(strerror(errnum));
    *err = e;
    return -errnum;
}

/* The format attribute lets the compiler check callers' formats through
 * the va_list, and tells clang the format is not a stray variable. */
static int _printf_(4, 0)
    vset(struct runra_error **err, int errnum, bool sys, const char *fmt, va_list ap)
{
    char *m = NULL;
    if (vasprintf(&m, fmt, ap) < 0)
        m = NULL;
    if (m && sys) {
        char *m2 = NULL;
        if (asprintf(&m2, "%s: %s", m, strerror(errnum < 0 ? -errnum : errnum)) >= 0) {
            free(m);
            m = m2;
        }
    }
    return record(err, errnum, 0, NULL, m);
}

int lib_err_set(struct runra_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vset(err, errnum, false, fmt, ap);
    va_end(ap);
    return r;
}

int lib_err_sys(struct runra_error **err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vset(err, errnum, true, fmt, ap);
    va_end(ap);
    return r;
}

int lib_err_api(struct runra_error **err, int http_status, const char *code, const char *message)
{
    char *m = NULL;
    if (message && *message)
        m = strdup(message);
    else if (asprintf(&m, "runrad answered HTTP %d%s%s", http_status, code ? " " : "",
                      code ? code : "") < 0)
        m = NULL;
    return record(err, lib_errno_from_api(code, http_status), http_status, code, m);
}

int lib_err_prefix(struct runra_error **err, const char *fmt, ...)
{
    if (!err || !*err)
        return -EIO;
    struct runra_error *e = *err;
    char *p = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&p, fmt, ap);
    va_end(ap);
    if (n >= 0) {
        char *m = NULL;
        if (asprintf(&m, "%s: %s", p, e->message) >= 0) {
            free(e->message);
            e->message = m;
        }
        free(p);
    }
    return -e->errnum;
}

void runra_error_free(struct runra_error *e)
{
    if (!e)
        return;
    free(e->code);
    free(e->message);
    free(e);
}

/* The daemon maps errno to these codes; this is the way back, so a caller
 * can test `r == -ENOENT` without string compares. */
static const struct {
    const char *code;
    int errnum;
} code_table[] = {
    { "invalid_argument", EINVAL },   { "not_found", ENOENT },
    { "conflict", EBUSY },            { "already_exists", EEXIST },
    { "payload_too_large", E2BIG },   { "resource_exhausted", ENOSPC },
    { "permission_denied", EPERM },   { "unauthenticated", EACCES },
    { "timeout", ETIMEDOUT },         { "unavailable", EAGAIN },
    { "not_implemented", ENOSYS },    { "internal", EIO },
    { "canceled", ECANCELED },
};

int lib_errno_from_api(const char *code, int http_status)
{
    if (code)
        for (size_t i = 0; i < ARRAY_SIZE(code_table); i++)
            if (strcmp(code, code_table[i].code) == 0)
                return code_table[i].errnum;
    switch (http_status) {
    case 400: return EINVAL;
    case 401: return EACCES;
    case 403: return EPERM;
    case 404: return ENOENT;
    case 405: return ENOSYS;
    case 409: return EBUSY;
    case 413: return E2BIG;
    case 429: return EAGAIN;
    case 501: return ENOSYS;
    case 503: return EAGAIN;
    case 504: return ETIMEDOUT;
    default: return EIO;
    }
}
