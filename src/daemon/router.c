/* Route table and matcher. Paths are compared segment by segment; "{id}"
 * accepts [A-Za-z0-9_-]{1,63}, so an id can never smuggle a slash, a dot
 * segment or a NUL into anything downstream. */
#include "router.h"

#include <errno.h>
#include <string.h>

#include "base/macro.h"

static const struct route routes[] = {
    {"GET", "/v1/health", ROUTE_HEALTH, BODY_NONE},
    {"GET", "/metrics", ROUTE_METRICS, BODY_NONE},
    {"GET", "/v1/events", ROUTE_EVENTS, BODY_NONE},
    {"POST", "/v1/keys", ROUTE_KEYS_CREATE, BODY_JSON},
    {"GET", "/v1/keys", ROUTE_KEYS_LIST, BODY_NONE},
    {"DELETE", "/v1/keys/{id}", ROUTE_KEYS_DELETE, BODY_NONE},
    {"POST", "/v1/sandboxes", ROUTE_SANDBOX_CREATE, BODY_JSON},
    {"GET", "/v1/sandboxes", ROUTE_SANDBOX_LIST, BODY_NONE},
    {"GET", "/v1/sandboxes/{id}", ROUTE_SANDBOX_GET, BODY_NONE},
    {"DELETE", "/v1/sandboxes/{id}", ROUTE_SANDBOX_DELETE, BODY_NONE},
    {"PATCH", "/v1/sandboxes/{id}", ROUTE_SANDBOX_PATCH, BODY_JSON},
    {"POST", "/v1/sandboxes/{id}/pause", ROUTE_SANDBOX_PAUSE, BODY_NONE},
    {"POST", "/v1/sandboxes/{id}/resume", ROUTE_SANDBOX_RESUME, BODY_NONE},
    {"GET", "/v1/sandboxes/{id}/network", ROUTE_NETWORK_GET, BODY_NONE},
    {"GET", "/v1/sandboxes/{id}/network/denied", ROUTE_NETWORK_DENIED, BODY_NONE},
    {"POST", "/v1/sandboxes/{id}/exec", ROUTE_EXEC, BODY_JSON},
    {"GET", "/v1/sandboxes/{id}/files", ROUTE_FILE_READ, BODY_NONE},
    {"PUT", "/v1/sandboxes/{id}/files", ROUTE_FILE_WRITE, BODY_STREAM},
    {"DELETE", "/v1/sandboxes/{id}/files", ROUTE_FILE_REMOVE, BODY_NONE},
    {"GET", "/v1/sandboxes/{id}/files/list", ROUTE_FILE_LIST, BODY_NONE},
    {"GET", "/v1/sandboxes/{id}/files/stat", ROUTE_FILE_STAT, BODY_NONE},
    {"POST", "/v1/sandboxes/{id}/files/mkdir", ROUTE_FILE_MKDIR, BODY_JSON},
    {"POST", "/v1/sandboxes/{id}/files/move", ROUTE_FILE_MOVE, BODY_JSON},
    {"POST", "/v1/sandboxes/{id}/processes", ROUTE_PROC_START, BODY_JSON},
    {"GET", "/v1/sandboxes/{id}/processes", ROUTE_PROC_LIST, BODY_NONE},
    {"GET", "/v1/sandboxes/{id}/processes/{proc}/logs", ROUTE_PROC_LOGS, BODY_NONE},
    /* A raw body, gathered (bounded) like a JSON one. */
    {"POST", "/v1/sandboxes/{id}/processes/{proc}/stdin", ROUTE_PROC_STDIN, BODY_JSON},
    {"POST", "/v1/sandboxes/{id}/processes/{proc}/signal", ROUTE_PROC_SIGNAL, BODY_JSON},
    {"POST", "/v1/sandboxes/{id}/processes/{proc}/wait", ROUTE_PROC_WAIT, BODY_JSON},
    {"POST", "/v1/sandboxes/{id}/processes/{proc}/resize", ROUTE_PROC_RESIZE, BODY_JSON},
    {"GET", "/v1/sandboxes/{id}/processes/{proc}/attach", ROUTE_PROC_ATTACH, BODY_NONE},
    {"POST", "/v1/sandboxes/{id}/search", ROUTE_SEARCH, BODY_JSON},
    {"GET", "/v1/sandboxes/{id}/files/tar", ROUTE_TAR_GET, BODY_NONE},
    {"PUT", "/v1/sandboxes/{id}/files/tar", ROUTE_TAR_PUT, BODY_STREAM},
    {"GET", "/v1/sandboxes/{id}/files/watch", ROUTE_WATCH, BODY_NONE},
    {"POST", "/v1/sandboxes/{id}/ports", ROUTE_PORT_ADD, BODY_JSON},
    {"GET", "/v1/sandboxes/{id}/ports", ROUTE_PORT_LIST, BODY_NONE},
    /* The port travels in the {proc} segment; its handler checks it. */
    {"DELETE", "/v1/sandboxes/{id}/ports/{proc}", ROUTE_PORT_REMOVE, BODY_NONE},
    {"GET", "/v1/tools", ROUTE_TOOLS, BODY_NONE},
    {"POST", "/v1/sandboxes/{id}/tools/call", ROUTE_TOOL_CALL, BODY_JSON},
    {"GET", "/v1/images", ROUTE_IMAGES_LIST, BODY_NONE},
    {"GET", "/v1/images/inspect", ROUTE_IMAGES_INSPECT, BODY_NONE},
    {"POST", "/v1/images/pull", ROUTE_IMAGES_PULL, BODY_JSON},
    {"DELETE", "/v1/images", ROUTE_IMAGES_DELETE, BODY_NONE},
    {"POST", "/v1/images/prune", ROUTE_IMAGES_PRUNE, BODY_NONE},
    {"POST", "/v1/images/import", ROUTE_IMAGES_IMPORT, BODY_STREAM},
};

const struct route *router_table(size_t *ret_n)
{
    *ret_n = ARRAY_SIZE(routes);
    return routes;
}

static bool id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

/* 1 match, 0 no match, -EINVAL bad id in the {id} position. */
static int match_path(const char *pattern, const char *path, char id[ROUTE_ID_MAX],
                      char proc[ROUTE_ID_MAX])
{
    const char *p = pattern, *s = path;
    id[0] = 0;
    proc[0] = 0;
    while (*p) {
        if (!strncmp(p, "{proc}", 6)) {
            size_t n = strcspn(s, "/");
            if (n == 0 || n >= ROUTE_ID_MAX)
                return 0;
            memcpy(proc, s, n);
            proc[n] = 0;
            s += n;
            p += 6;
            continue;
        }
        if (!strncmp(p, "{id}", 4)) {
            size_t n = 0;
            while (s[n] && s[n] != '/')
                n++;
            if (n == 0)
                return 0;
            bool ok = n < ROUTE_ID_MAX;
            for (size_t i = 0; ok && i < n; i++)
                ok = id_char(s[i]);
            /* Only a bad id where the rest of the pattern still fits is an
             * error; otherwise it simply is not this route. */
            if (!ok) {
                const char *rest_p = p + 4, *rest_s = s + n;
                return strcmp(rest_p, rest_s) == 0 ? -EINVAL : 0;
            }
            memcpy(id, s, n);
            id[n] = 0;
            s += n;
            p += 4;
            continue;
        }
        if (*p != *s)
            return 0;
        p++;
        s++;
    }
    return *s == 0 ? 1 : 0;
}

int router_match(const char *method, const char *path, struct route_match *ret)
{
    bool path_known = false, bad_id = false;
    char id[ROUTE_ID_MAX], proc[ROUTE_ID_MAX];
    for (size_t i = 0; i < ARRAY_SIZE(routes); i++) {
        int m = match_path(routes[i].pattern, path, id, proc);
        if (m < 0)
            bad_id = true;
        if (m <= 0)
            continue;
        path_known = true;
        if (strcmp(routes[i].method, method) != 0)
            continue;
        ret->route = &routes[i];
        memcpy(ret->id, id, sizeof(id));
        memcpy(ret->proc, proc, sizeof(proc));
        return 0;
    }
    if (path_known)
        return -EOPNOTSUPP;
    return bad_id ? -EINVAL : -ENOENT;
}
