/* `runra tools` prints the sandbox tools' definitions for a model API;
 * `runra mcp` serves them to an MCP client over stdio (JSON-RPC 2.0, one
 * message per line), against one sandbox: an existing one (--sandbox) or
 * one it creates from create's flags and destroys when the client leaves. */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"

const char cli_usage_tools[] =
    "Usage: runra tools [--format F]\n"
    "Prints the sandbox tools (sandbox_exec, sandbox_read_file, ...) as the JSON a model API\n"
    "takes. F: openai-chat (default), openai-responses, anthropic or mcp.\n";

const char cli_usage_mcp[] =
    "Usage: runra mcp [--sandbox ID | CREATE-OPTIONS]\n"
    "Serves the sandbox tools over stdio as a Model Context Protocol server (JSON-RPC 2.0,\n"
    "one message per line). Without --sandbox it creates a sandbox (with `runra create`'s\n"
    "options) and destroys it when stdin closes.\n";

int cmd_tools(struct cli *cli, int argc, char **argv)
{
    struct cli_common co = { 0 };
    const char *format = NULL;
    const struct simple_opt opts[] = { { "format", 'f', true, &format, NULL, NULL } };
    char **pos;
    int npos;
    _cleanup_err_ struct runra_err *perr = NULL;
    if (cli_parse_simple(argc, argv, opts, ARRAY_SIZE(opts), &co, &pos, &npos, &perr) < 0)
        return cli_usage_error("tools", perr->msg);
    if (co.help) {
        fputs(cli_usage_tools, stdout);
        return CLI_OK;
    }
    if (npos != 0)
        return cli_usage_error("tools", "no arguments expected");
    cli_apply_common(cli, &co);
    runra_client *c;
    if (cli_client(cli, &c) < 0)
        return CLI_FAIL;
    char *text = NULL;
    struct runra_error *e = NULL;
    if (runra_tools_list(c, format, &text, &e) < 0) {
        cli_fail(e, "tools");
        runra_error_free(e);
        return CLI_FAIL;
    }
    json_auto_t *j = json_loads(text, 0, NULL);
    free(text);
    char *pretty = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
    if (!pretty)
        return cli_failf("tools: runrad's answer is not JSON");
    puts(pretty);
    free(pretty);
    return CLI_OK;
}

/* ---- the MCP server ------------------------------------------------------ */

/* Protocol revisions with the initialize handshake, newest first. A client
 * asking for one gets it; any other gets the newest. */
static const char *const mcp_versions[] = { "2025-11-25", "2025-06-18", "2025-03-26",
                                            "2024-11-05" };
#define MCP_LINE_MAX (64u << 20)

enum { RPC_PARSE = -32700, RPC_INVALID = -32600, RPC_NO_METHOD = -32601, RPC_PARAMS = -32602,
       RPC_INTERNAL = -32603 };

struct mcp {
    runra_client *c;
    const char *id;
    json_t *tools; /* the MCP tool list, fetched once */
    bool initialized;
};

static void send_msg(json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!s)
        return;
    /* One line per message: JSON text never holds a raw newline. */
    fputs(s, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    free(s);
}

static void reply(json_t *id, json_t *result)
{
    send_msg(json_pack("{s:s,s:O,s:O}", "jsonrpc", "2.0", "id", id, "result", result));
}

static void reply_err(json_t *id, int code, const char *msg)
{
    send_msg(json_pack("{s:s,s:O,s:{s:i,s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                       "error", "code", code, "message", msg));
}

static json_t *initialize(json_t *params)
{
    const char *want = json_string_value(json_object_get(params, "protocolVersion"));
    const char *ver = mcp_versions[0];
    for (size_t i = 0; want && i < ARRAY_SIZE(mcp_versions); i++)
        if (!strcmp(want, mcp_versions[i]))
            ver = mcp_versions[i];
    return json_pack("{s:s,s:{s:{s:b}},s:{s:s,s:s},s:s}", "protocolVersion", ver, "capabilities",
                     "tools", "listChanged", 0, "serverInfo", "name", "runra", "version",
                     runra_version(), "instructions",
                     "These tools act inside an isolated sandbox (a Linux machine with the "
                     "project in /workspace). Use them for every file and shell operation.");
}

static void tools_call(struct mcp *s, json_t *id, json_t *params)
{
    const char *name = json_string_value(json_object_get(params, "name"));
    json_t *args = json_object_get(params, "arguments");
    if (!name || (args && !json_is_object(args))) {
        reply_err(id, RPC_PARAMS, "tools/call needs a name and an arguments object");
        return;
    }
    char *atext = args ? json_dumps(args, JSON_COMPACT) : strdup("{}");
    struct runra_tool_result res = { 0 };
    struct runra_error *e = NULL;
    int r = atext ? runra_tool_call(s->c, s->id, name, atext, &res, &e) : -ENOMEM;
    free(atext);
    if (r < 0 && e && e->http_status == 400) {
        /* A call the tools cannot read (unknown tool, wrong argument types). */
        reply_err(id, RPC_PARAMS, e->message);
    } else if (r < 0) {
        /* The sandbox itself failed the call: the model should read why. */
        json_t *result = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text",
                                   e ? e->message : "out of memory", "isError", 1);
        reply(id, result);
        json_decref(result);
    } else {
        json_t *structured = json_loads(res.structured_json, JSON_DECODE_ANY, NULL);
        json_t *result = json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text",
                                   res.content, "isError", res.is_error);
        if (result && json_is_object(structured))
            json_object_set(result, "structuredContent", structured);
        json_decref(structured);
        reply(id, result);
        json_decref(result);
    }
    runra_error_free(e);
    runra_tool_result_done(&res);
}

static void handle(struct mcp *s, json_t *msg)
{
    json_t *id = json_object_get(msg, "id");
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *params = json_object_get(msg, "params");
    bool notification = id == NULL;
    if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0 ||
        (id && !json_is_string(id) && !json_is_integer(id)) || (!method && !notification)) {
        /* A response from the client (we never ask it anything) is ignored. */
        if (json_is_object(msg) && !method && (json_object_get(msg, "result") ||
                                               json_object_get(msg, "error")))
            return;
        reply_err(json_is_string(id) || json_is_integer(id) ? id : NULL, RPC_INVALID,
                  "not a JSON-RPC 2.0 request");
        return;
    }
    if (!method)
        return;
    if (params && !json_is_object(params) && !json_is_array(params)) {
        if (!notification)
            reply_err(id, RPC_INVALID, "params must be an object");
        return;
    }
    if (notification)
        return; /* notifications/initialized, notifications/cancelled, ... */
    json_t *result = NULL;
    if (!strcmp(method, "initialize")) {
        result = initialize(params);
        s->initialized = true;
    } else if (!strcmp(method, "ping")) {
        result = json_object();
    } else if (!strcmp(method, "tools/list")) {
        result = json_pack("{s:O}", "tools", s->tools);
    } else if (!strcmp(method, "tools/call")) {
        tools_call(s, id, params);
        return;
    } else if (!strcmp(method, "resources/list") || !strcmp(method, "prompts/list")) {
        reply_err(id, RPC_NO_METHOD, "this server offers tools only");
        return;
    } else {
        char m[160];
        snprintf(m, sizeof(m), "unknown method '%.100s'", method);
        reply_err(id, RPC_NO_METHOD, m);
        return;
    }
    if (!result) {
        reply_err(id, RPC_INTERNAL, "out of memory");
        return;
    }
    reply(id, result);
    json_decref(result);
}

/* Lines from stdin, read with read(2) rather than stdio so that a TERM is
 * seen however it falls: the wait for input is a poll that looks at the
 * signal flag between slices. A line past MCP_LINE_MAX is dropped whole. */
struct lines {
    char *buf;
    size_t len, cap;
    bool eof, dropping;
};

/* The next line (NUL-terminated, newline stripped) in *ret, 1; 0 at EOF or
 * on a signal; 2 for a line that was too long (already dropped). */
static int next_line(struct lines *l, char **ret, size_t *ret_len, size_t *consumed)
{
    for (;;) {
        char *nl = l->len ? memchr(l->buf, '\n', l->len) : NULL;
        if (nl || (l->eof && l->len)) {
            size_t n = nl ? (size_t)(nl - l->buf) : l->len;
            l->buf[n] = 0;
            *ret = l->buf;
            *ret_len = n;
            *consumed = nl ? n + 1 : n;
            if (l->dropping) {
                l->dropping = false;
                return 2;
            }
            return 1;
        }
        if (l->eof || cli_signal_caught())
            return 0;
        if (l->len > MCP_LINE_MAX) {
            l->dropping = true; /* keep reading to the newline, keep nothing */
            l->len = 0;
        }
        struct pollfd p = { .fd = 0, .events = POLLIN };
        int pr = poll(&p, 1, 250);
        if (pr <= 0)
            continue; /* a slice over, or EINTR: look at the flag again */
        if (l->cap - l->len < 65536) {
            size_t cap = l->cap ? l->cap * 2 : 65536;
            char *b = realloc(l->buf, cap);
            if (!b)
                return 0;
            l->buf = b;
            l->cap = cap;
        }
        ssize_t k = read(0, l->buf + l->len, l->cap - l->len - 1);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k <= 0)
            l->eof = true;
        else
            l->len += (size_t)k;
    }
}

static void serve(struct mcp *s)
{
    struct lines l = { 0 };
    char *line;
    size_t n, used;
    int got;
    while ((got = next_line(&l, &line, &n, &used)) > 0) {
        if (got == 2) {
            reply_err(NULL, RPC_INVALID, "message too large");
        } else {
            while (n > 0 && line[n - 1] == '\r')
                line[--n] = 0;
            if (n > 0) {
                json_error_t je;
                json_t *msg = json_loadb(line, n, JSON_REJECT_DUPLICATES, &je);
                if (!msg) {
                    char m[256];
                    snprintf(m, sizeof(m), "parse error: %s", je.text);
                    reply_err(NULL, RPC_PARSE, m);
                } else if (json_is_array(msg)) {
                    /* Batches went away in 2025-06-18; an empty or any
                     * batch gets one error, as a request we cannot take. */
                    reply_err(NULL, RPC_INVALID, "batches are not supported");
                } else {
                    handle(s, msg);
                }
                json_decref(msg);
            }
        }
        memmove(l.buf, l.buf + used, l.len - used);
        l.len -= used;
    }
    free(l.buf);
}

int cmd_mcp(struct cli *cli, int argc, char **argv)
{
    /* --sandbox ID is ours; every other option is create's. */
    const char *sandbox = NULL;
    char **rest = calloc((size_t)argc + 1, sizeof(*rest));
    if (!rest)
        return cli_failf("mcp: out of memory");
    int nrest = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--sandbox") && i + 1 < argc) {
            sandbox = argv[++i];
        } else if (i > 0 && !strncmp(argv[i], "--sandbox=", 10)) {
            sandbox = argv[i] + 10;
        } else {
            rest[nrest++] = argv[i];
        }
    }
    struct create_args a;
    _cleanup_err_ struct runra_err *perr = NULL;
    int r = cli_parse_create(nrest, rest, false, &a, &perr);
    if (r < 0) {
        create_args_done(&a);
        free(rest);
        return cli_usage_error("mcp", perr->msg);
    }
    if (a.common.help) {
        create_args_done(&a);
        free(rest);
        fputs(cli_usage_mcp, stdout);
        return CLI_OK;
    }
    cli_apply_common(cli, &a.common);
    runra_client *c;
    if (cli_client(cli, &c) < 0) {
        create_args_done(&a);
        free(rest);
        return CLI_FAIL;
    }
    struct runra_error *e = NULL;
    struct runra_sandbox *sb = NULL;
    char *made = NULL;
    /* From before the create: a TERM during it is acted on right after,
     * with the sandbox destroyed. */
    cli_catch_signals();
    if (!sandbox) {
        r = runra_sandbox_create(c, &a.spec, &sb, &e);
        if (r >= 0) {
            made = strdup(sb->id);
            runra_sandbox_free(sb);
        }
    } else {
        r = runra_sandbox_get(c, sandbox, &sb, &e);
        runra_sandbox_free(sb);
    }
    create_args_done(&a);
    free(rest);
    if (r < 0 || (!sandbox && !made)) {
        cli_fail(e, "mcp");
        runra_error_free(e);
        return CLI_FAIL;
    }
    char *tools_text = NULL;
    struct mcp s = { .c = c, .id = sandbox ? sandbox : made };
    if (cli_signal_caught()) {
        r = 128 + cli_signal_caught();
    } else if (runra_tools_list(c, "mcp", &tools_text, &e) < 0 ||
        !(s.tools = json_loads(tools_text, 0, NULL))) {
        free(tools_text);
        r = cli_fail(e, "mcp: tool definitions");
        runra_error_free(e);
        e = NULL;
    } else {
        free(tools_text);
        /* Diagnostics go to stderr: stdout carries only protocol messages. */
        fprintf(stderr, "runra mcp: serving sandbox %s\n", s.id);
        /* A client that goes away, or a TERM for us (how MCP clients stop
         * a server), ends the loop; the cleanup below still runs. */
        serve(&s);
        json_decref(s.tools);
        r = CLI_OK;
    }
    if (made) {
        if (runra_sandbox_destroy(c, made, &e) < 0) {
            cli_fail(e, "mcp: destroy %s", made);
            runra_error_free(e);
        }
        free(made);
    }
    return r;
}
