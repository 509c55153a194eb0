/* Unit tests for the egress policy: every rule form and its bad twins, the
 * strict "network" JSON object, and net_decide rule by rule (deny first, the
 * always-denied set and its explicit openings, allowlist, open, DNS
 * questions, IPv4-mapped IPv6). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/policy.h"
#include "test.h"

static struct net_rule rule(const char *s)
{
    struct net_rule r;
    _cleanup_err_ struct runra_err *err = NULL;
    memset(&r, 0xa5, sizeof(r));
    if (net_rule_parse(s, &r, &err) < 0) {
        fprintf(stderr, "rule '%s': %s\n", s, err && err->msg ? err->msg : "?");
        t_cur_failed = 1;
    }
    return r;
}

static struct net_addr addr(const char *s)
{
    struct net_addr a = {0};
    if (net_addr_parse(s, &a) < 0) {
        fprintf(stderr, "address '%s' does not parse\n", s);
        t_cur_failed = 1;
    }
    return a;
}

static bool addr_is(const struct net_addr *a, const char *s)
{
    char buf[INET6_ADDRSTRLEN];
    net_addr_format(a, buf, sizeof(buf));
    return !strcmp(buf, s);
}

static void domains(void)
{
    struct net_rule r = rule("example.com");
    CHECK(r.kind == NET_RULE_DOMAIN && r.port_lo == 0 && r.port_hi == 0);
    CHECK_STREQ(r.name, "example.com");
    CHECK_STREQ(r.text, "example.com");
    r = rule("API.Anthropic.COM.");
    CHECK(r.kind == NET_RULE_DOMAIN);
    CHECK_STREQ(r.name, "api.anthropic.com");
    CHECK_STREQ(r.text, "API.Anthropic.COM."); /* as written, for listing */
    r = rule("example.com:443");
    CHECK(r.kind == NET_RULE_DOMAIN && r.port_lo == 443 && r.port_hi == 443);
    r = rule("example.com:8000-8080");
    CHECK(r.port_lo == 8000 && r.port_hi == 8080);
    r = rule("example.com:1-65535");
    CHECK(r.port_lo == 1 && r.port_hi == 65535);
    r = rule("localhost");
    CHECK(r.kind == NET_RULE_DOMAIN);
    CHECK_STREQ(r.name, "localhost");
    r = rule("xn--bcher-kva.example");
    CHECK_STREQ(r.name, "xn--bcher-kva.example");
    r = rule("0day.a1");
    CHECK_STREQ(r.name, "0day.a1");
    /* The longest name and label that are still valid. */
    char name[300];
    memset(name, 'a', 63);
    name[63] = '\0';
    r = rule(name);
    CHECK(strlen(r.name) == 63);
    for (size_t i = 0; i < 253; i++)
        name[i] = i % 2 ? '.' : 'b';
    name[253] = '\0';
    r = rule(name);
    CHECK(strlen(r.name) == 253);
}

static void wildcards(void)
{
    struct net_rule r = rule("*.example.org");
    CHECK(r.kind == NET_RULE_WILDCARD);
    CHECK_STREQ(r.name, "example.org");
    r = rule("*.Example.ORG:443");
    CHECK(r.kind == NET_RULE_WILDCARD && r.port_lo == 443 && r.port_hi == 443);
    CHECK_STREQ(r.name, "example.org");
    r = rule("*.com");
    CHECK(r.kind == NET_RULE_WILDCARD);
    CHECK_STREQ(r.name, "com");
}

static void addresses(void)
{
    struct net_rule r = rule("1.2.3.4");
    CHECK(r.kind == NET_RULE_CIDR && r.addr.family == AF_INET && r.prefix == 32);
    CHECK(addr_is(&r.addr, "1.2.3.4") && r.port_lo == 0);
    r = rule("1.2.3.4:80");
    CHECK(r.prefix == 32 && r.port_lo == 80 && r.port_hi == 80);
    r = rule("10.0.0.0/8");
    CHECK(r.kind == NET_RULE_CIDR && r.prefix == 8 && addr_is(&r.addr, "10.0.0.0"));
    r = rule("10.1.2.0/24:5432");
    CHECK(r.prefix == 24 && r.port_lo == 5432 && addr_is(&r.addr, "10.1.2.0"));
    r = rule("0.0.0.0/0");
    CHECK(r.prefix == 0);
    r = rule("2001:db8::/32");
    CHECK(r.addr.family == AF_INET6 && r.prefix == 32 && addr_is(&r.addr, "2001:db8::"));
    r = rule("::1");
    CHECK(r.addr.family == AF_INET6 && r.prefix == 128 && r.port_lo == 0);
    /* Unbracketed, "::1:443" is an address, not ::1 port 443. */
    r = rule("::1:443");
    CHECK(r.prefix == 128 && r.port_lo == 0 && r.addr.a[13] == 1 && r.addr.a[14] == 4 &&
          r.addr.a[15] == 0x43);
    r = rule("[2001:db8::1]:443");
    CHECK(r.addr.family == AF_INET6 && r.prefix == 128 && r.port_lo == 443);
    CHECK(addr_is(&r.addr, "2001:db8::1"));
    r = rule("[2001:DB8::]");
    CHECK(r.prefix == 128 && r.port_lo == 0);
    r = rule("[2001:db8::/32]:443-444");
    CHECK(r.prefix == 32 && r.port_lo == 443 && r.port_hi == 444);
    /* IPv4-mapped addresses become the IPv4 address they carry. */
    r = rule("::ffff:10.1.2.3");
    CHECK(r.addr.family == AF_INET && r.prefix == 32 && addr_is(&r.addr, "10.1.2.3"));
    r = rule("[::ffff:10.0.0.0/104]:22");
    CHECK(r.addr.family == AF_INET && r.prefix == 8 && r.port_lo == 22);
    CHECK(addr_is(&r.addr, "10.0.0.0"));
}

static void bad_rules(void)
{
    char label64[80], long_name[300], long_rule[400];
    memset(label64, 'a', 64);
    memcpy(label64 + 64, ".com", 5);
    for (size_t i = 0; i < 255; i++)
        long_name[i] = i % 2 ? '.' : 'b';
    long_name[255] = '\0'; /* 255 bytes, no trailing dot */
    memset(long_rule, 'a', 301);
    long_rule[301] = '\0';
    const char *bad[] = {
        "",
        "*",
        "*.",
        "*.*.com",
        "foo.*.com",
        "*example.com",
        "**.example.com",
        "a..b",
        ".a",
        "..",
        ".",
        "a..",
        "-a.com",
        "a-.com",
        "a.-b.com",
        "exa mple.com",
        "ex_ample.com",
        "example.com/8",
        "\xc3\xa9t\xc3\xa9.fr",
        label64,
        long_name,
        long_rule,
        /* addresses and prefixes */
        "10.0.0.0/33",
        "::/129",
        "1.2.3.4/",
        "1.2.3.4/-1",
        "1.2.3.4/+8",
        "1.2.3.4/0008",
        "10.1.2.3/8",
        "2001:db8::1/32",
        "1.2.3.256",
        "10.0.0.300",
        "1.2.3",
        "01.2.3.4",
        "a:b:c",
        "fe80::1%eth0",
        "[::1",
        "[::1]x",
        "[::1]:",
        "[1.2.3.4]:80",
        "[]:80",
        "[example.com]:80",
        "/8",
        "[::1]/8",
        /* ports */
        "example.com:0",
        "example.com:70000",
        "example.com:65536",
        "example.com:",
        "example.com:443-80",
        "example.com:abc",
        "example.com:1-2-3",
        "example.com:+80",
        "example.com: 80",
        "example.com:80-",
        "example.com:-80",
        "example.com:0-80",
        "example.com:000443",
        ":443",
        "1.2.3.4:0",
        "[::1]:0",
        /* garbage */
        " example.com",
        "example.com ",
        "example.com\t",
        "http://example.com",
        "a,b",
        "\x01",
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        struct net_rule r = {.kind = NET_RULE_DOMAIN, .name = "untouched"};
        _cleanup_err_ struct runra_err *err = NULL;
        int e = net_rule_parse(bad[i], &r, &err);
        if (e != -EINVAL || !err || !err->msg || strcmp(r.name, "untouched") != 0) {
            fprintf(stderr, "bad rule accepted or badly refused: '%s' (%d)\n", bad[i], e);
            t_cur_failed = 1;
        }
    }
    /* The messages say what is wrong. */
    struct {
        const char *rule, *msg;
    } msgs[] = {
        {"a..b", "empty label"},
        {label64, "label longer than 63"},
        {long_name, "longer than 253"},
        {"10.0.0.0/33", "prefix length must be 0..32"},
        {"::/129", "prefix length must be 0..128"},
        {"example.com:0", "1..65535"},
        {"example.com:70000", "1..65535"},
        {"example.com:443-80", "low above high"},
        {"*.", "needs a domain"},
        {"*.*.com", "'*' may only lead"},
        {"10.1.2.3/8", "bits set past"},
        {"", "empty rule"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(msgs); i++) {
        struct net_rule r;
        _cleanup_err_ struct runra_err *err = NULL;
        net_rule_parse(msgs[i].rule, &r, &err);
        if (!err || !err->msg || !strstr(err->msg, msgs[i].msg)) {
            fprintf(stderr, "rule '%.40s': message '%s' lacks '%s'\n", msgs[i].rule,
                    err && err->msg ? err->msg : "(none)", msgs[i].msg);
            t_cur_failed = 1;
        }
    }
}

static void addr_helpers(void)
{
    struct net_addr a;
    CHECK(net_addr_parse("192.0.2.1", &a) == 0 && a.family == AF_INET);
    CHECK(net_addr_parse("2001:db8::1", &a) == 0 && a.family == AF_INET6);
    CHECK(net_addr_parse("::ffff:192.0.2.1", &a) == 0 && a.family == AF_INET);
    CHECK(addr_is(&a, "192.0.2.1"));
    CHECK(net_addr_parse("192.0.2.1/32", &a) == -EINVAL);
    CHECK(net_addr_parse("example.com", &a) == -EINVAL);
    CHECK(net_addr_parse("", &a) == -EINVAL);
    CHECK(net_addr_parse("1.2.3.4 ", &a) == -EINVAL);

    struct net_addr net = addr("10.0.0.0"), x = addr("10.255.1.2"), y = addr("11.0.0.1");
    CHECK(net_addr_in(&x, &net, 8) && !net_addr_in(&y, &net, 8));
    CHECK(net_addr_in(&y, &net, 0) && net_addr_in(&y, &net, 7));
    net = addr("100.64.0.0");
    x = addr("100.127.255.255");
    y = addr("100.128.0.0");
    CHECK(net_addr_in(&x, &net, 10) && !net_addr_in(&y, &net, 10));
    net = addr("fe80::");
    x = addr("febf::1");
    y = addr("fec0::1");
    CHECK(net_addr_in(&x, &net, 10) && !net_addr_in(&y, &net, 10));
    /* Families do not mix, except that a mapped address is its IPv4 form. */
    net = addr("::");
    x = addr("1.2.3.4");
    CHECK(!net_addr_in(&x, &net, 0));
    struct net_addr mapped = {.family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.9.8.7", mapped.a);
    net = addr("10.0.0.0");
    CHECK(net_addr_in(&mapped, &net, 8));
    struct net_addr mapped_net = {.family = AF_INET6};
    inet_pton(AF_INET6, "::ffff:10.0.0.0", mapped_net.a);
    x = addr("10.1.1.1");
    CHECK(net_addr_in(&x, &mapped_net, 104) && !net_addr_in(&y, &mapped_net, 104));
    struct net_addr none = {0};
    CHECK(!net_addr_in(&none, &none, 0));
    char buf[INET6_ADDRSTRLEN];
    net_addr_format(&none, buf, sizeof(buf));
    CHECK_STREQ(buf, "?");
}

static void normalize(void)
{
    char a[] = "WWW.Example.COM.", b[] = "a..b", c[] = "", d[] = ".", e[] = "x_y.com";
    CHECK(net_name_normalize(a) == 0);
    CHECK_STREQ(a, "www.example.com");
    CHECK(net_name_normalize(b) == -EINVAL);
    CHECK_STREQ(b, "a..b"); /* unchanged on failure */
    CHECK(net_name_normalize(c) == -EINVAL);
    CHECK(net_name_normalize(d) == -EINVAL);
    CHECK(net_name_normalize(e) == -EINVAL);
}

static int policy_from(const char *js, struct net_policy *p, char **ret_msg)
{
    json_error_t je;
    json_t *j = json_loads(js, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!j) {
        fprintf(stderr, "test JSON does not load: %s\n", js);
        t_cur_failed = 1;
        return -EINVAL;
    }
    struct runra_err *err = NULL;
    int r = net_policy_from_json(j, p, &err);
    json_decref(j);
    if (ret_msg)
        *ret_msg = err && err->msg ? strdup(err->msg) : NULL;
    err_free(err);
    return r;
}

static void json_parse(void)
{
    struct net_policy p = {0};
    CHECK(net_policy_from_json(NULL, &p, NULL) == 0 && p.mode == NET_MODE_NONE && !p.n_allow);
    CHECK(policy_from("{}", &p, NULL) == 0 && p.mode == NET_MODE_NONE);
    CHECK(policy_from("{\"mode\":\"none\",\"allow\":[],\"deny\":[]}", &p, NULL) == 0);
    net_policy_done(&p);
    CHECK(
        policy_from("{\"mode\":\"allowlist\",\"allow\":[\"api.anthropic.com\","
                    "\"*.example.org:443\",\"10.1.2.0/24:5432\"],\"deny\":[\"evil.example.org\"]}",
                    &p, NULL) == 0);
    CHECK(p.mode == NET_MODE_ALLOWLIST && p.n_allow == 3 && p.n_deny == 1);
    CHECK(p.allow[1].kind == NET_RULE_WILDCARD && p.allow[2].kind == NET_RULE_CIDR);
    CHECK_STREQ(p.deny[0].name, "evil.example.org");

    /* Round trip: to_json gives what from_json reads back to the same policy. */
    json_t *j = net_policy_to_json(&p);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STREQ(s, "{\"allow\":[\"api.anthropic.com\",\"*.example.org:443\",\"10.1.2.0/24:5432\"],"
                   "\"deny\":[\"evil.example.org\"],\"mode\":\"allowlist\"}");
    struct net_policy q = {0};
    CHECK(net_policy_from_json(j, &q, NULL) == 0);
    CHECK(q.mode == p.mode && q.n_allow == p.n_allow && q.n_deny == p.n_deny);
    CHECK(!memcmp(q.allow, p.allow, p.n_allow * sizeof(*p.allow)));
    CHECK(!memcmp(q.deny, p.deny, p.n_deny * sizeof(*p.deny)));
    net_policy_done(&q);
    json_decref(j);
    free(s);

    struct net_policy empty = {0};
    j = net_policy_to_json(&empty);
    s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    CHECK_STREQ(s, "{\"allow\":[],\"deny\":[],\"mode\":\"none\"}");
    CHECK(net_policy_from_json(j, &q, NULL) == 0 && q.mode == NET_MODE_NONE && !q.allow);
    net_policy_done(&q);
    json_decref(j);
    free(s);

    /* Copy is deep; done frees and resets. */
    CHECK(net_policy_copy(&p, &q) == 0 && q.allow != p.allow && q.n_allow == 3);
    CHECK(!memcmp(q.allow, p.allow, 3 * sizeof(*p.allow)));
    net_policy_done(&p);
    CHECK(p.mode == NET_MODE_NONE && !p.allow && !p.n_allow && !p.deny && !p.n_deny);
    CHECK_STREQ(q.allow[0].name, "api.anthropic.com");
    net_policy_done(&q);
    net_policy_done(&q);
    net_policy_done(NULL);
    CHECK(policy_from("{\"mode\":\"open\",\"deny\":[\"1.2.3.4\"]}", &p, NULL) == 0);
    CHECK(p.mode == NET_MODE_OPEN && p.n_deny == 1 && !p.n_allow);
    net_policy_done(&p);
}

static void json_bad(void)
{
    char many[NET_RULES_MAX * 16 + 64];
    size_t o = (size_t)snprintf(many, sizeof(many), "{\"mode\":\"allowlist\",\"allow\":[");
    for (int i = 0; i <= NET_RULES_MAX; i++)
        o += (size_t)snprintf(many + o, sizeof(many) - o, "%s\"a%d.c\"", i ? "," : "", i);
    snprintf(many + o, sizeof(many) - o, "]}");
    struct {
        const char *js, *msg;
        int code;
    } cases[] = {
        {"{\"mode\":\"allowlist\",\"allowed\":[]}", "allowed", -EINVAL},
        {"{\"mode\":\"closed\"}", "none, allowlist, open", -EINVAL},
        {"{\"mode\":\"Open\"}", "none, allowlist, open", -EINVAL},
        {"{\"mode\":1}", "none, allowlist, open", -EINVAL},
        {"{\"mode\":null}", "none, allowlist, open", -EINVAL},
        {"{\"mode\":\"open\\u0000x\"}", "none, allowlist, open", -EINVAL},
        {"{\"mode\":\"allowlist\",\"allow\":\"example.com\"}", "network.allow must be an array",
         -EINVAL},
        {"{\"mode\":\"allowlist\",\"allow\":[\"a.com\",7]}", "network.allow[1] must be a string",
         -EINVAL},
        {"{\"mode\":\"allowlist\",\"allow\":[\"a.com\",\"a..b\"]}", "network.allow[1]: rule 'a..b'",
         -EINVAL},
        {"{\"mode\":\"open\",\"deny\":[\"10.0.0.0/33\"]}", "network.deny[0]", -EINVAL},
        {"{\"mode\":\"open\",\"deny\":[\"a.com\\u0000b.com\"]}", "NUL", -EINVAL},
        {"{\"allow\":[\"example.com\"]}", "need mode allowlist or open", -EINVAL},
        {"{\"mode\":\"none\",\"deny\":[\"example.com\"]}", "need mode allowlist or open", -EINVAL},
        {many, "more than 256 rules", -E2BIG},
        {"[]", "must be an object", -EINVAL},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct net_policy p = {.mode = NET_MODE_OPEN, .n_allow = 77};
        char *msg = NULL;
        int r = policy_from(cases[i].js, &p, &msg);
        if (r != cases[i].code || !msg || !strstr(msg, cases[i].msg) || p.n_allow != 77) {
            fprintf(stderr, "case %zu: %d '%s', wanted %d '%s'\n", i, r, msg ? msg : "(none)",
                    cases[i].code, cases[i].msg);
            t_cur_failed = 1;
        }
        free(msg);
    }
    /* Exactly NET_RULES_MAX is fine. */
    char *cut = strstr(many, ",\"a256.c\"");
    CHECK(cut != NULL);
    if (cut) {
        memcpy(cut, "]}", 3);
        struct net_policy p;
        CHECK(policy_from(many, &p, NULL) == 0 && p.n_allow == NET_RULES_MAX);
        net_policy_done(&p);
    }
}

/* Builds a policy from rule lists (NULL-terminated). */
static struct net_policy pol(enum net_mode mode, const char *const *allow, const char *const *deny)
{
    struct net_policy p = {.mode = mode};
    size_t na = 0, nd = 0;
    while (allow && allow[na])
        na++;
    while (deny && deny[nd])
        nd++;
    p.allow = calloc(na + 1, sizeof(*p.allow));
    p.deny = calloc(nd + 1, sizeof(*p.deny));
    for (size_t i = 0; i < na; i++)
        p.allow[i] = rule(allow[i]);
    for (size_t i = 0; i < nd; i++)
        p.deny[i] = rule(deny[i]);
    p.n_allow = na;
    p.n_deny = nd;
    return p;
}

static struct net_decision decide_x(const struct net_policy *p, const struct net_cidr *extra,
                                    size_t n_extra, const char *name, const char *ip, uint16_t port)
{
    struct net_dest d = {.name = name, .port = port};
    if (ip)
        d.addr = addr(ip);
    struct net_decision out;
    memset(&out, 0x5a, sizeof(out));
    net_decide(p, extra, n_extra, &d, &out);
    return out;
}

static struct net_decision decide(const struct net_policy *p, const char *name, const char *ip,
                                  uint16_t port)
{
    return decide_x(p, NULL, 0, name, ip, port);
}

#define ALLOWED(p, name, ip, port) CHECK(decide(p, name, ip, port).allow)
#define DENIED(p, name, ip, port, why)                                                             \
    do {                                                                                           \
        struct net_decision _d = decide(p, name, ip, port);                                        \
        CHECK(!_d.allow);                                                                          \
        CHECK_STREQ(_d.reason, why);                                                               \
    } while (0)

static void decide_none(void)
{
    struct net_policy p = {.mode = NET_MODE_NONE};
    DENIED(&p, "example.com", "93.184.216.34", 443, "network mode is none");
    DENIED(&p, "example.com", NULL, 0, "network mode is none");
    DENIED(&p, NULL, "127.0.0.1", 80, "network mode is none");
    /* Rules given anyway (not through JSON) change nothing. */
    const char *allow[] = {"example.com", NULL};
    p = pol(NET_MODE_NONE, allow, NULL);
    DENIED(&p, "example.com", "93.184.216.34", 443, "network mode is none");
    net_policy_done(&p);
    p.mode = (enum net_mode)42;
    DENIED(&p, "example.com", NULL, 0, "network mode is none");
}

static void decide_names(void)
{
    const char *allow[] = {"api.anthropic.com", "*.example.org", "pypi.org:443",
                           "files.test:8000-8080", NULL};
    struct net_policy p = pol(NET_MODE_ALLOWLIST, allow, NULL);
    struct net_decision d = decide(&p, "api.anthropic.com", "160.79.104.10", 443);
    CHECK(d.allow);
    CHECK_STREQ(d.reason, "allowed by rule 'api.anthropic.com'");
    ALLOWED(&p, "api.anthropic.com", "160.79.104.10", 80);
    ALLOWED(&p, "API.Anthropic.com.", "160.79.104.10", 443); /* case and trailing dot */
    DENIED(&p, "anthropic.com", "160.79.104.10", 443, "not in allowlist");
    DENIED(&p, "xapi.anthropic.com", "160.79.104.10", 443, "not in allowlist");
    DENIED(&p, "api.anthropic.com.evil.net", "160.79.104.10", 443, "not in allowlist");
    /* Wildcards: strictly below the suffix, any depth, not the suffix itself. */
    ALLOWED(&p, "a.example.org", "93.184.216.34", 443);
    ALLOWED(&p, "a.b.c.example.org", "93.184.216.34", 443);
    ALLOWED(&p, "A.EXAMPLE.ORG", "93.184.216.34", 443);
    DENIED(&p, "example.org", "93.184.216.34", 443, "not in allowlist");
    DENIED(&p, "badexample.org", "93.184.216.34", 443, "not in allowlist");
    DENIED(&p, ".example.org", "93.184.216.34", 443, "not in allowlist");
    DENIED(&p, "example.org.evil", "93.184.216.34", 443, "not in allowlist");
    /* Ports: single and inclusive ranges. */
    ALLOWED(&p, "pypi.org", "151.101.0.223", 443);
    DENIED(&p, "pypi.org", "151.101.0.223", 80, "not in allowlist");
    ALLOWED(&p, "files.test", "151.101.0.1", 8000);
    ALLOWED(&p, "files.test", "151.101.0.1", 8080);
    DENIED(&p, "files.test", "151.101.0.1", 7999, "not in allowlist");
    DENIED(&p, "files.test", "151.101.0.1", 8081, "not in allowlist");
    /* No name, only an address: name rules cannot match it. */
    DENIED(&p, NULL, "160.79.104.10", 443, "not in allowlist");
    DENIED(&p, "", "160.79.104.10", 443, "not in allowlist");
    /* DNS questions: allowed when some port could be. */
    ALLOWED(&p, "api.anthropic.com", NULL, 0);
    ALLOWED(&p, "pypi.org", NULL, 0);
    ALLOWED(&p, "x.example.org", NULL, 0);
    DENIED(&p, "example.org", NULL, 0, "not in allowlist");
    DENIED(&p, "evil.com", NULL, 0, "not in allowlist");
    DENIED(&p, NULL, NULL, 0, "not in allowlist");
    net_policy_done(&p);
}

static void decide_cidrs(void)
{
    const char *allow[] = {"93.184.216.0/24", "198.51.100.7:443", "2001:db8::/32",
                           "[2001:db8:1::5]:22", NULL};
    struct net_policy p = pol(NET_MODE_ALLOWLIST, allow, NULL);
    ALLOWED(&p, NULL, "93.184.216.34", 80);
    ALLOWED(&p, "whatever.com", "93.184.216.255", 443); /* the address decides */
    DENIED(&p, NULL, "93.184.217.1", 80, "not in allowlist");
    ALLOWED(&p, NULL, "198.51.100.7", 443);
    DENIED(&p, NULL, "198.51.100.7", 444, "not in allowlist");
    DENIED(&p, NULL, "198.51.100.8", 443, "not in allowlist");
    ALLOWED(&p, NULL, "2001:db8:ffff::1", 443);
    DENIED(&p, NULL, "2001:db9::1", 443, "not in allowlist");
    ALLOWED(&p, NULL, "::ffff:93.184.216.1", 443); /* mapped: judged as IPv4 */
    /* CIDR rules do not make a DNS question allowed: there is no name rule. */
    DENIED(&p, "example.com", NULL, 0, "not in allowlist");
    net_policy_done(&p);
}

static void decide_deny(void)
{
    const char *allow[] = {"*.example.org", "93.184.216.0/24", NULL};
    const char *deny[] = {"secret.example.org",  "*.internal.example.org", "93.184.216.66",
                          "mail.example.org:25", "[2001:db8::bad]",        NULL};
    struct net_policy p = pol(NET_MODE_ALLOWLIST, allow, deny);
    DENIED(&p, "secret.example.org", "93.184.216.1", 443, "denied by rule 'secret.example.org'");
    DENIED(&p, "a.internal.example.org", "93.184.216.1", 443,
           "denied by rule '*.internal.example.org'");
    ALLOWED(&p, "internal.example.org", "93.184.216.1", 443);
    /* A deny rule on the address wins over an allowed name. */
    DENIED(&p, "www.example.org", "93.184.216.66", 443, "denied by rule '93.184.216.66'");
    DENIED(&p, "www.example.org", "::ffff:93.184.216.66", 443, "denied by rule '93.184.216.66'");
    /* A port-limited deny rule denies only its ports, and not a DNS question. */
    DENIED(&p, "mail.example.org", "93.184.216.2", 25, "denied by rule 'mail.example.org:25'");
    ALLOWED(&p, "mail.example.org", "93.184.216.2", 587);
    ALLOWED(&p, "mail.example.org", NULL, 0);
    DENIED(&p, "secret.example.org", NULL, 0, "denied by rule 'secret.example.org'");
    DENIED(&p, "x.internal.example.org", NULL, 0, "denied by rule '*.internal.example.org'");
    net_policy_done(&p);

    /* Open mode: everything public but what deny names. */
    const char *deny2[] = {"evil.com", "*.evil.com", "203.0.113.0/24", "pastebin.com:443", NULL};
    p = pol(NET_MODE_OPEN, NULL, deny2);
    struct net_decision d = decide(&p, "example.com", "93.184.216.34", 443);
    CHECK(d.allow);
    CHECK_STREQ(d.reason, "network mode is open");
    DENIED(&p, "evil.com", "93.184.216.34", 443, "denied by rule 'evil.com'");
    DENIED(&p, "EVIL.com", "93.184.216.34", 443, "denied by rule 'evil.com'");
    DENIED(&p, "a.evil.com", "93.184.216.34", 443, "denied by rule '*.evil.com'");
    DENIED(&p, NULL, "203.0.113.9", 80, "denied by rule '203.0.113.0/24'");
    DENIED(&p, "pastebin.com", "104.20.1.1", 443, "denied by rule 'pastebin.com:443'");
    ALLOWED(&p, "pastebin.com", "104.20.1.1", 80);
    ALLOWED(&p, "pastebin.com", NULL, 0);
    ALLOWED(&p, "example.com", NULL, 0);
    DENIED(&p, "evil.com", NULL, 0, "denied by rule 'evil.com'");
    ALLOWED(&p, NULL, "2606:4700::1", 443);
    net_policy_done(&p);
}

static void always_denied(void)
{
    struct net_policy p = {.mode = NET_MODE_OPEN};
    struct {
        const char *ip, *why;
    } cases[] = {
        {"0.0.0.0", "this network 0.0.0.0/8"},
        {"0.1.2.3", "this network 0.0.0.0/8"},
        {"10.0.0.1", "private range 10.0.0.0/8"},
        {"10.255.255.255", "private range 10.0.0.0/8"},
        {"100.64.0.1", "shared address space (CGNAT) 100.64.0.0/10"},
        {"100.127.255.254", "shared address space (CGNAT) 100.64.0.0/10"},
        {"127.0.0.1", "loopback 127.0.0.0/8"},
        {"127.255.0.9", "loopback 127.0.0.0/8"},
        {"169.254.169.254", "link-local (metadata) 169.254.0.0/16"},
        {"172.16.0.1", "private range 172.16.0.0/12"},
        {"172.31.255.255", "private range 172.16.0.0/12"},
        {"192.168.1.1", "private range 192.168.0.0/16"},
        {"224.0.0.251", "multicast 224.0.0.0/4"},
        {"239.255.255.250", "multicast 224.0.0.0/4"},
        {"240.0.0.1", "reserved and broadcast 240.0.0.0/4"},
        {"255.255.255.255", "reserved and broadcast 240.0.0.0/4"},
        {"::", "unspecified address ::/128"},
        {"::1", "loopback ::1/128"},
        {"fe80::1", "link-local fe80::/10"},
        {"febf:ffff::1", "link-local fe80::/10"},
        {"fc00::1", "unique local fc00::/7"},
        {"fd12:3456::1", "unique local fc00::/7"},
        {"ff02::1", "multicast ff00::/8"},
        /* IPv4-mapped: the IPv4 address decides. */
        {"::ffff:127.0.0.1", "loopback 127.0.0.0/8"},
        {"::ffff:169.254.169.254", "link-local (metadata) 169.254.0.0/16"},
        {"::ffff:0.0.0.0", "this network 0.0.0.0/8"},
    };
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct net_decision d = decide(&p, "example.com", cases[i].ip, 443);
        if (d.allow || strcmp(d.reason, cases[i].why) != 0) {
            fprintf(stderr, "%s: %s '%s', wanted '%s'\n", cases[i].ip,
                    d.allow ? "allowed" : "denied", d.reason, cases[i].why);
            t_cur_failed = 1;
        }
    }
    /* The edges just outside stay public. */
    const char *public[] = {"1.0.0.1",        "9.255.255.255",   "11.0.0.0",   "100.63.255.255",
                            "100.128.0.0",    "126.255.255.255", "128.0.0.0",  "169.253.255.255",
                            "169.255.0.0",    "172.15.255.255",  "172.32.0.0", "192.167.255.255",
                            "192.169.0.0",    "223.255.255.255", "::2",        "fe7f::1",
                            "fec0::1",        "fbff::1",         "fe00::1",    "2001:db8::1",
                            "::ffff:8.8.8.8", "::8.8.8.8"};
    for (size_t i = 0; i < ARRAY_SIZE(public); i++) {
        struct net_decision d = decide(&p, NULL, public[i], 443);
        if (!d.allow) {
            fprintf(stderr, "%s denied: %s\n", public[i], d.reason);
            t_cur_failed = 1;
        }
    }
    /* The table is exported whole and its entries have no host bits. */
    CHECK(net_always_denied_n == 14);
    for (size_t i = 0; i < net_always_denied_n; i++)
        CHECK(net_addr_in(&net_always_denied[i].addr, &net_always_denied[i].addr,
                          net_always_denied[i].prefix) &&
              net_always_denied[i].why);
    /* A DNS question has no address: only the name counts. */
    ALLOWED(&p, "localhost", NULL, 0);
}

static void always_denied_openings(void)
{
    const char *allow[] = {
        "10.1.2.0/24",    "0.0.0.0/0",      "::/0",           "169.254.169.254:80",
        "127.0.0.1:8080", "[fd00::/8]:443", "db.example.org", NULL};
    struct net_policy p = pol(NET_MODE_ALLOWLIST, allow, NULL);
    /* A rule inside the denied prefix opens it, with its own ports. */
    ALLOWED(&p, NULL, "10.1.2.3", 5432);
    DENIED(&p, NULL, "10.1.3.3", 5432, "private range 10.0.0.0/8");
    ALLOWED(&p, NULL, "169.254.169.254", 80);
    DENIED(&p, NULL, "169.254.169.254", 443, "link-local (metadata) 169.254.0.0/16");
    ALLOWED(&p, NULL, "::ffff:169.254.169.254", 80);
    ALLOWED(&p, NULL, "127.0.0.1", 8080);
    DENIED(&p, NULL, "127.0.0.1", 22, "loopback 127.0.0.0/8");
    ALLOWED(&p, NULL, "fd00::1", 443);
    DENIED(&p, NULL, "fd00::1", 80, "unique local fc00::/7");
    DENIED(&p, NULL, "fc00::1", 443, "unique local fc00::/7"); /* fd00::/8 is not all of it */
    /* 0.0.0.0/0 and ::/0 mean the internet; they do not open the host. */
    ALLOWED(&p, NULL, "93.184.216.34", 443);
    ALLOWED(&p, NULL, "2606:4700::1", 443);
    DENIED(&p, NULL, "192.168.0.1", 80, "private range 192.168.0.0/16");
    DENIED(&p, NULL, "::1", 80, "loopback ::1/128");
    /* An allowed name resolving to a denied address stays denied. */
    DENIED(&p, "db.example.org", "10.9.9.9", 5432, "private range 10.0.0.0/8");
    ALLOWED(&p, "db.example.org", "10.1.2.9", 5432);
    net_policy_done(&p);

    /* The caller's extra entries: the host's addresses, the sandbox range. */
    struct net_cidr extra[] = {
        {addr("203.0.113.5"), 32, "host address"},
        {addr("10.1.2.0"), 26, "sandbox range"},
        {addr("198.51.100.0"), 24, NULL},
    };
    p = pol(NET_MODE_OPEN, NULL, NULL);
    struct net_decision d = decide_x(&p, extra, 3, NULL, "203.0.113.5", 443);
    CHECK(!d.allow);
    CHECK_STREQ(d.reason, "host address 203.0.113.5/32");
    d = decide_x(&p, extra, 3, NULL, "::ffff:203.0.113.5", 443);
    CHECK(!d.allow);
    CHECK_STREQ(d.reason, "host address 203.0.113.5/32");
    d = decide_x(&p, extra, 3, NULL, "198.51.100.1", 443);
    CHECK(!d.allow);
    CHECK_STREQ(d.reason, "always denied 198.51.100.0/24");
    CHECK(decide_x(&p, extra, 3, NULL, "203.0.113.6", 443).allow);
    /* The fixed table comes first, so its reason is the one given. */
    d = decide_x(&p, extra, 3, NULL, "10.1.2.3", 443);
    CHECK_STREQ(d.reason, "private range 10.0.0.0/8");
    net_policy_done(&p);
    /* Opening a private range does not open a narrower entry inside it. */
    const char *allow2[] = {"10.0.0.0/8", "10.1.2.0/27:22", NULL};
    p = pol(NET_MODE_OPEN, allow2, NULL);
    CHECK(decide_x(&p, extra, 3, NULL, "10.9.9.9", 443).allow);
    d = decide_x(&p, extra, 3, NULL, "10.1.2.40", 443);
    CHECK(!d.allow);
    CHECK_STREQ(d.reason, "sandbox range 10.1.2.0/26");
    CHECK(decide_x(&p, extra, 3, NULL, "10.1.2.9", 22).allow);
    CHECK(!decide_x(&p, extra, 3, NULL, "10.1.2.9", 23).allow);
    net_policy_done(&p);
}

TEST_MAIN(TEST(domains), TEST(wildcards), TEST(addresses), TEST(bad_rules), TEST(addr_helpers),
          TEST(normalize), TEST(json_parse), TEST(json_bad), TEST(decide_none), TEST(decide_names),
          TEST(decide_cidrs), TEST(decide_deny), TEST(always_denied), TEST(always_denied_openings))
