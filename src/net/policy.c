/* Egress policy: the rule syntax, the spec's "network" object, and the one
 * pure decision. Rules and JSON come from the API caller and are parsed
 * strictly; the names, addresses and ports handed to net_decide come from the
 * sandbox (through the proxy and the resolver), so nothing about them is
 * trusted beyond their types: names are compared case-insensitively and
 * IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry. */
#include "policy.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define LABEL_MAX 63

/* The fixed always-denied set. A connection to any of these reaches the
 * host, its LAN, the cloud's metadata service or something that is not a
 * unicast destination on the internet; only an allow rule naming an address
 * inside one of them opens it (see explicitly_allowed). */
const struct net_cidr net_always_denied[] = {
    {{AF_INET, {0, 0, 0, 0}}, 8, "this network"},
    {{AF_INET, {10, 0, 0, 0}}, 8, "private range"},
    {{AF_INET, {100, 64, 0, 0}}, 10, "shared address space (CGNAT)"},
    {{AF_INET, {127, 0, 0, 0}}, 8, "loopback"},
    {{AF_INET, {169, 254, 0, 0}}, 16, "link-local (metadata)"},
    {{AF_INET, {172, 16, 0, 0}}, 12, "private range"},
    {{AF_INET, {192, 168, 0, 0}}, 16, "private range"},
    {{AF_INET, {224, 0, 0, 0}}, 4, "multicast"},
    {{AF_INET, {240, 0, 0, 0}}, 4, "reserved and broadcast"},
    {{AF_INET6, {0}}, 128, "unspecified address"},
    {{AF_INET6, {[15] = 1}}, 128, "loopback"},
    {{AF_INET6, {0xfe, 0x80}}, 10, "link-local"},
    {{AF_INET6, {0xfc, 0x00}}, 7, "unique local"},
    {{AF_INET6, {0xff, 0x00}}, 8, "multicast"},
};
const size_t net_always_denied_n = ARRAY_SIZE(net_always_denied);

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_ldh(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-';
}

/* Checks n bytes of s as a DNS name without a trailing dot. Returns NULL
 * when valid, else what is wrong, for an error message. */
static const char *name_problem(const char *s, size_t n)
{
    if (n == 0)
        return "empty name";
    if (n > NET_NAME_MAX)
        return "name longer than 253 bytes";
    size_t start = 0;
    bool numeric = true;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!is_ldh(s[i]))
                return s[i] == '*' ? "'*' may only lead a rule, as in '*.example.org'"
                                   : "names hold only letters, digits, '-' and '.'";
            continue;
        }
        size_t len = i - start;
        if (len == 0)
            return "empty label";
        if (len > LABEL_MAX)
            return "label longer than 63 bytes";
        if (s[start] == '-' || s[i - 1] == '-')
            return "a label must not start or end with '-'";
        numeric = true;
        for (size_t k = start; k < i; k++)
            numeric = numeric && is_digit(s[k]);
        start = i + 1;
    }
    /* A name whose last label is all digits reads as an IPv4 address
     * ("10.0.0.300"); resolvers and URL parsers disagree on what it means,
     * so it is refused rather than matched as a name. */
    if (numeric)
        return "the last label is all digits: neither a valid address nor a name";
    return NULL;
}

int net_name_normalize(char *name)
{
    size_t n = strlen(name);
    if (n > 0 && name[n - 1] == '.')
        n--;
    if (name_problem(name, n))
        return -EINVAL;
    for (size_t i = 0; i < n; i++)
        name[i] = lower(name[i]);
    name[n] = '\0';
    return 0;
}

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) reaches the IPv4 address it
 * carries, so it is judged as that address everywhere. */
static bool is_mapped(const struct net_addr *a)
{
    static const uint8_t pfx[12] = {[10] = 0xff, [11] = 0xff};
    return a->family == AF_INET6 && !memcmp(a->a, pfx, sizeof(pfx));
}

static void unmap(struct net_addr *a)
{
    if (!is_mapped(a))
        return;
    memmove(a->a, a->a + 12, 4);
    memset(a->a + 4, 0, 12);
    a->family = AF_INET;
}

static int addr_parse(const char *s, struct net_addr *ret)
{
    struct net_addr a = {0};
    if (inet_pton(AF_INET, s, a.a) == 1)
        a.family = AF_INET;
    else if (inet_pton(AF_INET6, s, a.a) == 1)
        a.family = AF_INET6;
    else
        return -EINVAL;
    *ret = a;
    return 0;
}

int net_addr_parse(const char *s, struct net_addr *ret)
{
    struct net_addr a;
    if (addr_parse(s, &a) < 0)
        return -EINVAL;
    unmap(&a);
    *ret = a;
    return 0;
}

void net_addr_format(const struct net_addr *a, char *out, size_t n)
{
    if (n == 0)
        return;
    if ((a->family != AF_INET && a->family != AF_INET6) ||
        !inet_ntop(a->family, a->a, out, (socklen_t)(n > INT32_MAX ? INT32_MAX : n)))
        snprintf(out, n, "?");
}

static unsigned family_bits(int family) { return family == AF_INET ? 32 : 128; }

/* True when the bits of a past prefix are all zero. */
static bool host_bits_clear(const struct net_addr *a, unsigned prefix)
{
    for (unsigned bit = prefix; bit < family_bits(a->family); bit++)
        if (a->a[bit / 8] & (0x80 >> (bit % 8)))
            return false;
    return true;
}

/* A mapped prefix of at least 96 bits is the IPv4 prefix it embeds. */
static void unmap_prefix(struct net_addr *a, unsigned *prefix)
{
    if (is_mapped(a) && *prefix >= 96) {
        unmap(a);
        *prefix -= 96;
    }
}

bool net_addr_in(const struct net_addr *a, const struct net_addr *net, uint8_t prefix)
{
    struct net_addr x = *a, n = *net;
    unsigned p = prefix;
    unmap(&x);
    unmap_prefix(&n, &p);
    if ((x.family != AF_INET && x.family != AF_INET6) || x.family != n.family ||
        p > family_bits(x.family))
        return false;
    unsigned full = p / 8, rest = p % 8;
    if (memcmp(x.a, n.a, full) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (x.a[full] & mask) == (n.a[full] & mask);
}

/* Strict decimal: 1 to max_digits digits, no sign, no spaces. */
static int parse_num(const char *s, size_t n, size_t max_digits, unsigned long *ret)
{
    if (n == 0 || n > max_digits)
        return -EINVAL;
    unsigned long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return -EINVAL;
        v = v * 10 + (unsigned long)(s[i] - '0');
    }
    *ret = v;
    return 0;
}

/* ":PORT" or ":LO-HI" (the colon already consumed), 1..65535, lo <= hi. */
static int parse_ports(const char *s, const char *text, struct net_rule *r, struct runra_err **err)
{
    const char *dash = strchr(s, '-');
    size_t n1 = dash ? (size_t)(dash - s) : strlen(s);
    unsigned long lo, hi;
    if (parse_num(s, n1, 5, &lo) < 0 || lo == 0 || lo > 65535)
        return err_set(err, EINVAL, "rule '%s': port must be a number in 1..65535", text);
    hi = lo;
    if (dash && (parse_num(dash + 1, strlen(dash + 1), 5, &hi) < 0 || hi == 0 || hi > 65535))
        return err_set(err, EINVAL, "rule '%s': port must be a number in 1..65535", text);
    if (lo > hi)
        return err_set(err, EINVAL, "rule '%s': port range %lu-%lu is empty (low above high)", text,
                       lo, hi);
    r->port_lo = (uint16_t)lo;
    r->port_hi = (uint16_t)hi;
    return 0;
}

/* "ADDR" or "ADDR/PREFIX" into a CIDR rule; v6_only when it was bracketed. */
static int parse_cidr(char *host, bool v6_only, const char *text, struct net_rule *r,
                      struct runra_err **err)
{
    char *slash = strchr(host, '/');
    if (slash)
        *slash = '\0';
    struct net_addr a;
    if (addr_parse(host, &a) < 0 || (v6_only && a.family != AF_INET6)) {
        const char *hint =
            !v6_only && strchr(host, ':') ? " (an IPv6 address takes a port as [ADDR]:PORT)" : "";
        return err_set(err, EINVAL, "rule '%s': '%s' is not an %saddress%s", text, host,
                       v6_only ? "IPv6 " : "IP ", hint);
    }
    unsigned prefix;
    if (slash) {
        unsigned long v;
        if (parse_num(slash + 1, strlen(slash + 1), 3, &v) < 0 || v > family_bits(a.family))
            return err_set(err, EINVAL, "rule '%s': prefix length must be 0..%u", text,
                           family_bits(a.family));
        prefix = (unsigned)v;
        unmap_prefix(&a, &prefix);
    } else {
        unmap(&a);
        prefix = family_bits(a.family);
    }
    /* "10.1.2.3/8" is most likely a typo for an address or for 10.0.0.0/8;
     * guessing which would widen or narrow the rule silently. */
    if (!host_bits_clear(&a, prefix))
        return err_set(err, EINVAL, "rule '%s': address has bits set past the /%u prefix", text,
                       prefix);
    r->kind = NET_RULE_CIDR;
    r->addr = a;
    r->prefix = (uint8_t)prefix;
    return 0;
}

static int parse_name(const char *host, const char *text, struct net_rule *r,
                      struct runra_err **err)
{
    bool wild = host[0] == '*' && host[1] == '.';
    const char *name = wild ? host + 2 : host;
    size_t n = strlen(name);
    if (wild && n == 0)
        return err_set(err, EINVAL, "rule '%s': a wildcard needs a domain after '*.'", text);
    if (n > 0 && name[n - 1] == '.')
        n--;
    const char *why = name_problem(name, n);
    if (why)
        return err_set(err, EINVAL, "rule '%s': %s", text, why);
    r->kind = wild ? NET_RULE_WILDCARD : NET_RULE_DOMAIN;
    for (size_t i = 0; i < n; i++)
        r->name[i] = lower(name[i]);
    r->name[n] = '\0';
    return 0;
}

int net_rule_parse(const char *s, struct net_rule *ret, struct runra_err **err)
{
    size_t len = strlen(s);
    if (len == 0)
        return err_set(err, EINVAL, "empty rule");
    if (len > NET_RULE_TEXT_MAX)
        return err_set(err, EINVAL, "rule '%.32s...' is longer than %d bytes", s,
                       NET_RULE_TEXT_MAX);
    if (strstr(s, "://"))
        return err_set(err, EINVAL, "rule '%s': write a name or address, not a URL", s);
    struct net_rule r = {0};
    memcpy(r.text, s, len + 1);
    char host[NET_RULE_TEXT_MAX + 1];
    const char *port = NULL;
    bool bracketed = s[0] == '[';
    if (bracketed) {
        const char *close = strchr(s, ']');
        if (!close)
            return err_set(err, EINVAL, "rule '%s': '[' without ']'", s);
        if (close[1] == ':')
            port = close + 2;
        else if (close[1] != '\0')
            return err_set(err, EINVAL, "rule '%s': only ':PORT' may follow ']'", s);
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
    } else {
        /* Two or more colons: an IPv6 address or prefix, which takes a port
         * only in brackets ("::1:443" is itself an address). */
        const char *colon = strchr(s, ':');
        if (colon && !strchr(colon + 1, ':')) {
            port = colon + 1;
            memcpy(host, s, (size_t)(colon - s));
            host[colon - s] = '\0';
        } else {
            memcpy(host, s, len + 1);
        }
    }
    if (port && parse_ports(port, s, &r, err) < 0)
        return -EINVAL;
    if (host[0] == '\0')
        return err_set(err, EINVAL, "rule '%s': no name or address", s);

    int e;
    struct net_addr probe;
    if (bracketed || strchr(host, '/') || strchr(host, ':') || addr_parse(host, &probe) == 0)
        e = parse_cidr(host, bracketed, s, &r, err);
    else
        e = parse_name(host, s, &r, err);
    if (e < 0)
        return e;
    *ret = r;
    return 0;
}

/* Names: both sides lowercase in practice, compared case-insensitively
 * anyway; one trailing dot on the sandbox's side is ignored. */
static size_t name_len(const char *n)
{
    size_t len = strlen(n);
    return len > 0 && n[len - 1] == '.' ? len - 1 : len;
}

static bool name_is(const char *name, const char *rule)
{
    size_t n = name_len(name);
    return n == strlen(rule) && strncasecmp(name, rule, n) == 0;
}

/* A wildcard's suffix matches names strictly below it: at least one more
 * label, separated by a dot, so "badexample.org" is not under "example.org". */
static bool name_below(const char *name, const char *suffix)
{
    size_t n = name_len(name), s = strlen(suffix);
    return n > s + 1 && name[n - s - 1] == '.' && strncasecmp(name + n - s, suffix, s) == 0;
}

/* Port 0 is a DNS question: it could be used on any port, so an allow rule
 * with a port range matches it, and a deny rule matches it only when it
 * denies every port. */
static bool port_matches(const struct net_rule *r, uint16_t port, bool deny)
{
    if (r->port_lo == 0 && r->port_hi == 0)
        return true;
    if (port == 0)
        return !deny;
    return port >= r->port_lo && port <= r->port_hi;
}

static bool rule_matches(const struct net_rule *r, const char *name, const struct net_addr *addr,
                         uint16_t port, bool deny)
{
    if (!port_matches(r, port, deny))
        return false;
    switch (r->kind) {
    case NET_RULE_DOMAIN:
        return name && name_is(name, r->name);
    case NET_RULE_WILDCARD:
        return name && name_below(name, r->name);
    case NET_RULE_CIDR:
        return addr && net_addr_in(addr, &r->addr, r->prefix);
    }
    return false;
}

/* An always-denied prefix opens only for an allow CIDR rule that lies
 * inside it and covers the address and port: "10.1.2.0/24" opens that part
 * of 10.0.0.0/8, but "0.0.0.0/0" (someone meaning "the internet") does not
 * open the host's loopback, and allowing a private range does not open a
 * narrower always-denied entry inside it (another sandbox's range). */
static bool explicitly_allowed(const struct net_policy *p, const struct net_cidr *c,
                               const struct net_addr *addr, uint16_t port)
{
    for (size_t i = 0; i < p->n_allow; i++) {
        const struct net_rule *r = &p->allow[i];
        struct net_addr ra = r->addr, ca = c->addr;
        unsigned rp = r->prefix, cp = c->prefix;
        if (r->kind != NET_RULE_CIDR)
            continue;
        unmap_prefix(&ra, &rp);
        unmap_prefix(&ca, &cp);
        if (ra.family == ca.family && rp >= cp && net_addr_in(&ra, &ca, (uint8_t)cp) &&
            rule_matches(r, NULL, addr, port, false))
            return true;
    }
    return false;
}

static void decided(struct net_decision *ret, bool allow, const char *fmt, ...) _printf_(3, 4);
static void decided(struct net_decision *ret, bool allow, const char *fmt, ...)
{
    struct net_decision d = {.allow = allow};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d.reason, sizeof(d.reason), fmt, ap);
    va_end(ap);
    *ret = d;
}

static const struct net_cidr *denied_entry(const struct net_policy *p, const struct net_cidr *extra,
                                           size_t n_extra, const struct net_addr *addr,
                                           uint16_t port)
{
    for (size_t i = 0; i < net_always_denied_n + n_extra; i++) {
        const struct net_cidr *c =
            i < net_always_denied_n ? &net_always_denied[i] : &extra[i - net_always_denied_n];
        if (net_addr_in(addr, &c->addr, c->prefix) && !explicitly_allowed(p, c, addr, port))
            return c;
    }
    return NULL;
}

void net_decide(const struct net_policy *p, const struct net_cidr *extra, size_t n_extra,
                const struct net_dest *d, struct net_decision *ret)
{
    if (p->mode != NET_MODE_ALLOWLIST && p->mode != NET_MODE_OPEN) {
        decided(ret, false, "network mode is none");
        return;
    }
    const char *name = d->name && d->name[0] ? d->name : NULL;
    struct net_addr addr = d->addr;
    unmap(&addr);
    const struct net_addr *a = addr.family == AF_INET || addr.family == AF_INET6 ? &addr : NULL;

    for (size_t i = 0; i < p->n_deny; i++)
        if (rule_matches(&p->deny[i], name, a, d->port, true)) {
            decided(ret, false, "denied by rule '%s'", p->deny[i].text);
            return;
        }
    const struct net_cidr *c = a ? denied_entry(p, extra, n_extra, a, d->port) : NULL;
    if (c) {
        char s[INET6_ADDRSTRLEN];
        net_addr_format(&c->addr, s, sizeof(s));
        decided(ret, false, "%s %s/%u", c->why ? c->why : "always denied", s, c->prefix);
        return;
    }
    if (p->mode == NET_MODE_OPEN) {
        decided(ret, true, "network mode is open");
        return;
    }
    for (size_t i = 0; i < p->n_allow; i++)
        if (rule_matches(&p->allow[i], name, a, d->port, false)) {
            decided(ret, true, "allowed by rule '%s'", p->allow[i].text);
            return;
        }
    decided(ret, false, "not in allowlist");
}

static const char *const mode_names[] = {
    [NET_MODE_NONE] = "none",
    [NET_MODE_ALLOWLIST] = "allowlist",
    [NET_MODE_OPEN] = "open",
};

static int rules_from_json(json_t *a, const char *what, struct net_rule **ret, size_t *ret_n,
                           struct runra_err **err)
{
    if (!json_is_array(a))
        return err_set(err, EINVAL, "network.%s must be an array of rule strings", what);
    size_t n = json_array_size(a);
    if (n > NET_RULES_MAX)
        return err_set(err, E2BIG, "network.%s has more than %d rules", what, NET_RULES_MAX);
    _cleanup_free_ struct net_rule *rules = NULL;
    if (n > 0 && !(rules = calloc(n, sizeof(*rules))))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(a, i);
        if (!json_is_string(v))
            return err_set(err, EINVAL, "network.%s[%zu] must be a string", what, i);
        const char *s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
            return err_set(err, EINVAL, "network.%s[%zu] holds a NUL byte", what, i);
        int r = net_rule_parse(s, &rules[i], err);
        if (r < 0)
            return err_prefix(err, "network.%s[%zu]", what, i);
    }
    *ret = TAKE_PTR(rules);
    *ret_n = n;
    return 0;
}

int net_policy_from_json(json_t *j, struct net_policy *ret, struct runra_err **err)
{
    if (!j) {
        *ret = (struct net_policy){.mode = NET_MODE_NONE};
        return 0;
    }
    if (!json_is_object(j))
        return err_set(err, EINVAL, "network must be an object");
    json_t *mode = NULL, *allow = NULL, *deny = NULL;
    json_error_t je;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s?o,s?o,s?o}", "mode", &mode, "allow", &allow, "deny",
                       &deny) < 0)
        return err_set(err, EINVAL, "invalid network: %s", je.text);
    struct net_policy p = {.mode = NET_MODE_NONE};
    if (mode) {
        const char *m = json_is_string(mode) ? json_string_value(mode) : "";
        size_t i;
        for (i = 0; i < ARRAY_SIZE(mode_names); i++)
            if (!strcmp(m, mode_names[i]) && strlen(m) == json_string_length(mode))
                break;
        if (i == ARRAY_SIZE(mode_names))
            return err_set(err, EINVAL, "network.mode must be one of none, allowlist, open");
        p.mode = (enum net_mode)i;
    }
    int r;
    if (allow && (r = rules_from_json(allow, "allow", &p.allow, &p.n_allow, err)) < 0)
        return r;
    if (deny && (r = rules_from_json(deny, "deny", &p.deny, &p.n_deny, err)) < 0) {
        net_policy_done(&p);
        return r;
    }
    /* Rules under mode none would read as if they did something. */
    if (p.mode == NET_MODE_NONE && (p.n_allow || p.n_deny)) {
        net_policy_done(&p);
        return err_set(err, EINVAL, "network.allow/deny need mode allowlist or open");
    }
    *ret = p;
    return 0;
}

static json_t *rules_to_json(const struct net_rule *rules, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(rules[i].text)) < 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *net_policy_to_json(const struct net_policy *p)
{
    if ((unsigned)p->mode >= ARRAY_SIZE(mode_names))
        return NULL;
    return json_pack("{s:s,s:o,s:o}", "mode", mode_names[p->mode], "allow",
                     rules_to_json(p->allow, p->n_allow), "deny",
                     rules_to_json(p->deny, p->n_deny));
}

static int rules_copy(const struct net_rule *rules, size_t n, struct net_rule **ret)
{
    *ret = NULL;
    if (n == 0)
        return 0;
    *ret = malloc(n * sizeof(**ret));
    if (!*ret)
        return -ENOMEM;
    memcpy(*ret, rules, n * sizeof(**ret));
    return 0;
}

int net_policy_copy(const struct net_policy *p, struct net_policy *ret)
{
    struct net_policy c = {.mode = p->mode, .n_allow = p->n_allow, .n_deny = p->n_deny};
    if (rules_copy(p->allow, p->n_allow, &c.allow) < 0 ||
        rules_copy(p->deny, p->n_deny, &c.deny) < 0) {
        net_policy_done(&c);
        return -ENOMEM;
    }
    *ret = c;
    return 0;
}

void net_policy_done(struct net_policy *p)
{
    if (!p)
        return;
    free(p->allow);
    free(p->deny);
    *p = (struct net_policy){.mode = NET_MODE_NONE};
}
