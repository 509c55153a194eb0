/* The search pattern and the lines it matches in one file's bytes: PCRE2
 * (JIT when the kernel allows it) behind a literal prefilter. Pure: no I/O,
 * so the same code runs in runra-init and in a test harness. The buffer is
 * sandbox-controlled data; the pattern is the caller's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"

struct search_matcher;

/* Compiles pattern (multiline, UTF, invalid UTF tolerated); a bad one is
 * EINVAL with PCRE2's message and offset. */
int search_matcher_new(const char *pattern, bool ignore_case, struct search_matcher **ret,
                       struct runra_err **err);
void search_matcher_free(struct search_matcher *m);
DEFINE_CLEANUP(struct search_matcher, search_matcher_free)

/* Where a scan of one buffer has got to; zero it before each buffer. */
struct search_cursor {
    size_t off;        /* always the start of a line */
    size_t cand;       /* prefilter candidates tried in this buffer */
    size_t cand_bytes; /* bytes those candidates skipped, together */
    bool plain;        /* the prefilter gave up on this buffer */
};

/* A matching line: [start, end) without its newline, and the offset of the
 * first match in it. */
struct search_line {
    size_t start, end, match;
};

/* The next line at or after c->off where the pattern matches (a match that
 * runs past its line counts only if it also matches within the line).
 * 1 with *ret filled, 0 when there is none, -E2BIG when PCRE2 hit a match
 * or stack limit and the rest of the buffer is unknown. */
int search_matcher_next(struct search_matcher *m, const char *buf, size_t len,
                        struct search_cursor *c, struct search_line *ret);

/* The literal the prefilter scans for, NUL-terminated into out ("" when
 * the pattern has none worth using); for tests and benchmarks. */
void search_matcher_literal(const struct search_matcher *m, char *out, size_t cap);
