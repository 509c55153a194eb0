/* Egress policy: a sandbox's network mode and its allow and deny rules, and
 * the one pure function that decides a connection or a DNS name. Nothing
 * here does I/O; the proxy and the resolver feed it what they saw and
 * resolved, and record the reason it gives. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "base/err.h"

#define NET_RULES_MAX 256       /* allow or deny rules per sandbox */
#define NET_RULE_TEXT_MAX 300   /* one rule as written */
#define NET_NAME_MAX 253        /* a DNS name, without the trailing dot */

enum net_mode { NET_MODE_NONE = 0, NET_MODE_ALLOWLIST, NET_MODE_OPEN };

enum net_rule_kind {
    NET_RULE_DOMAIN,   /* exactly this name */
    NET_RULE_WILDCARD, /* "*.example.org": any name below example.org, not example.org itself */
    NET_RULE_CIDR,     /* an address (a /32 or /128) or a prefix */
};

struct net_addr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t a[16]; /* network byte order; IPv4 in the first 4 bytes */
};

struct net_rule {
    enum net_rule_kind kind;
    char name[NET_NAME_MAX + 1]; /* DOMAIN: the name; WILDCARD: the suffix after "*."; lowercase */
    struct net_addr addr;        /* CIDR */
    uint8_t prefix;              /* CIDR: prefix length */
    uint16_t port_lo, port_hi;   /* 0, 0: any port */
    char text[NET_RULE_TEXT_MAX + 1]; /* as the caller wrote it, for reasons and for listing */
};

struct net_policy {
    enum net_mode mode;
    struct net_rule *allow;
    size_t n_allow;
    struct net_rule *deny;
    size_t n_deny;
};

/* A prefix of the always-denied set (filled by the caller: the host's own
 * addresses and the sandbox range join the fixed private ranges). */
struct net_cidr {
    struct net_addr addr;
    uint8_t prefix;
    const char *why; /* "private range", "host address", ... */
};

/* What a connection or query is about. name: lowercase, no trailing dot, or
 * NULL when only an address is known; addr.family 0: no address (a DNS
 * question); port 0: any (a DNS question). */
struct net_dest {
    const char *name;
    struct net_addr addr;
    uint16_t port;
};

struct net_decision {
    bool allow;
    /* Why, for the audit record: the deciding rule ("denied by rule 'x'",
     * "allowed by rule 'x'"), a fixed phrase ("not in allowlist", "network
     * mode is none", "network mode is open"), or the always-denied entry's
     * why and prefix ("private range 10.0.0.0/8"). */
    char reason[NET_RULE_TEXT_MAX + 64];
};

/* One rule as written: "example.com", "*.example.org", "1.2.3.4",
 * "10.0.0.0/8", "2001:db8::/32", each optionally with ":PORT" or
 * ":LO-HI" ("[2001:db8::1]:443" for an IPv6 address with a port; without
 * brackets an IPv6 address takes no port). Ports are 1..65535, lo <= hi.
 * Names are checked as DNS names (labels of [A-Za-z0-9-], 1-63 bytes, not
 * starting or ending with '-', at most 253 bytes, the last label not all
 * digits) and lowercased. A prefix must have no bits set past its length;
 * an IPv4-mapped IPv6 address or prefix (of /96 or more) is stored as IPv4. */
int net_rule_parse(const char *s, struct net_rule *ret, struct runra_err **err);
/* An address without port or prefix: "1.2.3.4", "::1". 0 or -EINVAL.
 * An IPv4-mapped address comes back as IPv4. */
int net_addr_parse(const char *s, struct net_addr *ret);
/* Writes the address as text (INET6_ADDRSTRLEN bytes suffice). */
void net_addr_format(const struct net_addr *a, char *out, size_t n);
/* Whether a lies in net/prefix; IPv4-mapped addresses count as IPv4. */
bool net_addr_in(const struct net_addr *a, const struct net_addr *net, uint8_t prefix);

/* The spec's "network" object: {"mode": "none"|"allowlist"|"open",
 * "allow": [rule...], "deny": [rule...]}; strict (unknown keys, bad rules,
 * more than NET_RULES_MAX rules are errors naming the culprit). NULL j,
 * or no "mode": mode none, which takes no rules. */
int net_policy_from_json(json_t *j, struct net_policy *ret, struct runra_err **err);
json_t *net_policy_to_json(const struct net_policy *p);
int net_policy_copy(const struct net_policy *p, struct net_policy *ret);
void net_policy_done(struct net_policy *p);
/* Normalizes a DNS name in place: lowercase, trailing dot dropped. -EINVAL
 * when it is not a valid name. */
int net_name_normalize(char *name);

/* The fixed always-denied prefixes: loopback, link-local (the metadata
 * address among them), RFC 1918, CGNAT, "this network", multicast and
 * broadcast, IPv6 loopback, link-local, unique-local and the unspecified
 * address. */
extern const struct net_cidr net_always_denied[];
extern const size_t net_always_denied_n;

/* The decision, as a pure function:
 * - mode none: deny everything.
 * - a matching deny rule: deny (its text is the reason).
 * - an address in the always-denied set (fixed, then extra): deny unless an
 *   allow CIDR rule covers that address explicitly: the rule lies inside the
 *   denied prefix and matches address and port ("10.1.2.0/24" opens part of
 *   10.0.0.0/8; "0.0.0.0/0" opens nothing of it).
 * - allowlist: allow when an allow rule matches (a name rule by name, a CIDR
 *   rule by address, each with its port range), else "not in allowlist".
 * - open: allow.
 * A DNS question (no address, port 0) is allowed when the name could be
 * allowed on some port: a name rule or a wildcard matches it (allowlist),
 * or no deny rule names it (open); a deny rule limited to some ports does
 * not deny a question. IPv4-mapped addresses are judged as IPv4. */
void net_decide(const struct net_policy *p, const struct net_cidr *extra, size_t n_extra,
                const struct net_dest *d, struct net_decision *ret);
