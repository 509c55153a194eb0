/* Endpoints ("/run/x.sock", "unix:/run/x.sock", "http://host:port/prefix")
 * and request targets with percent-encoded segments and query values. Pure:
 * no sockets, no environment. */
#pragma once

#include <stdbool.h>

#include "buf.h"

enum endpoint_kind { ENDPOINT_UNIX, ENDPOINT_TCP };

struct endpoint {
    enum endpoint_kind kind;
    char *path;        /* ENDPOINT_UNIX: the socket path */
    char *host;        /* ENDPOINT_TCP: a name or an address, without brackets */
    char *port;        /* ENDPOINT_TCP: "80" unless given */
    char *host_header; /* the Host header's value */
    char *prefix;      /* prepended to every target: "" or "/base" (no trailing '/') */
    char *display;     /* for messages: the path, or the URL */
};

/* Parses s into ret. On failure returns -EINVAL (or -EPROTONOSUPPORT for
 * https, -ENAMETOOLONG for a socket path that does not fit sun_path) and
 * points *ret_msg at a static explanation. */
int endpoint_parse(const char *s, struct endpoint *ret, const char **ret_msg);
void endpoint_done(struct endpoint *e);

/* Appends s percent-encoded: everything but RFC 3986's unreserved characters
 * (and '/' when keep_slash) becomes %XX. */
int url_append_escaped(struct buf *b, const char *s, bool keep_slash);
/* Appends "?key=value" or "&key=value" (value escaped, '/' kept). */
int url_append_query(struct buf *b, const char *key, const char *value);
