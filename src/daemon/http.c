/* libmicrohttpd glue: request bodies are gathered (JSON, bounded) or
 * streamed (file uploads) here, then one handler per route runs. Oversized
 * bodies are refused from Content-Length before a byte is read when possible,
 * and otherwise drained and answered with 413. */
#include "http.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netdb.h>
#include <sys/un.h>

#include "base/enc.h"
#include "base/log.h"
#include "base/util.h"
#include "errmap.h"
#include "keys.h"
#include "proto/limits.h"

struct http {
    struct MHD_Daemon *d;
    int listen_fd;
    char *socket_path;
};

static const api_handler handlers[] = {
    [ROUTE_HEALTH] = api_health,
    [ROUTE_METRICS] = api_metrics,
    [ROUTE_EVENTS] = api_events,
    [ROUTE_KEYS_CREATE] = api_keys_create,
    [ROUTE_KEYS_LIST] = api_keys_list,
    [ROUTE_KEYS_DELETE] = api_keys_delete,
    [ROUTE_SANDBOX_CREATE] = api_sandbox_create,
    [ROUTE_SANDBOX_LIST] = api_sandbox_list,
    [ROUTE_SANDBOX_GET] = api_sandbox_get,
    [ROUTE_SANDBOX_DELETE] = api_sandbox_delete,
    [ROUTE_SANDBOX_PATCH] = api_sandbox_patch,
    [ROUTE_SANDBOX_PAUSE] = api_sandbox_pause,
    [ROUTE_SANDBOX_RESUME] = api_sandbox_resume,
    [ROUTE_NETWORK_GET] = api_network_get,
    [ROUTE_NETWORK_DENIED] = api_network_denied,
    [ROUTE_EXEC] = api_exec,
    [ROUTE_FILE_READ] = api_file_read,
    [ROUTE_FILE_WRITE] = api_file_write_end,
    [ROUTE_FILE_REMOVE] = api_file_remove,
    [ROUTE_FILE_LIST] = api_file_list,
    [ROUTE_FILE_STAT] = api_file_stat,
    [ROUTE_FILE_MKDIR] = api_file_mkdir,
    [ROUTE_FILE_MOVE] = api_file_move,
    [ROUTE_PROC_START] = api_proc_start,
    [ROUTE_PROC_LIST] = api_proc_list,
    [ROUTE_PROC_LOGS] = api_proc_logs,
    [ROUTE_PROC_STDIN] = api_proc_stdin,
    [ROUTE_PROC_SIGNAL] = api_proc_signal,
    [ROUTE_PROC_WAIT] = api_proc_wait,
    [ROUTE_PROC_RESIZE] = api_proc_resize,
    [ROUTE_PROC_ATTACH] = api_proc_attach,
    [ROUTE_SEARCH] = api_search,
    [ROUTE_TAR_GET] = api_tar_get,
    [ROUTE_TAR_PUT] = api_tar_put_end,
    [ROUTE_WATCH] = api_watch,
    [ROUTE_PORT_ADD] = api_port_add,
    [ROUTE_PORT_LIST] = api_port_list,
    [ROUTE_PORT_REMOVE] = api_port_remove,
    [ROUTE_TOOLS] = api_tools_list,
    [ROUTE_IMAGES_LIST] = api_images_list,
    [ROUTE_IMAGES_INSPECT] = api_images_inspect,
    [ROUTE_IMAGES_PULL] = api_images_pull,
    [ROUTE_IMAGES_DELETE] = api_images_delete,
    [ROUTE_IMAGES_PRUNE] = api_images_prune,
    [ROUTE_IMAGES_IMPORT] = api_images_import_end,
    [ROUTE_TOOL_CALL] = api_tool_call,
};

enum MHD_Result api_respond_json(struct MHD_Connection *c, unsigned status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s)
        return MHD_NO;
    size_t len = strlen(s);
    /* A trailing newline makes curl and shell users happier. */
    char *t = realloc(s, len + 2);
    if (!t) {
        free(s);
        return MHD_NO;
    }
    t[len] = '\n';
    t[len + 1] = 0;
    struct MHD_Response *r = MHD_create_response_from_buffer(len + 1, t, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(t);
        return MHD_NO;
    }
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result api_respond_empty(struct MHD_Connection *c, unsigned status)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result api_respond_err(struct MHD_Connection *c, int r, const struct runra_err *e)
{
    int code = e ? e->code : (r < 0 ? -r : r);
    const struct errmap_entry *m = errmap_lookup(code);
    const char *msg = e && e->msg ? e->msg : strerror(code);
    /* Messages quote what the caller sent (paths, URLs), which need not be
     * UTF-8; JSON strings must be. */
    _cleanup_free_ char *clean = NULL;
    size_t n = 0;
    if (utf8_sanitize(msg, strlen(msg), &clean, &n) < 0)
        return MHD_NO;
    return api_respond_json(
        c, m->status,
        json_pack("{s:{s:s,s:s%}}", "error", "code", m->code, "message", clean, n));
}

enum MHD_Result api_respond_errf(struct MHD_Connection *c, int r, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    struct runra_err e = {.code = r < 0 ? -r : r, .msg = buf};
    return api_respond_err(c, r, &e);
}

bool api_client_gone(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN | POLLRDHUP};
    if (fd < 0 || poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLHUP | POLLERR | POLLRDHUP | POLLNVAL))
        return true;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

int api_conn_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

int api_parse_signal(json_t *v, int *ret, struct runra_err **err)
{
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        if (n < 1 || n >= NSIG)
            return err_set(err, EINVAL, "signal %lld is out of range 1-%d", (long long)n,
                           NSIG - 1);
        *ret = (int)n;
        return 0;
    }
    if (!json_is_string(v))
        return err_set(err, EINVAL, "signal must be a number or a name");
    const char *name = json_string_value(v);
    if (!strncmp(name, "SIG", 3))
        name += 3;
    for (int s = 1; s < NSIG; s++) {
        const char *ab = sigabbrev_np(s);
        if (ab && !strcmp(ab, name)) {
            *ret = s;
            return 0;
        }
    }
    return err_set(err, EINVAL, "unknown signal '%.32s'", json_string_value(v));
}

const char *api_query(struct MHD_Connection *c, const char *key)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

struct query_check {
    const char *const *allowed;
    const char *prefix_ok;
    const char *bad;
};

static enum MHD_Result check_key(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct query_check *q = cls;
    if (q->prefix_ok && str_has_prefix(key, q->prefix_ok))
        return MHD_YES;
    for (size_t i = 0; q->allowed && q->allowed[i]; i++)
        if (!strcmp(q->allowed[i], key))
            return MHD_YES;
    q->bad = key;
    return MHD_NO;
}

int api_check_query(struct MHD_Connection *c, const char *const *allowed, const char *prefix_ok,
                    struct runra_err **err)
{
    struct query_check q = {.allowed = allowed, .prefix_ok = prefix_ok};
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_key, &q);
    if (q.bad)
        return err_set(err, EINVAL, "unknown query parameter '%.64s'", q.bad);
    return 0;
}

int api_query_bool(struct MHD_Connection *c, const char *key, bool *ret, struct runra_err **err)
{
    const char *v = api_query(c, key);
    if (!v)
        return 0;
    if (!strcmp(v, "true") || !strcmp(v, "1"))
        *ret = true;
    else if (!strcmp(v, "false") || !strcmp(v, "0"))
        *ret = false;
    else
        return err_set(err, EINVAL, "query parameter '%s' must be true or false", key);
    return 0;
}

int api_query_u64(struct MHD_Connection *c, const char *key, uint64_t *ret,
                  struct runra_err **err)
{
    const char *v = api_query(c, key);
    if (!v)
        return 0;
    if (parse_u64(v, ret) < 0)
        return err_set(err, EINVAL, "query parameter '%s' must be a non-negative integer", key);
    return 0;
}

int api_body_json(struct api_req *rq, json_t **ret, struct runra_err **err)
{
    json_error_t je;
    json_t *j = json_loadb(rq->body ? rq->body : "", rq->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return err_set(err, EINVAL, "malformed JSON: %s (line %d, column %d)", je.text, je.line,
                       je.column);
    if (!json_is_object(j)) {
        json_decref(j);
        return err_set(err, EINVAL, "request body must be a JSON object");
    }
    *ret = j;
    return 0;
}

static void request_done(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct api_req *rq = *con_cls;
    if (!rq)
        return;
    file_wstream_close(rq->ws);
    api_tar_req_done(rq);
    if (rq->import_fd >= 0)
        close(rq->import_fd);
    /* Once upgraded, the session frees itself when it ends. */
    if (rq->attach && !api_attach_upgraded(rq->attach))
        api_attach_free(rq->attach);
    err_free(rq->upload_err);
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

/* A request over TCP: a valid API key, no admin route, and only the key's
 * own sandboxes (any other is "not found", as if it did not exist). */
static int gate(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!a->keys || !keys_check(a->keys, auth, rq->tenant)) {
        snprintf(rq->early_msg, sizeof(rq->early_msg),
                 "missing or wrong API key: send Authorization: Bearer KEY");
        return -ENOKEY;
    }
    enum route_id id = rq->match.route->id;
    /* Images are shared by every key: removing one is the admin's call. */
    if (id == ROUTE_KEYS_CREATE || id == ROUTE_KEYS_LIST || id == ROUTE_KEYS_DELETE ||
        id == ROUTE_METRICS || id == ROUTE_IMAGES_DELETE || id == ROUTE_IMAGES_PRUNE) {
        snprintf(rq->early_msg, sizeof(rq->early_msg),
                 "this route is for the admin: use runrad's unix socket");
        return -EPERM;
    }
    if (rq->match.id[0] && !manager_owned_by(a->m, rq->match.id, rq->tenant)) {
        snprintf(rq->early_msg, sizeof(rq->early_msg), "sandbox '%.64s' not found",
                 rq->match.id);
        return -ENOENT;
    }
    return 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct api *a = cls;
    struct api_req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        rq->import_fd = -1;
        rq->start_ns = now_ns();
        int r = router_match(method, url, &rq->match);
        if (r < 0) {
            rq->early_r = r == -ENOENT ? -ENOENT : r == -EOPNOTSUPP ? -EOPNOTSUPP : -EINVAL;
            snprintf(rq->early_msg, sizeof(rq->early_msg),
                     r == -ENOENT       ? "no route for %s %.200s"
                     : r == -EOPNOTSUPP ? "method %s not allowed on %.200s"
                                        : "malformed sandbox id in %s %.200s",
                     method, url);
            rq->match.route = NULL;
            return MHD_YES;
        }
        if (a->tcp && (r = gate(a, c, rq)) < 0) {
            /* Answered once the body (if any) is drained, like a routing
             * error. */
            rq->early_r = r;
            rq->match.route = NULL;
            return MHD_YES;
        }
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        uint64_t clen = 0;
        if (rq->match.route->body == BODY_JSON && cl && parse_u64(cl, &clen) == 0 &&
            clen > RUNRA_JSON_BODY_MAX)
            return api_respond_errf(c, E2BIG, "request body over %u bytes", RUNRA_JSON_BODY_MAX);
        if (rq->match.route->body == BODY_STREAM && cl && parse_u64(cl, &clen) == 0 &&
            clen > RUNRA_FILE_MAX)
            return api_respond_errf(c, E2BIG, "upload over %llu bytes",
                                    (unsigned long long)RUNRA_FILE_MAX);
        if (rq->match.route->body == BODY_STREAM && rq->match.route->id == ROUTE_TAR_PUT)
            return api_tar_put_begin(a, c, rq);
        if (rq->match.route->id == ROUTE_IMAGES_IMPORT)
            return api_images_import_begin(a, c, rq);
        if (rq->match.route->body == BODY_STREAM)
            return api_file_write_begin(a, c, rq);
        return MHD_YES;
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (!rq->match.route)
            return MHD_YES;
        if (rq->match.route->body == BODY_JSON) {
            if (rq->body_too_big || rq->body_len + n > RUNRA_JSON_BODY_MAX) {
                rq->body_too_big = true;
                return MHD_YES;
            }
            char *nb = realloc(rq->body, rq->body_len + n + 1);
            if (!nb)
                return MHD_NO;
            memcpy(nb + rq->body_len, upload, n);
            rq->body_len += n;
            nb[rq->body_len] = 0;
            rq->body = nb;
        } else if (rq->match.route->body == BODY_STREAM) {
            rq->uploaded += n;
            if (rq->upload_r >= 0 && rq->uploaded > RUNRA_FILE_MAX)
                rq->upload_r = err_set(&rq->upload_err, E2BIG, "upload over %llu bytes",
                                       (unsigned long long)RUNRA_FILE_MAX);
            if (rq->upload_r >= 0 && rq->ws)
                rq->upload_r = file_wstream_write(rq->ws, upload, n, &rq->upload_err);
            if (rq->upload_r >= 0 && rq->tws)
                rq->upload_r = api_tar_put_data(rq, upload, n);
            if (rq->upload_r >= 0 && rq->import_fd >= 0)
                rq->upload_r = api_images_import_data(rq, upload, n);
        } else {
            /* A body where none belongs is drained and then refused. */
            rq->body_too_big = true;
        }
        return MHD_YES;
    }
    if (!rq->match.route)
        return api_respond_errf(c, rq->early_r ? rq->early_r : -ENOENT, "%s", rq->early_msg);
    if (rq->body_too_big) {
        if (rq->match.route->body == BODY_NONE)
            return api_respond_errf(c, EINVAL, "%s %s takes no request body", method, url);
        return api_respond_errf(c, E2BIG, "request body over %u bytes", RUNRA_JSON_BODY_MAX);
    }
    enum MHD_Result ret = handlers[rq->match.route->id](a, c, rq);
    log_debug("event=request method=%s path=%s us=%llu", method, url,
              (unsigned long long)((now_ns() - rq->start_ns) / 1000));
    return ret;
}

int http_start(struct api *a, const char *socket_path, struct http **ret, struct runra_err **err)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(socket_path) >= sizeof(sa.sun_path))
        return err_set(err, ENAMETOOLONG, "socket path '%s' too long", socket_path);
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    _cleanup_close_ int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_sys(err, errno, "socket");
    /* A socket file with nobody listening is stale (a crashed daemon);
     * one that answers belongs to a running daemon and is left alone. */
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
        return err_set(err, EADDRINUSE, "another runrad is listening on '%s'", socket_path);
    close(fd);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return err_sys(err, errno, "socket");
    unlink(socket_path);
    mode_t old = umask(0077);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0)
        return err_sys(err, errno, "bind '%s'", socket_path);
    if (listen(fd, 128) < 0)
        return err_sys(err, errno, "listen on '%s'", socket_path);
    struct http *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->socket_path = strdup(socket_path);
    h->listen_fd = fd;
    h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_POLL | MHD_USE_ITC | MHD_ALLOW_UPGRADE,
                            0, NULL, NULL, on_request, a, MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_END);
    if (!h->d) {
        free(h->socket_path);
        free(h);
        unlink(socket_path);
        return err_set(err, EIO, "start HTTP server on '%s'", socket_path);
    }
    fd = -1; /* owned by MHD now */
    *ret = h;
    return 0;
}

void http_quiesce(struct http *h)
{
    if (!h || !h->d || h->listen_fd < 0)
        return;
    /* After quiescing, the listening socket is ours to close. */
    int fd = MHD_quiesce_daemon(h->d);
    if (fd >= 0)
        close(fd);
    h->listen_fd = -1;
}

void http_stop(struct http *h)
{
    if (!h)
        return;
    api_attach_stop_all();
    if (h->d)
        MHD_stop_daemon(h->d); /* closes the listening socket unless quiesced */
    if (h->socket_path)
        unlink(h->socket_path);
    free(h->socket_path);
    free(h);
}

int http_start_tcp(struct api *a, const char *listen_addr, struct http **ret,
                   struct runra_err **err)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || colon == listen_addr || (size_t)(colon - listen_addr) >= sizeof(host))
        return err_set(err, EINVAL, "--listen takes HOST:PORT, not '%s'", listen_addr);
    memcpy(host, listen_addr, (size_t)(colon - listen_addr));
    host[colon - listen_addr] = 0;
    /* [::1]:8080 */
    char *h0 = host;
    if (h0[0] == '[' && h0[strlen(h0) - 1] == ']') {
        h0[strlen(h0) - 1] = 0;
        h0++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(h0, colon + 1, &hints, &ai);
    if (g != 0)
        return err_set(err, EINVAL, "--listen '%s': %s", listen_addr, gai_strerror(g));
    _cleanup_close_ int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        freeaddrinfo(ai);
        return err_sys(err, e, "listen on '%s'", listen_addr);
    }
    freeaddrinfo(ai);
    struct http *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->listen_fd = fd;
    h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                                MHD_USE_POLL | MHD_USE_ITC | MHD_ALLOW_UPGRADE,
                            0, NULL, NULL, on_request, a, MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024, MHD_OPTION_END);
    if (!h->d) {
        free(h);
        return err_set(err, EIO, "start HTTP server on '%s'", listen_addr);
    }
    fd = -1;
    *ret = h;
    return 0;
}
