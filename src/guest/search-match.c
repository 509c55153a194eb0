/* Finding matching lines fast. Most lines of most files cannot match: every
 * match of a pattern like `(?i)spin_?lock` contains "pin" and "loc" in some
 * case. We read the pattern conservatively for such a required literal,
 * look for it 16 bytes at a time, and run PCRE2 only where it occurs, with
 * an offset limit so PCRE2 never scans on past that line. Where we cannot
 * be sure what the pattern means, we give up and PCRE2 scans everything,
 * as before. The results are the same either way: see the argument above
 * search_matcher_next(). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "search-match.h"

#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "base/macro.h"

#define LIT_MAX 32           /* bytes of the literal we scan for */
#define JIT_STACK_MAX (1u << 20)
/* A buffer whose candidates come on average closer together than this is
 * left to PCRE2 alone from then on: a PCRE2 call per candidate line costs
 * about what PCRE2 spends scanning this many bytes itself. */
#define DENSE_GAP 1024
#define DENSE_AFTER 4        /* candidates seen before judging */

/* How common each byte is in source code (C, Python, Perl, JavaScript),
 * as a rank: 0 the rarest, 255 the most common (the space). Scanning for
 * the rarest bytes of the literal means fewer false candidates. */
static const uint8_t byte_rank[256] = {
    0,   1,   2,   3,   4,   5,   6,   84,  7,   235, 248, 8,   143, 9,   10,  11,
    12,  13,  14,  15,  16,  17,  18,  19,  20,  21,  22,  23,  24,  25,  26,  27,
    255, 178, 223, 203, 189, 162, 179, 214, 236, 237, 197, 172, 233, 204, 232, 211,
    229, 210, 205, 193, 188, 194, 191, 187, 190, 192, 230, 215, 180, 227, 202, 167,
    164, 225, 196, 220, 198, 231, 199, 185, 183, 221, 163, 173, 218, 195, 216, 217,
    207, 165, 209, 228, 226, 186, 174, 169, 176, 171, 161, 182, 184, 181, 160, 245,
    170, 247, 219, 243, 242, 254, 239, 224, 234, 246, 175, 213, 244, 238, 251, 249,
    240, 168, 252, 250, 253, 241, 206, 208, 212, 222, 166, 201, 177, 200, 159, 28,
    157, 120, 121, 96,  105, 113, 138, 136, 119, 133, 131, 132, 103, 92,  81,  86,
    106, 91,  87,  144, 153, 102, 108, 90,  146, 156, 109, 99,  154, 155, 104, 152,
    140, 118, 130, 93,  137, 128, 147, 110, 95,  126, 148, 145, 127, 122, 123, 82,
    101, 112, 141, 98,  107, 97,  94,  83,  139, 129, 116, 142, 124, 111, 115, 100,
    29,  30,  149, 151, 75,  79,  31,  32,  33,  34,  35,  36,  37,  38,  114, 134,
    88,  89,  39,  40,  41,  42,  43,  85,  44,  45,  46,  47,  72,  48,  49,  50,
    76,  135, 158, 117, 77,  73,  51,  52,  80,  74,  78,  53,  54,  55,  56,  125,
    150, 57,  58,  59,  60,  61,  62,  63,  64,  65,  66,  67,  68,  69,  70,  71,
};

/* A literal every match contains. A byte with fold 0x20 is an ASCII letter
 * that may appear in either case (byte holds it in lower case). */
struct lit {
    uint8_t byte[LIT_MAX];
    uint8_t fold[LIT_MAX];
    size_t n;
    size_t i1, i2; /* its two rarest positions, the ones scanned for */
};

struct search_matcher {
    pcre2_code *re;       /* the pattern as given */
    pcre2_code *re_limit; /* the same with PCRE2_USE_OFFSET_LIMIT, when lit.n > 0 */
    bool jit;             /* both compiled to machine code */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_match_context *mctx_limit;
    pcre2_jit_stack *stack;
    struct lit lit;
};

/* ---- Reading a required literal out of the pattern ----
 *
 * Only the top level of the pattern is read, as a sequence of items: a
 * literal character is kept when nothing makes it optional, and runs of
 * kept characters that follow each other in every match become candidate
 * literals. Groups, classes and escapes end a run. Anything we do not
 * fully understand (alternation at the top level, verbs, callouts, \G, \K,
 * extended mode, \Q inside groups, unusual escapes) means no literal: a
 * missing literal only costs speed, a wrong one would lose matches. The
 * pattern has already compiled, so it is well formed. */

struct parse {
    const char *p, *end;
    bool caseless; /* PCRE2_CASELESS as (?i) and (?-i) leave it here */
    bool quote;    /* inside \Q...\E */
    struct lit cur, best;
};

static unsigned rank_at(const struct lit *l, size_t i)
{
    uint8_t b = l->byte[i];
    if (!l->fold[i])
        return byte_rank[b];
    unsigned lo = byte_rank[b], up = byte_rank[b & ~0x20];
    return lo > up ? lo : up;
}

/* Fills i1, i2 and returns the ranks of those two positions as one score
 * (lower is rarer, so better). */
static unsigned lit_score(struct lit *l)
{
    size_t a = 0;
    for (size_t i = 1; i < l->n; i++)
        if (rank_at(l, i) < rank_at(l, a))
            a = i;
    size_t b = a == 0 ? 1 : 0;
    for (size_t i = 0; i < l->n; i++)
        if (i != a && rank_at(l, i) < rank_at(l, b))
            b = i;
    l->i1 = a;
    l->i2 = b;
    return rank_at(l, a) * 256 + rank_at(l, b);
}

static void run_end(struct parse *ps)
{
    struct lit *c = &ps->cur;
    /* One byte is what PCRE2's own start-of-match search does already. */
    if (c->n >= 2) {
        unsigned s = lit_score(c);
        if (ps->best.n == 0 || s < lit_score(&ps->best) ||
            (s == lit_score(&ps->best) && c->n > ps->best.n))
            ps->best = *c;
    }
    c->n = 0;
}

static void run_add(struct parse *ps, const uint8_t *b, size_t n)
{
    if (ps->cur.n + n > LIT_MAX)
        run_end(ps);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = b[i], fold = 0;
        if (ps->caseless && ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) {
            fold = 0x20;
            c |= 0x20;
        }
        ps->cur.byte[ps->cur.n] = c;
        ps->cur.fold[ps->cur.n] = fold;
        ps->cur.n++;
    }
}

/* Whether a literal character can be part of a scanned literal. Without
 * case, PCRE2 matches exactly its UTF-8 bytes. With case, an ASCII letter
 * matches its other case only, except that 's' also matches U+017F and
 * 'k' also matches U+212A (PCRE2's Unicode case sets), and a non-ASCII
 * character has case partners of other lengths: those end the run. A
 * newline would make the literal span lines, which the caller's line
 * arithmetic does not expect. */
static bool lit_safe(const struct parse *ps, const uint8_t *b, size_t n)
{
    if (b[0] == '\n')
        return false;
    if (!ps->caseless)
        return true;
    if (n > 1)
        return false;
    uint8_t c = b[0] | 0x20;
    return c != 's' && c != 'k';
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(char c)
{
    return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Skips a character class starting at '['; -1 when unsure where it ends. */
static int skip_class(struct parse *ps)
{
    const char *p = ps->p + 1, *end = ps->end;
    if (p < end && *p == '^')
        p++;
    if (p < end && *p == ']')
        p++; /* a ']' first is a member */
    while (p < end) {
        if (*p == '\\') {
            /* \c takes the next character whatever it is, and \Q..\E can
             * hide a ']': both are too rare to be worth reading here. */
            if (p + 1 >= end || strchr("QEc", p[1]))
                return -1;
            p += 2;
        } else if (*p == '[' && p + 1 < end && strchr(":.=", p[1])) {
            const char *r = p + 2;
            while (r < end && (((*r | 0x20) >= 'a' && (*r | 0x20) <= 'z') || *r == '^'))
                r++;
            if (r + 1 >= end || *r != p[1] || r[1] != ']')
                return -1;
            p = r + 2;
        } else if (*p == ']') {
            ps->p = p + 1;
            return 0;
        } else {
            p++;
        }
    }
    return -1;
}

/* Whether "(?" at p opens something that changes how the rest is read
 * (extended mode, a comment that may hold parentheses, a callout). */
static bool group_unsafe(const char *p, const char *end)
{
    if (p + 2 >= end || p[1] != '?')
        return p + 1 < end && p[1] == '*'; /* verbs: (*ACCEPT), (*COMMIT), (*UTF)... */
    const char *r = p + 2;
    if (*r == '#' || *r == 'C')
        return true;
    while (r < end && strchr("^imnsxJU-", *r)) {
        if (*r == 'x')
            return true;
        r++;
    }
    return false;
}

/* Skips a group starting at '(' with everything nested in it. */
static int skip_group(struct parse *ps)
{
    const char *p = ps->p, *end = ps->end;
    size_t depth = 0;
    while (p < end) {
        if (*p == '\\') {
            if (p + 1 >= end || strchr("QEcGK", p[1]))
                return -1;
            p += 2;
        } else if (*p == '[') {
            ps->p = p;
            if (skip_class(ps) < 0)
                return -1;
            p = ps->p;
        } else if (*p == '(') {
            if (group_unsafe(p, end))
                return -1;
            depth++;
            p++;
        } else if (*p == ')') {
            p++;
            if (--depth == 0) {
                ps->p = p;
                return 0;
            }
        } else {
            p++;
        }
    }
    return -1;
}

/* Whether p starts "{digits, commas, spaces}" with a digit: what PCRE2
 * (any version) may take as a quantifier. Sets *ret_end past the '}'. */
static bool brace_quant(const char *p, const char *end, const char **ret_end)
{
    bool digit = false;
    const char *r = p + 1;
    while (r < end && (is_digit(*r) || *r == ',' || *r == ' ')) {
        digit |= is_digit(*r);
        r++;
    }
    if (r >= end || *r != '}' || !digit)
        return false;
    *ret_end = r + 1;
    return true;
}

/* Reads a quantifier after an item: 1 with *min (the fewest repeats), or 0
 * when none follows. When unsure of the minimum, 0 is the safe answer. */
static int quantifier(struct parse *ps, unsigned *min)
{
    const char *p = ps->p, *end = ps->end;
    if (p >= end)
        return 0;
    if (*p == '*' || *p == '?') {
        *min = 0;
        p++;
    } else if (*p == '+') {
        *min = 1;
        p++;
    } else if (*p == '{') {
        const char *q;
        if (!brace_quant(p, end, &q))
            return 0;
        const char *d = p + 1;
        while (*d == ' ')
            d++;
        *min = is_digit(*d) && *d != '0' ? 1 : 0;
        p = q;
    } else {
        return 0;
    }
    if (p < end && (*p == '?' || *p == '+'))
        p++;
    ps->p = p;
    return 1;
}

enum item { ITEM_NONE, ITEM_OTHER, ITEM_LITERAL };

/* Length of the UTF-8 character whose first byte is c (the pattern is
 * valid UTF-8: PCRE2 checked it). */
static size_t utf8_len(uint8_t c)
{
    return c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
}

/* Reads one item at ps->p: a literal character (into b, *n), some other
 * item, or nothing (an option setting, \Q, \E); -1 to give up. */
static int item(struct parse *ps, uint8_t b[4], size_t *n)
{
    const char *p = ps->p, *end = ps->end;
    uint8_t c = (uint8_t)*p;
    if (ps->quote) {
        if (c == '\\' && p + 1 < end && p[1] == 'E') {
            ps->quote = false;
            ps->p = p + 2;
            /* A quantifier after \E applies to the last quoted character,
             * which is already kept: give up rather than undo it. */
            return ps->p < end && strchr("*+?{", *ps->p) ? -1 : ITEM_NONE;
        }
    } else if (c == '\\') {
        if (p + 1 >= end)
            return -1;
        char d = p[1];
        if (d == 'Q') {
            ps->quote = true;
            ps->p = p + 2;
            return ITEM_NONE;
        }
        if ((uint8_t)d >= 0x80)
            return -1;
        if (!is_alnum(d)) {
            b[0] = (uint8_t)d; /* an escaped punctuation character or space */
            *n = 1;
            ps->p = p + 2;
            return ITEM_LITERAL;
        }
        if (strchr("dDwWsShHvVRXbBAZzC", d)) {
            ps->p = p + 2;
            return ITEM_OTHER;
        }
        if (d == 'N' && !(p + 2 < end && p[2] == '{')) {
            ps->p = p + 2;
            return ITEM_OTHER;
        }
        if (d == 'p' || d == 'P') {
            if (p + 2 < end && p[2] == '{') {
                const char *r = memchr(p, '}', (size_t)(end - p));
                if (!r)
                    return -1;
                ps->p = r + 1;
            } else {
                if (p + 2 >= end)
                    return -1;
                ps->p = p + 3;
            }
            return ITEM_OTHER;
        }
        /* \x, \o, \c, octal, back references, \G, \E, and \K, which moves
         * the reported start of a match (perhaps onto a later line) away
         * from where it really starts. */
        return -1;
    } else if (c == '[') {
        return skip_class(ps) < 0 ? -1 : ITEM_OTHER;
    } else if (c == '(') {
        if (group_unsafe(p, end))
            return -1;
        if (p + 1 < end && p[1] == '?') {
            /* An option setting, "(?i)", "(?-i)", "(?^)": at the top level
             * it lasts to the end of the pattern. */
            const char *r = p + 2;
            bool on = true, ci = ps->caseless;
            if (r < end && *r == '^') {
                ci = false;
                r++;
            }
            while (r < end && strchr("imnsJU-", *r)) {
                if (*r == '-')
                    on = false;
                else if (*r == 'i')
                    ci = on;
                r++;
            }
            if (r < end && *r == ')' && r > p + 2) {
                ps->caseless = ci;
                ps->p = r + 1;
                return ps->p < end && strchr("*+?{", *ps->p) ? -1 : ITEM_NONE;
            }
        }
        return skip_group(ps) < 0 ? -1 : ITEM_OTHER;
    } else if (c == ')' || c == '|' || c == '*' || c == '+' || c == '?') {
        return -1; /* alternation at the top level; nothing else gets here */
    } else if (c == '.' || c == '^' || c == '$') {
        ps->p = p + 1;
        return ITEM_OTHER;
    } else if (c == '{') {
        const char *q;
        if (brace_quant(p, end, &q))
            return -1;
    }
    size_t len = utf8_len(c);
    if ((size_t)(end - p) < len)
        return -1;
    memcpy(b, p, len);
    *n = len;
    ps->p = p + len;
    return ITEM_LITERAL;
}

/* The best literal of the pattern into *ret (n == 0 when there is none). */
static void extract(const char *pattern, bool caseless, struct lit *ret)
{
    struct parse ps = {.p = pattern, .end = pattern + strlen(pattern), .caseless = caseless};
    while (ps.p < ps.end) {
        uint8_t b[4];
        size_t n = 0;
        int k = item(&ps, b, &n);
        if (k < 0) {
            *ret = (struct lit){0};
            return;
        }
        if (k == ITEM_NONE)
            continue;
        unsigned min = 1;
        int q = ps.quote ? 0 : quantifier(&ps, &min);
        if (k == ITEM_LITERAL && min >= 1 && lit_safe(&ps, b, n))
            run_add(&ps, b, n);
        else
            q = 1;
        /* A repeated character is kept, but what follows it in the
         * pattern need not follow it directly in the text. */
        if (q)
            run_end(&ps);
    }
    run_end(&ps);
    *ret = ps.best;
    if (ret->n)
        lit_score(ret);
}

/* ---- Scanning for the literal ---- */

typedef uint8_t v16 __attribute__((vector_size(16)));
typedef uint64_t v2x64 __attribute__((vector_size(16)));

static v16 splat(uint8_t b)
{
    v16 v;
    memset(&v, b, sizeof(v));
    return v;
}

/* One bit per lane of a comparison result (lanes are 0 or 0xff). */
static uint32_t lanes(v16 m)
{
#ifdef __SSE2__
    return (uint32_t)__builtin_ia32_pmovmskb128((__attribute__((vector_size(16))) char)m);
#else
    uint32_t bits = 0;
    for (unsigned k = 0; k < 16; k++)
        bits |= (uint32_t)(m[k] & 1) << k;
    return bits;
#endif
}

static bool lit_at(const struct lit *l, const uint8_t *s)
{
    for (size_t i = 0; i < l->n; i++)
        if ((s[i] | l->fold[i]) != l->byte[i])
            return false;
    return true;
}

/* The first occurrence of the literal in [p, p + n), or NULL. Compares
 * its two rarest bytes at 16 positions at once with the compiler's vector
 * extension (SSE2 on x86-64, NEON on arm64), then checks candidates. */
static const char *lit_find(const struct lit *l, const char *p, size_t n)
{
    if (n < l->n)
        return NULL;
    const uint8_t *s = (const uint8_t *)p, *last = s + (n - l->n);
    size_t i1 = l->i1, i2 = l->i2;
    v16 c1 = splat(l->byte[i1]), f1 = splat(l->fold[i1]);
    v16 c2 = splat(l->byte[i2]), f2 = splat(l->fold[i2]);
    /* Each load reads s + i .. s + i + 63 <= last + l->n - 1, in bounds.
     * Four vectors a turn keep the loop's branch out of the way. */
    while (last - s >= 63) {
        v16 m[4];
        for (size_t j = 0; j < 4; j++) {
            v16 a, b;
            memcpy(&a, s + 16 * j + i1, sizeof(a));
            memcpy(&b, s + 16 * j + i2, sizeof(b));
            m[j] = (v16)(((a | f1) == c1) & ((b | f2) == c2));
        }
        v2x64 w = (v2x64)(m[0] | m[1] | m[2] | m[3]);
        if (w[0] | w[1]) {
            uint64_t bits = 0;
            for (size_t j = 0; j < 4; j++)
                bits |= (uint64_t)lanes(m[j]) << (16 * j);
            for (; bits; bits &= bits - 1) {
                size_t k = (size_t)__builtin_ctzll(bits);
                if (lit_at(l, s + k))
                    return (const char *)s + k;
            }
        }
        s += 64;
    }
    for (; s <= last; s++)
        if (lit_at(l, s))
            return (const char *)s;
    return NULL;
}

/* ---- The matcher ---- */

void search_matcher_free(struct search_matcher *m)
{
    if (!m)
        return;
    pcre2_match_data_free(m->md);
    pcre2_match_context_free(m->mctx);
    pcre2_match_context_free(m->mctx_limit);
    pcre2_jit_stack_free(m->stack);
    pcre2_code_free(m->re);
    pcre2_code_free(m->re_limit);
    free(m);
}

static int compile(const char *pattern, uint32_t opts, pcre2_code **ret, bool *jit,
                   struct runra_err **err)
{
    int code;
    PCRE2_SIZE off;
    pcre2_code *re =
        pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, opts, &code, &off, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof(msg));
        return err_set(err, EINVAL, "invalid regex at offset %zu: %s", (size_t)off, (char *)msg);
    }
    /* JIT needs executable memory; where that is refused the interpreter
     * gives the same answers, only slower. */
    if (pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) != 0)
        *jit = false;
    *ret = re;
    return 0;
}

int search_matcher_new(const char *pattern, bool ignore_case, struct search_matcher **ret,
                       struct runra_err **err)
{
    _cleanup_(search_matcher_freep) struct search_matcher *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    uint32_t opts = PCRE2_MULTILINE | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF;
    if (ignore_case)
        opts |= PCRE2_CASELESS;
    m->jit = true;
    int r = compile(pattern, opts, &m->re, &m->jit, err);
    if (r < 0)
        return r;
    extract(pattern, ignore_case, &m->lit);
    /* Where every match starts with one byte, PCRE2 looks for that byte
     * with SIMD itself; a literal no rarer than it would only add work. */
    uint32_t type = 0, first = 0;
    if (m->lit.n > 0 && pcre2_pattern_info(m->re, PCRE2_INFO_FIRSTCODETYPE, &type) == 0 &&
        type == 1 && pcre2_pattern_info(m->re, PCRE2_INFO_FIRSTCODEUNIT, &first) == 0 &&
        first < 256 && byte_rank[first] <= rank_at(&m->lit, m->lit.i1))
        m->lit.n = 0;
    if (m->lit.n > 0 &&
        (r = compile(pattern, opts | PCRE2_USE_OFFSET_LIMIT, &m->re_limit, &m->jit, err)) < 0)
        return r;
    if (m->jit && !(m->stack = pcre2_jit_stack_create(32 * 1024, JIT_STACK_MAX, NULL)))
        return -ENOMEM;
    m->mctx = pcre2_match_context_create(NULL);
    m->mctx_limit = pcre2_match_context_create(NULL);
    m->md = pcre2_match_data_create_from_pattern(m->re, NULL);
    if (!m->mctx || !m->mctx_limit || !m->md)
        return -ENOMEM;
    if (m->stack) {
        pcre2_jit_stack_assign(m->mctx, NULL, m->stack);
        pcre2_jit_stack_assign(m->mctx_limit, NULL, m->stack);
    }
    *ret = TAKE_PTR(m);
    return 0;
}

void search_matcher_literal(const struct search_matcher *m, char *out, size_t cap)
{
    if (cap == 0)
        return;
    size_t n = m->lit.n < cap ? m->lit.n : cap - 1;
    memcpy(out, m->lit.byte, n);
    out[n] = '\0';
}

static int match(const struct search_matcher *m, bool limit, const char *s, size_t len,
                 size_t off)
{
    pcre2_code *re = limit ? m->re_limit : m->re;
    pcre2_match_context *mctx = limit ? m->mctx_limit : m->mctx;
    /* Straight into the machine code when there is some: the subject needs
     * no checks (invalid UTF-8 is handled while matching). */
    if (m->jit)
        return pcre2_jit_match(re, (PCRE2_SPTR)s, len, off, 0, m->md, mctx);
    return pcre2_match(re, (PCRE2_SPTR)s, len, off, 0, m->md, mctx);
}

/* Why the prefilter gives the same lines as PCRE2 alone. c->off is always
 * a line start. Let q be the first occurrence of the literal at or after
 * it. A match that starts on a line before q's cannot lie within its line
 * (every match contains the literal), so PCRE2 alone would find it, see it
 * run past its line, fail to match within that line and go on from the
 * next line start: nothing before q's line is reported. Starting PCRE2 at
 * q's line start is therefore the same, and bounding where its match may
 * start to the end of q's line only stops it from scanning beyond a line
 * where it found nothing, which the next occurrence of the literal then
 * takes up. \G, \K, verbs and callouts, which could tell the difference,
 * make extract() give up. Switching to PCRE2 alone (c->plain) happens at a
 * line start, where the two agree. The one difference: PCRE2 no longer runs
 * on lines without the literal, so it cannot hit its match limit there and
 * mark the search truncated for them. */
int search_matcher_next(struct search_matcher *m, const char *buf, size_t len,
                        struct search_cursor *c, struct search_line *ret)
{
    while (c->off <= len) {
        bool limited = !c->plain && m->lit.n > 0;
        size_t cand_end = 0;
        if (limited) {
            const char *q = lit_find(&m->lit, buf + c->off, len - c->off);
            if (!q)
                break;
            const char *nl = memrchr(buf + c->off, '\n', (size_t)(q - buf) - c->off);
            size_t ls = nl ? (size_t)(nl - buf) + 1 : c->off;
            nl = memchr(q, '\n', (size_t)(buf + len - q));
            cand_end = nl ? (size_t)(nl - buf) : len;
            c->cand++;
            c->cand_bytes += ls - c->off;
            if (c->cand >= DENSE_AFTER && c->cand_bytes / c->cand < DENSE_GAP)
                c->plain = true; /* from the next round on */
            c->off = ls;
            pcre2_set_offset_limit(m->mctx_limit, cand_end);
        }
        int rc = match(m, limited, buf, len, c->off);
        if (rc == PCRE2_ERROR_NOMATCH) {
            if (!limited)
                break;
            c->off = cand_end + 1;
            continue;
        }
        if (rc < 0)
            return -E2BIG; /* match or JIT stack limits */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
        size_t ms = ov[0], me = ov[1];
        if (ms == len && len > 0 && buf[len - 1] == '\n')
            break; /* the empty "line" after the final newline */
        const char *nl = ms > 0 ? memrchr(buf, '\n', ms) : NULL;
        size_t ls = nl ? (size_t)(nl - buf) + 1 : 0;
        nl = memchr(buf + ms, '\n', len - ms);
        size_t le = nl ? (size_t)(nl - buf) : len;
        if (me > le && ms < le) {
            /* The match ran past the line (\s, [^x]): ask again within it,
             * since results are lines. */
            rc = match(m, false, buf + ls, le - ls, ms - ls);
            if (rc < 0) {
                c->off = le + 1;
                continue;
            }
            ms = ls + pcre2_get_ovector_pointer(m->md)[0];
        } else if (me > le) {
            /* A match that starts on the newline itself belongs to no line. */
            c->off = le + 1;
            continue;
        }
        *ret = (struct search_line){.start = ls, .end = le, .match = ms};
        c->off = le + 1;
        return 1;
    }
    c->off = len + 1;
    return 0;
}
