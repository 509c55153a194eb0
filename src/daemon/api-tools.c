/* The sandbox tools over HTTP: GET /v1/tools lists their definitions in
 * the format a model API wants; POST .../tools/call runs one. A tool that
 * fails answers 200 with isError, since the model must read why; a call
 * the tools cannot even read (unknown tool, wrong argument types) is 400. */
#include <errno.h>
#include <string.h>

#include "api.h"
#include "tools.h"

enum MHD_Result api_tools_list(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    (void)a;
    (void)rq;
    _cleanup_err_ struct runra_err *e = NULL;
    static const char *const allowed[] = {"format", NULL};
    enum tools_format f;
    int r = api_check_query(c, allowed, NULL, &e);
    if (r >= 0)
        r = tools_parse_format(api_query(c, "format"), &f, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_t *defs = tools_definitions(f);
    return api_respond_json(c, 200, defs ? json_pack("{s:o}", "tools", defs) : NULL);
}

enum MHD_Result api_tool_call(struct api *a, struct MHD_Connection *c, struct api_req *rq)
{
    _cleanup_err_ struct runra_err *e = NULL;
    json_auto_t *j = NULL;
    int r = api_check_query(c, NULL, NULL, &e);
    if (r >= 0)
        r = api_body_json(rq, &j, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    const char *name = NULL;
    json_t *args = NULL;
    json_error_t je;
    if (json_unpack_ex(j, &je, JSON_STRICT, "{s:s,s?o}", "name", &name, "arguments", &args) < 0)
        return api_respond_errf(c, EINVAL, "invalid tool call: %s", je.text);
    /* Models hand arguments over as a JSON object (Anthropic, MCP) or as a
     * string holding one (OpenAI); both are taken as they come. */
    json_auto_t *parsed = NULL;
    if (!args) {
        parsed = json_object();
        args = parsed;
    } else if (json_is_string(args)) {
        parsed = json_loads(json_string_value(args), JSON_REJECT_DUPLICATES, &je);
        if (!parsed)
            return api_respond_errf(c, EINVAL, "%s: arguments are not valid JSON: %s", name,
                                    je.text);
        args = parsed;
    }
    struct tool_result res;
    r = tools_call(a->m, rq->match.id, name, args, &res, &e);
    if (r < 0)
        return api_respond_err(c, r, e);
    json_t *out = json_pack("{s:s,s:b,s:O}", "content", res.text, "isError", res.is_error,
                            "structured", res.structured);
    tool_result_done(&res);
    return api_respond_json(c, 200, out);
}
