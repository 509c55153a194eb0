/* The growable buffer. Growth doubles, so appending n bytes one at a time
 * stays linear; the bound is checked before any allocation. */
#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int reserve(struct buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return -E2BIG;
    size_t need = b->len + extra + 1;
    if (b->max && need - 1 > b->max)
        return -E2BIG;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int r = reserve(b, n);
    if (r < 0)
        return r;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -EINVAL;
    int r = reserve(b, (size_t)n);
    if (r < 0)
        return r;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int buf_steal(struct buf *b, char **ret, size_t *ret_len)
{
    int r = reserve(b, 0);
    if (r < 0)
        return r;
    *ret = b->data;
    if (ret_len)
        *ret_len = b->len;
    *b = (struct buf){ .max = b->max };
    return 0;
}

void buf_done(struct buf *b)
{
    free(b->data);
    *b = (struct buf){ .max = b->max };
}
