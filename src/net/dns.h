/* DNS messages (RFC 1035) as the resolver needs them: parse a question,
 * build answers (A, AAAA, empty, NXDOMAIN, REFUSED, SERVFAIL), and parse an
 * upstream answer's addresses and TTLs. Pure, bounded, and fuzzed: queries
 * come from the sandbox and answers from upstream. Compression pointers are
 * followed with a hop bound; nothing is trusted to be in range. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_MSG_MAX 4096  /* the largest message handled (UDP or one TCP message) */
#define DNS_ANSWERS_MAX 32 /* addresses kept from one answer */

enum {
    DNS_TYPE_A = 1,
    DNS_TYPE_CNAME = 5,
    DNS_TYPE_TXT = 16,
    DNS_TYPE_AAAA = 28,
    DNS_CLASS_IN = 1,
    DNS_RCODE_NOERROR = 0,
    DNS_RCODE_FORMERR = 1,
    DNS_RCODE_SERVFAIL = 2,
    DNS_RCODE_NXDOMAIN = 3,
    DNS_RCODE_NOTIMP = 4,
    DNS_RCODE_REFUSED = 5,
};

struct dns_question {
    uint16_t id;
    uint16_t flags;       /* the query's flags (RD is echoed) */
    char name[254];       /* lowercase, no trailing dot; "" for the root */
    uint16_t qtype, qclass;
    size_t question_end;  /* offset just past the question in the query */
};

/* Exactly one question, QR=0, opcode 0; anything else is -EBADMSG (the
 * caller answers FORMERR or NOTIMP from what it could read: id and flags
 * are filled whenever the header was there, and 1 returned in *ret_header).
 * Name labels may only hold [A-Za-z0-9-_], so that the text form is
 * unambiguous; others are -EBADMSG too. */
int dns_parse_query(const uint8_t *buf, size_t len, struct dns_question *ret, bool *ret_header);

struct dns_rr_addr {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t a[16];
    uint32_t ttl;
};

/* Builds an answer to q in out (at most cap bytes): rcode, and for NOERROR
 * the given addresses as A/AAAA records for q->name (those of q's type
 * only). Returns the length, or -ENOSPC (-EINVAL: a bad name or rcode). */
int dns_build_answer(const struct dns_question *q, int rcode, const struct dns_rr_addr *addrs,
                     size_t n, uint8_t *out, size_t cap);
/* Builds a query for name and type with the given id (RD set). Returns the
 * length, -ENOSPC, or -EINVAL when name is not a valid name. */
int dns_build_query(uint16_t id, const char *name, uint16_t qtype, uint8_t *out, size_t cap);
/* Reads an upstream answer to a query of id for name: its rcode and the
 * A/AAAA records whose owner is name or is reached from name by the
 * answer's own CNAME chain (bounded). Returns the number of addresses
 * (at most DNS_ANSWERS_MAX), or -EBADMSG; -EMSGSIZE when the answer is
 * truncated (TC: ask again over TCP); -EINVAL when name is not a name. */
int dns_parse_answer(const uint8_t *buf, size_t len, uint16_t id, const char *name, int *ret_rcode,
                     struct dns_rr_addr *ret, size_t max);
