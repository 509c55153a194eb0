/* Endpoint parsing and percent-encoding. Everything a caller passes into a
 * request target (ids, paths, metadata) is escaped here, so no caller string
 * can add a segment, a query parameter or a header line. */
#include "url.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "base/util.h"

static int set_unix(struct endpoint *e, const char *path, const char **ret_msg)
{
    struct sockaddr_un sa;
    if (!*path) {
        *ret_msg = "empty socket path";
        return -EINVAL;
    }
    if (strlen(path) >= sizeof(sa.sun_path)) {
        *ret_msg = "socket path longer than a unix socket address allows (107 bytes)";
        return -ENAMETOOLONG;
    }
    e->kind = ENDPOINT_UNIX;
    e->path = strdup(path);
    e->display = strdup(path);
    e->host_header = strdup("localhost");
    e->prefix = strdup("");
    if (!e->path || !e->display || !e->host_header || !e->prefix)
        return -ENOMEM;
    return 0;
}

/* A host name or address: letters, digits, '-', '.', and ':' inside
 * brackets. Anything else could smuggle bytes into the Host header. */
static bool host_ok(const char *h, size_t n, bool bracketed)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = h[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_' || (bracketed && (c == ':' || c == '%'));
        if (!ok)
            return false;
    }
    return true;
}

static int set_tcp(struct endpoint *e, const char *url, const char **ret_msg)
{
    const char *p = url + strlen("http://");
    const char *host, *host_end, *port = NULL, *port_end = NULL;
    bool bracketed = false;

    if (*p == '[') {
        bracketed = true;
        host = p + 1;
        host_end = strchr(host, ']');
        if (!host_end) {
            *ret_msg = "unterminated '[' in URL";
            return -EINVAL;
        }
        p = host_end + 1;
    } else {
        host = p;
        while (*p && *p != ':' && *p != '/')
            p++;
        host_end = p;
    }
    if (!host_ok(host, (size_t)(host_end - host), bracketed)) {
        *ret_msg = "bad host in URL";
        return -EINVAL;
    }
    if (*p == ':') {
        port = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        port_end = p;
        uint64_t v;
        char tmp[8];
        size_t n = (size_t)(port_end - port);
        if (n == 0 || n >= sizeof(tmp)) {
            *ret_msg = "bad port in URL";
            return -EINVAL;
        }
        memcpy(tmp, port, n);
        tmp[n] = '\0';
        if (parse_u64(tmp, &v) < 0 || v == 0 || v > 65535) {
            *ret_msg = "bad port in URL";
            return -EINVAL;
        }
    }
    if (*p && *p != '/') {
        *ret_msg = "unexpected character after the host in URL";
        return -EINVAL;
    }
    /* A base path lets runrad sit behind a proxy under /something. */
    size_t plen = strlen(p);
    while (plen > 0 && p[plen - 1] == '/')
        plen--;
    for (size_t i = 0; i < plen; i++)
        if ((unsigned char)p[i] <= ' ' || p[i] == '?' || p[i] == '#' || p[i] == 0x7f) {
            *ret_msg = "bad path in URL";
            return -EINVAL;
        }

    e->kind = ENDPOINT_TCP;
    e->host = strndup(host, (size_t)(host_end - host));
    e->port = port ? strndup(port, (size_t)(port_end - port)) : strdup("80");
    e->prefix = strndup(p, plen);
    e->display = strdup(url);
    if (!e->host || !e->port || !e->prefix || !e->display)
        return -ENOMEM;
    int n = port ? asprintf(&e->host_header, "%s%s%s:%s", bracketed ? "[" : "", e->host,
                            bracketed ? "]" : "", e->port)
                 : asprintf(&e->host_header, "%s%s%s", bracketed ? "[" : "", e->host,
                            bracketed ? "]" : "");
    if (n < 0) {
        e->host_header = NULL;
        return -ENOMEM;
    }
    return 0;
}

int endpoint_parse(const char *s, struct endpoint *ret, const char **ret_msg)
{
    static const char *unused;
    if (!ret_msg)
        ret_msg = &unused;
    struct endpoint e = { 0 };
    int r;
    if (str_has_prefix(s, "http://"))
        r = set_tcp(&e, s, ret_msg);
    else if (str_has_prefix(s, "https://")) {
        *ret_msg = "https is not supported; reach runrad over its unix socket or plain http";
        r = -EPROTONOSUPPORT;
    } else if (str_has_prefix(s, "unix://"))
        r = set_unix(&e, s + strlen("unix://"), ret_msg);
    else if (str_has_prefix(s, "unix:"))
        r = set_unix(&e, s + strlen("unix:"), ret_msg);
    else if (strstr(s, "://")) {
        *ret_msg = "unknown URL scheme (use a socket path or http://host:port)";
        r = -EINVAL;
    } else
        r = set_unix(&e, s, ret_msg);
    if (r == -ENOMEM)
        *ret_msg = "out of memory";
    if (r < 0) {
        endpoint_done(&e);
        return r;
    }
    *ret = e;
    return 0;
}

void endpoint_done(struct endpoint *e)
{
    free(e->path);
    free(e->host);
    free(e->port);
    free(e->host_header);
    free(e->prefix);
    free(e->display);
    *e = (struct endpoint){ 0 };
}

static bool unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

int url_append_escaped(struct buf *b, const char *s, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        int r;
        if (unreserved(*p) || (keep_slash && *p == '/'))
            r = buf_append(b, p, 1);
        else {
            char esc[3] = { '%', hex[*p >> 4], hex[*p & 15] };
            r = buf_append(b, esc, 3);
        }
        if (r < 0)
            return r;
    }
    return 0;
}

int url_append_query(struct buf *b, const char *key, const char *value)
{
    bool first = !b->data || !memchr(b->data, '?', b->len);
    int r = buf_append(b, first ? "?" : "&", 1);
    if (r >= 0)
        r = url_append_escaped(b, key, false);
    if (r >= 0)
        r = buf_append(b, "=", 1);
    if (r >= 0)
        r = url_append_escaped(b, value, true);
    return r;
}
