/* The .gitignore matcher: name globs, "**", anchoring, directory-only rules,
 * negation and the last-rule-wins order. */
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

TEST_MAIN(TEST(test_name_globs), TEST(test_path_globs), TEST(test_rules))
