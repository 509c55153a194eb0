"""The seven sandbox tools against a real runrad: their definitions in every
format a model API takes, each tool run for real (and failing the way a
model must read), malformed calls refused, and `runra mcp` speaking MCP over
stdio with a sandbox of its own or an existing one."""

import json
import os
import subprocess
import time

import pytest

from conftest import BUILD_DIR
from runra_client import wait_until

RUNRA = os.path.join(BUILD_DIR, "src", "cli", "runra")
NAMES = ["sandbox_exec", "sandbox_read_file", "sandbox_write_file", "sandbox_list_files",
         "sandbox_search_code", "sandbox_start_process", "sandbox_expose_port"]


def tools(c, fmt=None):
    r = c.request("GET", "/v1/tools" + (f"?format={fmt}" if fmt else ""))
    assert r.status == 200, r
    return r.json()["tools"]


def call(c, sid, name, args=None, raw=None):
    body = raw if raw is not None else {"name": name, "arguments": args if args is not None else {}}
    return c.request("POST", f"/v1/sandboxes/{sid}/tools/call", body)


def ok(c, sid, name, args=None):
    r = call(c, sid, name, args)
    assert r.status == 200, r
    return r.json()


@pytest.fixture(scope="module")
def sid(client):
    s = client.create({"resources": {"memoryMb": 256}})["id"]
    yield s
    client.destroy(s)


def test_definitions_in_every_format(client):
    chat = tools(client)
    assert [t["function"]["name"] for t in chat] == NAMES
    assert all(t["type"] == "function" for t in chat)
    assert tools(client, "openai-chat") == chat
    resp = tools(client, "openai-responses")
    assert [t["name"] for t in resp] == NAMES and all(t["type"] == "function" for t in resp)
    anth = tools(client, "anthropic")
    assert [t["name"] for t in anth] == NAMES
    mcp = tools(client, "mcp")
    assert [t["name"] for t in mcp] == NAMES
    for t in chat:
        f = t["function"]
        p = f["parameters"]
        assert len(f["description"]) > 80, f  # enough for a model to use it well
        assert p["type"] == "object" and p["additionalProperties"] is False
        for req in p.get("required", []):
            assert req in p["properties"]
    by = {t["function"]["name"]: t["function"]["parameters"] for t in chat}
    assert by["sandbox_exec"]["required"] == ["command"] and "timeout" in by["sandbox_exec"]["properties"]
    assert by["sandbox_write_file"]["required"] == ["path", "content"]
    assert by["sandbox_list_files"].get("required", []) == []
    assert by["sandbox_search_code"]["required"] == ["pattern"] and "path" in by["sandbox_search_code"]["properties"]
    assert by["sandbox_start_process"]["properties"]["env"]["type"] == "object"
    assert by["sandbox_expose_port"]["properties"]["port"]["type"] == "integer"
    # The same schema everywhere.
    assert {t["name"]: t["input_schema"] for t in anth} == by
    assert {t["name"]: t["inputSchema"] for t in mcp} == by
    r = client.request("GET", "/v1/tools?format=yaml")
    assert r.status == 400 and "format" in r.json()["error"]["message"], r
    r = client.request("GET", "/v1/tools?bogus=1")
    assert r.status == 400, r


def test_exec(client, sid):
    res = ok(client, sid, "sandbox_exec", {"command": "cd /tmp && echo out; echo err >&2; hostname"})
    assert res["isError"] is False
    assert res["content"].startswith("exit code 0")
    assert "out\n" in res["content"] and "err" in res["content"] and sid in res["content"]
    assert res["structured"]["exitCode"] == 0 and res["structured"]["stderr"] == "err\n"
    # A failing command is a result that says so, not an HTTP error.
    res = ok(client, sid, "sandbox_exec", {"command": "ls /nowhere"})
    assert res["isError"] is True and res["content"].startswith("exit code 2")
    assert "No such file" in res["content"]
    res = ok(client, sid, "sandbox_exec", {"command": "sleep 30", "timeout": 1})
    assert res["isError"] is True and "timed out" in res["content"]
    assert res["structured"]["timedOut"] is True
    # Long output keeps its end.
    res = ok(client, sid, "sandbox_exec", {"command": "seq 1 100000"})
    assert "bytes cut" in res["content"] and "\n99999\n100000\n" in res["content"]
    assert len(res["content"]) < 20000
    # Bytes that are not UTF-8, and a cut inside a character, still make a
    # result a model (and JSON) can carry.
    res = ok(client, sid, "sandbox_exec",
             {"command": "printf 'bad:\\377\\376:end\\n'; python3 -c \"print('\\u2713' * 9000)\""})
    assert "bytes cut" in res["content"]
    assert res["isError"] is False and "\u2713" in res["content"], res["content"][:200]
    res = ok(client, sid, "sandbox_exec", {"command": "printf 'x\\377y'"})
    assert res["structured"]["stdout"] == "x\ufffdy", res
    # Each call is a fresh shell in /workspace.
    assert ok(client, sid, "sandbox_exec", {"command": "pwd"})["structured"]["stdout"] == "/workspace\n"


def test_files(client, sid):
    res = ok(client, sid, "sandbox_write_file", {"path": "app/src/main.py", "content": "print('hi')\n"})
    assert res["isError"] is False and "12 bytes" in res["content"]
    assert client.read(sid, "/workspace/app/src/main.py").body == b"print('hi')\n"
    res = ok(client, sid, "sandbox_read_file", {"path": "app/src/main.py"})
    assert res["content"] == "print('hi')\n" and res["isError"] is False
    res = ok(client, sid, "sandbox_read_file", {"path": "/workspace/app/src/main.py"})
    assert res["content"] == "print('hi')\n"
    res = ok(client, sid, "sandbox_read_file", {"path": "nope.txt"})
    assert res["isError"] is True and "No such file" in res["content"]
    client.write(sid, "/workspace/bin.dat", b"\x00\x01\x02binary")
    res = ok(client, sid, "sandbox_read_file", {"path": "bin.dat"})
    assert "binary" in res["content"] and res["structured"]["binary"] is True
    res = ok(client, sid, "sandbox_list_files", {})
    assert "app/" in res["content"].splitlines() and any(
        l.startswith("bin.dat") for l in res["content"].splitlines())
    res = ok(client, sid, "sandbox_list_files", {"directory": "app/src"})
    assert res["content"].splitlines() == ["main.py  (12 bytes)"]
    res = ok(client, sid, "sandbox_list_files", {"directory": "/nowhere"})
    assert res["isError"] is True
    # Paths climbing out of the sandbox stay in it.
    res = ok(client, sid, "sandbox_read_file", {"path": "../../../etc/hostname"})
    assert res["content"].strip() == sid
    res = ok(client, sid, "sandbox_write_file", {"path": "/proc/sysrq-trigger", "content": "b"})
    assert res["isError"] is True


def test_search(client, sid):
    ok(client, sid, "sandbox_write_file", {"path": "proj/a.js", "content": "function login(user) {\n}\n"})
    ok(client, sid, "sandbox_write_file", {"path": "proj/node_modules/x.js", "content": "function login() {}\n"})
    res = ok(client, sid, "sandbox_search_code", {"pattern": r"function\s+login", "path": "proj"})
    assert res["content"].splitlines()[0] == "proj/a.js:1: function login(user) {"
    assert len(res["structured"]["matches"]) == 1
    res = ok(client, sid, "sandbox_search_code", {"pattern": "zzz-nothing", "path": "proj"})
    assert res["content"].startswith("no matches")
    res = ok(client, sid, "sandbox_search_code", {"pattern": "(unclosed"})
    assert res["isError"] is True


def test_processes_and_ports(client, sid):
    res = ok(client, sid, "sandbox_start_process",
             {"command": "echo $GREETING > /workspace/greet; exec python3 -m http.server 8123 "
                         "--bind 127.0.0.1", "env": {"GREETING": "hello"}})
    assert res["isError"] is False and res["structured"]["pid"] > 0
    assert wait_until(lambda: client.sh(sid, "cat /workspace/greet 2>/dev/null || true") == "hello\n", 10)
    res = ok(client, sid, "sandbox_expose_port", {"port": 8123})
    url = res["structured"]["url"]
    assert res["isError"] is False and url in res["content"]
    import urllib.request

    def fetch():
        try:
            return urllib.request.urlopen(url + "/greet", timeout=5).read()
        except OSError:
            return None
    assert wait_until(lambda: fetch() == b"hello\n", 10)
    # Asking again is the same URL.
    assert ok(client, sid, "sandbox_expose_port", {"port": 8123})["structured"]["url"] == url


def test_malformed_calls_are_400_and_change_nothing(client, sid):
    before = client.sh(sid, "ls -A /workspace")
    for body in [{"name": "sandbox_nope", "arguments": {}},
                 {"name": "sandbox_exec", "arguments": {"command": 42}},
                 {"name": "sandbox_exec", "arguments": {}},
                 {"name": "sandbox_exec", "arguments": {"command": "touch /workspace/x", "bogus": 1}},
                 {"name": "sandbox_exec", "arguments": {"command": "touch /workspace/x", "timeout": 0}},
                 {"name": "sandbox_write_file", "arguments": {"path": "x"}},
                 {"name": "sandbox_expose_port", "arguments": {"port": 70000}},
                 {"name": "sandbox_start_process", "arguments": {"command": "true", "env": {"A": 1}}},
                 {"name": "sandbox_exec", "arguments": "{not json"},
                 {"name": "sandbox_exec", "arguments": [1]},
                 {"arguments": {}},
                 {"name": "sandbox_exec", "arguments": {"command": "true"}, "extra": 1}]:
        r = call(client, sid, None, raw=body)
        assert r.status == 400, (body, r)
        assert r.json()["error"]["code"] == "invalid_argument"
    r = client.request("POST", f"/v1/sandboxes/{sid}/tools/call", b"{")
    assert r.status == 400
    assert client.sh(sid, "ls -A /workspace") == before
    # OpenAI hands arguments over as a JSON string: taken as well.
    r = call(client, sid, None, raw={"name": "sandbox_exec", "arguments": json.dumps({"command": "echo s"})})
    assert r.status == 200 and r.json()["structured"]["stdout"] == "s\n", r
    # The sandbox's own state is the caller's answer.
    assert call(client, "nosuchbox", "sandbox_exec", {"command": "true"}).status == 404
    other = client.create({})["id"]
    try:
        assert client.request("POST", f"/v1/sandboxes/{other}/pause").status == 200
        r = call(client, other, "sandbox_exec", {"command": "true"})
        assert r.status == 409, r
    finally:
        client.destroy(other)


def test_cli_tools(daemon):
    for fmt, key in [("openai-chat", None), ("anthropic", "input_schema"), ("mcp", "inputSchema"),
                     ("openai-responses", "parameters")]:
        p = subprocess.run([RUNRA, "--socket", daemon.socket, "tools", "--format", fmt],
                           capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        assert p.returncode == 0, p
        defs = json.loads(p.stdout)
        assert len(defs) == 7
        if key:
            assert all(key in d for d in defs)
        else:
            assert defs[0]["function"]["name"] == "sandbox_exec"
    p = subprocess.run([RUNRA, "--socket", daemon.socket, "tools", "--format", "nope"],
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 1 and b"format" in p.stderr, p


class Mcp:
    def __init__(self, daemon, *args):
        self.p = subprocess.Popen([RUNRA, "--socket", daemon.socket, "mcp", *args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.next = 0

    def send(self, obj):
        line = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.p.stdin.write(line + b"\n")
        self.p.stdin.flush()

    def recv(self):
        line = self.p.stdout.readline()
        assert line, self.p.stderr.read()
        return json.loads(line)

    def request(self, method, params=None):
        self.next += 1
        msg = {"jsonrpc": "2.0", "id": self.next, "method": method}
        if params is not None:
            msg["params"] = params
        self.send(msg)
        r = self.recv()
        assert r["id"] == self.next, r
        return r

    def close(self):
        self.p.stdin.close()
        rc = self.p.wait(30)
        err = self.p.stderr.read().decode()
        self.p.stdout.close()
        self.p.stderr.close()
        return rc, err


def test_mcp_server_with_its_own_sandbox(daemon, client):
    before = set(client.list_ids())
    m = Mcp(daemon, "--memory", "256", "--env", "MODE=mcp")
    r = m.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                                 "clientInfo": {"name": "test", "version": "1"}})
    assert r["result"]["protocolVersion"] == "2025-06-18"
    assert r["result"]["capabilities"]["tools"] is not None
    assert r["result"]["serverInfo"]["name"] == "runra"
    m.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    r = m.request("tools/list")
    assert [t["name"] for t in r["result"]["tools"]] == NAMES
    made = set(client.list_ids()) - before
    assert len(made) == 1
    sid = made.pop()
    r = m.request("tools/call", {"name": "sandbox_exec", "arguments": {"command": "echo $MODE; hostname"}})
    res = r["result"]
    assert res["isError"] is False and res["content"][0]["type"] == "text"
    assert f"mcp\n{sid}\n" in res["content"][0]["text"]
    assert res["structuredContent"]["exitCode"] == 0
    r = m.request("tools/call", {"name": "sandbox_read_file", "arguments": {"path": "/nope"}})
    assert r["result"]["isError"] is True
    # Malformed input gets JSON-RPC errors and the server carries on.
    m.send(b"{not json")
    assert m.recv()["error"]["code"] == -32700
    m.send({"jsonrpc": "2.0", "id": 99, "method": "no/such"})
    assert m.recv()["error"]["code"] == -32601
    m.send({"jsonrpc": "1.0", "id": 100, "method": "ping"})
    assert m.recv()["error"]["code"] == -32600
    m.send([{"jsonrpc": "2.0", "id": 101, "method": "ping"}])
    assert m.recv()["error"]["code"] == -32600
    r = m.request("tools/call", {"name": "sandbox_exec", "arguments": {"command": 1}})
    assert r["error"]["code"] == -32602
    r = m.request("tools/call", {"name": "sandbox_bogus", "arguments": {}})
    assert r["error"]["code"] == -32602
    r = m.request("ping")
    assert r["result"] == {}
    # An unknown protocol version gets the newest we speak.
    r = m.request("initialize", {"protocolVersion": "1999-01-01", "capabilities": {},
                                 "clientInfo": {"name": "t", "version": "1"}})
    assert r["result"]["protocolVersion"] == "2025-11-25"
    rc, err = m.close()
    assert rc == 0, err
    # Its sandbox goes with it.
    assert wait_until(lambda: sid not in client.list_ids(), 10)


def test_mcp_server_on_an_existing_sandbox(daemon, client, sid):
    m = Mcp(daemon, "--sandbox", sid)
    m.request("initialize", {"protocolVersion": "2025-03-26", "capabilities": {},
                             "clientInfo": {"name": "t", "version": "1"}})
    r = m.request("tools/call", {"name": "sandbox_write_file",
                                 "arguments": {"path": "from-mcp.txt", "content": "x"}})
    assert r["result"]["isError"] is False
    rc, _ = m.close()
    assert rc == 0
    assert sid in client.list_ids()  # not its to destroy
    assert client.read(sid, "/workspace/from-mcp.txt").body == b"x"
    p = subprocess.run([RUNRA, "--socket", daemon.socket, "mcp", "--sandbox", "nosuchbox"],
                       capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    assert p.returncode == 1 and b"not found" in p.stderr, p


def test_mcp_server_stopped_with_sigterm_destroys_its_sandbox(daemon, client):
    import signal
    before = set(client.list_ids())
    m = Mcp(daemon)
    m.request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                             "clientInfo": {"name": "t", "version": "1"}})
    made = set(client.list_ids()) - before
    assert len(made) == 1
    # How MCP clients stop a stdio server: close its stdin or TERM it; a
    # TERM while it waits for input ends it the same way.
    m.p.send_signal(signal.SIGTERM)
    rc = m.p.wait(30)
    m.p.stdin.close()
    m.p.stdout.close()
    m.p.stderr.close()
    assert rc in (0, 128 + signal.SIGTERM), rc
    assert wait_until(lambda: not (made & set(client.list_ids())), 10)
