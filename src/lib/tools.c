/* The sandbox tools: their definitions in a model API's format, and running
 * one call. JSON travels as text here, since callers hand it straight to a
 * model API (or, for runra mcp, to an MCP client). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"

int runra_tools_list(runra_client *c, const char *format, char **ret_json,
                     struct runra_error **err)
{
    struct buf t = {0};
    int r = 0;
    if (format && strspn(format, "abcdefghijklmnopqrstuvwxyz-") != strlen(format))
        return lib_err_set(err, EINVAL, "bad tool format '%.64s'", format);
    r = buf_printf(&t, "/v1/tools%s%s", format ? "?format=" : "", format ? format : "");
    if (r < 0) {
        buf_done(&t);
        return lib_err_set(err, ENOMEM, "out of memory");
    }
    json_auto_t *ans = NULL;
    r = client_call(c, "GET", t.data, NULL, &ans, NULL, err);
    buf_done(&t);
    if (r < 0)
        return r;
    json_t *tools = json_object_get(ans, "tools");
    if (!json_is_array(tools))
        return lib_err_set(err, EPROTO, "runrad's answer: no tool list");
    char *s = json_dumps(tools, JSON_COMPACT);
    if (!s)
        return lib_err_set(err, ENOMEM, "out of memory");
    *ret_json = s;
    return 0;
}

int runra_tool_call(runra_client *c, const char *id, const char *name, const char *arguments_json,
                    struct runra_tool_result *ret, struct runra_error **err)
{
    json_error_t je;
    json_auto_t *args = json_loads(arguments_json ? arguments_json : "{}", 0, &je);
    if (!args)
        return lib_err_set(err, EINVAL, "tool arguments are not JSON: %s", je.text);
    json_auto_t *body = json_pack("{s:s,s:O}", "name", name, "arguments", args);
    if (!body)
        return lib_err_set(err, ENOMEM, "out of memory");
    struct buf t = {0};
    int r = client_target(&t, id, "/tools/call", err);
    json_auto_t *ans = NULL;
    if (r >= 0)
        r = client_call(c, "POST", t.data, body, &ans, NULL, err);
    buf_done(&t);
    if (r < 0)
        return r;
    json_t *content = json_object_get(ans, "content"), *is_error = json_object_get(ans, "isError");
    json_t *structured = json_object_get(ans, "structured");
    if (!json_is_string(content) || !json_is_boolean(is_error))
        return lib_err_set(err, EPROTO, "runrad's answer: not a tool result");
    struct runra_tool_result res = {.is_error = json_is_true(is_error)};
    res.content = strdup(json_string_value(content));
    res.structured_json = json_dumps(structured ? structured : json_null(),
                                     JSON_COMPACT | JSON_ENCODE_ANY);
    if (!res.content || !res.structured_json) {
        runra_tool_result_done(&res);
        return lib_err_set(err, ENOMEM, "out of memory");
    }
    *ret = res;
    return 0;
}

void runra_tool_result_done(struct runra_tool_result *r)
{
    if (!r)
        return;
    free(r->content);
    free(r->structured_json);
    r->content = r->structured_json = NULL;
}
