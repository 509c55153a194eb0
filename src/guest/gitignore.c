/* The .gitignore matcher. Name globs use the classic one-backtrack-point
 * algorithm (O(n*m), never exponential); "**" is matched with a dynamic
 * programme over path components, so hostile rules cannot make it explode. */
#include "gitignore.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Matches a bracket expression at pat[*i] (just past '[') against c.
 * Returns 1 match, 0 no match, -1 malformed (then '[' is literal). */
static int bracket(const char *pat, size_t plen, size_t *i, unsigned char c)
{
    size_t k = *i;
    bool negate = false, hit = false;
    if (k < plen && (pat[k] == '!' || pat[k] == '^')) {
        negate = true;
        k++;
    }
    bool first = true;
    while (k < plen && (pat[k] != ']' || first)) {
        first = false;
        unsigned char lo = (unsigned char)pat[k];
        if (lo == '\\' && k + 1 < plen)
            lo = (unsigned char)pat[++k];
        k++;
        unsigned char hi = lo;
        if (k + 1 < plen && pat[k] == '-' && pat[k + 1] != ']') {
            hi = (unsigned char)pat[k + 1];
            if (hi == '\\' && k + 2 < plen)
                hi = (unsigned char)pat[++k + 1];
            k += 2;
        }
        if (c >= lo && c <= hi)
            hit = true;
    }
    if (k >= plen)
        return -1;
    *i = k + 1;
    return hit != negate;
}

bool gi_name_match(const char *pat, size_t plen, const char *s, size_t slen)
{
    size_t p = 0, i = 0;
    size_t star_p = SIZE_MAX, star_i = 0;
    while (i < slen) {
        if (p < plen) {
            char c = pat[p];
            if (c == '*') {
                while (p < plen && pat[p] == '*')
                    p++;
                star_p = p;
                star_i = i;
                continue;
            }
            if (c == '?') {
                p++;
                i++;
                continue;
            }
            if (c == '[') {
                size_t q = p + 1;
                int m = bracket(pat, plen, &q, (unsigned char)s[i]);
                if (m == 1) {
                    p = q;
                    i++;
                    continue;
                }
                if (m == -1 && s[i] == '[') {
                    p++;
                    i++;
                    continue;
                }
            } else {
                if (c == '\\' && p + 1 < plen)
                    c = pat[p + 1];
                if (c == s[i]) {
                    p += pat[p] == '\\' && p + 1 < plen ? 2 : 1;
                    i++;
                    continue;
                }
            }
        }
        /* Mismatch: let the last '*' swallow one more character. */
        if (star_p == SIZE_MAX)
            return false;
        p = star_p;
        i = ++star_i;
    }
    while (p < plen && pat[p] == '*')
        p++;
    return p == plen;
}

struct seg {
    const char *s;
    size_t len;
};

/* Splits at '/', dropping empty components, appending to v[*n]; false
 * past GI_SEGMENTS_MAX. */
static bool split(const char *s, struct seg *v, int *n)
{
    while (*s) {
        const char *e = strchr(s, '/');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len > 0) {
            if (*n == GI_SEGMENTS_MAX)
                return false;
            v[(*n)++] = (struct seg){s, len};
        }
        s += len;
        if (*s == '/')
            s++;
    }
    return true;
}

static bool is_globstar(const struct seg *g) { return g->len == 2 && !memcmp(g->s, "**", 2); }

/* pat against prefix/path (prefix may be NULL), as one path. */
static bool path_match(const char *pat, const char *prefix, const char *path)
{
    struct seg ps[GI_SEGMENTS_MAX], ss[GI_SEGMENTS_MAX];
    int a = 0, b = 0;
    if (!split(pat, ps, &a) || (prefix && !split(prefix, ss, &b)) || !split(path, ss, &b))
        return false;
    /* next[j]: pattern components i+1.. match path components j..;
     * cur[j]: the same from i. Computed from the end of the pattern. */
    bool row1[GI_SEGMENTS_MAX + 1], row2[GI_SEGMENTS_MAX + 1];
    bool *next = row1, *cur = row2;
    for (int j = 0; j <= b; j++)
        next[j] = j == b;
    for (int i = a - 1; i >= 0; i--) {
        bool star = is_globstar(&ps[i]);
        for (int j = b; j >= 0; j--) {
            if (star && i == a - 1) {
                /* A trailing "**" after a directory takes the rest, at least one. */
                cur[j] = j < b;
            } else if (star) {
                /* Match no component here, or take one and stay on "**". */
                cur[j] = next[j] || (j < b && cur[j + 1]);
            } else {
                cur[j] = j < b && next[j + 1] &&
                         gi_name_match(ps[i].s, ps[i].len, ss[j].s, ss[j].len);
            }
        }
        bool *t = next;
        next = cur;
        cur = t;
    }
    return next[0];
}

bool gi_path_match(const char *pat, const char *path) { return path_match(pat, NULL, path); }

void gi_rule_done(struct gi_rule *r)
{
    free(r->glob);
    *r = (struct gi_rule){0};
}

int gi_rule_parse(const char *line, size_t len, struct gi_rule *ret)
{
    struct gi_rule r = {0};
    if (len > 0 && line[len - 1] == '\r')
        len--;
    /* Trailing spaces go unless escaped with a backslash. */
    while (len > 0 && line[len - 1] == ' ' && !(len > 1 && line[len - 2] == '\\'))
        len--;
    if (len == 0 || line[0] == '#' || len > GI_RULE_MAX)
        return 0;
    if (line[0] == '!') {
        r.neg = true;
        line++;
        len--;
    } else if (line[0] == '\\' && len > 1 && (line[1] == '#' || line[1] == '!')) {
        line++;
        len--;
    }
    while (len > 0 && line[len - 1] == '/') {
        r.dir_only = true;
        len--;
    }
    if (memchr(line, '/', len))
        r.anchored = true;
    while (len > 0 && line[0] == '/') {
        line++;
        len--;
    }
    if (len == 0 || memchr(line, '\0', len))
        return 0;
    r.glob = strndup(line, len);
    if (!r.glob)
        return -ENOMEM;
    *ret = r;
    return 1;
}

/* r against prefix/rel (prefix may be NULL). */
static enum gi_verdict rule_match(const struct gi_rule *r, const char *prefix, const char *rel,
                                  bool is_dir)
{
    if (r->dir_only && !is_dir)
        return GI_NONE;
    bool hit;
    if (r->anchored) {
        hit = path_match(r->glob, prefix, rel);
    } else {
        const char *base = strrchr(rel, '/');
        base = base ? base + 1 : rel;
        if (!*rel && prefix) {
            base = strrchr(prefix, '/');
            base = base ? base + 1 : prefix;
        }
        hit = gi_name_match(r->glob, strlen(r->glob), base, strlen(base));
    }
    if (!hit)
        return GI_NONE;
    return r->neg ? GI_KEEP : GI_IGNORE;
}

enum gi_verdict gi_rule_match(const struct gi_rule *r, const char *rel, bool is_dir)
{
    return rule_match(r, NULL, rel, is_dir);
}

void gi_list_done(struct gi_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        gi_rule_done(&l->v[i]);
    free(l->v);
    *l = (struct gi_list){0};
}

int gi_list_parse(const char *text, size_t len, struct gi_list *ret)
{
    struct gi_list l = {0};
    size_t cap = 0;
    const char *p = text, *end = text + len;
    while (p < end && l.n < GI_RULES_MAX) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        struct gi_rule r;
        int k = gi_rule_parse(p, (size_t)(stop - p), &r);
        if (k < 0) {
            gi_list_done(&l);
            return k;
        }
        if (k == 1) {
            if (l.n == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct gi_rule *v = realloc(l.v, ncap * sizeof(*v));
                if (!v) {
                    gi_rule_done(&r);
                    gi_list_done(&l);
                    return -ENOMEM;
                }
                l.v = v;
                cap = ncap;
            }
            l.v[l.n++] = r;
        }
        p = nl ? nl + 1 : end;
    }
    *ret = l;
    return 0;
}

static enum gi_verdict list_match(const struct gi_list *l, const char *prefix, const char *rel,
                                  bool is_dir)
{
    for (size_t i = l->n; i-- > 0;) {
        enum gi_verdict v = rule_match(&l->v[i], prefix, rel, is_dir);
        if (v != GI_NONE)
            return v;
    }
    return GI_NONE;
}

enum gi_verdict gi_list_match(const struct gi_list *l, const char *rel, bool is_dir)
{
    return list_match(l, NULL, rel, is_dir);
}

enum gi_verdict gi_scopes_match(const struct gi_scope *v, size_t n, const char *rel, bool is_dir)
{
    for (size_t i = n; i-- > 0;) {
        const struct gi_scope *sc = &v[i];
        if (sc->rules && sc->rules->n > 0) {
            enum gi_verdict r = list_match(sc->rules, sc->prefix, rel + sc->skip, is_dir);
            if (r != GI_NONE)
                return r;
        }
        if (sc->repo_top)
            break;
    }
    return GI_NONE;
}
