#!/usr/bin/env python3
"""A tiny stdio MCP server with one tool, echo_exec, for agent tests.

It speaks newline-delimited JSON-RPC 2.0 on stdin/stdout (the MCP stdio
transport). echo_exec runs nothing: it answers with a fixed marker followed by
the command it was given, so a test can tell the model saw the tool's result.
If ECHO_MCP_LOG is set, every message received is appended there as a JSON
line, so a test can prove the agent actually started and called the server.
"""

import json
import os
import sys

MARKER = "echo-mcp-marker-5e2b"
TOOL = {
    "name": "echo_exec",
    "description": "Run a shell command in the sandbox and return its output.",
    "inputSchema": {
        "type": "object",
        "properties": {"command": {"type": "string",
                                   "description": "The command to run."}},
        "required": ["command"],
        "additionalProperties": False,
    },
}


def log(msg):
    path = os.environ.get("ECHO_MCP_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(msg) + "\n")


def handle(msg):
    """Return the response object for one request, or None for notifications."""
    method = msg.get("method")
    if "id" not in msg or method is None:
        return None
    params = msg.get("params") or {}
    if method == "initialize":
        # Agree to whatever revision the client asked for: this server uses
        # nothing that differs between revisions.
        result = {"protocolVersion": params.get("protocolVersion", "2025-06-18"),
                  "capabilities": {"tools": {"listChanged": False}},
                  "serverInfo": {"name": "echo-mcp", "version": "1.0.0"}}
    elif method == "ping":
        result = {}
    elif method == "tools/list":
        result = {"tools": [TOOL]}
    elif method == "tools/call":
        if params.get("name") != TOOL["name"]:
            return {"jsonrpc": "2.0", "id": msg["id"],
                    "error": {"code": -32602,
                              "message": "unknown tool %r" % params.get("name")}}
        command = (params.get("arguments") or {}).get("command", "")
        result = {"content": [{"type": "text", "text": "%s %s" % (MARKER, command)}],
                  "isError": False}
    elif method in ("resources/list", "resources/templates/list", "prompts/list"):
        key = {"resources/list": "resources",
               "resources/templates/list": "resourceTemplates",
               "prompts/list": "prompts"}[method]
        result = {key: []}
    else:
        return {"jsonrpc": "2.0", "id": msg["id"],
                "error": {"code": -32601, "message": "method not found: %s" % method}}
    return {"jsonrpc": "2.0", "id": msg["id"], "result": result}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            reply = {"jsonrpc": "2.0", "id": None,
                     "error": {"code": -32700, "message": "parse error"}}
        else:
            log(msg)
            msgs = msg if isinstance(msg, list) else [msg]
            replies = [r for r in (handle(m) for m in msgs if isinstance(m, dict)) if r]
            if not replies:
                continue
            reply = replies if isinstance(msg, list) else replies[0]
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
