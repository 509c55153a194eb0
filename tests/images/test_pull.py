"""image_pull (src/image/pull.c) against a real registry on 127.0.0.1:
anonymous, Basic and bearer-token auth, blob redirects to another host,
indexes, digests, corrupt blobs, dropped connections resumed with Range,
retries, mirrors, plain-HTTP registries, zstd and uncompressed layers,
parallel downloads and cancellation. Driven through the small
tests/images/image-pull-tool, found in $RUNRA_BUILD_DIR (default build/).
All traffic stays on loopback: every reference names 127.0.0.1 or a
docker.io mirror with mirrorsOnly.

Run: /usr/bin/python3 -m pytest tests/images/test_pull.py -q
"""

import base64
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures as F  # noqa: E402
import registry as R  # noqa: E402

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD_DIR = os.path.realpath(os.environ.get("RUNRA_BUILD_DIR", os.path.join(REPO, "build")))
TOOL = os.path.join(BUILD_DIR, "tests", "images", "image-pull-tool")


@pytest.fixture(autouse=True, scope="module")
def _needs():
    if not R.docker_registry_binary():
        pytest.skip("docker-registry missing: install the Debian package docker-registry")
    if not os.access(TOOL, os.X_OK):
        pytest.skip(f"{TOOL} is not built (ninja -C {BUILD_DIR})")


@pytest.fixture
def scratch():
    d = tempfile.mkdtemp(prefix="runra-pull-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------------------
# Helpers

class Result:
    def __init__(self, proc, lines, elapsed):
        self.rc = proc.returncode
        self.stdout, self.stderr = proc.stdout, proc.stderr
        self.events = [l for l in lines if "event" in l]
        self.result = lines[-1] if lines and "result" in lines[-1] else {}
        self.elapsed = elapsed

    @property
    def ok(self):
        return self.rc == 0 and self.result.get("result") == "ok"

    def kinds(self, kind):
        return [e for e in self.events if e["event"] == kind]

    def __repr__(self):
        return f"<pull rc={self.rc} result={self.result} stderr={self.stderr[-500:]!r}>"


def _env():
    # No proxy from the environment may see loopback traffic.
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def _args(store, registries=None, docker_config=None, args=(), scratch_dir=None):
    d = scratch_dir or os.path.dirname(store)
    argv = [TOOL, "--store", store, "--quiet-progress"]
    if registries is not None:
        p = os.path.join(d, f"registries-{random.getrandbits(32):x}.json")
        with open(p, "w") as f:
            json.dump(registries, f)
        argv += ["--registries", p]
    if docker_config is not None:
        p = os.path.join(d, f"docker-{random.getrandbits(32):x}.json")
        with open(p, "w") as f:
            json.dump(docker_config, f)
        argv += ["--docker-config", p]
    return argv + list(args)


def pull(ref, store, registries=None, docker_config=None, args=(), timeout=120):
    argv = _args(store, registries, docker_config, args) + [ref]
    t0 = time.monotonic()
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, env=_env())
    lines = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    return Result(p, lines, time.monotonic() - t0)


def insecure(*hosts):
    return {h: {"insecure": True} for h in hosts}


def blob_file(store, digest):
    return os.path.join(store, "sha256", digest.split(":", 1)[1])


def stored(store, digest):
    """True when the store holds the blob, and then its bytes match."""
    p = blob_file(store, digest)
    if not os.path.exists(p):
        return False
    with open(p, "rb") as f:
        assert F.sha256_digest(f.read()) == digest, f"stored blob {digest} is corrupt"
    return True


def tmp_empty(store):
    t = os.path.join(store, "tmp")
    return not os.path.isdir(t) or os.listdir(t) == []


def layered_image(name, tag="latest", n=3, size=4096, compression="gzip", seed=0, docker=False):
    """n layers of one random (incompressible) file each."""
    rnd = random.Random(seed)
    layers = [F.make_layer([F.tfile(f"layer{i}/data.bin", rnd.randbytes(size))], compression, 1,
                           docker) for i in range(n)]
    return F.make_image(name, tag, layers, {"Env": [f"PATH={F.STD_PATH}"]}, docker=docker)


def assert_image_stored(store, img, res):
    assert res.ok, res
    assert res.result["manifest"] == img.digest
    assert res.result["config"] == img.config_blob.digest
    assert stored(store, img.digest) and stored(store, img.config_blob.digest)
    for layer in img.layers:
        assert stored(store, layer.blob.digest)
    assert tmp_empty(store)


def no_secret(res, *secrets):
    for s in secrets:
        assert s not in res.stdout and s not in res.stderr


# ---------------------------------------------------------------------------
# Plain pulls

def test_pull_no_auth_and_cache(scratch):
    img = F.whiteout_image()
    store = f"{scratch}/store"
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/whiteout", "latest", img)
        res = pull(f"{reg.host}/runra-test/whiteout:latest", store, insecure(reg.host))
        assert_image_stored(store, img, res)
        assert res.result["index"] is None
        assert [e["digest"] for e in res.kinds("resolved")] == [img.digest]
        assert sorted(e["digest"] for e in res.kinds("done")) == sorted(l.blob.digest for l in img.layers)
        for e in res.kinds("done"):
            size = next(l.blob.size for l in img.layers if l.blob.digest == e["digest"])
            assert e["total"] == size
        assert not res.kinds("retry")
        # Again: every layer is in the store, nothing is fetched.
        res = pull(f"{reg.host}/runra-test/whiteout:latest", store, insecure(reg.host))
        assert res.ok, res
        assert len(res.kinds("cached")) == 3 and not res.kinds("start")


def test_have_layer_skips_the_fetch(scratch):
    img = F.whiteout_image()
    store = f"{scratch}/store"
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/whiteout", "latest", img)
        have = img.layers[1]
        res = pull(f"{reg.host}/runra-test/whiteout", store, insecure(reg.host),
                   args=["--have", have.diff_id])
        assert res.ok, res
        assert [e["digest"] for e in res.kinds("cached")] == [have.blob.digest]
        assert not os.path.exists(blob_file(store, have.blob.digest))
        assert stored(store, img.layers[0].blob.digest) and stored(store, img.layers[2].blob.digest)


def test_docker_schema2_image(scratch):
    img = F.whiteout_image(name="runra-test/docker", docker=True)
    store = f"{scratch}/store"
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/docker", "v1", img)
        assert_image_stored(store, img, pull(f"{reg.host}/runra-test/docker:v1", store,
                                             insecure(reg.host)))


@pytest.mark.parametrize("compression", ["none", "zstd"])
def test_uncompressed_and_zstd_layers(scratch, compression):
    if compression == "zstd" and not F.zstd_available():
        pytest.skip("zstd command missing (Debian package zstd)")
    img = F.whiteout_image(compression=compression)
    store = f"{scratch}/store"
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/whiteout", compression, img)
        assert_image_stored(store, img, pull(f"{reg.host}/runra-test/whiteout:{compression}", store,
                                             insecure(reg.host)))


def test_missing_tag_and_repository(scratch):
    store = f"{scratch}/store"
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/tiny", "v1", F.tiny_image("runra-test/tiny", "v1", "x"))
        res = pull(f"{reg.host}/runra-test/tiny:v2", store, insecure(reg.host))
        assert res.rc == 1 and res.result["code"] == "ENOENT", res
        assert "runra-test/tiny:v2" in res.result["message"]
        res = pull(f"{reg.host}/runra-test/nothing:v1", store, insecure(reg.host))
        assert res.rc == 1 and res.result["code"] == "ENOENT", res
        assert "runra-test/nothing" in res.result["message"]


def test_https_is_the_default(scratch):
    """Without "insecure" the registry is spoken to over TLS, which a plain
    HTTP registry cannot answer: the pull fails and stores nothing."""
    store = f"{scratch}/store"
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/tiny", "v1", F.tiny_image("runra-test/tiny", "v1", "x"))
        res = pull(f"{reg.host}/runra-test/tiny:v1", store, args=["--retries", "1"])
        assert res.rc == 1 and res.result["code"] == "EIO", res
        assert os.listdir(f"{store}/sha256") == []


# ---------------------------------------------------------------------------
# Auth

def test_basic_auth(scratch):
    img = layered_image("runra-test/basic", n=2)
    store = f"{scratch}/store"
    with R.Registry(auth="basic") as reg:
        R.push_image(reg, "runra-test/basic", "latest", img)
        ref = f"{reg.host}/runra-test/basic:latest"
        res = pull(ref, store, insecure(reg.host), reg.docker_config())
        assert_image_stored(store, img, res)
        no_secret(res, reg.password)
        # No credentials: a clear refusal.
        res = pull(ref, f"{scratch}/s2", insecure(reg.host))
        assert res.rc == 1 and res.result["code"] == "EACCES", res
        assert "requires credentials" in res.result["message"] and reg.host in res.result["message"]
        # Wrong ones: refused, and the password is in no message.
        bad = {"auths": {reg.host: {"username": reg.username, "password": "wrong-pass-123"}}}
        res = pull(ref, f"{scratch}/s3", insecure(reg.host), bad)
        assert res.rc == 1 and res.result["code"] == "EACCES", res
        assert "refused" in res.result["message"]
        no_secret(res, "wrong-pass-123", base64.b64encode(f"{reg.username}:wrong-pass-123".encode()).decode())
        assert os.listdir(f"{scratch}/s3/sha256") == []


def _token_scopes(reg):
    return [tuple(r["params"].get("scope", [])) for r in reg.token_server.requests]


def test_token_auth_fetches_one_token_for_many_layers(scratch):
    img = layered_image("runra-test/token", n=8)
    store = f"{scratch}/store"
    with R.Registry(auth="token") as reg:
        R.push_image(reg, "runra-test/token", "latest", img)
        reg.token_server.clear()
        res = pull(f"{reg.host}/runra-test/token:latest", store, insecure(reg.host),
                   reg.docker_config(), args=["--parallel", "4"])
        assert_image_stored(store, img, res)
        assert _token_scopes(reg) == [("repository:runra-test/token:pull",)]
        (req,) = reg.token_server.requests
        assert req["authorization"].startswith("Basic ") and req["user"] == reg.username
        assert req["params"]["service"] == [R.SERVICE]
        no_secret(res, reg.password)


def test_token_auth_anonymous(scratch):
    img = layered_image("runra-test/anon", n=2)
    with R.Registry(auth="token", anonymous_pull=True) as reg:
        R.push_image(reg, "runra-test/anon", "latest", img)
        reg.token_server.clear()
        store = f"{scratch}/store"
        res = pull(f"{reg.host}/runra-test/anon:latest", store, insecure(reg.host))
        assert_image_stored(store, img, res)
        assert len(reg.token_server.requests) == 1
        assert reg.token_server.requests[0]["authorization"] is None
    with R.Registry(auth="token") as reg:
        R.push_image(reg, "runra-test/anon", "latest", img)
        ref = f"{reg.host}/runra-test/anon:latest"
        # An anonymous token grants nothing here.
        res = pull(ref, f"{scratch}/s2", insecure(reg.host))
        assert res.rc == 1 and res.result["code"] == "EACCES", res
        assert "requires credentials" in res.result["message"]
        # Wrong credentials: the token server refuses them.
        bad = {"auths": {reg.host: {"username": reg.username, "password": "not-the-password"}}}
        res = pull(ref, f"{scratch}/s3", insecure(reg.host), bad)
        assert res.rc == 1 and res.result["code"] == "EACCES", res
        no_secret(res, "not-the-password")


@pytest.mark.parametrize("auth", ["none", "basic", "token"])
def test_blob_redirect_gets_no_authorization(scratch, auth):
    img = layered_image("runra-test/redir", n=3)
    store = f"{scratch}/store"
    with R.Registry(auth=auth, redirect=True) as reg:
        R.push_image(reg, "runra-test/redir", "latest", img)
        reg.redirect_target.clear()
        res = pull(f"{reg.host}/runra-test/redir:latest", store, insecure(reg.host),
                   reg.docker_config() if auth != "none" else None)
        assert_image_stored(store, img, res)
        got = [r["path"] for r in reg.redirect_target.requests if r["method"] == "GET"]
        # The config and every layer came from the other host...
        assert len(got) == 4, got
        # ...which never saw the registry's credentials or token.
        assert reg.redirect_target.authorization_headers() == []


# ---------------------------------------------------------------------------
# Indexes and digests

def test_multiplatform_index_picks_linux_amd64(scratch):
    idx = F.multiplatform_index()
    amd, arm = idx.image_for("linux", "amd64"), idx.image_for("linux", "arm64")
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/multi", "latest", idx)
        proxy = reg.fault_proxy()
        store = f"{scratch}/store"
        res = pull(f"{proxy.host}/runra-test/multi:latest", store, insecure(proxy.host),
                   args=["--os", "linux", "--arch", "amd64"])
        assert_image_stored(store, amd, res)
        assert res.result["index"] == idx.digest
        assert not os.path.exists(blob_file(store, arm.digest))
        # No attestation (or other platform) manifest was even fetched.
        fetched = [r["path"] for r in proxy.requests if "/manifests/" in r["path"]]
        assert fetched == ["/v2/runra-test/multi/manifests/latest",
                           f"/v2/runra-test/multi/manifests/{amd.digest}"]
        if os.uname().machine == "x86_64":
            res = pull(f"{reg.host}/runra-test/multi:latest", f"{scratch}/host", insecure(reg.host))
            assert res.ok and res.result["manifest"] == amd.digest, res
        res = pull(f"{reg.host}/runra-test/multi:latest", f"{scratch}/arm", insecure(reg.host),
                   args=["--os", "linux", "--arch", "arm64", "--variant", "v8"])
        assert_image_stored(f"{scratch}/arm", arm, res)
        res = pull(f"{reg.host}/runra-test/multi:latest", f"{scratch}/s390", insecure(reg.host),
                   args=["--os", "linux", "--arch", "s390x"])
        assert res.rc == 1 and res.result["code"] == "ENOENT", res
        assert "s390x" in res.result["message"]


def test_docker_manifest_list(scratch):
    idx = F.multiplatform_index(name="runra-test/dlist", docker=True)
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/dlist", "v1", idx)
        store = f"{scratch}/store"
        res = pull(f"{reg.host}/runra-test/dlist:v1", store, insecure(reg.host),
                   args=["--os", "linux", "--arch", "amd64"])
        assert_image_stored(store, idx.image_for("linux", "amd64"), res)
        assert res.result["index"] == idx.digest


def test_pull_by_digest(scratch):
    img = layered_image("runra-test/dig", n=1)
    idx = F.multiplatform_index(name="runra-test/dig-multi")
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/dig", "v1", img)
        R.push_image(reg, "runra-test/dig-multi", "v1", idx)
        store = f"{scratch}/store"
        assert_image_stored(store, img, pull(f"{reg.host}/runra-test/dig@{img.digest}", store,
                                             insecure(reg.host)))
        # A tag and a digest: the digest decides.
        res = pull(f"{reg.host}/runra-test/dig:nosuchtag@{img.digest}", f"{scratch}/s2",
                   insecure(reg.host))
        assert res.ok, res
        # An index by digest, then the platform inside it.
        res = pull(f"{reg.host}/runra-test/dig-multi@{idx.digest}", f"{scratch}/s3",
                   insecure(reg.host), args=["--os", "linux", "--arch", "amd64"])
        assert res.ok and res.result["index"] == idx.digest, res
        missing = "sha256:" + "0" * 64
        res = pull(f"{reg.host}/runra-test/dig@{missing}", f"{scratch}/s4", insecure(reg.host))
        assert res.rc == 1 and res.result["code"] == "ENOENT", res


# ---------------------------------------------------------------------------
# Bad bytes, dropped connections, retries

def test_corrupt_blob_is_refused_and_not_stored(scratch):
    img = layered_image("runra-test/corrupt", n=3)
    bad = img.layers[1].blob.digest
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/corrupt", "latest", img)
        reg.corrupt_blob(bad)
        store = f"{scratch}/store"
        res = pull(f"{reg.host}/runra-test/corrupt:latest", store, insecure(reg.host),
                   args=["--parallel", "1"])
        assert res.rc == 1 and res.result["code"] == "EBADMSG", res
        assert "digest" in res.result["message"]
        assert not os.path.exists(blob_file(store, bad))
        assert tmp_empty(store)
        # Every blob that is stored is whole.
        for name in os.listdir(f"{store}/sha256"):
            assert stored(store, "sha256:" + name)


def test_corrupt_config_is_refused(scratch):
    img = layered_image("runra-test/badcfg", n=1)
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/badcfg", "latest", img)
        reg.corrupt_blob(img.config_blob.digest)
        store = f"{scratch}/store"
        res = pull(f"{reg.host}/runra-test/badcfg:latest", store, insecure(reg.host))
        assert res.rc == 1 and res.result["code"] == "EBADMSG", res
        assert not os.path.exists(blob_file(store, img.config_blob.digest))
        assert not os.path.exists(blob_file(store, img.layers[0].blob.digest))


def test_digest_mismatch_fixture(scratch):
    img = F.hostile_image("digest-mismatch")
    with R.Registry() as reg:
        R.push_image(reg, img.name, img.tag, img)
        store = f"{scratch}/store"
        res = pull(f"{reg.host}/{img.name}:{img.tag}", store, insecure(reg.host))
        assert res.rc == 1 and res.result["code"] == "EBADMSG", res
        assert not os.path.exists(blob_file(store, img.layers[0].blob.digest))


def test_blob_larger_than_the_limit(scratch):
    img = layered_image("runra-test/big", n=1, size=64 << 10)
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/big", "latest", img)
        res = pull(f"{reg.host}/runra-test/big:latest", f"{scratch}/store", insecure(reg.host),
                   args=["--max-blob-bytes", "4096"])
        assert res.rc == 1 and res.result["code"] == "E2BIG", res


def test_dropped_connection_resumes_with_range(scratch):
    img = layered_image("runra-test/drop", n=2, size=2 << 20)
    target = img.layers[0].blob
    cut = 700_000
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/drop", "latest", img)
        proxy = reg.fault_proxy()
        proxy.add_fault(re.escape(target.digest), "drop", after_bytes=cut)
        store = f"{scratch}/store"
        res = pull(f"{proxy.host}/runra-test/drop:latest", store, insecure(proxy.host))
        assert_image_stored(store, img, res)
        (retry,) = res.kinds("retry")
        assert retry["digest"] == target.digest and retry["current"] == cut
        gets = [r for r in proxy.requests if r["method"] == "GET" and target.digest in r["path"]]
        assert [r["fault"] for r in gets] == ["drop", None]
        assert "range" not in gets[0]["headers"]
        assert gets[1]["headers"]["range"] == f"bytes={cut}-" and gets[1]["status"] == 206


def test_503_then_success_is_retried(scratch):
    img = layered_image("runra-test/flaky", n=2)
    layer = img.layers[1].blob.digest
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/flaky", "latest", img)
        proxy = reg.fault_proxy()
        proxy.add_fault(r"/manifests/latest$", "status", times=2, status=503)
        proxy.add_fault(re.escape(layer), "status", times=2, status=503)
        proxy.add_fault(re.escape(img.layers[0].blob.digest), "status", times=1, status=429)
        store = f"{scratch}/store"
        res = pull(f"{proxy.host}/runra-test/flaky:latest", store, insecure(proxy.host))
        assert_image_stored(store, img, res)
        assert proxy.count("GET", r"/manifests/latest$") == 3
        assert proxy.count("GET", re.escape(layer)) == 3
        assert [e["digest"] for e in res.kinds("retry")].count(layer) == 2
        assert any("503" in e["message"] for e in res.kinds("retry"))


def test_503_forever_gives_up_after_bounded_retries(scratch):
    img = layered_image("runra-test/down", n=1)
    layer = img.layers[0].blob.digest
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/down", "latest", img)
        proxy = reg.fault_proxy()
        proxy.add_fault(re.escape(layer), "status", times=1000, status=503)
        store = f"{scratch}/store"
        res = pull(f"{proxy.host}/runra-test/down:latest", store, insecure(proxy.host),
                   args=["--retries", "2"])
        assert res.rc == 1 and res.result["code"] == "EIO", res
        assert "503" in res.result["message"]
        assert proxy.count("GET", re.escape(layer)) == 3
        assert not os.path.exists(blob_file(store, layer)) and tmp_empty(store)
        # A 404 is an answer, not a failure to retry.
        proxy.add_fault(r"/manifests/gone$", "status", times=1000, status=404)
        res = pull(f"{proxy.host}/runra-test/down:gone", store, insecure(proxy.host))
        assert res.rc == 1 and res.result["code"] == "ENOENT", res
        assert proxy.count("GET", r"/manifests/gone$") == 1


def test_connection_refused(scratch):
    host = f"127.0.0.1:{R.free_port()}"
    res = pull(f"{host}/runra-test/x:1", f"{scratch}/store", insecure(host), args=["--retries", "1"])
    assert res.rc == 1 and res.result["code"] == "ECONNREFUSED", res


# ---------------------------------------------------------------------------
# Mirrors

def test_docker_io_through_a_mirror_only(scratch):
    """node:22 resolves through the mirror; mirrorsOnly keeps the pull from
    ever trying registry-1.docker.io."""
    img = F.tiny_image("library/node", "22", "node from the mirror")
    with R.Registry() as reg:
        R.push_image(reg, "library/node", "22", img)
        proxy = reg.fault_proxy()
        store = f"{scratch}/store"
        res = pull("node:22", store, {"docker.io": {"mirrors": [proxy.url], "mirrorsOnly": True}})
        assert_image_stored(store, img, res)
        assert proxy.count("GET", r"^/v2/library/node/manifests/22$") == 1


def test_mirror_fallthrough(scratch):
    img = F.tiny_image("library/python", "3.12", "python")
    with R.Registry() as empty, R.Registry() as reg:
        R.push_image(reg, "library/python", "3.12", img)
        down = reg.fault_proxy()
        down.add_fault(r"/manifests/", "status", times=1000, status=503)
        dead = f"http://127.0.0.1:{R.free_port()}"
        mirrors = [dead, empty.url, down.url, reg.url]
        store = f"{scratch}/store"
        res = pull("python:3.12", store, {"docker.io": {"mirrors": mirrors, "mirrorsOnly": True}})
        assert_image_stored(store, img, res)
        # A failing mirror gets one try, then the next one is asked.
        assert down.count("GET", r"/manifests/") == 1
        # Every mirror fails: the last one's error.
        res = pull("python:3.12", f"{scratch}/s2",
                   {"docker.io": {"mirrors": [dead, empty.url], "mirrorsOnly": True}})
        assert res.rc == 1 and res.result["code"] == "ENOENT", res


def test_mirror_credentials_are_the_mirrors_own(scratch):
    img = F.tiny_image("library/node", "22", "x")
    with R.Registry(auth="basic") as reg:
        R.push_image(reg, "library/node", "22", img)
        regs = {"docker.io": {"mirrors": [reg.url], "mirrorsOnly": True}}
        # Credentials filed under docker.io are not sent to the mirror...
        creds = {"auths": {"https://index.docker.io/v1/": reg.docker_config()["auths"][reg.host]}}
        res = pull("node:22", f"{scratch}/s1", regs, creds)
        assert res.rc == 1 and res.result["code"] == "EACCES", res
        # ...the mirror's own are.
        res = pull("node:22", f"{scratch}/s2", regs, reg.docker_config())
        assert_image_stored(f"{scratch}/s2", img, res)


def test_bad_registries_file_is_refused(scratch):
    res = pull("node:22", f"{scratch}/store", {"docker.io": {"mirrors": ["ftp://x"]}})
    assert res.rc == 1 and res.result["code"] == "EINVAL", res
    res = pull("node:22", f"{scratch}/store", {"docker.io": {"mirorrs": []}})
    assert res.rc == 1 and res.result["code"] == "EINVAL" and "mirorrs" in res.result["message"], res


# ---------------------------------------------------------------------------
# Parallel downloads and cancellation

def test_layers_download_in_parallel(scratch):
    img = layered_image("runra-test/par", n=4, size=8192)
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/par", "latest", img)
        proxy = reg.fault_proxy()
        for layer in img.layers:
            proxy.add_fault(re.escape(layer.blob.digest), "delay", times=1, seconds=1.0)
        res = pull(f"{proxy.host}/runra-test/par:latest", f"{scratch}/store", insecure(proxy.host),
                   args=["--parallel", "4"])
        assert_image_stored(f"{scratch}/store", img, res)
        starts, dones = res.kinds("start"), res.kinds("done")
        # All four were in flight at once: every one began before any ended,
        # and four 1 s delays took far less than 4 s.
        assert len(starts) == 4 and max(e["ms"] for e in starts) < min(e["ms"] for e in dones)
        assert max(e["ms"] for e in dones) - min(e["ms"] for e in starts) < 2500
        # One at a time, the same delays add up.
        for layer in img.layers:
            proxy.add_fault(re.escape(layer.blob.digest), "delay", times=1, seconds=0.3)
        res = pull(f"{proxy.host}/runra-test/par:latest", f"{scratch}/s2", insecure(proxy.host),
                   args=["--parallel", "1"])
        assert res.ok, res
        seq = [e["event"] for e in res.events if e["event"] in ("start", "done")]
        assert seq == ["start", "done"] * 4


def test_cancel_stops_the_pull(scratch):
    img = layered_image("runra-test/cancel", n=2)
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/cancel", "latest", img)
        proxy = reg.fault_proxy()
        for layer in img.layers:
            proxy.add_fault(re.escape(layer.blob.digest), "delay", times=1, seconds=10)
        store = f"{scratch}/store"
        argv = _args(store, insecure(proxy.host), scratch_dir=scratch) + \
            [f"{proxy.host}/runra-test/cancel:latest"]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=_env())
        try:
            for line in p.stdout:
                if json.loads(line).get("event") == "start":
                    break
            time.sleep(0.3)
            t0 = time.monotonic()
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=8)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert time.monotonic() - t0 < 3
        assert p.returncode == 1
        assert json.loads(out.splitlines()[-1])["code"] == "ECANCELED", out
        for layer in img.layers:
            assert not os.path.exists(blob_file(store, layer.blob.digest))
        assert tmp_empty(store)


# ---------------------------------------------------------------------------
# A redirecting registry of our own, for what the real one cannot do: a
# redirect target that drops a connection, and one that ignores Range.

class _Fake:
    """Serves one image: manifests and blobs at 127.0.0.1 behind Basic auth
    (or, with bearer=True, bearer tokens from its own /token, each token
    good for `token_uses` requests, or for none with token_uses=0), blob
    GETs redirected (307) to http://localhost:<port2>/, which drops the
    first answer for a blob after `cut` bytes and, if `ignore_range`,
    answers a Range request with the whole blob (200). The manifest goes
    out with Content-Type `manifest_ctype` (default: its media type)."""

    def __init__(self, img, cut, ignore_range=False, user="u", password="p4ss-w0rd",
                 bearer=False, token_uses=None, manifest_ctype=None):
        self.img, self.cut, self.ignore_range = img, cut, ignore_range
        self.basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.user, self.password = user, password
        self.bearer, self.token_uses = bearer, token_uses
        self.manifest_ctype = manifest_ctype or img.media_type
        self.token, self.uses, self.tokens_issued = None, 0, 0
        self.blobs = {b.digest: b.data for b in [img.config_blob] + [l.blob for l in img.layers]}
        self.front_log, self.target_log = [], []
        self.dropped = set()
        self.lock = threading.Lock()

    @property
    def auth(self):
        return self.basic

    def _authorized(self, header):
        with self.lock:
            if not self.bearer:
                return header == self.basic
            if self.token is None or header != f"Bearer {self.token}":
                return False
            if self.token_uses is not None and self.uses >= self.token_uses:
                return False
            self.uses += 1
            return True

    def _issue(self, header):
        with self.lock:
            if header != self.basic:
                return None
            self.tokens_issued += 1
            self.token, self.uses = f"tok-{self.tokens_issued}-{random.getrandbits(64):x}", 0
            return self.token

    def start(self):
        fake = self

        class Base(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def send(self, code, body=b"", headers=()):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        class Front(Base):
            def do_GET(self):
                fake.front_log.append((self.path, dict(self.headers)))
                auth = self.headers.get("Authorization")
                if self.path.startswith("/token?"):
                    tok = fake._issue(auth)
                    if tok is None:
                        return self.send(401, b"{}")
                    return self.send(200, json.dumps({"access_token": tok}).encode())
                if not fake._authorized(auth):
                    ch = (f'Bearer realm="http://127.0.0.1:{fake.port}/token",service="fake",'
                          f'scope="repository:fake/img:pull"') if fake.bearer else 'Basic realm="fake"'
                    return self.send(401, b"{}", [("WWW-Authenticate", ch)])
                m = re.fullmatch(r"/v2/fake/img/manifests/(.+)", self.path)
                if m:
                    return self.send(200, fake.img.manifest_blob.data,
                                     [("Content-Type", fake.manifest_ctype)])
                m = re.fullmatch(r"/v2/fake/img/blobs/(sha256:[0-9a-f]{64})", self.path)
                if m and m.group(1) in fake.blobs:
                    return self.send(307, b"", [("Location", f"http://localhost:{fake.port2}/b/{m.group(1)}?sig=secret-signature")])
                self.send(404, b"{}")

        class Target(Base):
            def do_GET(self):
                fake.target_log.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                digest = self.path.split("/b/", 1)[1].split("?", 1)[0]
                data = fake.blobs[digest]
                rng = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if rng and not fake.ignore_range:
                    a = int(rng.group(1))
                    return self.send(206, data[a:], [("Content-Range", f"bytes {a}-{len(data) - 1}/{len(data)}")])
                if digest not in fake.dropped and len(data) > fake.cut:
                    fake.dropped.add(digest)
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[:fake.cut])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.send(200, data)

        self.s1 = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Front)
        self.s2 = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Target)
        self.port, self.port2 = self.s1.server_address[1], self.s2.server_address[1]
        for s in (self.s1, self.s2):
            threading.Thread(target=s.serve_forever, daemon=True).start()
        return self

    def stop(self):
        for s in (self.s1, self.s2):
            s.shutdown()
            s.server_close()


@pytest.mark.parametrize("ignore_range", [False, True])
def test_redirect_target_drop_resumes_without_credentials(scratch, ignore_range):
    img = layered_image("fake/img", n=1, size=1 << 20)
    fake = _Fake(img, cut=300_000, ignore_range=ignore_range).start()
    try:
        host = f"127.0.0.1:{fake.port}"
        store = f"{scratch}/store"
        creds = {"auths": {host: {"username": fake.user, "password": fake.password}}}
        res = pull(f"{host}/fake/img:latest", store, insecure(host), creds)
        assert_image_stored(store, img, res)
        layer = img.layers[0].blob.digest
        hits = [h for p, h in fake.target_log if layer in p]
        assert len(hits) == 2
        assert "range" not in hits[0] and hits[1]["range"] == "bytes=300000-"
        # The Range went to the redirect target again, and Authorization
        # never did.
        assert all("authorization" not in h for _, h in fake.target_log)
        assert any(h.get("Authorization") == fake.auth for _, h in fake.front_log)
        (retry,) = res.kinds("retry")
        assert retry["current"] == 300_000
        no_secret(res, "secret-signature", fake.password)
    finally:
        fake.stop()


def test_expired_token_is_fetched_again(scratch):
    """A token the registry stops taking (expired) is fetched once more and
    the request retried; the manifest's vague Content-Type is judged by
    its body."""
    img = layered_image("fake/img", n=1, size=1000)
    fake = _Fake(img, cut=1 << 30, bearer=True, token_uses=2,
                 manifest_ctype="application/octet-stream").start()
    try:
        host = f"127.0.0.1:{fake.port}"
        creds = {"auths": {host: {"username": fake.user, "password": fake.password}}}
        res = pull(f"{host}/fake/img:latest", f"{scratch}/store", insecure(host), creds)
        assert_image_stored(f"{scratch}/store", img, res)
        assert fake.tokens_issued == 2
        assert all("authorization" not in h for _, h in fake.target_log)
        no_secret(res, fake.password, fake.token)
    finally:
        fake.stop()


def test_token_refused_when_fresh_is_an_error(scratch):
    img = layered_image("fake/img", n=1, size=1000)
    fake = _Fake(img, cut=1 << 30, bearer=True, token_uses=0).start()
    try:
        host = f"127.0.0.1:{fake.port}"
        creds = {"auths": {host: {"username": fake.user, "password": fake.password}}}
        res = pull(f"{host}/fake/img:latest", f"{scratch}/store", insecure(host), creds)
        assert res.rc == 1 and res.result["code"] == "EACCES", res
        assert "refused a token" in res.result["message"]
        assert fake.tokens_issued == 1
        no_secret(res, fake.token)
    finally:
        fake.stop()
