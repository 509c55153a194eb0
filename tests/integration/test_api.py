"""The HTTP API as a caller sees it: health, the sandbox lifecycle, metadata
filters, strict input (bad input is refused and changes nothing), error
shapes, routing, and the route table against api/openapi.yaml."""

import os
import re
import subprocess
import threading
import time

import pytest

from conftest import REPO, RUNRAD
from runra_client import parse_raw_response, q, raw_request, state_tree, wait_until

ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def test_health_shape(client):
    h = client.health()
    assert h["status"] == "ok"
    assert isinstance(h["version"], str) and h["version"]
    ns = h["backends"]["ns"]
    assert ns["available"] is True, f"ns backend unavailable on a root Debian host: {ns}"
    vm = h["backends"]["vm"]
    assert isinstance(vm["available"], bool)
    if not vm["available"]:
        assert isinstance(vm.get("reason"), str) and vm["reason"]
    assert h["cgroup"] in ("v1", "v2", "hybrid")
    assert isinstance(h["landlock"], int) and h["landlock"] >= 0
    assert isinstance(h["sandboxes"], int) and h["sandboxes"] >= 0


def test_health_reports_host_cgroup_mode(client):
    # This host mounts v1 controllers plus a v2 hierarchy at /sys/fs/cgroup/unified.
    unified = os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers")
    pure_v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
    expect = "v2" if pure_v2 else ("hybrid" if unified else "v1")
    assert client.health()["cgroup"] == expect


def test_version_flag():
    out = subprocess.run([RUNRAD, "--version"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0
    assert out.stdout.startswith("runrad ")


def test_create_defaults(client):
    before = client.count()
    sb = client.create({})
    try:
        assert ID_RE.match(sb["id"]), sb
        assert sb["state"] == "running"
        assert sb["image"] == "host"
        assert sb["backend"] == "ns"
        assert sb["resources"] == {"cpu": 1.0, "memoryMb": 1024, "pids": 512, "diskMb": 2048}
        assert sb["timeoutMs"] == 0
        assert sb["metadata"] == {}
        assert sb["envKeys"] == []
        assert sb["workdir"] == "/workspace"
        assert ISO_RE.match(sb["createdAt"]), sb["createdAt"]
        assert sb["expiresAt"] is None
        assert client.count() == before + 1
        got = client.get(f"/v1/sandboxes/{sb['id']}")
        assert got.status == 200
        assert got.json() == sb
        assert got.headers.get("content-type") == "application/json"
    finally:
        client.destroy(sb["id"])
    assert client.count() == before


def test_create_without_body(client):
    r = client.post("/v1/sandboxes")
    assert r.status == 201, r
    client.destroy(r.json()["id"])


def test_create_full_spec_is_reflected(client):
    spec = {"image": "host", "backend": "ns",
            "resources": {"cpu": 0.5, "memoryMb": 256, "pids": 64, "diskMb": 128},
            "timeoutMs": 600000, "metadata": {"owner": "it", "run": "full"},
            "env": {"SECRET_TOKEN": "s3cr3t-value-xyz", "PLAIN": "p"}, "workdir": "/work/dir"}
    sb = client.create(spec)
    try:
        assert sb["resources"] == spec["resources"]
        assert sb["timeoutMs"] == 600000
        assert sb["metadata"] == spec["metadata"]
        assert sorted(sb["envKeys"]) == ["PLAIN", "SECRET_TOKEN"]
        assert sb["workdir"] == "/work/dir"
        assert ISO_RE.match(sb["expiresAt"])
        # Env values are never shown, in any response.
        for r in (client.get(f"/v1/sandboxes/{sb['id']}"), client.get("/v1/sandboxes")):
            assert r.status == 200
            assert b"s3cr3t-value-xyz" not in r.body
        # The workdir exists and is the default cwd.
        assert client.sh(sb["id"], "pwd").strip() == "/work/dir"
        assert client.sh(sb["id"], "echo $SECRET_TOKEN").strip() == "s3cr3t-value-xyz"
    finally:
        client.destroy(sb["id"])


def test_list_and_metadata_filter(client):
    a = client.create({"metadata": {"team": "red", "tier": "1"}})["id"]
    b = client.create({"metadata": {"team": "red", "tier": "2"}})["id"]
    c = client.create({"metadata": {"team": "blue"}})["id"]
    try:
        all_ids = client.list_ids()
        assert {a, b, c} <= set(all_ids)
        assert len(all_ids) == len(set(all_ids)) == client.count()
        assert set(client.list_ids(team="red")) == {a, b}
        assert set(client.list_ids(team="red", tier="2")) == {b}
        assert set(client.list_ids(team="blue")) == {c}
        assert client.list_ids(team="green") == []
        assert client.list_ids(nosuchkey="x") == []
        listed = {s["id"]: s for s in client.get("/v1/sandboxes").json()["sandboxes"]}
        assert listed[a]["metadata"] == {"team": "red", "tier": "1"}
    finally:
        for sid in (a, b, c):
            client.destroy(sid)
    assert not {a, b, c} & set(client.list_ids())


def test_delete_then_gone(client):
    sid = client.create()["id"]
    client.destroy(sid)
    for method, path, body in [("GET", f"/v1/sandboxes/{sid}", None),
                               ("DELETE", f"/v1/sandboxes/{sid}", None),
                               ("POST", f"/v1/sandboxes/{sid}/exec", {"command": "true"}),
                               ("GET", q(f"/v1/sandboxes/{sid}/files/stat", path="/"), None)]:
        r = client.request(method, path, body=body)
        assert r.status == 404, (method, path, r)
        assert r.error_code == "not_found"
    assert sid not in client.list_ids()


def test_sandbox_timeout_destroys_it(client):
    sb = client.create({"timeoutMs": 1500})
    assert sb["expiresAt"] is not None
    sid = sb["id"]
    assert client.get(f"/v1/sandboxes/{sid}").status == 200
    gone = wait_until(lambda: client.get(f"/v1/sandboxes/{sid}").status == 404, timeout=8)
    assert gone, "a sandbox with timeoutMs 1500 still exists after 8 s"
    assert sid not in client.list_ids()


def test_delete_during_exec_wakes_the_exec(client):
    sid = client.create()["id"]
    result = {}

    def run():
        result["r"] = client.exec_raw(sid, command="sleep 60", timeout=30)

    t = threading.Thread(target=run)
    t.start()
    time.sleep(0.5)
    start = time.monotonic()
    client.destroy(sid)
    t.join(20)
    assert not t.is_alive(), "exec still blocked 20 s after its sandbox was deleted"
    assert time.monotonic() - start < 15
    r = result["r"]
    # The exec ends either with an error (the sandbox went away) or killed.
    if r.status == 200:
        assert r.json()["exitCode"] != 0, r
    else:
        assert r.status in (404, 502), r
        r.error_code


# -- bad input changes nothing --------------------------------------------

BAD_SPECS = [
    (b"{", 400), (b" ", 400), (b"[]", 400), (b'"x"', 400), (b"1", 400), (b"null", 400),
    (b'{"image":"host","image":"host"}', 400),
    (b"{\"bogus\":1}", 400),
    (b'{"image":1}', 400), (b'{"image":""}', 400), (b'{"image":"ubuntu:22.04"}', 502),
    (b'{"backend":"vm","mounts":[{"source":"/usr/share","target":"/mnt/x"}]}', 400), (b'{"backend":"bogus"}', 400), (b'{"backend":1}', 400),
    (b'{"resources":[]}', 400), (b'{"resources":{"gpu":1}}', 400),
    (b'{"resources":{"cpu":"1"}}', 400), (b'{"resources":{"cpu":0.001}}', 400),
    (b'{"resources":{"cpu":0}}', 400), (b'{"resources":{"cpu":-1}}', 400),
    (b'{"resources":{"cpu":100000}}', 400),
    (b'{"resources":{"memoryMb":15}}', 400), (b'{"resources":{"memoryMb":64.5}}', 400),
    (b'{"resources":{"memoryMb":"64"}}', 400), (b'{"resources":{"pids":7}}', 400),
    (b'{"resources":{"pids":-1}}', 400), (b'{"resources":{"diskMb":15}}', 400),
    (b'{"resources":{"diskMb":null}}', 400),
    (b'{"timeoutMs":-1}', 400), (b'{"timeoutMs":"5"}', 400), (b'{"timeoutMs":1.5}', 400),
    (b'{"timeoutMs":99999999999999}', 400),
    (b'{"metadata":[]}', 400), (b'{"metadata":{"a":1}}', 400), (b'{"metadata":{"":"x"}}', 400),
    (b'{"metadata":{"k":"' + b"v" * 2000 + b'"}}', 400),
    (b'{"metadata":{' + b",".join(b'"k%d":"v"' % i for i in range(65)) + b"}}", None),
    (b'{"env":{"1BAD":"x"}}', 400), (b'{"env":{"A-B":"x"}}', 400), (b'{"env":{"A":1}}', 400),
    (b'{"env":{"A=B":"x"}}', 400), (b'{"env":"A=B"}', 400),
    (b'{"workdir":"relative"}', 400), (b'{"workdir":"/proc/x"}', 400),
    (b'{"workdir":"/a/../b"}', 400), (b'{"workdir":"/sys"}', 400), (b'{"workdir":5}', 400),
]


@pytest.mark.parametrize("body,status", BAD_SPECS, ids=lambda x: repr(x)[:40] if isinstance(x, bytes) else str(x))
def test_bad_create_changes_nothing(client, daemon, body, status):
    before_n, before_tree = client.count(), state_tree(daemon.state_dir)
    r = client.request("POST", "/v1/sandboxes", body=body,
                       headers={"Content-Type": "application/json"})
    if status is None:  # a size limit: 400 or 413 are both honest answers
        assert r.status in (400, 413), r
    else:
        assert r.status == status, r
    code = r.error_code
    expect = {400: "invalid_argument", 404: "not_found", 501: "not_implemented",
              413: "payload_too_large", 502: "registry_unavailable"}
    assert code == expect[r.status], r
    assert client.count() == before_n
    assert state_tree(daemon.state_dir) == before_tree


def test_unknown_image_and_vm_backend_codes(client):
    # docker.io is a closed loopback port for test daemons (runra_client):
    # the registry cannot be reached. (A registry without the image, 404,
    # is tests/images' business.)
    r = client.post("/v1/sandboxes", {"image": "node:22"})
    assert r.status == 502 and r.error_code == "registry_unavailable", r
    assert "127.0.0.1:9" in r.json()["error"]["message"], r
    r = client.post("/v1/sandboxes", {"image": "Not:A:Ref"})
    assert r.status == 400 and r.error_code == "invalid_argument", r
    # What no VM can have (a host mount) is 400, whether or not QEMU is here.
    r = client.post("/v1/sandboxes", {"backend": "vm",
                                      "mounts": [{"source": "/usr/share", "target": "/mnt/x"}]})
    assert r.status == 400 and r.error_code == "invalid_argument", r
    assert "backend vm" in r.json()["error"]["message"], r


def _send_big(sock, total, chunked, path="/v1/sandboxes"):
    body_chunk = b" " * (1 << 20)
    head = b"POST " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    if chunked:
        head += b"Transfer-Encoding: chunked\r\n\r\n"
    else:
        head += b"Content-Length: %d\r\n\r\n" % total
    data = bytearray(head)
    sent = 0
    while sent < total:
        n = min(len(body_chunk), total - sent)
        if chunked:
            data += b"%x\r\n" % n + body_chunk[:n] + b"\r\n"
        else:
            data += body_chunk[:n]
        sent += n
    if chunked:
        data += b"0\r\n\r\n"
    return parse_raw_response(raw_request(sock, bytes(data), timeout=60))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_body_over_32mib_is_413(client, daemon, chunked):
    before_n, before_tree = client.count(), state_tree(daemon.state_dir)
    r = _send_big(daemon.socket, 33 << 20, chunked)
    assert r.status == 413, r
    assert r.error_code == "payload_too_large"
    assert client.count() == before_n
    assert state_tree(daemon.state_dir) == before_tree
    assert client.health()["status"] == "ok"


def test_exec_body_over_32mib_is_413(client, daemon, sandbox):
    for chunked in (False, True):
        r = _send_big(daemon.socket, 33 << 20, chunked, path=f"/v1/sandboxes/{sandbox}/exec")
        assert r.status == 413, (chunked, r)
        assert r.error_code == "payload_too_large"
    assert client.sh(sandbox, "echo still-ok") == "still-ok\n"


BAD_IDS = ["..", ".", "a.b", "%2e%2e", "a%2Fb", "x" * 64, "a%00b", "%20", "~root", "a;b"]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_are_refused(client, daemon, bad):
    before_n, before_tree = client.count(), state_tree(daemon.state_dir)
    for method, suffix, body in [("GET", "", None), ("DELETE", "", None),
                                 ("POST", "/exec", {"command": "true"}),
                                 ("GET", "/files?path=/etc/hostname", None),
                                 ("PUT", "/files?path=/tmp/x", b"data")]:
        r = client.request(method, f"/v1/sandboxes/{bad}{suffix}", body=body)
        assert r.status in (400, 404, 405), (method, bad, suffix, r)
        r.error_code
    assert client.count() == before_n
    assert state_tree(daemon.state_dir) == before_tree


def test_malformed_id_is_400(client):
    r = client.get("/v1/sandboxes/a.b")
    assert r.status == 400 and r.error_code == "invalid_argument", r
    r = client.get("/v1/sandboxes/" + "x" * 64)
    assert r.status == 400 and r.error_code == "invalid_argument", r
    r = client.get("/v1/sandboxes/" + "x" * 63)
    assert r.status == 404 and r.error_code == "not_found", r


@pytest.mark.parametrize("method,path,status,code", [
    ("GET", "/", 404, "not_found"),
    ("GET", "/v1", 404, "not_found"),
    ("GET", "/v1/nope", 404, "not_found"),
    ("GET", "/v2/health", 404, "not_found"),
    ("GET", "/v1/health/", 404, "not_found"),
    ("GET", "/v1/sandboxes/abc/nope", 404, "not_found"),
    ("POST", "/v1/health", 405, "method_not_allowed"),
    ("DELETE", "/v1/health", 405, "method_not_allowed"),
    ("PUT", "/v1/sandboxes", 405, "method_not_allowed"),
    ("PATCH", "/v1/sandboxes/abc/exec", 405, "method_not_allowed"),
    ("GET", "/v1/sandboxes/abc/exec", 405, "method_not_allowed"),
    ("POST", "/v1/sandboxes/abc/files", 405, "method_not_allowed"),
    ("FOO", "/v1/health", 405, "method_not_allowed"),
])
def test_bad_routes_and_methods(client, daemon, method, path, status, code):
    before_n, before_tree = client.count(), state_tree(daemon.state_dir)
    r = client.request(method, path)
    assert r.status == status, r
    assert r.error_code == code
    assert client.count() == before_n
    assert state_tree(daemon.state_dir) == before_tree


def test_unknown_query_parameters_are_400(client, sandbox):
    for path in ["/v1/health?x=1", "/v1/sandboxes?limit=5", f"/v1/sandboxes/{sandbox}?verbose=1",
                 q(f"/v1/sandboxes/{sandbox}/files", path="/etc/hostname", follow="1"),
                 q(f"/v1/sandboxes/{sandbox}/files/stat", path="/", x="y"),
                 q(f"/v1/sandboxes/{sandbox}/files/list", path="/", recursive="true")]:
        r = client.get(path)
        assert r.status == 400, (path, r)
        assert r.error_code == "invalid_argument"
    r = client.post(f"/v1/sandboxes/{sandbox}/exec?async=1", {"command": "true"})
    assert r.status == 400 and r.error_code == "invalid_argument", r
    r = client.delete(f"/v1/sandboxes/{sandbox}?force=1")
    assert r.status == 400, r
    assert client.get(f"/v1/sandboxes/{sandbox}").status == 200


def test_body_on_get_is_refused(client):
    r = client.request("GET", "/v1/health", body=b'{"x":1}')
    assert r.status == 400, r
    assert r.error_code == "invalid_argument"


def test_daemon_survives_garbage(client, daemon):
    for junk in [b"\x00\x01\x02garbage\r\n\r\n", b"GET /v1/health HTTP/9.9\r\n\r\n",
                 b"GET " + b"/" * 100000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"POST /v1/sandboxes HTTP/1.1\r\nContent-Length: 10\r\n\r\n{"]:
        raw_request(daemon.socket, junk, timeout=5, shut_write=True)
    assert client.health()["status"] == "ok"
    assert daemon.alive()


# -- the route table and the OpenAPI file -----------------------------------

def _listed_routes():
    out = subprocess.run([RUNRAD, "--list-routes"], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stderr
    routes = set()
    for line in out.stdout.splitlines():
        method, pattern = line.split()
        routes.add((method.upper(), pattern))
    assert routes, "runrad --list-routes printed nothing"
    return routes


def _norm(pattern):
    return re.sub(r"\{[^}]*\}", "{id}", pattern)


def _openapi_routes():
    path = os.path.join(REPO, "api", "openapi.yaml")
    if not os.path.exists(path):
        pytest.fail(f"{path} is missing: the API contract must be written down")
    import yaml
    with open(path) as f:
        doc = yaml.safe_load(f)
    routes = set()
    for p, ops in (doc.get("paths") or {}).items():
        for method in ops:
            if method.lower() in ("get", "put", "post", "delete", "patch", "head", "options"):
                routes.add((method.upper(), _norm(p)))
    return routes


def test_openapi_lists_every_route():
    listed = {(m, _norm(p)) for m, p in _listed_routes()}
    documented = _openapi_routes()
    assert not listed - documented, f"routes runrad serves but openapi.yaml lacks: {sorted(listed - documented)}"


def test_openapi_documents_only_served_routes():
    listed = {(m, _norm(p)) for m, p in _listed_routes()}
    documented = _openapi_routes()
    assert not documented - listed, f"openapi.yaml routes runrad does not serve: {sorted(documented - listed)}"


def test_listed_routes_are_really_served(client):
    # Each listed route must reach a handler: never "no route" nor "method not allowed".
    for method, pattern in _listed_routes():
        path = pattern.replace("{id}", "nosuchsandbox0")
        body = {} if method in ("POST",) else (b"" if method == "PUT" else None)
        if "/files" in path and method in ("GET", "PUT", "DELETE"):
            path += "?path=/x"
        r = client.request(method, path, body=body)
        assert r.status != 405, (method, pattern, r)
        if r.status == 404:
            assert b"no route" not in r.body, (method, pattern, r)


def test_non_utf8_url_gets_a_json_error(daemon):
    # The error message quotes the URL; bytes that are not UTF-8 must not
    # cost the client its answer.
    out = raw_request(daemon.socket, b"GET /v1/sandboxes/%ff%fe/x\xff HTTP/1.1\r\nHost: x\r\n"
                                     b"Connection: close\r\n\r\n")
    r = parse_raw_response(out)
    assert r.status == 404, out
    assert r.error_code == "not_found", out
