/* The name a TCP connection asks for: the SNI of a TLS ClientHello, or the
 * host of an HTTP/1.x request head. The bytes come straight from the
 * sandbox: nothing is read past min(len, SNI_PEEK_MAX), every length is
 * checked against what is there before it is used, and anything unusual is
 * SNI_BAD rather than a guess, because the proxy must not read a different
 * name out of the same bytes than the server they are forwarded to. */
#include "sni.h"

#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>

#define TLS_RECORD_MAX 16384 /* a record's plaintext length bound (RFC 8446 5.1) */
#define TLS_RECORD_HDR 5
#define NAME_MAX_LEN 253

static char lower(char c) { return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c; }

/* Copies a host name lowercased and without one trailing dot. Only letters,
 * digits, '-', '_' and dots between non-empty labels: no escapes, spaces or
 * bytes a later consumer could read differently. -1 when bad. */
static int copy_name(const uint8_t *s, size_t n, char out[254])
{
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0 || n > NAME_MAX_LEN || s[n - 1] == '.')
        return -1;
    for (size_t i = 0; i < n; i++) {
        char c = (char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.';
        if (!ok || (c == '.' && (i == 0 || s[i - 1] == '.')))
            return -1;
    }
    for (size_t i = 0; i < n; i++)
        out[i] = lower((char)s[i]);
    out[n] = '\0';
    return 0;
}

/* A cursor that never moves past its end. */
struct rd {
    const uint8_t *p;
    size_t n, off;
};

static bool rd_u8(struct rd *r, size_t *v)
{
    if (r->n - r->off < 1)
        return false;
    *v = r->p[r->off++];
    return true;
}

static bool rd_u16(struct rd *r, size_t *v)
{
    if (r->n - r->off < 2)
        return false;
    *v = (size_t)r->p[r->off] << 8 | r->p[r->off + 1];
    r->off += 2;
    return true;
}

/* Takes the next len bytes as a sub-cursor. */
static bool rd_sub(struct rd *r, size_t len, struct rd *sub)
{
    if (r->n - r->off < len)
        return false;
    *sub = (struct rd){.p = r->p + r->off, .n = len};
    r->off += len;
    return true;
}

/* server_name (RFC 6066 3): a list of (type, name); one host_name (type 0)
 * at most. Other name types are skipped. */
static int server_name(struct rd *ext, char name[254])
{
    size_t list_len, type, len;
    struct rd list, one;
    if (!rd_u16(ext, &list_len) || list_len == 0 || list_len != ext->n - ext->off ||
        !rd_sub(ext, list_len, &list))
        return SNI_BAD;
    bool found = false;
    while (list.off < list.n) {
        if (!rd_u8(&list, &type) || !rd_u16(&list, &len) || !rd_sub(&list, len, &one))
            return SNI_BAD;
        if (type != 0)
            continue;
        if (found || copy_name(one.p, one.n, name) < 0)
            return SNI_BAD;
        found = true;
    }
    return found ? SNI_FOUND : SNI_NONE;
}

/* The ClientHello body (RFC 8446 4.1.2, RFC 5246 7.4.1.2), complete. */
static int client_hello(struct rd *r, char name[254])
{
    size_t version, n;
    if (!rd_u16(r, &version) || version >> 8 != 3)
        return SNI_BAD;
    struct rd skip;
    if (!rd_sub(r, 32, &skip)) /* random */
        return SNI_BAD;
    if (!rd_u8(r, &n) || n > 32 || !rd_sub(r, n, &skip)) /* legacy_session_id */
        return SNI_BAD;
    if (!rd_u16(r, &n) || n < 2 || n % 2 || !rd_sub(r, n, &skip)) /* cipher_suites */
        return SNI_BAD;
    if (!rd_u8(r, &n) || n < 1 || !rd_sub(r, n, &skip)) /* compression_methods */
        return SNI_BAD;
    if (r->off == r->n) /* no extensions at all (TLS 1.0-1.2 allow it) */
        return SNI_NONE;
    size_t ext_len;
    if (!rd_u16(r, &ext_len) || ext_len != r->n - r->off)
        return SNI_BAD;
    /* Walk every extension so that a malformed tail is not hidden behind a
     * name that came first; a second server_name would let two readers pick
     * different ones. */
    int res = SNI_NONE;
    bool seen = false;
    char found[254];
    while (r->off < r->n) {
        size_t type, len;
        struct rd ext;
        if (!rd_u16(r, &type) || !rd_u16(r, &len) || !rd_sub(r, len, &ext))
            return SNI_BAD;
        if (type != 0)
            continue;
        if (seen)
            return SNI_BAD;
        seen = true;
        res = server_name(&ext, found);
        if (res == SNI_BAD)
            return SNI_BAD;
    }
    if (res != SNI_FOUND)
        return SNI_NONE;
    memcpy(name, found, strlen(found) + 1);
    return SNI_FOUND;
}

int sni_parse_tls(const uint8_t *buf, size_t len, char name[254])
{
    size_t n = len < SNI_PEEK_MAX ? len : SNI_PEEK_MAX;
    /* What running out of bytes means: wait for more, unless the proxy
     * already read all it is going to. */
    int ran_out = len < SNI_PEEK_MAX ? SNI_MORE : SNI_BAD;
    if (n == 0)
        return SNI_MORE;
    if (buf[0] != 0x16 || (n >= 2 && buf[1] != 3))
        return SNI_NOT_THIS;

    /* Join the handshake records' payloads until the whole ClientHello
     * message (4-byte header and body) is there. It fits in hs: the payloads
     * are a part of the first n <= SNI_PEEK_MAX bytes. */
    uint8_t hs[SNI_PEEK_MAX];
    size_t hs_n = 0, off = 0, want = 0;
    while (!want || hs_n < want) {
        if (n - off < TLS_RECORD_HDR)
            return ran_out;
        const uint8_t *h = buf + off;
        size_t rlen = (size_t)h[3] << 8 | h[4];
        /* Nothing else may come before the hello is complete, and records
         * are never empty or oversized (RFC 8446 5.1). */
        if (h[0] != 0x16 || h[1] != 3 || h[2] > 4 || rlen == 0 || rlen > TLS_RECORD_MAX)
            return SNI_BAD;
        off += TLS_RECORD_HDR;
        size_t take = rlen < n - off ? rlen : n - off;
        memcpy(hs + hs_n, buf + off, take);
        hs_n += take;
        off += take;
        if (!want && hs_n >= 4) {
            if (hs[0] != 1) /* client_hello */
                return SNI_BAD;
            want = 4 + ((size_t)hs[1] << 16 | (size_t)hs[2] << 8 | hs[3]);
            /* It must fit in the peek window with at least one record header. */
            if (want + TLS_RECORD_HDR > SNI_PEEK_MAX)
                return SNI_BAD;
        }
        if (take < rlen && (!want || hs_n < want))
            return ran_out;
    }
    struct rd r = {.p = hs + 4, .n = want - 4};
    return client_hello(&r, name);
}

/* token characters of a header name (RFC 9110 5.6.2) */
static bool is_tchar(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* host, "[v6]" or either with ":port" (1..65535; required when need_port).
 * The port stays 0 when absent. IPv6 literals are returned unbracketed. */
static int host_port(const uint8_t *s, size_t n, bool need_port, char host[254], uint16_t *ret_port)
{
    size_t host_end;
    const uint8_t *port = NULL;
    if (n > 0 && s[0] == '[') {
        const uint8_t *close = memchr(s, ']', n);
        size_t in = close ? (size_t)(close - s - 1) : 0;
        char tmp[64];
        struct in6_addr a6;
        if (!close || in == 0 || in >= sizeof(tmp))
            return -1;
        memcpy(tmp, s + 1, in);
        tmp[in] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1)
            return -1;
        host_end = (size_t)(close - s) + 1;
        if (host_end < n && s[host_end] != ':')
            return -1;
        for (size_t i = 0; i <= in; i++)
            host[i] = lower(tmp[i]);
    } else {
        const uint8_t *colon = memchr(s, ':', n);
        host_end = colon ? (size_t)(colon - s) : n;
        if (copy_name(s, host_end, host) < 0)
            return -1;
    }
    if (host_end < n)
        port = s + host_end + 1;
    if (!port) {
        if (need_port)
            return -1;
        *ret_port = 0;
        return 0;
    }
    size_t plen = (size_t)(s + n - port);
    unsigned long v = 0;
    if (plen == 0 || plen > 5)
        return -1;
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(port[i] - '0');
    }
    if (v == 0 || v > 65535)
        return -1;
    *ret_port = (uint16_t)v;
    return 0;
}

/* Checks that every CR is followed by LF and every LF follows a CR, and
 * that there is no NUL, in the n bytes read so far. Bare CR or LF is where
 * HTTP readers disagree about line ends. */
static bool line_ends_ok(const uint8_t *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (b[i] == 0 || (b[i] == '\r' && i + 1 < n && b[i + 1] != '\n') ||
            (b[i] == '\n' && (i == 0 || b[i - 1] != '\r')))
            return false;
    }
    return true;
}

static bool prefix_nocase(const uint8_t *s, size_t n, const char *p)
{
    size_t k = strlen(p);
    if (n < k)
        return false;
    for (size_t i = 0; i < k; i++)
        if (lower((char)s[i]) != p[i])
            return false;
    return true;
}

int sni_parse_http(const uint8_t *buf, size_t len, struct http_target *ret)
{
    size_t n = len < SNI_PEEK_MAX ? len : SNI_PEEK_MAX;
    int ran_out = len < SNI_PEEK_MAX ? SNI_MORE : SNI_BAD;
    struct http_target t = {0};

    /* The method: 1-15 uppercase letters and a space, or it is not HTTP. */
    size_t m = 0;
    while (m < n && m < sizeof(t.method) && buf[m] >= 'A' && buf[m] <= 'Z')
        m++;
    if (m == n && m < sizeof(t.method))
        return SNI_MORE;
    if (m == 0 || m >= sizeof(t.method) || buf[m] != ' ')
        return SNI_NOT_THIS;
    memcpy(t.method, buf, m);

    /* Only the head is checked: a body may follow it in the same bytes. */
    const uint8_t *end = memmem(buf, n, "\r\n\r\n", 4);
    if (!line_ends_ok(buf, end ? (size_t)(end - buf) + 4 : n))
        return SNI_BAD;
    if (!end)
        return ran_out;
    t.head_len = (size_t)(end - buf) + 4;

    /* The request line: METHOD SP target SP HTTP/1.x */
    const uint8_t *eol = memmem(buf, t.head_len, "\r\n", 2);
    size_t line = (size_t)(eol - buf);
    t.uri_off = m + 1;
    while (t.uri_off + t.uri_len < line && buf[t.uri_off + t.uri_len] > 0x20 &&
           buf[t.uri_off + t.uri_len] < 0x7f)
        t.uri_len++;
    size_t v = t.uri_off + t.uri_len;
    if (t.uri_len == 0 || line - v != 9 || memcmp(buf + v, " HTTP/1.", 8) != 0 ||
        buf[v + 8] < '0' || buf[v + 8] > '9')
        return SNI_BAD;

    /* Header lines, up to the blank line: name ":" OWS value OWS. */
    size_t host_off = 0, host_len = 0, hosts = 0;
    for (size_t p = line + 2; p < t.head_len - 2;) {
        const uint8_t *le = memmem(buf + p, t.head_len - p, "\r\n", 2);
        size_t e = (size_t)(le - buf), k = p;
        while (k < e && is_tchar(buf[k]))
            k++;
        /* No name (which includes an obs-fold continuation line) or a
         * space before the colon: rejected, as RFC 9112 asks. */
        if (k == p || k == e || buf[k] != ':')
            return SNI_BAD;
        size_t vs = k + 1, ve = e;
        while (vs < ve && (buf[vs] == ' ' || buf[vs] == '\t'))
            vs++;
        while (ve > vs && (buf[ve - 1] == ' ' || buf[ve - 1] == '\t'))
            ve--;
        for (size_t i = vs; i < ve; i++)
            if (buf[i] < 0x20 && buf[i] != '\t')
                return SNI_BAD;
        if (k - p == 4 && prefix_nocase(buf + p, 4, "host")) {
            hosts++;
            host_off = vs;
            host_len = ve - vs;
        }
        p = e + 2;
    }
    /* Two Host headers are the classic way to make two readers disagree. */
    if (hosts > 1)
        return SNI_BAD;

    const uint8_t *uri = buf + t.uri_off;
    if (!strcmp(t.method, "CONNECT")) {
        if (host_port(uri, t.uri_len, true, t.host, &t.port) < 0)
            return SNI_BAD;
    } else if (prefix_nocase(uri, t.uri_len, "http://")) {
        const uint8_t *auth = uri + 7, *uend = uri + t.uri_len;
        const uint8_t *a = auth;
        while (a < uend && *a != '/' && *a != '?' && *a != '#')
            a++;
        /* No userinfo ("http://allowed@evil/") and no fragment: both are
         * where URL parsers part ways. */
        if (memchr(auth, '@', (size_t)(a - auth)) || memchr(uri, '#', t.uri_len) ||
            host_port(auth, (size_t)(a - auth), false, t.host, &t.port) < 0)
            return SNI_BAD;
        if (t.port == 0)
            t.port = 80;
        t.absolute = 1;
        t.path_off = (size_t)(a - buf);
        t.path_len = (size_t)(uend - a);
        /* A Host header that names another server than the URI would be a
         * plain-HTTP domain front if anything downstream read it. */
        if (hosts) {
            char h[254];
            uint16_t hp;
            if (host_port(buf + host_off, host_len, false, h, &hp) < 0 || strcmp(h, t.host) ||
                (hp ? hp : 80) != t.port)
                return SNI_BAD;
        }
    } else {
        bool star = t.uri_len == 1 && uri[0] == '*' && !strcmp(t.method, "OPTIONS");
        if ((uri[0] != '/' && !star) || hosts != 1 ||
            host_port(buf + host_off, host_len, false, t.host, &t.port) < 0)
            return SNI_BAD;
    }
    *ret = t;
    return SNI_FOUND;
}
