"""Images as sandbox roots, end to end: a real runrad pulls from the loopback
registry (docker.io through a mirror setting), imports layouts and archives,
and runs commands in sandboxes whose root is the image: the seed's node:22
and python:3.12, the image config (Env, WorkingDir, User), the whiteout
tree as the image describes it, layers shared and pulled once, hostile
layers refused with nothing stored, and removal with garbage collection."""

import json
import os
import shutil
import sys
import tempfile
import threading

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import fixtures  # noqa: E402
from registry import Registry, push_image  # noqa: E402
from runra_client import Daemon, leftovers  # noqa: E402

REPO = os.path.realpath(os.path.join(HERE, "..", ".."))
BUILD_DIR = os.path.realpath(os.environ.get("RUNRA_BUILD_DIR", os.path.join(REPO, "build")))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="runrad needs root")


@pytest.fixture(scope="module")
def reg():
    with Registry(auth="none") as r:
        r.proxy = r.fault_proxy()
        push_image(r, "library/node", "22", fixtures.node_image())
        push_image(r, "library/python", "3.12", fixtures.python_image())
        push_image(r, "runra-test/config", "latest", fixtures.config_image())
        push_image(r, "runra-test/whiteout", "latest", fixtures.whiteout_image())
        yield r


@pytest.fixture(scope="module")
def daemon(reg):
    top = tempfile.mkdtemp(prefix="runra-img-", dir="/tmp")
    cfg = os.path.join(top, "runrad.json")
    # docker.io goes to the loopback registry (through the fault proxy,
    # which counts requests) and nowhere else.
    with open(cfg, "w") as f:
        json.dump({"registries": {
            "docker.io": {"mirrors": [f"http://{reg.proxy.host}"], "mirrorsOnly": True},
            reg.host: {"insecure": True},
            reg.proxy.host: {"insecure": True},
        }, "images": {"maxLayerBytes": 256 << 20, "maxLayerEntries": 100_000}}, f)
    d = Daemon(BUILD_DIR, os.path.join(top, "state"), ["--config", cfg, "--pool", "0"])
    d.start()
    yield d
    try:
        rc = d.stop(timeout=10)
        assert rc == 0, d.log()
        left = leftovers(d.state_dir)
        assert not left, left
    finally:
        d.kill()
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def client(daemon):
    return daemon.client


def sh(client, sid, cmd, **kw):
    r = client.exec_raw(sid, command=cmd, **kw)
    assert r.status == 200, r
    return r.json()


def test_seed_node_image_through_the_docker_io_mirror(client):
    sb = client.create({"image": "node:22"}, timeout=180)
    try:
        assert sb["image"] == "node:22"
        assert sb["imageDigest"].startswith("sha256:")
        assert sb["workdir"] == "/app"
        out = sh(client, sb["id"], "node hello.js && node -e 'console.log(1+1)' && pwd")
        assert out["exitCode"] == 0, out
        assert out["stdout"].startswith("hello from node v"), out
        assert out["stdout"].splitlines()[1:] == ["2", "/app"], out
        # The image's Env is the sandbox's, under its own.
        out = sh(client, sb["id"], "echo $NODE_VERSION")
        assert out["stdout"].strip().startswith("2"), out
        # Files written land in the sandbox's own upper layer.
        out = sh(client, sb["id"], "echo hi > /app/new && cat /app/new")
        assert out["stdout"] == "hi\n", out["stderr"]
    finally:
        client.destroy(sb["id"])


def test_seed_python_image(client):
    sb = client.create({"image": "python:3.12", "env": {"PYTHON_VERSION": "mine"}}, timeout=180)
    try:
        out = sh(client, sb["id"], "python3 -c 'import sys, json, sqlite3; print(sys.version_info[0])'"
                                   " && echo $PYTHON_VERSION && echo $LANG")
        assert out["exitCode"] == 0, out
        assert out["stdout"].split() == ["3", "mine", "C.UTF-8"], out
    finally:
        client.destroy(sb["id"])


def test_image_config_env_workdir_user(client, reg):
    sb = client.create({"image": f"{reg.host}/runra-test/config:latest",
                        "env": {"OVERRIDE_ME": "spec"}})
    try:
        assert sb["workdir"] == "/work/dir" and sb["user"] == "app"
        out = sh(client, sb["id"], 'id -u; id -g; pwd; echo "$GREETING|$EMPTY|$WITH_EQUALS|'
                                   '$OVERRIDE_ME|$HOME|$USER"')
        assert out["stdout"].splitlines() == [
            "1234", "2345", "/work/dir",
            "hello from the image||a=b=c|spec|/home/app|app"], out
        # A command may still ask for another user, by name or number.
        assert sh(client, sb["id"], "id -u", user="root")["stdout"] == "0\n"
        assert sh(client, sb["id"], "id -u; id -g", user="4321:99")["stdout"] == "4321\n99\n"
        r = client.exec_raw(sb["id"], command="true", user="nobody-here")
        assert r.status in (400, 404) and "nobody-here" in r.json()["error"]["message"], r
        r = client.exec_raw(sb["id"], command="true", user="a b")
        assert r.status == 400, r
    finally:
        client.destroy(sb["id"])


def stat(client, sid, path):
    r = client.stat(sid, path)
    if r.status == 404:
        return None
    assert r.status == 200, r
    return r.json()


def read(client, sid, path):
    r = client.read(sid, path)
    assert r.status == 200, r
    return r.body.decode().rstrip("\n")


def test_whiteouts_give_the_tree_the_image_describes(client, reg):
    # The whiteout image has no shell: the sandbox's tree is looked at
    # through the files API, which sees what its processes see.
    sb = client.create({"image": f"{reg.host}/runra-test/whiteout:latest"})
    sid = sb["id"]
    try:
        for gone in ("/etc/remove.conf", "/gone", "/gone/x", "/opq/a", "/opq/b", "/opq/sub",
                     "/home/user/file"):
            assert stat(client, sid, gone) is None, gone
        assert read(client, sid, "/etc/keep.conf") == "keep v2"
        assert stat(client, sid, "/etc/keep.conf")["mode"] == 0o600
        assert read(client, sid, "/etc/recreate") == "new"
        assert stat(client, sid, "/opq/new")["type"] == "file"
        assert stat(client, sid, "/f2d")["type"] == "dir"
        assert stat(client, sid, "/f2d/inner")["type"] == "file"
        assert stat(client, sid, "/d2f")["type"] == "file"
        assert read(client, sid, "/d2f") == "i was a directory"
        new = stat(client, sid, "/home/user/new")
        assert (new["uid"], new["gid"]) == (1000, 1000), new
        assert stat(client, sid, "/usr/bin/suid")["mode"] == 0o4755
        sgid = stat(client, sid, "/usr/bin/sgid")
        assert (sgid["mode"], sgid["gid"]) == (0o2755, 50), sgid
        assert read(client, sid, "/data/hl") == read(client, sid, "/data/orig")
        assert stat(client, sid, "/data/orig2")["mode"] == 0o600
        rel = client.listdir(sid, "/data").json()
        links = {e["name"]: e.get("target") for e in rel["entries"] if e["type"] == "symlink"}
        assert links == {"rel": "orig", "abs": "/etc/keep.conf"}, rel
        # Removing a file of a lower layer works (a whiteout in the upper).
        assert client.remove(sid, "/etc/keep.conf").status in (200, 204)
        assert stat(client, sid, "/etc/keep.conf") is None
    finally:
        client.destroy(sid)


def test_implied_parent_dirs_keep_lower_attributes(client, reg):
    # Layer 3 has entries beneath home/user but no entry for it: it stays
    # what layer 1 made it.
    sb = client.create({"image": f"{reg.host}/runra-test/whiteout:latest"})
    try:
        home = stat(client, sb["id"], "/home/user")
        assert (home["mode"], home["uid"], home["gid"]) == (0o750, 1000, 1000), home
    finally:
        client.destroy(sb["id"])


def test_two_creates_pull_once_and_share_layers(client, reg):
    img = fixtures.tiny_image("runra-test/once", "v1", "pulled once")
    push_image(reg, "runra-test/once", "v1", img)
    ref = f"{reg.proxy.host}/runra-test/once:v1"
    reg.proxy.add_fault(r"/v2/runra-test/once/blobs/", "delay", seconds=1.0)
    results = []

    def create():
        results.append(client.create({"image": ref}, timeout=60))

    ts = [threading.Thread(target=create) for _ in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    try:
        assert len(results) == 2 and all("id" in r for r in results), results
        for r in results:
            assert read(client, r["id"], "/platform.txt") == "pulled once"
        layer = img.layers[0].blob.digest
        assert reg.proxy.count("GET", rf"/v2/runra-test/once/blobs/{layer}") == 1
    finally:
        for r in results:
            client.destroy(r["id"])


def test_list_inspect_remove_and_collect(client, reg, daemon):
    img = fixtures.tiny_image("runra-test/gc", "v1", "collect me")
    push_image(reg, "runra-test/gc", "v1", img)
    ref = f"{reg.host}/runra-test/gc:v1"
    r = client.post("/v1/images/pull", {"image": ref}, timeout=60)
    assert r.status == 200, r
    info = r.json()
    assert info["names"] == [ref] and info["layers"] == 1
    listed = client.get("/v1/images").json()["images"]
    assert any(i["digest"] == info["digest"] for i in listed)
    assert client.get(f"/v1/images/inspect?name={ref}").json()["digest"] == info["digest"]
    diff = img.config["rootfs"]["diff_ids"][0].split(":")[1]
    layer_dir = os.path.join(daemon.state_dir, "images", "layers", "sha256", diff)
    assert os.path.isdir(layer_dir)
    sb = client.create({"image": ref})
    try:
        r = client.delete(f"/v1/images?name={ref}")
        assert r.status == 409, r
        r = client.delete(f"/v1/images?name={ref}&force=true")
        assert r.status == 200, r
        # The name is gone, the sandbox keeps its layers.
        assert client.get(f"/v1/images/inspect?name={ref}").status == 404
        assert os.path.isdir(layer_dir)
        assert read(client, sb["id"], "/platform.txt") == "collect me"
    finally:
        client.destroy(sb["id"])
    client.count()  # the teardown (which still holds the layers) is over
    r = client.post("/v1/images/prune")
    assert r.status == 200 and r.json()["reclaimed"]["layers"] >= 1, r
    assert not os.path.exists(layer_dir)
    assert client.delete(f"/v1/images?name={ref}").status == 404


def test_imports_layout_oci_archive_and_docker_archive(client, daemon, tmp_path):
    img = fixtures.tiny_image("runra-test/local", "v1", "from a file")
    layout = tmp_path / "layout"
    fixtures.write_oci_layout(str(layout), [img])
    oci = tmp_path / "img.oci.tar"
    fixtures.write_oci_archive(str(oci), [img])
    dock = tmp_path / "img.docker.tar"
    fixtures.write_docker_archive(str(dock), [img])
    for image in (f"oci:{layout}", str(layout), f"oci-archive:{oci}", f"docker-archive:{dock}"):
        sb = client.create({"image": image})
        try:
            assert read(client, sb["id"], "/platform.txt") == "from a file", image
        finally:
            client.destroy(sb["id"])
    # The archive as a request body (runra image import).
    for path, fmt in ((dock, "docker-archive"), (oci, "auto")):
        with open(path, "rb") as f:
            body = f.read()
        r = client.request("POST", f"/v1/images/import?format={fmt}&name=imported/{fmt}:v1",
                           body=body, headers={"Content-Type": "application/x-tar"})
        assert r.status == 200, r
        names = [n for i in r.json()["images"] for n in i["names"]]
        assert f"docker.io/imported/{fmt}:v1" in names, r.json()
    r = client.request("POST", "/v1/images/import", body=b"not a tar at all" * 100)
    assert r.status == 400, r
    # Not a path anybody may name.
    r = client.post("/v1/sandboxes", {"image": "oci-archive:/nonexistent/x.tar"})
    assert r.status in (400, 404), r


# Bombs are sized past the daemon's limits (its config file sets them low,
# see the daemon fixture) rather than past the defaults (32 GiB, 2M entries).
BOMB_SIZES = {"gzip-bomb": {"size": 512 << 20}, "entries-bomb": {"count": 150_000}}
MUST_FAIL = ("gzip-bomb", "entries-bomb", "truncated-gzip", "digest-mismatch", "diffid-mismatch")


@pytest.mark.parametrize("kind", fixtures.HOSTILE_KINDS)
def test_hostile_layers_change_nothing_outside(client, reg, daemon, kind):
    canary = tempfile.mkdtemp(prefix="runra-canary-")
    layers = os.path.join(daemon.state_dir, "images", "layers", "sha256")
    try:
        with open(os.path.join(canary, "hardlink-target"), "w") as f:
            f.write("untouched")
        before = sorted(os.listdir(canary))
        layers_before = set(os.listdir(layers)) if os.path.isdir(layers) else set()
        img = fixtures.hostile_image(kind, canary, **BOMB_SIZES.get(kind, {}))
        push_image(reg, f"hostile/{kind}", "latest", img)
        r = client.post("/v1/sandboxes", {"image": f"{reg.host}/hostile/{kind}:latest"},
                        timeout=120)
        if r.status in (200, 201):
            assert kind not in MUST_FAIL, r
            sid = r.json()["id"]
            try:
                if kind == "devices":
                    # Never the host's devices: none was made.
                    lst = client.listdir(sid, "/").json()["entries"]
                    assert not [e for e in lst if e["type"] == "other"], lst
            finally:
                client.destroy(sid)
        else:
            assert r.status in (400, 413, 422, 502), r
            assert r.json()["error"]["message"], r
            # Nothing half-made: no layer directory came of it.
            assert set(os.listdir(layers)) == layers_before
        assert sorted(os.listdir(canary)) == before
        with open(os.path.join(canary, "hardlink-target")) as f:
            assert f.read() == "untouched"
        parent = os.path.dirname(layers)
        assert not [n for n in os.listdir(parent) if n.startswith("tmp-")]
    finally:
        shutil.rmtree(canary, ignore_errors=True)


def test_bad_image_references_get_clear_errors(client, reg):
    for image, status in (("Not A Ref", 400), ("UPPER/case:1", 400),
                          (f"{reg.host}/runra-test/absent:v1", 404)):
        r = client.post("/v1/sandboxes", {"image": image})
        assert r.status == status, (image, r)
        assert r.json()["error"]["message"]
    assert client.count() == 0


class Tcp:
    """The API over TCP with an API key (a tenant, not the admin)."""

    def __init__(self, port, key):
        self.port, self.key = port, key

    def request(self, method, path, body=None, raw=None, timeout=60):
        import http.client
        h = {"Authorization": "Bearer " + self.key}
        data = raw
        if body is not None:
            h["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            c.request(method, path, body=data, headers=h)
            r = c.getresponse()
            payload = r.read()
            return r.status, (json.loads(payload) if payload.strip() else None)
        finally:
            c.close()


def test_api_keys_cannot_name_images_or_pull_from_anywhere(daemon, client, reg, tmp_path):
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    top = tempfile.mkdtemp(prefix="runra-img-keys-", dir="/tmp")
    cfg = os.path.join(top, "runrad.json")
    with open(cfg, "w") as f:
        json.dump({"registries": {reg.host: {"insecure": True}}}, f)
    d = Daemon(BUILD_DIR, os.path.join(top, "state"),
               ["--config", cfg, "--listen", f"127.0.0.1:{port}"])
    d.start()
    try:
        k = d.client.post("/v1/keys", {"name": "tenant"}).json()
        t = Tcp(port, k["key"])
        img = fixtures.tiny_image("runra-test/tenant", "v1", "a tenant's")
        push_image(reg, "runra-test/tenant", "v1", img)
        # A configured registry: fine for a key.
        st, body = t.request("POST", "/v1/images/pull", {"image": f"{reg.host}/runra-test/tenant:v1"})
        assert st == 200, body
        # Any other host: refused before anything is fetched.
        st, body = t.request("POST", "/v1/images/pull", {"image": "127.0.0.1:9/x/y:1"})
        assert st == 403 and "config file" in body["error"]["message"], body
        st, body = t.request("POST", "/v1/sandboxes", {"image": "127.0.0.1:9/x/y:1"})
        assert st == 403, body
        # A host path is the admin's.
        st, body = t.request("POST", "/v1/sandboxes", {"image": "oci-archive:/etc/x.tar"})
        assert st == 403, body
        # An import by a key gets no name, whatever the archive says; it is
        # used by its digest.
        arch = tmp_path / "t.tar"
        named = fixtures.tiny_image("library/node", "22", "not node at all")
        fixtures.write_docker_archive(str(arch), [named])
        data = arch.read_bytes()
        st, body = t.request("POST", "/v1/images/import?name=node:22", raw=data)
        assert st == 403, body
        st, body = t.request("POST", "/v1/images/import", raw=data)
        assert st == 200, body
        assert [i["names"] for i in body["images"]] == [[]], body
        digest = body["images"][0]["digest"]
        assert d.client.get("/v1/images/inspect?name=docker.io/library/node:22").status == 404
        st, sb = t.request("POST", "/v1/sandboxes", {"image": digest})
        assert st == 201, sb
        r = d.client.read(sb["id"], "/platform.txt")
        assert r.status == 200 and r.body.rstrip() == b"not node at all"
        # Removing and collecting images is the admin's.
        assert t.request("DELETE", f"/v1/images?name={digest}")[0] == 403
        assert t.request("POST", "/v1/images/prune")[0] == 403
        assert t.request("DELETE", f"/v1/sandboxes/{sb['id']}")[0] in (200, 204)
    finally:
        try:
            assert d.stop(timeout=10) == 0, d.log()
        finally:
            d.kill()
            shutil.rmtree(top, ignore_errors=True)


def test_a_fifo_for_etc_passwd_does_not_stall_the_sandbox(client):
    sb = client.create({"image": "python:3.12"}, timeout=180)
    try:
        out = sh(client, sb["id"], "python3 -c \"import os; os.remove('/etc/passwd'); "
                                   "os.mkfifo('/etc/passwd')\"")
        assert out["exitCode"] == 0, out
        r = client.exec_raw(sb["id"], command="true", user="nobody", timeout=10)
        assert r.status == 404 and "passwd" in r.json()["error"]["message"], r
        # Numbers need no lookup, and the sandbox still answers.
        assert sh(client, sb["id"], "id -u", user="1000")["stdout"] == "1000\n"
    finally:
        client.destroy(sb["id"])


def test_forced_removal_keeps_a_running_sandboxs_image_reachable(client, reg, daemon):
    img = fixtures.tiny_image("runra-test/kept", "v1", "kept")
    push_image(reg, "runra-test/kept", "v1", img)
    ref = f"{reg.host}/runra-test/kept:v1"
    sb = client.create({"image": ref})
    try:
        digest = sb["imageDigest"]
        assert client.delete(f"/v1/images?name={ref}&force=true").status == 200
        # Unnamed, but what a sandbox uses stays, found by its digest.
        r = client.get(f"/v1/images/inspect?name={digest}")
        assert r.status == 200 and r.json()["names"] == [], r
        assert client.post("/v1/images/prune").status == 200
        assert client.get(f"/v1/images/inspect?name={digest}").status == 200
    finally:
        client.destroy(sb["id"])
    client.count()  # teardown done
    assert client.post("/v1/images/prune").status == 200
    assert client.get(f"/v1/images/inspect?name={digest}").status == 404


def test_docker_archive_with_linked_layers_and_extra_members(client, daemon, tmp_path):
    """Old `docker save` links a layer.tar it already wrote; an archive's
    members no image uses are not kept."""
    import io
    import tarfile
    img = fixtures.tiny_image("runra-test/linked", "v1", "linked layer")
    plain = tmp_path / "plain.tar"
    fixtures.write_docker_archive(str(plain), [img])
    out = tmp_path / "linked.tar"
    with tarfile.open(plain) as src, tarfile.open(out, "w") as dst:
        manifest = json.load(src.extractfile("manifest.json"))
        layer = manifest[0]["Layers"][0]
        for m in src.getmembers():
            if m.name == "manifest.json":
                continue
            dst.addfile(m, src.extractfile(m) if m.isfile() else None)
        link = tarfile.TarInfo("linked/layer.tar")
        link.type = tarfile.SYMTYPE
        link.linkname = "../" + layer
        dst.addfile(link)
        junk = b"nobody uses me" * 1000
        ji = tarfile.TarInfo("junk/layer.tar")
        ji.size = len(junk)
        dst.addfile(ji, io.BytesIO(junk))
        manifest[0]["Layers"] = ["linked/layer.tar"]
        manifest[0]["RepoTags"] = ["runra-test/linked:v1"]
        body = json.dumps(manifest).encode()
        mi = tarfile.TarInfo("manifest.json")
        mi.size = len(body)
        dst.addfile(mi, io.BytesIO(body))
    blobs = os.path.join(daemon.state_dir, "images", "blobs", "sha256")
    before = set(os.listdir(blobs))
    r = client.request("POST", "/v1/images/import", body=out.read_bytes())
    assert r.status == 200, r
    assert r.json()["images"][0]["names"] == ["docker.io/runra-test/linked:v1"]
    import hashlib
    junk_digest = hashlib.sha256(b"nobody uses me" * 1000).hexdigest()
    assert junk_digest not in os.listdir(blobs)
    added = set(os.listdir(blobs)) - before
    # What stays is the image's manifest and config; the layer blob went
    # once unpacked.
    assert len(added) <= 2, added
    sb = client.create({"image": "runra-test/linked:v1"})
    try:
        assert read(client, sb["id"], "/platform.txt") == "linked layer"
    finally:
        client.destroy(sb["id"])


def test_sigterm_during_a_pull_ends_it_promptly(reg):
    import time
    img = fixtures.tiny_image("runra-test/slow", "v1", "slow")
    push_image(reg, "runra-test/slow", "v1", img)
    reg.proxy.add_fault(r"/v2/runra-test/slow/blobs/", "delay", seconds=60.0, times=5)
    top = tempfile.mkdtemp(prefix="runra-img-term-", dir="/tmp")
    cfg = os.path.join(top, "runrad.json")
    with open(cfg, "w") as f:
        json.dump({"registries": {reg.proxy.host: {"insecure": True}}}, f)
    d = Daemon(BUILD_DIR, os.path.join(top, "state"), ["--config", cfg])
    d.start()
    try:
        results = []

        def pull():
            try:
                results.append(d.client.post(
                    "/v1/images/pull", {"image": f"{reg.proxy.host}/runra-test/slow:v1"},
                    timeout=90))
            except OSError as e:  # the daemon went away: what this test wants
                results.append(e)

        t = threading.Thread(target=pull)
        t.start()
        time.sleep(1.0)
        t0 = time.monotonic()
        rc = d.stop(timeout=15)
        assert rc == 0, d.log()
        assert time.monotonic() - t0 < 10, "runrad waited for the pull"
        t.join(timeout=20)
        assert not leftovers(d.state_dir)
    finally:
        d.kill()
        shutil.rmtree(top, ignore_errors=True)


def test_image_sandboxes_survive_restarts_and_come_back_stopped(reg, tmp_path):
    """An image sandbox is taken back by the next runrad; with persist, one
    whose processes died comes back on the same upper layer and layers."""
    from test_restart import Restarts, kill_sandbox_processes, sandbox_state
    cfg = tmp_path / "runrad.json"
    cfg.write_text(json.dumps({"registries": {reg.host: {"insecure": True}}}))
    rs = Restarts()
    try:
        c = rs.start(extra=["--config", str(cfg)])
        sb = c.create({"image": f"{reg.host}/runra-test/config:latest", "persist": True,
                       "resources": {"diskMb": 64}})
        sid = sb["id"]
        assert sh(c, sid, "echo mine > /etc/mine && cat /etc/mine", user="root")["stdout"] == "mine\n"
        rs.term()  # a clean restart: reattached, still running
        c = rs.start(extra=["--config", str(cfg)])
        assert sandbox_state(c, sid) == "running"
        rs.crash()  # a "reboot": the daemon and the sandbox's processes die
        kill_sandbox_processes(sid)
        c = rs.start(extra=["--config", str(cfg)])
        assert sandbox_state(c, sid) == "stopped"
        r = c.request("POST", f"/v1/sandboxes/{sid}/resume")
        assert r.status == 200 and r.json()["state"] == "running", r
        out = sh(c, sid, 'cat /etc/mine; id -un; pwd; echo "$GREETING"')
        assert out["stdout"].splitlines() == ["mine", "app", "/work/dir",
                                              "hello from the image"], out
    finally:
        rs.finish()


@pytest.mark.parametrize("config,needle", [
    ({"images": {"maxLayerBytes": 10}}, "maxLayerBytes"),
    ({"images": {"maxLayerEntries": 1}}, "maxLayerEntries"),
    ({"images": {"maxLayers": 1}}, "images"),
    ({"registry": {}}, "config file"),
    ({"registries": {"docker.io": {"mirrors": ["ftp://x"]}}}, "config file"),
])
def test_a_bad_config_file_stops_runrad_with_a_clear_error(tmp_path, config, needle):
    import subprocess
    cfg = tmp_path / "runrad.json"
    cfg.write_text(json.dumps(config))
    p = subprocess.run([os.path.join(BUILD_DIR, "src", "daemon", "runrad"), "--state-dir",
                        str(tmp_path / "state"), "--socket", str(tmp_path / "s.sock"),
                        "--config", str(cfg), "--no-network"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    assert p.returncode != 0 and needle in p.stderr, p.stderr
    assert not (tmp_path / "s.sock").exists()


def test_an_import_names_at_most_16_images(client, tmp_path):
    import io
    import tarfile
    img = fixtures.tiny_image("runra-test/many", "v1", "many names")
    plain = tmp_path / "plain.tar"
    fixtures.write_docker_archive(str(plain), [img])
    out = tmp_path / "many.tar"
    with tarfile.open(plain) as src, tarfile.open(out, "w") as dst:
        for m in src.getmembers():
            if m.name == "manifest.json":
                manifest = json.load(src.extractfile(m))
                manifest[0]["RepoTags"] = [f"runra-test/many:t{i}" for i in range(17)]
                body = json.dumps(manifest).encode()
                m.size = len(body)
                dst.addfile(m, io.BytesIO(body))
            else:
                dst.addfile(m, src.extractfile(m) if m.isfile() else None)
    r = client.request("POST", "/v1/images/import", body=out.read_bytes())
    assert r.status == 413 and "16" in r.json()["error"]["message"], r
    names = [n for i in client.get("/v1/images").json()["images"] for n in i["names"]]
    assert not [n for n in names if "runra-test/many" in n]  # a refused import names nothing
