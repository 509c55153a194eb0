/* Building the public error object (struct runra_error) inside librunra, and
 * mapping the API's error codes and HTTP statuses to errno. Pure helpers. */
#pragma once

#include "base/macro.h"
#include "runra/runra.h"

/* Sets *err (when err is non-NULL and *err is NULL) to a transport or
 * local error and returns -errnum. */
int lib_err_set(struct runra_error **err, int errnum, const char *fmt, ...) _printf_(3, 4);
/* Like lib_err_set, appending ": strerror(errnum)". */
int lib_err_sys(struct runra_error **err, int errnum, const char *fmt, ...) _printf_(3, 4);
/* Records an answer from runrad: its status, code and message. */
int lib_err_api(struct runra_error **err, int http_status, const char *code, const char *message);
/* Prefixes context to an existing error's message; returns -errnum. */
int lib_err_prefix(struct runra_error **err, const char *fmt, ...) _printf_(2, 3);

/* The errno that an API error code stands for; falls back to the status. */
int lib_errno_from_api(const char *code, int http_status);

DEFINE_CLEANUP(struct runra_error, runra_error_free)
