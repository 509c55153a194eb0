/* libFuzzer target: the first bytes of a TCP connection from the sandbox,
 * read both as a TLS ClientHello and as an HTTP request head. Besides not
 * crashing or reading past the end: a name is only ever reported in the
 * checked alphabet, offsets stay inside the head, and a prefix of the input
 * either asks for more or already gives the same answer. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_name(const char *n, bool ipv6_ok)
{
    size_t len = strnlen(n, 254);
    if (len == 0 || len > 253)
        abort();
    const char *ok = ipv6_ok && strchr(n, ':') ? "0123456789abcdef:."
                                               : "abcdefghijklmnopqrstuvwxyz0123456789.-_";
    if (strspn(n, ok) != len || n[len - 1] == '.')
        abort();
}

static void tls(const uint8_t *data, size_t size)
{
    char name[254], again[254];
    int r = sni_parse_tls(data, size, name);
    if (r < SNI_BAD || r > SNI_FOUND)
        abort();
    if (r == SNI_FOUND)
        check_name(name, false);
    if ((r == SNI_FOUND || r == SNI_NONE) && size > 0) {
        int p = sni_parse_tls(data, size / 2, again);
        if (p != SNI_MORE && (p != r || (r == SNI_FOUND && strcmp(name, again))))
            abort();
    }
}

static void http(const uint8_t *data, size_t size)
{
    struct http_target t, u;
    int r = sni_parse_http(data, size, &t);
    if (r != SNI_FOUND && r != SNI_MORE && r != SNI_NOT_THIS && r != SNI_BAD)
        abort();
    if (r != SNI_FOUND)
        return;
    size_t m = strnlen(t.method, sizeof(t.method));
    if (m == 0 || m == sizeof(t.method) || strspn(t.method, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != m)
        abort();
    check_name(t.host, true);
    if (t.head_len > size || t.head_len > SNI_PEEK_MAX || t.uri_len == 0 ||
        t.uri_off + t.uri_len > t.head_len)
        abort();
    if ((t.absolute || !strcmp(t.method, "CONNECT")) && t.port == 0)
        abort();
    if (t.absolute && (t.path_off < t.uri_off || t.path_off + t.path_len != t.uri_off + t.uri_len))
        abort();
    int p = sni_parse_http(data, size / 2, &u);
    if (p != SNI_MORE && (p != SNI_FOUND || strcmp(t.host, u.host) || t.port != u.port))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so that any read past the end is caught. */
    uint8_t *c = malloc(size ? size : 1);
    memcpy(c, data, size);
    tls(c, size);
    http(c, size);
    free(c);
    return 0;
}
