/* libFuzzer target: rules and "network" objects as an API caller could
 * write them, and the destinations a sandbox could make the proxy or the
 * resolver ask about. The first byte picks the mode; the rest is lines:
 * "+RULE" allows, "-RULE" denies, "?NAME|ADDR|PORT" asks, and a line
 * starting with '{' makes the rest of the input a JSON policy. Besides not
 * crashing, a parsed rule must be normalized, and the decision must be
 * deterministic, always give a reason, and never allow in mode none. */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RULES 16

static void check_rule(const char *s, const struct net_rule *r)
{
    if (strcmp(r->text, s) != 0 || (r->port_lo == 0) != (r->port_hi == 0) ||
        r->port_lo > r->port_hi)
        abort();
    if (r->kind == NET_RULE_CIDR) {
        unsigned bits = r->addr.family == AF_INET ? 32 : r->addr.family == AF_INET6 ? 128 : 0;
        if (!bits || r->prefix > bits || !net_addr_in(&r->addr, &r->addr, r->prefix))
            abort();
        /* The address formats and parses back to itself. */
        char text[INET6_ADDRSTRLEN];
        struct net_addr back;
        net_addr_format(&r->addr, text, sizeof(text));
        if (net_addr_parse(text, &back) < 0 || back.family != r->addr.family ||
            memcmp(back.a, r->addr.a, 16) != 0)
            abort();
    } else {
        char copy[NET_NAME_MAX + 1];
        memcpy(copy, r->name, sizeof(copy));
        if (net_name_normalize(copy) < 0 || strcmp(copy, r->name) != 0)
            abort();
    }
}

static void ask(const struct net_policy *p, const struct net_dest *d)
{
    static const struct net_cidr extra[] = {
        {{AF_INET, {203, 0, 113, 5}}, 32, "host address"},
        {{AF_INET, {10, 200, 0, 0}}, 16, "sandbox range"},
    };
    struct net_decision a, b;
    net_decide(p, extra, 2, d, &a);
    net_decide(p, extra, 2, d, &b);
    size_t len = strnlen(a.reason, sizeof(a.reason));
    if (len == 0 || len == sizeof(a.reason) || a.allow != b.allow || strcmp(a.reason, b.reason))
        abort();
    if (a.allow && p->mode != NET_MODE_ALLOWLIST && p->mode != NET_MODE_OPEN)
        abort();
    if (a.allow && p->mode == NET_MODE_ALLOWLIST && strncmp(a.reason, "allowed by rule '", 17))
        abort();
}

static void json_case(const char *s, size_t n)
{
    json_t *j = json_loadb(s, n, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (!j)
        return;
    struct net_policy p, q, c;
    struct runra_err *err = NULL;
    int r = net_policy_from_json(j, &p, &err);
    json_decref(j);
    if (r < 0) {
        if (!err || !err->msg)
            abort();
        err_free(err);
        return;
    }
    /* Round trip and copy give the same policy. */
    json_t *out = net_policy_to_json(&p);
    if (!out || net_policy_from_json(out, &q, NULL) < 0)
        abort();
    json_decref(out);
    if (net_policy_copy(&p, &c) < 0)
        abort();
    if (q.mode != p.mode || q.n_allow != p.n_allow || q.n_deny != p.n_deny ||
        (p.n_allow && memcmp(q.allow, p.allow, p.n_allow * sizeof(*p.allow))) ||
        (p.n_deny && memcmp(q.deny, p.deny, p.n_deny * sizeof(*p.deny))) ||
        c.n_allow != p.n_allow ||
        (p.n_allow && memcmp(c.allow, p.allow, p.n_allow * sizeof(*p.allow))))
        abort();
    struct net_dest d = {.name = "a.example.org", .addr = {AF_INET, {10, 1, 2, 3}}, .port = 443};
    ask(&p, &d);
    net_policy_done(&p);
    net_policy_done(&q);
    net_policy_done(&c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 8192)
        return 0;
    static struct net_rule allow[RULES], deny[RULES];
    struct net_policy p = {.mode = (enum net_mode)(data[0] % 3), .allow = allow, .deny = deny};
    char *text = malloc(size);
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *save = NULL;
    /* Lines; strtok_r also stops at a NUL, which is what a C caller sees. */
    size_t consumed = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        consumed = (size_t)(line - text);
        if (line[0] == '{') {
            json_case((const char *)data + 1 + consumed, size - 1 - consumed);
            break;
        }
        if (line[0] == '+' || line[0] == '-') {
            struct net_rule r;
            struct runra_err *err = NULL;
            if (net_rule_parse(line + 1, &r, &err) < 0) {
                if (!err || !err->msg)
                    abort();
                err_free(err);
                continue;
            }
            check_rule(line + 1, &r);
            if (line[0] == '+' && p.n_allow < RULES)
                allow[p.n_allow++] = r;
            else if (line[0] == '-' && p.n_deny < RULES)
                deny[p.n_deny++] = r;
            continue;
        }
        if (line[0] == '?') {
            /* ?NAME|ADDR|PORT: any field may be empty. */
            char *f2 = strchr(line + 1, '|'), *f3 = f2 ? strchr(f2 + 1, '|') : NULL;
            if (f2)
                *f2++ = '\0';
            if (f3)
                *f3++ = '\0';
            struct net_dest d = {.name = line[1] ? line + 1 : NULL};
            if (f2 && *f2 && net_addr_parse(f2, &d.addr) < 0) {
                /* Raw bytes as an address too: mapped and odd families. */
                d.addr.family = (f2[0] & 1) ? AF_INET6 : AF_INET;
                memcpy(d.addr.a, f2 + 1, strnlen(f2 + 1, 16));
            }
            d.port = f3 ? (uint16_t)strtoul(f3, NULL, 10) : 0;
            ask(&p, &d);
        }
    }
    /* And the raw bytes as destinations: 19-byte chunks. */
    for (size_t off = 1; off + 19 <= size; off += 19) {
        struct net_dest d = {.port = (uint16_t)(data[off + 17] << 8 | data[off + 18])};
        d.addr.family = data[off] & 1 ? AF_INET6 : AF_INET;
        if (data[off] & 2)
            d.addr.family = 0;
        memcpy(d.addr.a, data + off + 1, 16);
        if (data[off] & 4) {
            static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
            d.addr.family = AF_INET6;
            memcpy(d.addr.a, mapped, 12);
        }
        d.name = data[off] & 8 ? "a.example.org" : NULL;
        ask(&p, &d);
    }
    free(text);
    return 0;
}
