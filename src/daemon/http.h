/* The daemon's HTTP server: libmicrohttpd on a unix socket, one thread per
 * connection so a long exec never blocks other clients. */
#pragma once

#include "api.h"

struct http;

int http_start(struct api *a, const char *socket_path, struct http **ret, struct runra_err **err);
/* Stops accepting new connections (in-flight requests continue). */
void http_quiesce(struct http *h);
void http_stop(struct http *h);
/* The same API on TCP (HOST:PORT), every request authenticated by API key;
 * a must have tcp set. */
int http_start_tcp(struct api *a, const char *listen_addr, struct http **ret,
                   struct runra_err **err);
