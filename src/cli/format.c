/* The CLI's formatting helpers. Everything takes its inputs as arguments
 * (including "now"), so the unit tests can pin every output. */
#include "format.h"

#include "base/macro.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void fmt_mode(enum runra_file_type type, uint32_t mode, char out[11])
{
    static const char types[] = { [RUNRA_FILE_REGULAR] = '-', [RUNRA_FILE_DIR] = 'd',
                                  [RUNRA_FILE_SYMLINK] = 'l', [RUNRA_FILE_OTHER] = '?' };
    out[0] = (unsigned)type < sizeof(types) ? types[type] : '?';
    const char *rwx = "rwxrwxrwx";
    for (int i = 0; i < 9; i++)
        out[1 + i] = mode & (0400u >> i) ? rwx[i] : '-';
    if (mode & 04000)
        out[3] = mode & 0100 ? 's' : 'S';
    if (mode & 02000)
        out[6] = mode & 0010 ? 's' : 'S';
    if (mode & 01000)
        out[9] = mode & 0001 ? 't' : 'T';
    out[10] = '\0';
}

/* Reads exactly n digits. */
static int digits(const char **p, int n, int *ret)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return -EINVAL;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *ret = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -EINVAL;
    (*p)++;
    return 0;
}

int fmt_parse_rfc3339(const char *s, int64_t *ret_ms)
{
    if (!s)
        return -EINVAL;
    const char *p = s;
    int Y, M, D, h, m, sec, ms = 0;
    if (digits(&p, 4, &Y) < 0 || expect(&p, '-') < 0 || digits(&p, 2, &M) < 0 ||
        expect(&p, '-') < 0 || digits(&p, 2, &D) < 0)
        return -EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -EINVAL;
    p++;
    if (digits(&p, 2, &h) < 0 || expect(&p, ':') < 0 || digits(&p, 2, &m) < 0 ||
        expect(&p, ':') < 0 || digits(&p, 2, &sec) < 0)
        return -EINVAL;
    if (*p == '.') {
        /* Keep milliseconds; finer digits are read and dropped. */
        int n = 0;
        for (p++; *p >= '0' && *p <= '9'; p++, n++)
            if (n < 3)
                ms = ms * 10 + (*p - '0');
        if (n == 0)
            return -EINVAL;
        for (; n < 3; n++)
            ms *= 10;
    }
    int offset_min = 0;
    if (*p == 'Z' || *p == 'z')
        p++;
    else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (digits(&p, 2, &oh) < 0 || expect(&p, ':') < 0 || digits(&p, 2, &om) < 0)
            return -EINVAL;
        offset_min = sign * (oh * 60 + om);
    } else
        return -EINVAL;
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return -EINVAL;
    struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                     .tm_hour = h, .tm_min = m, .tm_sec = sec };
    time_t t = timegm(&tm);
    *ret_ms = ((int64_t)t - (int64_t)offset_min * 60) * 1000 + ms;
    return 0;
}

void fmt_age(const char *rfc3339, int64_t now_ms, char *out, size_t n)
{
    int64_t t;
    if (fmt_parse_rfc3339(rfc3339, &t) < 0) {
        snprintf(out, n, "-");
        return;
    }
    int64_t s = (now_ms - t) / 1000;
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(out, n, "%llds ago", (long long)s);
    else if (s < 3600)
        snprintf(out, n, "%lldm ago", (long long)(s / 60));
    else if (s < 86400)
        snprintf(out, n, "%lldh ago", (long long)(s / 3600));
    else
        snprintf(out, n, "%lldd ago", (long long)(s / 86400));
}

void fmt_cpu(double cpu, char *out, size_t n)
{
    if (cpu <= 0)
        snprintf(out, n, "-");
    else
        snprintf(out, n, "%g", cpu);
}

void fmt_mb(uint64_t mb, char *out, size_t n)
{
    if (mb == 0)
        snprintf(out, n, "-");
    else if (mb % 1024 == 0)
        snprintf(out, n, "%lluG", (unsigned long long)(mb / 1024));
    else
        snprintf(out, n, "%lluM", (unsigned long long)mb);
}

int table_init(struct table *t, size_t cols)
{
    *t = (struct table){ .cols = cols };
    return 0;
}

int table_add(struct table *t, const char *const *row)
{
    char **cells = realloc(t->cells, (t->rows + 1) * t->cols * sizeof(*cells));
    if (!cells)
        return -ENOMEM;
    t->cells = cells;
    char **r = cells + t->rows * t->cols;
    for (size_t i = 0; i < t->cols; i++) {
        r[i] = strdup(row[i] ? row[i] : "-");
        if (!r[i]) {
            while (i > 0)
                free(r[--i]);
            return -ENOMEM;
        }
    }
    t->rows++;
    return 0;
}

void table_print(const struct table *t, FILE *f)
{
    /* Tables here have a handful of columns; more than 16 are not printed. */
    size_t width[16];
    size_t cols = t->cols < ARRAY_SIZE(width) ? t->cols : ARRAY_SIZE(width);
    for (size_t c = 0; c < cols; c++) {
        width[c] = 0;
        for (size_t r = 0; r < t->rows; r++) {
            size_t l = strlen(t->cells[r * t->cols + c]);
            if (l > width[c])
                width[c] = l;
        }
    }
    for (size_t r = 0; r < t->rows; r++) {
        for (size_t c = 0; c < cols; c++) {
            const char *cell = t->cells[r * t->cols + c];
            if (c + 1 < cols)
                fprintf(f, "%-*s   ", (int)width[c], cell);
            else
                fprintf(f, "%s\n", cell);
        }
    }
}

void table_done(struct table *t)
{
    for (size_t i = 0; i < t->rows * t->cols; i++)
        free(t->cells[i]);
    free(t->cells);
    *t = (struct table){ 0 };
}
