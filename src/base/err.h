/* The one error object: an errno plus a message built up with context as it
 * travels up ("sandbox ab12: mount overlay on '/x': Permission denied"). */
#pragma once

#include "macro.h"

struct runra_err {
    int code; /* positive errno */
    char *msg;
};

/* Sets *err (when err is non-NULL and *err is NULL) and returns -code, so a
 * caller can write `return err_set(err, EINVAL, "bad %s", x);`. */
int err_set(struct runra_err **err, int code, const char *fmt, ...) _printf_(3, 4);
/* Like err_set, appending ": strerror(code)". */
int err_sys(struct runra_err **err, int code, const char *fmt, ...) _printf_(3, 4);
/* Prefixes context to an existing error ("ctx: old message"); returns -code. */
int err_prefix(struct runra_err **err, const char *fmt, ...) _printf_(2, 3);
void err_free(struct runra_err *e);
DEFINE_CLEANUP(struct runra_err, err_free)
#define _cleanup_err_ _cleanup_(err_freep)
