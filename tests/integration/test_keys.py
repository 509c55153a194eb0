"""API keys and tenants: runrad --listen serves the API on TCP, where every
request needs a key. A sandbox belongs to the key that created it: with
another key every route answers 404 and changes nothing; without a key or
with a wrong one, 401; admin routes (keys, metrics) are for the unix socket
only. Keys are stored hashed. The CLI reaches the TCP door through
RUNRA_HOST and RUNRA_API_KEY."""

import http.client
import json
import os
import socket
import subprocess

import pytest

from conftest import BUILD_DIR, RUNRAD, finish_daemon, start_daemon

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
