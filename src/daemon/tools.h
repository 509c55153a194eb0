/* The seven sandbox tools a model calls (sandbox_exec, sandbox_read_file,
 * sandbox_write_file, sandbox_list_files, sandbox_search_code,
 * sandbox_start_process, sandbox_expose_port): their definitions in each
 * wire format models take, and running one call against a sandbox. A call
 * that runs and fails (a missing file, a non-zero exit, a timeout) is a
 * result that says so; only a malformed call (unknown tool, wrong or
 * unknown arguments) is an error. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "base/err.h"

struct manager;

enum tools_format { TOOLS_OPENAI_CHAT, TOOLS_OPENAI_RESPONSES, TOOLS_ANTHROPIC, TOOLS_MCP };

/* "openai-chat", "openai-responses", "anthropic" or "mcp" (NULL: openai-chat). */
int tools_parse_format(const char *s, enum tools_format *ret, struct runra_err **err);
/* The definitions as that format lists them (a JSON array). */
json_t *tools_definitions(enum tools_format f);

struct tool_result {
    char *text;         /* what the model should read */
    json_t *structured; /* the same as data */
    bool is_error;      /* the tool ran and failed */
};

/* Runs tool name with args (a JSON object) in sandbox id. EINVAL: a
 * malformed call; other errors: the sandbox itself (not found, paused). */
int tools_call(struct manager *m, const char *id, const char *name, json_t *args,
               struct tool_result *ret, struct runra_err **err);
void tool_result_done(struct tool_result *r);
