/* The .gitignore matcher: name globs, "**", anchoring, directory-only rules,
 * negation and the last-rule-wins order; the chain of files a walk has in
 * force, from above the root down, and where a repository's top ends it. */
#include <stdlib.h>

#include "guest/gitignore.h"
#include "test.h"

static bool nm(const char *p, const char *s) { return gi_name_match(p, strlen(p), s, strlen(s)); }

static void test_name_globs(void)
{
    CHECK(nm("*.c", "main.c"));
    CHECK(!nm("*.c", "main.h"));
    CHECK(nm("a?c", "abc"));
    CHECK(nm("[a-c]x", "bx"));
    CHECK(!nm("[!a-c]x", "bx"));
    CHECK(nm("\\*x", "*x"));
    CHECK(!nm("\\*x", "ax"));
    CHECK(nm("*", ""));
    CHECK(nm("a*b*c", "aXXbYYc"));
    CHECK(!nm("a*b*c", "aXXbYY"));
    CHECK(nm("[x", "[x")); /* an unclosed bracket is literal */
    /* Many stars over a long name stay fast (no exponential backtracking). */
    CHECK(!nm("*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
}

static void test_path_globs(void)
{
    CHECK(gi_path_match("src/*.c", "src/main.c"));
    CHECK(!gi_path_match("src/*.c", "src/sub/main.c"));
    CHECK(gi_path_match("**/foo", "foo"));
    CHECK(gi_path_match("**/foo", "a/b/foo"));
    CHECK(gi_path_match("a/**/b", "a/b"));
    CHECK(gi_path_match("a/**/b", "a/x/y/b"));
    CHECK(!gi_path_match("a/**/b", "a/x/y/c"));
    CHECK(gi_path_match("dir/**", "dir/x"));
    CHECK(gi_path_match("dir/**", "dir/x/y"));
    CHECK(!gi_path_match("dir/**", "dir"));
}

static enum gi_verdict list_match(const char *text, const char *rel, bool dir)
{
    struct gi_list l = {0};
    CHECK(gi_list_parse(text, strlen(text), &l) == 0);
    enum gi_verdict v = gi_list_match(&l, rel, dir);
    gi_list_done(&l);
    return v;
}

static void test_rules(void)
{
    struct gi_rule r;
    CHECK(gi_rule_parse("# comment", 9, &r) == 0);
    CHECK(gi_rule_parse("   ", 3, &r) == 0);
    CHECK(gi_rule_parse("!/build/", 8, &r) == 1);
    CHECK(r.neg && r.anchored && r.dir_only);
    CHECK_STREQ(r.glob, "build");
    gi_rule_done(&r);
    CHECK(gi_rule_parse("\\#x", 3, &r) == 1);
    CHECK_STREQ(r.glob, "#x");
    gi_rule_done(&r);

    CHECK(list_match("*.log\n", "a/b/x.log", false) == GI_IGNORE);
    CHECK(list_match("*.log\n!keep.log\n", "keep.log", false) == GI_KEEP);
    CHECK(list_match("*.log\n!keep.log\n*.log\n", "keep.log", false) == GI_IGNORE);
    CHECK(list_match("build/\n", "build", true) == GI_IGNORE);
    CHECK(list_match("build/\n", "build", false) == GI_NONE);
    CHECK(list_match("build/\n", "src/build", true) == GI_IGNORE);
    CHECK(list_match("/build\n", "src/build", true) == GI_NONE);
    CHECK(list_match("/build\n", "build", false) == GI_IGNORE);
    CHECK(list_match("doc/*.txt\n", "doc/a.txt", false) == GI_IGNORE);
    CHECK(list_match("doc/*.txt\n", "x/doc/a.txt", false) == GI_NONE);
    CHECK(list_match("**/tmp\r\n", "a/b/tmp", true) == GI_IGNORE);
    CHECK(list_match("", "x", false) == GI_NONE);
}

static struct gi_list parse(const char *text)
{
    struct gi_list l = {0};
    CHECK(gi_list_parse(text, strlen(text), &l) == 0);
    return l;
}

/* A search of /r/src with .gitignore files in /r (the repository's top, so
 * its rules see "src/..."), in /r/src (the root) and in /r/src/sub. */
static void test_scopes(void)
{
    struct gi_list top = parse("*.log\nbuild/\n/src/top.txt\nsrc/gen/\n!/src/keep.log\n");
    struct gi_list root = parse("!y.log\n");
    struct gi_list sub = parse("*.c\n");
    struct gi_scope v[] = {
        {.rules = &top, .prefix = "src", .repo_top = true},
        {.rules = &root},
        {.rules = &sub, .skip = 4}, /* "sub/" */
    };
    CHECK(gi_scopes_match(v, 2, "x.log", false) == GI_IGNORE);
    CHECK(gi_scopes_match(v, 2, "keep.log", false) == GI_KEEP);
    CHECK(gi_scopes_match(v, 2, "y.log", false) == GI_KEEP); /* the deeper file wins */
    CHECK(gi_scopes_match(v, 2, "top.txt", false) == GI_IGNORE);
    CHECK(gi_scopes_match(v, 3, "sub/top.txt", false) == GI_NONE); /* anchored at /r */
    CHECK(gi_scopes_match(v, 2, "gen", true) == GI_IGNORE);
    CHECK(gi_scopes_match(v, 2, "gen", false) == GI_NONE);
    CHECK(gi_scopes_match(v, 3, "sub/gen", true) == GI_NONE);
    CHECK(gi_scopes_match(v, 3, "sub/build", true) == GI_IGNORE);
    CHECK(gi_scopes_match(v, 3, "sub/a.c", false) == GI_IGNORE);
    CHECK(gi_scopes_match(v, 2, "a.c", false) == GI_NONE);
    CHECK(gi_scopes_match(v, 0, "x.log", false) == GI_NONE);

    /* A repository nested in the tree: nothing above its top applies. */
    v[2] = (struct gi_scope){.rules = NULL, .skip = 4, .repo_top = true};
    CHECK(gi_scopes_match(v, 3, "sub/x.log", false) == GI_NONE);
    v[2].rules = &sub;
    CHECK(gi_scopes_match(v, 3, "sub/a.c", false) == GI_IGNORE);
    CHECK(gi_scopes_match(v, 3, "sub/x.log", false) == GI_NONE);

    /* Inside the repository's top, the walk's own root stops the chain. */
    v[1].repo_top = true;
    CHECK(gi_scopes_match(v, 2, "x.log", false) == GI_NONE);
    CHECK(gi_scopes_match(v, 2, "y.log", false) == GI_KEEP);
    gi_list_done(&top);
    gi_list_done(&root);
    gi_list_done(&sub);
}

TEST_MAIN(TEST(test_name_globs), TEST(test_path_globs), TEST(test_rules), TEST(test_scopes))
