/* Unit tests for base helpers: encodings, number parsing, errors. */
#include <errno.h>
#include <stdlib.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/util.h"
#include "test.h"

static void b64(void)
{
    const char *cases[][2] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
                              {"foobar", "Zm9vYmFy"}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = NULL;
        size_t n;
        CHECK(base64_encode(cases[i][0], strlen(cases[i][0]), &s, &n) == 0);
        CHECK_STREQ(s, cases[i][1]);
        unsigned char *d = NULL;
        size_t dn;
        CHECK(base64_decode(s, n, &d, &dn) == 0);
        CHECK(dn == strlen(cases[i][0]) && memcmp(d, cases[i][0], dn) == 0);
        free(s);
        free(d);
    }
    unsigned char *d = NULL;
    size_t dn;
    CHECK(base64_decode("Zm9", 3, &d, &dn) == -EINVAL);
    CHECK(base64_decode("Zm=v", 4, &d, &dn) == -EINVAL);
    CHECK(base64_decode("Z!9v", 4, &d, &dn) == -EINVAL);
}

static void utf8(void)
{
    char *s = NULL;
    size_t n;
    CHECK(utf8_sanitize("h\xc3\xa9llo", 6, &s, &n) == 0);
    CHECK(n == 6 && memcmp(s, "h\xc3\xa9llo", 6) == 0);
    free(s);
    CHECK(utf8_sanitize("a\xff" "b", 3, &s, &n) == 0);
    CHECK(n == 5 && memcmp(s, "a\xef\xbf\xbd" "b", 5) == 0);
    free(s);
    CHECK(utf8_sanitize("\xed\xa0\x80", 3, &s, &n) == 0); /* a surrogate is invalid */
    CHECK(n == 9);
    free(s);
}

static void numbers(void)
{
    uint64_t u;
    CHECK(parse_u64("42", &u) == 0 && u == 42);
    CHECK(parse_u64("-1", &u) < 0);
    CHECK(parse_u64("1x", &u) < 0);
    CHECK(parse_u64("", &u) < 0);
    CHECK(parse_u64("99999999999999999999999", &u) < 0);
    double d;
    CHECK(parse_double("0.5", &d) == 0 && d == 0.5);
    CHECK(parse_double("nan", &d) < 0);
}

static void errors(void)
{
    struct runra_err *e = NULL;
    CHECK(err_set(&e, ENOENT, "file %s", "x") == -ENOENT);
    CHECK(err_set(&e, EINVAL, "second") == -EINVAL); /* the first error is kept */
    CHECK(e->code == ENOENT);
    CHECK(err_prefix(&e, "sandbox %s", "ab") == -ENOENT);
    CHECK_STREQ(e->msg, "sandbox ab: file x");
    err_free(e);
    CHECK(str_has_prefix_path("/proc/1", "/proc"));
    CHECK(!str_has_prefix_path("/process", "/proc"));
}

TEST_MAIN(TEST(b64), TEST(utf8), TEST(numbers), TEST(errors))
