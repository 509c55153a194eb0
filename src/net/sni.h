/* What names a TCP connection before any byte is forwarded: the server name
 * of a TLS ClientHello (SNI), or the Host of an HTTP/1.x request, or the
 * target of a proxy request (CONNECT host:port, or an absolute-form URI).
 * Pure, bounded and fuzzed: these bytes come from the sandbox. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define SNI_PEEK_MAX 16384 /* bytes the proxy reads before it must decide */

enum sni_result {
    SNI_FOUND = 1,     /* *ret_name filled */
    SNI_NONE = 0,      /* a complete message that names nothing (TLS without SNI) */
    SNI_MORE = -1,     /* not enough bytes yet: read more (up to SNI_PEEK_MAX) */
    SNI_NOT_THIS = -2, /* not this protocol at all */
    SNI_BAD = -3,      /* this protocol, malformed */
};

/* TLS: a handshake record holding a ClientHello (the record may be split
 * across several TLS records; those are joined). The name is copied
 * lowercased, without a trailing dot, NUL-terminated; names longer than
 * 253 bytes, with bytes outside [A-Za-z0-9.-_] or with an empty label are
 * SNI_BAD, and so are two host names or two server_name extensions. */
int sni_parse_tls(const uint8_t *buf, size_t len, char name[254]);

/* HTTP/1.x request head (up to the blank line). method: filled (up to 15
 * bytes). For CONNECT: the target's host and port. For an absolute-form URI
 * (GET http://host:port/path): its host and port (80 default) and
 * *ret_path_off/len locate the origin-form path in buf so the proxy can
 * rewrite the request line. Otherwise the Host header's host and port
 * (port 0 when absent). IPv6 literals in brackets are returned without
 * brackets. head_len: the head's length including the blank line.
 * Strict, so that the proxy and the server cannot read different hosts:
 * lines end in CRLF only, no obs-fold, exactly one Host for origin-form, at
 * most one otherwise (for absolute-form it must name the URI's host and
 * port), no userinfo or fragment in the URI. The path part starts with '/'
 * or '?' (then the origin form needs a '/' in front). */
struct http_target {
    char method[16];
    char host[254];
    uint16_t port;
    int absolute;      /* 1: absolute-form URI (a proxy request) */
    size_t uri_off, uri_len;   /* the request-target in buf */
    size_t path_off, path_len; /* absolute-form: the path part ("/" when empty: len 0) */
    size_t head_len;
};
int sni_parse_http(const uint8_t *buf, size_t len, struct http_target *ret);
