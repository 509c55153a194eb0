/* A growable byte buffer, always NUL-terminated, with an optional size bound.
 * Used for request heads, request targets and response bodies. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "base/macro.h"

struct buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* 0: no bound; appending past it fails with E2BIG */
};

int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...) _printf_(2, 3);
/* Hands the data over (never NULL on success: an empty buffer gives ""). */
int buf_steal(struct buf *b, char **ret, size_t *ret_len);
void buf_done(struct buf *b);
