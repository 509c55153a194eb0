/* A tiny unit-test harness: CHECK records a failure with its line and goes
 * on; TEST_MAIN runs the listed tests and ends with "N passed, N failed". */
#pragma once

#include <stdio.h>
#include <string.h>

static int t_pass, t_fail, t_cur_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            t_cur_failed = 1;                                                                      \
        }                                                                                          \
    } while (0)

#define CHECK_STREQ(a, b)                                                                          \
    do {                                                                                           \
        const char *_a = (a), *_b = (b);                                                           \
        if (!_a || !_b || strcmp(_a, _b) != 0) {                                                   \
            fprintf(stderr, "%s:%d: '%s' != '%s'\n", __FILE__, __LINE__, _a ? _a : "(null)",       \
                    _b ? _b : "(null)");                                                           \
            t_cur_failed = 1;                                                                      \
        }                                                                                          \
    } while (0)

typedef void (*test_fn)(void);
struct test_case {
    const char *name;
    test_fn fn;
};

#define TEST(name) {#name, name}

static inline int test_run(const struct test_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        t_cur_failed = 0;
        cases[i].fn();
        if (t_cur_failed) {
            t_fail++;
            fprintf(stderr, "FAIL %s\n", cases[i].name);
        } else {
            t_pass++;
        }
    }
    printf("%d passed, %d failed\n", t_pass, t_fail);
    return t_fail ? 1 : 0;
}

#define TEST_MAIN(...)                                                                             \
    int main(void)                                                                                 \
    {                                                                                              \
        static const struct test_case cases[] = {__VA_ARGS__};                                     \
        return test_run(cases, sizeof(cases) / sizeof(cases[0]));                                  \
    }
