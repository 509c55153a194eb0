#!/usr/bin/env python3
"""Scripted mock model server for driving real agent CLIs offline.

Speaks three wire formats on 127.0.0.1 (ephemeral port): the Anthropic
Messages API (Claude Code), the OpenAI Responses API (Codex) and OpenAI Chat
Completions (OpenCode), all with SSE streaming. It trusts nothing it receives:
every request is recorded as-is, and anything it cannot answer from the script
is recorded as an error and answered with HTTP 500.

A script is a list of turns. A turn is either
    {"tool": PATTERN, "input": INPUT}   answer with one tool call, or
    {"text": "..."}                     answer with final text.
PATTERN is a regular expression (or a list of them, tried in order) that must
fully match the name of a tool the agent offers in that request; INPUT is the
tool's argument object, a string (for free-form tools), or a callable
(name, tool_definition) -> argument.

Which turn answers a request is derived from the request itself: it is the
number of tool results already in the conversation. That makes the server
stateless across retries and immune to side requests (title generation and
the like), which carry no tools and get a short canned text instead.

Library use:
    mock = MockModel([tool("Bash", {"command": "hostname"}), text("done")])
    base_url = mock.start()       # "http://127.0.0.1:PORT"
    ... run the agent ...
    mock.tool_results             # what the agent sent back after each call
    mock.errors                   # empty when everything matched
    mock.stop()

Script use:
    mockmodel.py [--port N] [--script FILE.json] [--log FILE.jsonl]
"""

import argparse
import gzip
import itertools
import json
import re
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["MockModel", "tool", "text"]

# Bodies larger than this are refused; agents send a few hundred KiB at most
# (system prompt plus tool schemas).
MAX_BODY = 64 * 1024 * 1024

MODEL_IDS = ["mock-model", "mock-small"]


def tool(pattern, input_):
    """A turn that answers with one call of the tool matching PATTERN."""
    return {"tool": pattern, "input": input_}


def text(s):
    """A turn that answers with final text."""
    return {"text": s}


_ids = itertools.count(1)


def _new_id(prefix):
    return "%s_mock%06d" % (prefix, next(_ids))


def _content_text(content):
    """Flatten a tool-result content (string or list of parts) to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        content = [content]
    out = []
    if isinstance(content, list):
        for part in content:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                for key in ("text", "output", "content"):
                    if isinstance(part.get(key), str):
                        out.append(part[key])
                        break
                else:
                    if isinstance(part.get("content"), list):
                        out.append(_content_text(part["content"]))
    return "\n".join(out)


def _sse(event, data):
    head = "event: %s\n" % event if event else ""
    return (head + "data: " + json.dumps(data) + "\n\n").encode()


class _Reply:
    """What the dialect layer must send: text, or one tool call."""

    def __init__(self, text=None, call_name=None, call_input=None,
                 call_id=None, tool_def=None):
        self.text = text
        self.call_name = call_name
        self.call_input = call_input
        self.call_id = call_id
        self.tool_def = tool_def


class ScriptError(Exception):
    pass


# ---------------------------------------------------------------------------
# Dialects: each knows how to list offered tools, find tool results in the
# history, and encode a reply (streaming or not).


class Anthropic:
    name = "anthropic"

    @staticmethod
    def tools(body):
        out = {}
        for t in body.get("tools") or []:
            if isinstance(t, dict) and isinstance(t.get("name"), str):
                out[t["name"]] = t
        return out

    @staticmethod
    def tool_results(body):
        res = []
        for m in body.get("messages") or []:
            if not isinstance(m, dict) or not isinstance(m.get("content"), list):
                continue
            for b in m["content"]:
                if isinstance(b, dict) and b.get("type") == "tool_result":
                    res.append({"call_id": b.get("tool_use_id"),
                                "output": _content_text(b.get("content")),
                                "is_error": bool(b.get("is_error"))})
        return res

    @staticmethod
    def encode(body, reply):
        model = body.get("model") or MODEL_IDS[0]
        msg_id = _new_id("msg")
        usage = {"input_tokens": 10, "output_tokens": 5,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if reply.call_name is not None:
            block = {"type": "tool_use", "id": reply.call_id,
                     "name": reply.call_name, "input": reply.call_input}
            stop = "tool_use"
        else:
            block = {"type": "text", "text": reply.text}
            stop = "end_turn"
        if not body.get("stream"):
            return "application/json", json.dumps({
                "id": msg_id, "type": "message", "role": "assistant",
                "model": model, "content": [block], "stop_reason": stop,
                "stop_sequence": None, "usage": usage}).encode()
        out = [_sse("message_start", {
            "type": "message_start",
            "message": {"id": msg_id, "type": "message", "role": "assistant",
                        "model": model, "content": [], "stop_reason": None,
                        "stop_sequence": None,
                        "usage": dict(usage, output_tokens=1)}})]
        if reply.call_name is not None:
            start = dict(block, input={})
            delta = {"type": "input_json_delta",
                     "partial_json": json.dumps(reply.call_input)}
        else:
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": reply.text}
        out.append(_sse("content_block_start", {
            "type": "content_block_start", "index": 0, "content_block": start}))
        out.append(_sse("content_block_delta", {
            "type": "content_block_delta", "index": 0, "delta": delta}))
        out.append(_sse("content_block_stop", {
            "type": "content_block_stop", "index": 0}))
        out.append(_sse("message_delta", {
            "type": "message_delta",
            "delta": {"stop_reason": stop, "stop_sequence": None},
            "usage": {"output_tokens": 5}}))
        out.append(_sse("message_stop", {"type": "message_stop"}))
        return "text/event-stream", b"".join(out)

    @staticmethod
    def error(status, message):
        kind = "api_error" if status >= 500 else "invalid_request_error"
        return json.dumps({"type": "error",
                           "error": {"type": kind, "message": message}}).encode()


class Responses:
    name = "responses"

    @staticmethod
    def tools(body):
        out = {}
        for t in body.get("tools") or []:
            if not isinstance(t, dict):
                continue
            if t.get("type") == "namespace" and isinstance(t.get("tools"), list):
                # Grouped tools (Codex puts each MCP server's tools in a
                # namespace "mcp__SERVER") are listed under the qualified name
                # "mcp__SERVER__TOOL", the name Claude Code gives them too,
                # but are called by inner name plus namespace.
                ns = t.get("name") or ""
                for inner in t["tools"]:
                    if isinstance(inner, dict) and isinstance(inner.get("name"), str):
                        qual = ns + ("" if ns.endswith("_") or not ns else "__") \
                            + inner["name"]
                        out[qual] = dict(inner, _namespace=ns,
                                         _call_name=inner["name"])
            elif isinstance(t.get("name"), str):
                out[t["name"]] = t
            elif isinstance(t.get("type"), str):
                # Built-in tools without a name (local_shell, web_search)
                # are offered under their type.
                out[t["type"]] = t
        return out

    @staticmethod
    def tool_results(body):
        res = []
        items = body.get("input")
        if not isinstance(items, list):
            return res
        for it in items:
            if not isinstance(it, dict):
                continue
            if it.get("type") in ("function_call_output", "custom_tool_call_output",
                                  "local_shell_call_output", "mcp_call_output",
                                  "tool_search_output"):
                out = it.get("output")
                if isinstance(out, dict):
                    out = out.get("content", out.get("output", json.dumps(out)))
                res.append({"call_id": it.get("call_id"),
                            "output": _content_text(out),
                            "is_error": it.get("success") is False})
        return res

    @staticmethod
    def _item(reply):
        if reply.call_name is None:
            return {"type": "message", "id": _new_id("msg"), "role": "assistant",
                    "status": "completed",
                    "content": [{"type": "output_text", "text": reply.text,
                                 "annotations": []}]}
        kind = (reply.tool_def or {}).get("type")
        if kind == "custom":
            inp = reply.call_input
            if not isinstance(inp, str):
                inp = json.dumps(inp)
            return {"type": "custom_tool_call", "id": _new_id("ctc"),
                    "call_id": reply.call_id, "name": reply.call_name,
                    "input": inp, "status": "completed"}
        if kind == "local_shell":
            return {"type": "local_shell_call", "id": _new_id("lsh"),
                    "call_id": reply.call_id, "status": "completed",
                    "action": dict({"type": "exec"}, **reply.call_input)}
        item = {"type": "function_call", "id": _new_id("fc"),
                "call_id": reply.call_id,
                "name": (reply.tool_def or {}).get("_call_name", reply.call_name),
                "arguments": json.dumps(reply.call_input),
                "status": "completed"}
        ns = (reply.tool_def or {}).get("_namespace")
        if ns:
            item["namespace"] = ns
        return item

    @classmethod
    def encode(cls, body, reply):
        model = body.get("model") or MODEL_IDS[0]
        resp_id = _new_id("resp")
        item = cls._item(reply)
        usage = {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0},
                 "output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 0},
                 "total_tokens": 15}
        base = {"id": resp_id, "object": "response", "created_at": int(time.time()),
                "model": model, "output": [], "status": "in_progress"}
        done = dict(base, status="completed", output=[item], usage=usage)
        if not body.get("stream"):
            return "application/json", json.dumps(done).encode()
        seq = itertools.count()
        ev = []

        def add(kind, **fields):
            ev.append(_sse(kind, dict({"type": kind, "sequence_number": next(seq)},
                                      **fields)))

        add("response.created", response=base)
        add("response.in_progress", response=base)
        added = dict(item, status="in_progress")
        if item["type"] == "message":
            added["content"] = []
        add("response.output_item.added", output_index=0, item=added)
        if item["type"] == "message":
            part = {"type": "output_text", "text": "", "annotations": []}
            add("response.content_part.added", item_id=item["id"], output_index=0,
                content_index=0, part=part)
            add("response.output_text.delta", item_id=item["id"], output_index=0,
                content_index=0, delta=reply.text)
            add("response.output_text.done", item_id=item["id"], output_index=0,
                content_index=0, text=reply.text)
            add("response.content_part.done", item_id=item["id"], output_index=0,
                content_index=0, part=dict(part, text=reply.text))
        elif item["type"] == "function_call":
            add("response.function_call_arguments.delta", item_id=item["id"],
                output_index=0, delta=item["arguments"])
            add("response.function_call_arguments.done", item_id=item["id"],
                output_index=0, arguments=item["arguments"])
        add("response.output_item.done", output_index=0, item=item)
        add("response.completed", response=done)
        return "text/event-stream", b"".join(ev)

    @staticmethod
    def error(status, message):
        return json.dumps({"error": {"message": message, "type": "server_error"
                                     if status >= 500 else "invalid_request_error",
                                     "code": None}}).encode()


class Chat:
    name = "chat"

    @staticmethod
    def tools(body):
        out = {}
        for t in body.get("tools") or []:
            if isinstance(t, dict) and isinstance(t.get("function"), dict):
                name = t["function"].get("name")
                if isinstance(name, str):
                    out[name] = t
        return out

    @staticmethod
    def tool_results(body):
        res = []
        for m in body.get("messages") or []:
            if isinstance(m, dict) and m.get("role") == "tool":
                res.append({"call_id": m.get("tool_call_id"),
                            "output": _content_text(m.get("content")),
                            "is_error": False})
        return res

    @staticmethod
    def encode(body, reply):
        model = body.get("model") or MODEL_IDS[0]
        cid = _new_id("chatcmpl")
        created = int(time.time())
        usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
        if reply.call_name is not None:
            call = {"id": reply.call_id, "type": "function",
                    "function": {"name": reply.call_name,
                                 "arguments": json.dumps(reply.call_input)}}
            message = {"role": "assistant", "content": None, "tool_calls": [call]}
            finish = "tool_calls"
        else:
            message = {"role": "assistant", "content": reply.text}
            finish = "stop"
        if not body.get("stream"):
            return "application/json", json.dumps({
                "id": cid, "object": "chat.completion", "created": created,
                "model": model, "usage": usage,
                "choices": [{"index": 0, "message": message,
                             "finish_reason": finish}]}).encode()

        def chunk(delta, finish_reason=None, **extra):
            return _sse(None, dict({
                "id": cid, "object": "chat.completion.chunk", "created": created,
                "model": model,
                "choices": [{"index": 0, "delta": delta,
                             "finish_reason": finish_reason}]}, **extra))

        out = [chunk({"role": "assistant", "content": ""})]
        if reply.call_name is not None:
            out.append(chunk({"tool_calls": [dict(call, index=0)]}))
        else:
            out.append(chunk({"content": reply.text}))
        out.append(chunk({}, finish))
        if (body.get("stream_options") or {}).get("include_usage"):
            out.append(_sse(None, {"id": cid, "object": "chat.completion.chunk",
                                   "created": created, "model": model,
                                   "choices": [], "usage": usage}))
        out.append(b"data: [DONE]\n\n")
        return "text/event-stream", b"".join(out)

    @staticmethod
    def error(status, message):
        return Responses.error(status, message)


# ---------------------------------------------------------------------------


class MockModel:
    """A scripted model server. See the module docstring."""

    def __init__(self, script=None, side_text="ok", host="127.0.0.1", port=0,
                 log_path=None):
        self.script = list(script or [])
        self.side_text = side_text
        self.host = host
        self.port = port
        self.log_path = log_path
        self.requests = []      # every request, in arrival order
        self.tool_results = []  # one entry per tool call the agent answered
        self.errors = []        # script mismatches and bad requests
        self.calls = {}         # call id -> the tool call we issued
        self._lock = threading.Lock()
        self._seen_results = set()
        self._httpd = None
        self._thread = None
        self.base_url = None

    # -- lifecycle --------------------------------------------------------

    def start(self):
        mock = self

        class Handler(_Handler):
            server_mock = mock

        self._httpd = ThreadingHTTPServer((self.host, self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.base_url = "http://%s:%d" % (self.host, self.port)
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="mockmodel", daemon=True)
        self._thread.start()
        return self.base_url

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def set_script(self, script):
        with self._lock:
            self.script = list(script)

    # -- queries for tests ------------------------------------------------

    def turn_requests(self):
        return [r for r in self.requests if r.get("kind") == "turn"]

    def offered_tools(self):
        """Tool names offered in the last turn request (or any request)."""
        for r in reversed(self.requests):
            if r.get("tools"):
                return r["tools"]
        return []

    def summary(self):
        """A short human-readable log for assertion messages."""
        lines = []
        for r in self.requests:
            lines.append("%s %s %s status=%s kind=%s turn=%s tools=%d" % (
                r["method"], r["path"], r.get("api") or "-", r.get("status"),
                r.get("kind"), r.get("turn"), len(r.get("tools") or [])))
        for e in self.errors:
            lines.append("ERROR: " + e)
        return "\n".join(lines)

    # -- core ---------------------------------------------------------------

    def _log(self, rec):
        if self.log_path:
            with open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(rec, default=str) + "\n")

    def _error(self, rec, message):
        with self._lock:
            self.errors.append(message)
        rec["error"] = message

    def answer(self, dialect, body, rec):
        """Decide the reply for one model request. Returns a _Reply."""
        offered = dialect.tools(body)
        results = dialect.tool_results(body)
        rec["tools"] = sorted(offered)
        if not offered:
            # Side request (title, summary, quota probe): no script turn.
            rec["kind"] = "side"
            return _Reply(text=self.side_text)
        rec["kind"] = "turn"
        index = len(results)
        rec["turn"] = index
        with self._lock:
            for r in results:
                key = r["call_id"]
                if key in self._seen_results:
                    continue
                self._seen_results.add(key)
                call = self.calls.get(key, {})
                self.tool_results.append(dict(r, name=call.get("name"),
                                              input=call.get("input"),
                                              turn=call.get("turn")))
            script = self.script
        if index >= len(script):
            raise ScriptError("script exhausted: request %d has %d tool results, "
                              "script has %d turns" % (rec["seq"], index, len(script)))
        turn = script[index]
        if "text" in turn:
            return _Reply(text=turn["text"])
        patterns = turn["tool"]
        if isinstance(patterns, str):
            patterns = [patterns]
        for pat in patterns:
            names = [n for n in offered if re.fullmatch(pat, n)]
            if names:
                name = sorted(names)[0]
                break
        else:
            raise ScriptError("turn %d wants a tool matching %r, agent offers: %s"
                              % (index, turn["tool"], ", ".join(sorted(offered))))
        tdef = offered[name]
        inp = turn.get("input", {})
        if callable(inp):
            inp = inp(name, tdef)
        call_id = _new_id("call" if dialect is not Anthropic else "toolu")
        with self._lock:
            self.calls[call_id] = {"name": name, "input": inp, "turn": index}
        rec["call"] = {"id": call_id, "name": name, "input": inp}
        return _Reply(call_name=name, call_input=inp, call_id=call_id,
                      tool_def=tdef)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_mock = None  # set by MockModel.start

    def log_message(self, fmt, *args):  # keep test output quiet
        pass

    def _send(self, status, ctype, data, rec):
        rec["status"] = status
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        if ctype == "text/event-stream":
            self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        self.wfile.flush()

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            raise ValueError("body of %d bytes exceeds %d" % (n, MAX_BODY))
        if n:
            raw = self.rfile.read(n)
        elif "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(parts)
        else:
            raw = b""
        enc = (self.headers.get("Content-Encoding") or "").lower()
        if enc == "gzip":
            raw = gzip.decompress(raw)
        elif enc == "deflate":
            raw = zlib.decompress(raw)
        elif enc:
            raise ValueError("unsupported Content-Encoding %r" % enc)
        return raw

    def _handle(self):
        mock = self.server_mock
        path = self.path.split("?", 1)[0]
        rec = {"method": self.command, "path": self.path, "time": time.time(),
               "headers": {k.lower(): v for k, v in self.headers.items()}}
        with mock._lock:
            rec["seq"] = len(mock.requests)
            mock.requests.append(rec)
        try:
            raw = self._read_body() if self.command == "POST" else b""
            body = None
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    rec["raw"] = raw[:4096].decode("utf-8", "replace")
            rec["body"] = body
            self._route(mock, path, body, rec)
        except ScriptError as e:
            mock._error(rec, str(e))
            dialect = rec.get("_dialect") or Chat
            self._send(500, "application/json", dialect.error(500, str(e)), rec)
        except Exception as e:  # noqa: BLE001 - every failure must be recorded
            msg = "%s %s: %s: %s" % (self.command, self.path, type(e).__name__, e)
            mock._error(rec, msg)
            try:
                self._send(500, "application/json", Chat.error(500, msg), rec)
            except OSError:
                pass
        finally:
            rec.pop("_dialect", None)
            mock._log(rec)

    def _route(self, mock, path, body, rec):
        p = path.rstrip("/")
        if self.command == "POST" and p.endswith("/messages/count_tokens"):
            rec["api"] = "anthropic"
            rec["kind"] = "aux"
            return self._send(200, "application/json",
                              json.dumps({"input_tokens": 100}).encode(), rec)
        if self.command == "GET" and p.endswith("/models"):
            rec["api"] = "models"
            rec["kind"] = "aux"
            now = int(time.time())
            data = [{"id": m, "object": "model", "type": "model", "created": now,
                     "created_at": "2025-01-01T00:00:00Z", "display_name": m,
                     "owned_by": "mock"} for m in MODEL_IDS]
            return self._send(200, "application/json", json.dumps({
                "object": "list", "data": data, "models": [],
                "has_more": False, "first_id": MODEL_IDS[0],
                "last_id": MODEL_IDS[-1]}).encode(), rec)
        dialect = None
        if self.command == "POST":
            if p.endswith("/messages"):
                dialect = Anthropic
            elif p.endswith("/responses"):
                dialect = Responses
            elif p.endswith("/chat/completions"):
                dialect = Chat
        if dialect is None:
            rec["kind"] = "unknown"
            return self._send(404, "application/json", json.dumps(
                {"error": {"message": "mockmodel: no such endpoint %s %s"
                           % (self.command, path), "type": "not_found"}}).encode(),
                rec)
        rec["api"] = dialect.name
        rec["_dialect"] = dialect
        if not isinstance(body, dict):
            raise ScriptError("%s %s: body is not a JSON object" % (self.command, path))
        reply = mock.answer(dialect, body, rec)
        ctype, data = dialect.encode(body, reply)
        return self._send(200, ctype, data, rec)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _handle


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--script", help="JSON file: a list of turns")
    ap.add_argument("--log", help="append every request as JSON lines here")
    args = ap.parse_args(argv)
    script = []
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            script = json.load(f)
    mock = MockModel(script, host=args.host, port=args.port, log_path=args.log)
    print(mock.start(), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        mock.stop()
        for e in mock.errors:
            print("error: " + e, file=sys.stderr)
    return 1 if mock.errors else 0


if __name__ == "__main__":
    sys.exit(main())
