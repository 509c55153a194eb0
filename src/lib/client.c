/* The client handle: an endpoint and one kept-alive connection. A `runra
 * run` is create, exec and destroy over a single connection. */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "json-read.h"

const char *runra_version(void)
{
    return RUNRA_VERSION;
}

int runra_client_new(const char *endpoint, runra_client **ret, struct runra_error **err)
{
    if (!ret)
        return lib_err_set(err, EINVAL, "runra_client_new: ret is NULL");
    if (!endpoint || !*endpoint) {
        endpoint = getenv("RUNRA_SOCKET");
        if (!endpoint || !*endpoint)
            endpoint = RUNRA_DEFAULT_SOCKET;
    }
    runra_client *c = calloc(1, sizeof(*c));
    if (!c)
        return lib_err_set(err, ENOMEM, "out of memory");
    const char *msg = NULL;
    int r = endpoint_parse(endpoint, &c->ep, &msg);
    if (r < 0) {
        free(c);
        return lib_err_set(err, -r, "endpoint '%s': %s", endpoint, msg);
    }
    http_conn_init(&c->conn, &c->ep);
    *ret = c;
    return 0;
}

void runra_client_free(runra_client *c)
{
    if (!c)
        return;
    http_conn_done(&c->conn);
    endpoint_done(&c->ep);
    free(c);
}

int runra_client_connect(runra_client *c, struct runra_error **err)
{
    return http_conn_connect(&c->conn, err);
}

int runra_client_set_api_key(runra_client *c, const char *key, struct runra_error **err)
{
    char *auth = NULL;
    if (key) {
        /* The key goes into a header line: a control character in it could
         * end that line and start another. */
        for (const unsigned char *p = (const unsigned char *)key; *p; p++)
            if (*p < 0x20 || *p == 0x7f)
                return lib_err_set(err, EINVAL, "API key holds a control character");
        if (!*key)
            return lib_err_set(err, EINVAL, "empty API key");
        if (asprintf(&auth, "Bearer %s", key) < 0)
            return lib_err_set(err, ENOMEM, "out of memory");
    }
    free(c->conn.auth);
    c->conn.auth = auth;
    return 0;
}

void runra_client_set_timeout_ms(runra_client *c, uint64_t timeout_ms)
{
    c->conn.timeout_ms = timeout_ms;
}

void runra_client_set_cancel(runra_client *c, int (*cancel)(void *userdata), void *userdata)
{
    c->conn.cancel = cancel;
    c->conn.cancel_userdata = userdata;
}

const char *runra_client_endpoint(const runra_client *c)
{
    return c->ep.display;
}

int client_target(struct buf *t, const char *id, const char *suffix, struct runra_error **err)
{
    int r = buf_append_str(t, "/v1/sandboxes");
    if (r >= 0 && id) {
        if (!*id)
            return lib_err_set(err, EINVAL, "empty sandbox id");
        r = buf_append_str(t, "/");
        if (r >= 0)
            r = url_append_escaped(t, id, false);
    }
    if (r >= 0 && suffix)
        r = buf_append_str(t, suffix);
    if (r < 0)
        return lib_err_set(err, ENOMEM, "out of memory");
    return 0;
}

/* Reads {"error":{"code","message"}} from a failed answer; anything else
 * becomes "HTTP <status>: <first line of the body>". */
int client_error_from_body(const struct http_response *resp, struct runra_error **err)
{
    json_error_t je;
    json_auto_t *v = resp->body.len ? json_loadb(resp->body.data, resp->body.len, 0, &je) : NULL;
    json_t *e = json_object_get(v, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *message = json_string_value(json_object_get(e, "message"));
    if (code || message)
        return lib_err_api(err, resp->status, code, message);

    char line[200] = "";
    if (resp->body.len) {
        size_t n = strcspn(resp->body.data, "\r\n");
        if (n >= sizeof(line))
            n = sizeof(line) - 1;
        memcpy(line, resp->body.data, n);
        line[n] = '\0';
    }
    char *m = NULL;
    if (asprintf(&m, "runrad answered HTTP %d%s%s", resp->status, *line ? ": " : "", line) < 0)
        m = NULL;
    int r = lib_err_api(err, resp->status, NULL, m);
    free(m);
    return r;
}

int client_exchange(runra_client *c, const struct http_request *req, struct http_response *resp,
                    struct runra_error **err)
{
    int r = http_exchange(&c->conn, req, resp, err);
    if (r < 0)
        return r;
    if (resp->status < 200 || resp->status >= 300)
        return client_error_from_body(resp, err);
    return 0;
}

int client_call(runra_client *c, const char *method, const char *target, json_t *body,
                json_t **ret_obj, char **ret_text, struct runra_error **err)
{
    _cleanup_free_ char *text = NULL;
    if (body) {
        /* jansson refuses invalid UTF-8 when building strings, so whatever
         * reaches here encodes cleanly. */
        text = json_dumps(body, JSON_COMPACT);
        if (!text)
            return lib_err_set(err, ENOMEM, "encoding the request");
    }
    struct http_request req = {
        .method = method,
        .target = target,
        .content_type = "application/json",
        .body = text,
        .body_len = text ? strlen(text) : 0,
        .body_fd = -1,
    };
    struct http_response resp = { .body = { .max = CLIENT_JSON_MAX }, .sink_fd = -1 };
    int r = client_exchange(c, &req, &resp, err);
    if (r < 0) {
        buf_done(&resp.body);
        return r;
    }
    json_t *obj = NULL;
    if (ret_obj) {
        r = jr_parse_object(resp.body.data ? resp.body.data : "", resp.body.len, &obj, err);
        if (r < 0) {
            buf_done(&resp.body);
            return r;
        }
    }
    if (ret_text) {
        char *t = NULL;
        r = buf_steal(&resp.body, &t, NULL);
        if (r < 0) {
            json_decref(obj);
            buf_done(&resp.body);
            return lib_err_set(err, ENOMEM, "out of memory");
        }
        *ret_text = t;
    }
    buf_done(&resp.body);
    if (ret_obj)
        *ret_obj = obj;
    return 0;
}
