/* The route table: every (method, path pattern) the daemon serves, matched
 * by a pure function so it can be unit-tested and checked against the
 * OpenAPI file. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

enum route_id {
    ROUTE_NONE = 0,
    ROUTE_HEALTH,
    ROUTE_METRICS,
    ROUTE_EVENTS,
    ROUTE_KEYS_CREATE,
    ROUTE_KEYS_LIST,
    ROUTE_KEYS_DELETE,
    ROUTE_SANDBOX_CREATE,
    ROUTE_SANDBOX_LIST,
    ROUTE_SANDBOX_GET,
    ROUTE_SANDBOX_DELETE,
    ROUTE_SANDBOX_PATCH,
    ROUTE_SANDBOX_PAUSE,
    ROUTE_SANDBOX_RESUME,
    ROUTE_NETWORK_GET,
    ROUTE_NETWORK_DENIED,
    ROUTE_EXEC,
    ROUTE_FILE_READ,
    ROUTE_FILE_WRITE,
    ROUTE_FILE_REMOVE,
    ROUTE_FILE_LIST,
    ROUTE_FILE_STAT,
    ROUTE_FILE_MKDIR,
    ROUTE_FILE_MOVE,
    ROUTE_PROC_START,
    ROUTE_PROC_LIST,
    ROUTE_PROC_LOGS,
    ROUTE_PROC_STDIN,
    ROUTE_PROC_SIGNAL,
    ROUTE_PROC_WAIT,
    ROUTE_PROC_RESIZE,
    ROUTE_PROC_ATTACH,
    ROUTE_SEARCH,
    ROUTE_TAR_GET,
    ROUTE_TAR_PUT,
    ROUTE_WATCH,
    ROUTE_PORT_ADD,
    ROUTE_PORT_LIST,
    ROUTE_PORT_REMOVE,
    ROUTE_TOOLS,
    ROUTE_TOOL_CALL,
    ROUTE_IMAGES_LIST,
    ROUTE_IMAGES_INSPECT,
    ROUTE_IMAGES_PULL,
    ROUTE_IMAGES_DELETE,
    ROUTE_IMAGES_PRUNE,
    ROUTE_IMAGES_IMPORT,
};

enum route_body { BODY_NONE, BODY_JSON, BODY_STREAM };

struct route {
    const char *method;
    const char *pattern; /* "{id}" matches one path segment holding a sandbox id */
    enum route_id id;
    enum route_body body;
};

#define ROUTE_ID_MAX 64

struct route_match {
    const struct route *route;
    char id[ROUTE_ID_MAX]; /* the {id} segment, or "" */
    /* The {proc} segment (a pid or a tag; for ports, the port), or "": any bytes but '/', under
     * ROUTE_ID_MAX; its handler checks it. */
    char proc[ROUTE_ID_MAX];
};

/* 0 on a match; -ENOENT when no pattern matches the path; -EOPNOTSUPP when
 * the path exists but not for this method (405); -EINVAL for a malformed id. */
int router_match(const char *method, const char *path, struct route_match *ret);
const struct route *router_table(size_t *ret_n);
