/* Unit tests for the CLI's formatting: modes, RFC 3339, ages, units, and
 * table alignment. */
#include <errno.h>
#include <stdlib.h>

#include "cli/format.h"
#include "test.h"

static void modes(void)
{
    char m[11];
    fmt_mode(RUNRA_FILE_DIR, 0755, m);
    CHECK_STREQ(m, "drwxr-xr-x");
    fmt_mode(RUNRA_FILE_REGULAR, 0644, m);
    CHECK_STREQ(m, "-rw-r--r--");
    fmt_mode(RUNRA_FILE_SYMLINK, 0777, m);
    CHECK_STREQ(m, "lrwxrwxrwx");
    fmt_mode(RUNRA_FILE_REGULAR, 04755, m);
    CHECK_STREQ(m, "-rwsr-xr-x");
    fmt_mode(RUNRA_FILE_DIR, 01777, m);
    CHECK_STREQ(m, "drwxrwxrwt");
    fmt_mode(RUNRA_FILE_REGULAR, 02644, m);
    CHECK_STREQ(m, "-rw-r-Sr--");
}

static void times(void)
{
    int64_t ms = 0;
    CHECK(fmt_parse_rfc3339("1970-01-01T00:00:00Z", &ms) == 0 && ms == 0);
    CHECK(fmt_parse_rfc3339("2024-05-01T12:00:00.250Z", &ms) == 0 && ms == 1714564800250);
    CHECK(fmt_parse_rfc3339("2024-05-01T14:00:00+02:00", &ms) == 0 && ms == 1714564800000);
    CHECK(fmt_parse_rfc3339("2024-05-01T12:00:00.123456789Z", &ms) == 0 &&
          ms == 1714564800123);
    CHECK(fmt_parse_rfc3339("2024-05-01 12:00:00Z", &ms) == 0 && ms == 1714564800000);
    CHECK(fmt_parse_rfc3339("2024-05-01T12:00:00", &ms) == -EINVAL);
    CHECK(fmt_parse_rfc3339("yesterday", &ms) == -EINVAL);
    CHECK(fmt_parse_rfc3339("2024-13-01T12:00:00Z", &ms) == -EINVAL);
    CHECK(fmt_parse_rfc3339(NULL, &ms) == -EINVAL);

    char age[32];
    int64_t base = 1714564800000;
    fmt_age("2024-05-01T12:00:00Z", base + 5000, age, sizeof(age));
    CHECK_STREQ(age, "5s ago");
    fmt_age("2024-05-01T12:00:00Z", base + 3 * 60000, age, sizeof(age));
    CHECK_STREQ(age, "3m ago");
    fmt_age("2024-05-01T12:00:00Z", base + 5 * 3600000LL, age, sizeof(age));
    CHECK_STREQ(age, "5h ago");
    fmt_age("2024-05-01T12:00:00Z", base + 2 * 86400000LL, age, sizeof(age));
    CHECK_STREQ(age, "2d ago");
    fmt_age("2024-05-01T12:00:00Z", base - 1000, age, sizeof(age));
    CHECK_STREQ(age, "0s ago");
    fmt_age(NULL, base, age, sizeof(age));
    CHECK_STREQ(age, "-");
}

static void units(void)
{
    char b[32];
    fmt_cpu(1, b, sizeof(b));
    CHECK_STREQ(b, "1");
    fmt_cpu(0.5, b, sizeof(b));
    CHECK_STREQ(b, "0.5");
    fmt_cpu(0, b, sizeof(b));
    CHECK_STREQ(b, "-");
    fmt_mb(512, b, sizeof(b));
    CHECK_STREQ(b, "512M");
    fmt_mb(2048, b, sizeof(b));
    CHECK_STREQ(b, "2G");
    fmt_mb(1536, b, sizeof(b));
    CHECK_STREQ(b, "1536M");
    fmt_mb(0, b, sizeof(b));
    CHECK_STREQ(b, "-");
}

static void tables(void)
{
    struct table t;
    table_init(&t, 3);
    const char *r1[] = { "ID", "STATE", "X" };
    const char *r2[] = { "abcdef", NULL, "last column is not padded" };
    CHECK(table_add(&t, r1) == 0);
    CHECK(table_add(&t, r2) == 0);
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    table_print(&t, f);
    fclose(f);
    CHECK_STREQ(out, "ID       STATE   X\n"
                     "abcdef   -       last column is not padded\n");
    free(out);
    table_done(&t);
}

TEST_MAIN(TEST(modes), TEST(times), TEST(units), TEST(tables))
