"""The mock model server and the echo MCP server on their own, without agents."""

import json
import pathlib
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import echo_mcp  # noqa: E402
from mockmodel import MockModel, text, tool  # noqa: E402


@pytest.fixture
def mock():
    m = MockModel()
    m.start()
    yield m
    m.stop()


def post(mock, path, body, method="POST"):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(mock.base_url + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()


def sse(body):
    """Parse an SSE body into a list of (event, data) pairs."""
    out = []
    for block in body.split("\n\n"):
        event, data = None, None
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        if data is not None:
            out.append((event, data if data == "[DONE]" else json.loads(data)))
    return out


ANTHROPIC_TOOLS = [{"name": "Bash", "input_schema": {"type": "object"}},
                   {"name": "Write", "input_schema": {"type": "object"}}]


def test_anthropic_tool_call_then_result_then_text(mock):
    mock.set_script([tool("Bash", {"command": "hostname"}), text("done")])
    body = {"model": "m", "stream": True, "max_tokens": 10, "tools": ANTHROPIC_TOOLS,
            "messages": [{"role": "user", "content": "go"}]}
    status, ctype, out = post(mock, "/v1/messages?beta=true", body)
    assert status == 200 and ctype == "text/event-stream"
    events = sse(out)
    assert [e for e, _ in events] == ["message_start", "content_block_start",
                                      "content_block_delta", "content_block_stop",
                                      "message_delta", "message_stop"]
    start = events[1][1]["content_block"]
    assert start["type"] == "tool_use" and start["name"] == "Bash"
    assert json.loads(events[2][1]["delta"]["partial_json"]) == {"command": "hostname"}
    assert events[4][1]["delta"]["stop_reason"] == "tool_use"

    body["messages"] += [
        {"role": "assistant", "content": [dict(start, input={"command": "hostname"})]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": start["id"],
                                      "content": [{"type": "text", "text": "vm\n"}]}]}]
    status, _, out = post(mock, "/v1/messages", body)
    assert status == 200
    events = sse(out)
    assert events[2][1]["delta"] == {"type": "text_delta", "text": "done"}
    assert mock.tool_results == [{"call_id": start["id"], "output": "vm\n",
                                  "is_error": False, "name": "Bash",
                                  "input": {"command": "hostname"}, "turn": 0}]
    assert mock.errors == []


def test_anthropic_non_streaming_and_aux_endpoints(mock):
    mock.set_script([text("hi")])
    status, _, out = post(mock, "/v1/messages", {"model": "m", "tools": ANTHROPIC_TOOLS,
                                                 "messages": []})
    assert status == 200 and json.loads(out)["content"] == [{"type": "text", "text": "hi"}]
    status, _, out = post(mock, "/v1/messages/count_tokens", {"messages": []})
    assert status == 200 and json.loads(out)["input_tokens"] > 0
    status, _, out = post(mock, "/v1/models", None, method="GET")
    assert status == 200 and json.loads(out)["data"]


def test_missing_tool_is_a_loud_500(mock):
    mock.set_script([tool("mcp__runra__.*", {}), text("done")])
    status, _, out = post(mock, "/v1/messages", {"model": "m", "stream": True,
                                                 "tools": ANTHROPIC_TOOLS, "messages": []})
    assert status == 500
    assert "mcp__runra__" in json.loads(out)["error"]["message"]
    assert len(mock.errors) == 1 and "Bash, Write" in mock.errors[0]


def test_script_exhausted_is_an_error(mock):
    mock.set_script([])
    status, _, _ = post(mock, "/v1/chat/completions", {
        "model": "m", "stream": True, "messages": [],
        "tools": [{"type": "function", "function": {"name": "bash"}}]})
    assert status == 500 and "exhausted" in mock.errors[0]


def test_side_requests_do_not_take_turns(mock):
    mock.set_script([text("main")])
    status, _, out = post(mock, "/v1/chat/completions", {"model": "m", "messages": []})
    assert status == 200 and json.loads(out)["choices"][0]["message"]["content"] == "ok"
    status, _, out = post(mock, "/v1/chat/completions", {
        "model": "m", "messages": [],
        "tools": [{"type": "function", "function": {"name": "bash"}}]})
    assert json.loads(out)["choices"][0]["message"]["content"] == "main"
    assert [r["kind"] for r in mock.requests] == ["side", "turn"]


def test_chat_stream_tool_call_and_result(mock):
    mock.set_script([tool(["nope", "runra_.*"], {"command": "x"}), text("done")])
    tools = [{"type": "function", "function": {"name": n}} for n in ("bash", "runra_echo_exec")]
    body = {"model": "m", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "go"}], "tools": tools}
    status, _, out = post(mock, "/v1/chat/completions", body)
    chunks = sse(out)
    assert chunks[-1][1] == "[DONE]"
    call = chunks[1][1]["choices"][0]["delta"]["tool_calls"][0]
    assert call["function"]["name"] == "runra_echo_exec"
    assert chunks[2][1]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[3][1]["usage"]["total_tokens"] > 0
    body["messages"] += [{"role": "assistant", "tool_calls": [call]},
                         {"role": "tool", "tool_call_id": call["id"], "content": "result!"}]
    post(mock, "/v1/chat/completions", body)
    assert mock.tool_results[0]["output"] == "result!"
    assert mock.tool_results[0]["name"] == "runra_echo_exec"


def test_responses_namespace_and_schema_adapting_input(mock):
    tools = [{"type": "function", "name": "exec_command",
              "parameters": {"properties": {"cmd": {"type": "string"}}}},
             {"type": "namespace", "name": "mcp__runra",
              "tools": [{"type": "function", "name": "echo_exec"}]},
             {"type": "web_search"}]

    def adapt(name, tdef):
        assert "cmd" in tdef["parameters"]["properties"]
        return {"cmd": "ls"}

    mock.set_script([tool("exec_command", adapt), tool("mcp__runra__echo_exec", {"a": 1}),
                     text("done")])
    body = {"model": "m", "stream": True, "tools": tools,
            "input": [{"type": "message", "role": "user", "content": []}]}
    _, _, out = post(mock, "/v1/responses", body)
    events = sse(out)
    assert events[-1][0] == "response.completed"
    item = [d for e, d in events if e == "response.output_item.done"][0]["item"]
    assert item["name"] == "exec_command" and json.loads(item["arguments"]) == {"cmd": "ls"}
    body["input"] += [item, {"type": "function_call_output", "call_id": item["call_id"],
                             "output": "a.txt"}]
    _, _, out = post(mock, "/v1/responses", body)
    item = [d for e, d in sse(out) if e == "response.output_item.done"][0]["item"]
    assert item["name"] == "echo_exec" and item["namespace"] == "mcp__runra"
    assert mock.tool_results[0]["output"] == "a.txt"
    assert sorted(mock.requests[0]["tools"]) == ["exec_command", "mcp__runra__echo_exec",
                                                 "web_search"]


def test_unknown_endpoint_is_recorded_not_fatal(mock):
    status, _, _ = post(mock, "/api/something", {}, method="POST")
    assert status == 404
    assert mock.requests[0]["kind"] == "unknown" and mock.errors == []


def test_echo_mcp_stdio(tmp_path):
    log = tmp_path / "log.jsonl"
    msgs = [{"jsonrpc": "2.0", "id": 0, "method": "initialize",
             "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                        "clientInfo": {"name": "t", "version": "0"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
             "params": {"name": "echo_exec", "arguments": {"command": "id"}}},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call",
             "params": {"name": "other", "arguments": {}}}]
    p = subprocess.run([sys.executable, str(HERE / "echo_mcp.py")],
                       input="".join(json.dumps(m) + "\n" for m in msgs),
                       capture_output=True, text=True, timeout=30,
                       env={"ECHO_MCP_LOG": str(log), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 0, p.stderr
    replies = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["id"] for r in replies] == [0, 1, 2, 3]
    assert replies[0]["result"]["protocolVersion"] == "2025-06-18"
    assert [t["name"] for t in replies[1]["result"]["tools"]] == ["echo_exec"]
    assert replies[2]["result"]["content"][0]["text"] == echo_mcp.MARKER + " id"
    assert "error" in replies[3]
    assert len(log.read_text().splitlines()) == len(msgs)
