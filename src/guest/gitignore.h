/* A pure .gitignore matcher: parses rules (globs, `**`, `!` negation,
 * trailing `/` for directories, a leading or inner `/` anchoring) and answers
 * whether a path is ignored, by one file's rules or by the chain of files a
 * walk has in force. It trusts nothing it reads: every loop is bounded by
 * the input's length. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define GI_RULES_MAX 10000   /* rules kept from one file; the rest are dropped */
#define GI_RULE_MAX 1024     /* bytes of one rule; longer lines are ignored */
#define GI_SEGMENTS_MAX 128  /* path components a glob compares */

struct gi_rule {
    char *glob;    /* without '!', the trailing '/' and a leading '/' */
    bool neg;      /* "!x": re-include */
    bool dir_only; /* "x/": directories only */
    bool anchored; /* contained a '/': matched against the whole relative path */
};

struct gi_list {
    struct gi_rule *v;
    size_t n;
};

enum gi_verdict { GI_NONE = 0, GI_IGNORE, GI_KEEP };

/* One glob component against one name: '*', '?', "[a-z]", "[!x]", "\x". */
bool gi_name_match(const char *pat, size_t plen, const char *s, size_t slen);
/* A slash-separated glob against a slash-separated relative path; a "**"
 * component matches any number of components (a trailing one at least one). */
bool gi_path_match(const char *pat, const char *path);

/* Parses one line: 1 with *ret filled, 0 for a blank line or a comment,
 * -ENOMEM. */
int gi_rule_parse(const char *line, size_t len, struct gi_rule *ret);
void gi_rule_done(struct gi_rule *r);
enum gi_verdict gi_rule_match(const struct gi_rule *r, const char *rel, bool is_dir);

/* Parses a whole .gitignore file's text. */
int gi_list_parse(const char *text, size_t len, struct gi_list *ret);
void gi_list_done(struct gi_list *l);
/* The verdict of the last rule that matches rel (relative to the file's
 * directory), as git decides it. */
enum gi_verdict gi_list_match(const struct gi_list *l, const char *rel, bool is_dir);

/* One .gitignore in force during a walk, seen from the walk's root. Paths
 * are relative to the root; the file's rules want them relative to its own
 * directory: for a directory inside the tree, drop the first skip bytes
 * ("sub/"); for one above the root, put prefix and a '/' in front ("src"
 * for the root /repo/src and the file /repo/.gitignore). */
struct gi_scope {
    const struct gi_list *rules; /* may be NULL or empty */
    size_t skip;
    const char *prefix;          /* NULL inside the tree */
    bool repo_top;               /* its directory holds a .git */
};

/* The verdict for rel under scopes v[0..n), ordered from the outermost
 * directory to the deepest, as git and ripgrep decide it: the deepest file
 * with an opinion wins, and no file above the nearest repository top
 * (a scope with repo_top) counts. */
enum gi_verdict gi_scopes_match(const struct gi_scope *v, size_t n, const char *rel, bool is_dir);
