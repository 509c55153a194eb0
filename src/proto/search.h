/* The code search call's messages: the request (host to guest), match
 * records streamed as newline-delimited JSON in DATA frames, and the final
 * summary. Decoders are strict and bounded: the daemon decodes what a
 * hostile guest sends, and the guest decodes what the daemon forwards. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../base/err.h"

#define SEARCH_PATTERN_MAX 4096               /* bytes of a regex */
#define SEARCH_GLOBS_MAX 64                   /* glob filters in one request */
#define SEARCH_GLOB_MAX 1024                  /* bytes of one glob */
#define SEARCH_RESULTS_DEFAULT 1000           /* matches reported when none is asked */
#define SEARCH_RESULTS_MAX 100000             /* the most a caller may ask for */
#define SEARCH_CONTEXT_MAX 20                 /* context lines before and after */
#define SEARCH_LINE_MAX 1024                  /* bytes of a reported line; longer ones are cut */
#define SEARCH_TEXT_MAX (4 * SEARCH_LINE_MAX) /* a reported line once repaired to UTF-8 */
#define SEARCH_TIMEOUT_DEFAULT_MS 30000u
#define SEARCH_TIMEOUT_MAX_MS 600000u
#define SEARCH_FILE_MAX (64u << 20)           /* larger files are skipped (and truncated set) */
#define SEARCH_OUTPUT_MAX (32u << 20)         /* bytes of match records in one search */

struct search_req {
    char *pattern;        /* PCRE2 syntax */
    char *path;           /* NULL: the workdir */
    char **globs;         /* NULL-terminated, may be NULL; "!glob" excludes */
    bool ignore_case;
    bool no_ignore;       /* search .git, node_modules and what .gitignore excludes */
    uint32_t max_results; /* 1..SEARCH_RESULTS_MAX */
    uint32_t context;     /* lines before and after, 0..SEARCH_CONTEXT_MAX */
    uint64_t timeout_ms;  /* 1..SEARCH_TIMEOUT_MAX_MS */
};

struct search_match {
    char *path;      /* as the search root was named, joined with the file's relative path */
    uint64_t line;   /* 1-based */
    uint64_t column; /* 1-based byte offset of the match in the line, like ripgrep */
    char *text;      /* the line without its newline, cut at SEARCH_LINE_MAX bytes */
    char **before;   /* NULL-terminated context lines, or NULL */
    char **after;
};

struct search_done {
    bool truncated;          /* a limit cut the results (count, time, output, file size) */
    uint64_t files_searched;
    uint64_t matches;
};

/* Fills defaults (max_results, timeout_ms) and checks every bound. */
int search_req_check(struct search_req *r, struct runra_err **err);
int search_req_encode(const struct search_req *r, char **ret);
int search_req_decode(const void *buf, size_t len, struct search_req **ret, struct runra_err **err);
void search_req_free(struct search_req *r);
DEFINE_CLEANUP(struct search_req, search_req_free)

/* One match record as one line of JSON, without the newline. */
int search_match_encode(const struct search_match *m, char **ret);
void search_match_done(struct search_match *m);

/* A growing list of matches, as the daemon collects them. */
struct search_matches {
    struct search_match *v;
    size_t n, cap;
};
/* Decodes a DATA payload of newline-separated records and appends them;
 * fails (and appends nothing more) on any bad record or past max records. */
int search_matches_decode(const void *buf, size_t len, size_t max, struct search_matches *ret,
                          struct runra_err **err);
void search_matches_done(struct search_matches *l);

int search_done_encode(const struct search_done *d, char **ret);
int search_done_decode(const void *buf, size_t len, struct search_done *ret,
                       struct runra_err **err);
