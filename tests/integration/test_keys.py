"""API keys and tenants: runrad --listen serves the API on TCP, where every
request needs a key. A sandbox belongs to the key that created it: with
another key every route answers 404 and changes nothing; without a key or
with a wrong one, 401; admin routes (keys, metrics) are for the unix socket
only. Keys are stored hashed. The CLI reaches the TCP door through
RUNRA_HOST and RUNRA_API_KEY. Revoking a key also ends, within about a
second, every stream and WebSocket it let in, and nothing of another key's."""

import base64
import http.client
import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import BUILD_DIR, RUNRAD, finish_daemon, start_daemon
from runra_client import wait_until
from wsclient import WS, Closed

RUNRA = os.path.join(BUILD_DIR, "src", "cli", "runra")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Tcp:
    def __init__(self, port, key):
        self.port, self.key = port, key

    def request(self, method, path, body=None, key="default"):
        k = self.key if key == "default" else key
        h = {"Content-Type": "application/json"} if body is not None else {}
        if k:
            h["Authorization"] = "Bearer " + k
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()


@pytest.fixture(scope="module")
def tenants():
    port = free_port()
    d = start_daemon(["--listen", f"127.0.0.1:{port}"])
    admin = d.client
    ka = admin.request("POST", "/v1/keys", {"name": "team a"})
    kb = admin.request("POST", "/v1/keys", {"name": "team b"})
    assert ka.status == 201 and kb.status == 201, (ka, kb)
    ka, kb = ka.json(), kb.json()
    yield d, Tcp(port, ka["key"]), Tcp(port, kb["key"]), ka, kb
    finish_daemon(d)


def test_keys_are_listed_without_secrets_and_stored_hashed(tenants):
    d, a, b, ka, kb = tenants
    lst = d.client.request("GET", "/v1/keys").json()["keys"]
    assert {k["name"] for k in lst} >= {"team a", "team b"}
    assert all(set(k) == {"id", "name", "createdAt"} for k in lst)
    for f in ("runra.db", "runra.db-wal"):
        p = os.path.join(d.state_dir, f)
        if os.path.exists(p):
            with open(p, "rb") as fh:
                data = fh.read()
            assert ka["key"].encode() not in data and kb["key"].encode() not in data


def test_missing_or_wrong_key_is_401_and_admin_routes_403(tenants):
    d, a, b, ka, kb = tenants
    assert a.request("GET", "/v1/sandboxes", key=None)[0] == 401
    assert a.request("GET", "/v1/sandboxes", key="rk_000000000000_" + "0" * 48)[0] == 401
    assert a.request("GET", "/v1/sandboxes", key=ka["key"][:-1] + "x")[0] == 401
    assert a.request("GET", "/v1/sandboxes", key="garbage")[0] == 401
    assert a.request("POST", "/v1/keys", {"name": "x"})[0] == 403
    assert a.request("GET", "/v1/keys")[0] == 403
    assert a.request("GET", "/metrics")[0] == 403
    assert a.request("GET", "/v1/health")[0] == 200


def test_another_key_sees_nothing_and_changes_nothing(tenants):
    d, a, b, ka, kb = tenants
    st, body = a.request("POST", "/v1/sandboxes", {"metadata": {"t": "a"}})
    assert st == 201, body
    sid = json.loads(body)["id"]
    st, body = a.request("POST", f"/v1/sandboxes/{sid}/exec", {"command": "echo mine > /workspace/f"})
    assert st == 200, body
    # Every route that names a sandbox, with B's key: 404 as if it did not exist.
    routes = subprocess.run([RUNRAD, "--list-routes"], stdout=subprocess.PIPE,
                            check=True).stdout.decode().split("\n")
    checked = 0
    for line in routes:
        if "{id}" not in line or not line.strip() or "/v1/keys" in line:
            continue
        method, path = line.split()
        path = path.replace("{id}", sid).replace("{proc}", "1")
        body = {} if method in ("POST", "PATCH") else None
        st, out = b.request(method, path + ("?path=/workspace/f" if "/files" in path else ""), body)
        assert st == 404, (method, path, st, out)
        checked += 1
    assert checked >= 30
    st, out = b.request("GET", "/v1/sandboxes")
    assert st == 200 and json.loads(out)["sandboxes"] == []
    # Health counts only the key's own sandboxes.
    assert json.loads(b.request("GET", "/v1/health")[1])["sandboxes"] == 0
    assert json.loads(a.request("GET", "/v1/health")[1])["sandboxes"] == 1
    st, out = b.request("GET", f"/v1/events?sandbox={sid}")
    assert st == 404, out
    # Nothing changed: the sandbox is there, its file intact, for A and the admin.
    st, out = a.request("GET", f"/v1/sandboxes/{sid}/files?path=/workspace/f")
    assert st == 200 and out == b"mine\n", out
    assert [s["id"] for s in json.loads(a.request("GET", "/v1/sandboxes")[1])["sandboxes"]] == [sid]
    assert d.client.request("GET", f"/v1/sandboxes/{sid}").status == 200
    st, out = a.request("GET", f"/v1/events?sandbox={sid}&type=exec")
    assert st == 200 and len(out.decode().splitlines()) == 1
    st, out = a.request("GET", "/v1/events")
    assert st == 400, out
    assert a.request("DELETE", f"/v1/sandboxes/{sid}")[0] == 204


def test_revoked_key_stops_working(tenants):
    d, a, b, ka, kb = tenants
    k = d.client.request("POST", "/v1/keys", {"name": "short-lived"}).json()
    t = Tcp(a.port, k["key"])
    assert t.request("GET", "/v1/sandboxes")[0] == 200
    assert d.client.request("DELETE", f"/v1/keys/{k['id']}").status == 204
    assert t.request("GET", "/v1/sandboxes")[0] == 401
    assert d.client.request("DELETE", f"/v1/keys/{k['id']}").status == 404
    assert d.client.request("POST", "/v1/keys", {"name": ""}).status == 400
    assert d.client.request("POST", "/v1/keys", {"name": "x", "role": "root"}).status == 400


def test_cli_over_tcp_with_env(tenants):
    d, a, b, ka, kb = tenants
    env = dict(os.environ, RUNRA_HOST=f"http://127.0.0.1:{a.port}", RUNRA_API_KEY=ka["key"],
               RUNRA_NO_AUTOSTART="1")
    env.pop("RUNRA_SOCKET", None)
    p = subprocess.run([RUNRA, "run", "--", "echo", "over-tcp"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=env, timeout=60)
    assert p.returncode == 0 and p.stdout == b"over-tcp\n", p
    env["RUNRA_API_KEY"] = "rk_nope"
    p = subprocess.run([RUNRA, "ls"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                       timeout=60)
    assert p.returncode != 0 and b"API key" in p.stderr, p
    p = subprocess.run([RUNRA, "--socket", d.socket, "keys", "ls"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=dict(os.environ, RUNRA_NO_AUTOSTART="1"),
                       timeout=60)
    assert p.returncode == 0 and b"team a" in p.stdout, p


class TcpWS(WS):
    """wsclient's WebSocket, over TCP with an API key (the handshake only
    differs in where it connects and the Authorization header)."""

    def __init__(self, port, path, key, timeout=30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        k = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {k}\r\n"
                           f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {key}\r\n\r\n"
                           ).encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        assert head.split(b" ", 2)[1] == b"101", head


class Stream(threading.Thread):
    """A streaming response read to its end in the background: its lines,
    when it ended (time.monotonic()) and whether the end was a proper one
    (the last chunk, not a cut connection)."""

    def __init__(self, port, key, method, path, body=None):
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        h = {"Authorization": "Bearer " + key}
        if body is not None:
            h["Content-Type"] = "application/json"
            body = json.dumps(body).encode()
        self.conn.request(method, path, body=body, headers=h)
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200, (path, self.resp.status, self.resp.read())
        assert self.resp.getheader("Transfer-Encoding") == "chunked", self.resp.getheaders()
        self.lines, self.ended, self.clean = [], None, None
        self.start()

    def run(self):
        try:
            for line in self.resp:
                self.lines.append(json.loads(line))
            self.clean = True
        except Exception as e:  # noqa: BLE001 - any failure is an unclean end
            self.clean, self.error = False, e
        self.ended = time.monotonic()

    def stop(self):
        try:
            self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.join(10)
        self.conn.close()


def close_of(ws, seconds):
    """The server's close frame (Closed) within seconds, output skipped."""
    end = time.monotonic() + seconds
    ws.sock.settimeout(seconds)
    try:
        for _ in ws.events():
            assert time.monotonic() < end, "no close frame in time"
    except Closed as c:
        return c
    raise AssertionError("no close frame")


def ticker(t, sid):
    """A process printing a line every 0.2 s, tagged "ticker"."""
    st, out = t.request("POST", f"/v1/sandboxes/{sid}/processes",
                        {"command": "while :; do echo tick; sleep 0.2; done", "tag": "ticker"})
    assert st == 201, out


def test_revoking_a_key_ends_its_streams_and_no_other(tenants):
    d, a, b, ka, kb = tenants
    admin = d.client
    kr = admin.request("POST", "/v1/keys", {"name": "to revoke"}).json()
    kk = admin.request("POST", "/v1/keys", {"name": "to keep"}).json()
    r, k = Tcp(a.port, kr["key"]), Tcp(a.port, kk["key"])
    port = a.port
    sids, streams, sockets = [], [], []
    try:
        for t in (r, k):
            st, out = t.request("POST", "/v1/sandboxes", {})
            assert st == 201, out
            sids.append(json.loads(out)["id"])
            ticker(t, sids[-1])
            st, out = t.request("POST", f"/v1/sandboxes/{sids[-1]}/exec", {"command": "true"})
            assert st == 200, out
        sr, sk = sids
        logs = "/processes/ticker/logs?follow=1"

        # The revoked key's long-lived requests: one of each kind.
        ws_r = TcpWS(port, f"/v1/sandboxes/{sr}/processes/ticker/attach", kr["key"])
        sockets.append(ws_r)
        ws_r.read_until(b"tick")
        ev_r = Stream(port, kr["key"], "GET", f"/v1/events?sandbox={sr}&follow=1")
        logs_r = Stream(port, kr["key"], "GET", f"/v1/sandboxes/{sr}{logs}")
        exec_r = Stream(port, kr["key"], "POST", f"/v1/sandboxes/{sr}/exec",
                        {"command": "echo started; sleep 60", "stream": True})
        watch_r = Stream(port, kr["key"], "GET", f"/v1/sandboxes/{sr}/files/watch?path=/workspace")
        waited = {}

        def wait_r():
            waited["answer"] = r.request("POST", f"/v1/sandboxes/{sr}/processes/ticker/wait", {})
            waited["at"] = time.monotonic()
        wait_t = threading.Thread(target=wait_r, daemon=True)
        wait_t.start()
        # The kept key's, and the admin's on the revoked key's sandbox.
        ws_k = TcpWS(port, f"/v1/sandboxes/{sk}/processes/ticker/attach", kk["key"])
        sockets.append(ws_k)
        ws_k.read_until(b"tick")
        ws_admin = WS(d.socket, f"/v1/sandboxes/{sr}/processes/ticker/attach")
        sockets.append(ws_admin)
        ws_admin.read_until(b"tick")
        ev_k = Stream(port, kk["key"], "GET", f"/v1/events?sandbox={sk}&follow=1")
        logs_k = Stream(port, kk["key"], "GET", f"/v1/sandboxes/{sk}{logs}")
        streams = [ev_r, logs_r, exec_r, watch_r, ev_k, logs_k]
        assert wait_until(lambda: logs_r.lines and logs_k.lines and ev_r.lines and ev_k.lines
                          and exec_r.lines and watch_r.lines, 10)
        time.sleep(0.5)
        assert all(s.ended is None for s in streams) and "at" not in waited

        revoked = time.monotonic()
        assert admin.request("DELETE", f"/v1/keys/{kr['id']}").status == 204

        # The WebSocket: close 1008 with a reason, then the TCP connection
        # goes once our close answers it.
        c = close_of(ws_r, 5)
        assert c.code == 1008 and "revoked" in c.reason, c
        assert time.monotonic() - revoked < 3
        ws_r.close(1008)
        ws_r.sock.settimeout(5)
        assert ws_r.sock.recv(100) == b""
        # The NDJSON streams end properly (the last chunk), soon.
        for s in (ev_r, logs_r, exec_r, watch_r):
            s.join(5)
            assert s.ended is not None, s.lines[-3:]
            assert s.clean, s.error
            assert s.ended - revoked < 3, s.ended - revoked
        for s in (logs_r, exec_r):
            last = s.lines[-1]
            assert last["type"] == "error" and last["error"]["code"] == "unauthorized", last
        assert {"type": "stdout", "data": base64.b64encode(b"started\n").decode()} in exec_r.lines
        wait_t.join(5)
        assert waited["answer"][0] == 401 and waited["at"] - revoked < 3, waited
        # New requests with the key: 401.
        assert r.request("GET", "/v1/sandboxes")[0] == 401
        assert r.request("GET", f"/v1/sandboxes/{sr}{logs}")[0] == 401
        with pytest.raises(AssertionError, match="401"):
            TcpWS(port, f"/v1/sandboxes/{sr}/processes/ticker/attach", kr["key"])

        # The other key's streams and the admin's go on.
        time.sleep(1)
        assert ev_k.ended is None and logs_k.ended is None
        n = len(logs_k.lines)
        assert wait_until(lambda: len(logs_k.lines) > n + 2, 5)
        assert ws_k.read_until(b"tick")
        assert ws_admin.read_until(b"tick")
        n = len(ev_k.lines)
        st, out = k.request("POST", f"/v1/sandboxes/{sk}/exec", {"command": "true"})
        assert st == 200, out
        assert wait_until(lambda: len(ev_k.lines) > n, 5), ev_k.lines
        assert ev_k.lines[-1]["type"] == "exec"
        ws_k.close()
        assert ws_k.drain()[2] == 1000
        ws_admin.close()
        assert ws_admin.drain()[2] == 1000
    finally:
        for ws in sockets:
            ws.shutdown()
        for s in streams:
            s.stop()
        for sid in sids:
            admin.request("DELETE", f"/v1/sandboxes/{sid}")
        admin.request("DELETE", f"/v1/keys/{kk['id']}")
