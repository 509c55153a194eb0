"""Proves the image-test harness itself: the loopback registry in each setup,
the token server, blob redirects, the fault proxy, and the hand-built
fixtures, checked with independent tools from Debian (skopeo, umoci) where
they can be had. Run: /usr/bin/python3 -m pytest tests/images -q
"""

import base64
import functools
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import zlib

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fixtures as F  # noqa: E402
import registry as R  # noqa: E402


# ---------------------------------------------------------------------------
# Debian tools: found, installed when we are root and may, or a clean skip.

@functools.lru_cache(maxsize=None)
def _have(binary, package):
    path = shutil.which(binary)
    if path:
        return path, None
    if os.geteuid() != 0 or os.environ.get("RUNRA_TEST_APT") == "0":
        return None, f"{binary} missing: install the Debian package {package}"
    try:
        r = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"{binary} missing and apt-get install {package} failed: {e}"
    path = shutil.which(binary)
    if not path:
        return None, f"{binary} missing and apt-get install {package} failed: {r.stdout[-300:]}"
    return path, None


def need(binary, package=None):
    path, why = _have(binary, package or binary)
    if not path:
        pytest.skip(why)
    return path


def need_root():
    if os.geteuid() != 0:
        pytest.skip("needs root (chroot, ownership and device checks)")


@pytest.fixture(autouse=True, scope="module")
def _registry_binary():
    need("docker-registry")


@pytest.fixture
def scratch():
    d = tempfile.mkdtemp(prefix="runra-images-test-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def skopeo(*args, check=True):
    need("skopeo")
    r = subprocess.run(["skopeo", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=120)
    if check and r.returncode != 0:
        raise AssertionError(f"skopeo {' '.join(args)} failed: {r.stderr[-1500:]}")
    return r


def skopeo_json(*args):
    return json.loads(skopeo(*args).stdout)


def umoci_unpack(layout, ref, bundle):
    need("umoci")
    r = subprocess.run(["umoci", "unpack", "--image", f"{layout}:{ref}", bundle],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=120)
    assert r.returncode == 0, f"umoci unpack failed: {r.stderr[-1500:]}"
    return os.path.join(bundle, "rootfs")


def unpack(image, scratch_dir):
    """The image's rootfs: through umoci when it can be had (an independent
    unpacker), else the harness's own trusted extractor."""
    if _have("umoci", "umoci")[0] and all(l.compression != "zstd" for l in image.layers):
        layout = F.write_oci_layout(os.path.join(scratch_dir, "layout"), image)
        return umoci_unpack(layout, image.tag, os.path.join(scratch_dir, "bundle"))
    return F.unpack_trusted(image, os.path.join(scratch_dir, "rootfs"))


def run_chrooted(rootfs, argv, env):
    need_root()
    r = subprocess.run(["chroot", rootfs, *argv], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60, cwd="/")
    return r


def env_of(image):
    return dict(e.split("=", 1) for e in image.config["config"].get("Env", []))


# Built once per run: the node image reads ~120 MB of host files.
@pytest.fixture(scope="module")
def node_img():
    need("node", "nodejs")
    return F.node_image()


@pytest.fixture(scope="module")
def python_img():
    return F.python_image()


@pytest.fixture(scope="module")
def whiteout_img():
    return F.whiteout_image()


# ---------------------------------------------------------------------------
# The registry setups

def test_registry_version_is_known():
    v = R.registry_version()
    assert v and v[0].isdigit(), v


@pytest.mark.parametrize("upload", ["put", "post", "chunked"])
def test_no_auth_push_and_pull(upload):
    img = F.tiny_image("runra-test/tiny", "v1", "hello")
    with R.Registry() as reg:
        digest = R.push_image(reg, "runra-test/tiny", "v1", img, upload=upload, chunk_size=50)
        assert digest == img.digest
        c = reg.client()
        mt, body, dg = c.get_manifest("runra-test/tiny", "v1")
        assert (mt, body, dg) == (F.MT_OCI_MANIFEST, img.manifest_blob.data, img.digest)
        for d, blob in img.blobs().items():
            assert c.get_blob("runra-test/tiny", d) == blob.data
        assert c.tags("runra-test/tiny") == ["v1"]
        assert "runra-test/tiny" in c.catalog()
        # By digest too, and anonymously (no auth configured).
        assert reg.client(anonymous=True).get_manifest("runra-test/tiny", img.digest)[2] == img.digest
        if upload == "chunked":
            patches = [h for h in c.history if h[0] == "PATCH"]
            assert not patches  # the pushing client was another one
            log = reg.access_log()
            assert sum(1 for e in log if e["method"] == "PATCH") >= 3


def test_registry_manifest_negotiation_facts():
    """What this registry does with Accept, which a client must live with:
    OCI manifests and indexes are served only to a client that accepts
    them (else 404 MANIFEST_UNKNOWN), a Docker schema2 manifest is rewritten
    to a signed schema1 for a client that does not accept schema2, and an
    index cannot be pushed before its platform manifests."""
    oci = F.tiny_image("runra-test/oci", "v1", "o")
    dock = F.tiny_image("runra-test/dock", "v1", "d", docker=True)
    idx = F.multiplatform_index(name="runra-test/idx")
    with R.Registry() as reg:
        c = reg.client()
        for d, b in idx.blobs().items():
            c.push_blob("runra-test/idx", b.data, d)
        r = c.request("PUT", "/v2/runra-test/idx/manifests/v1", idx.index_blob.data,
                      {"Content-Type": idx.media_type})
        assert r.status == 400 and b"MANIFEST_BLOB_UNKNOWN" in r.body
        R.push_image(reg, "runra-test/oci", "v1", oci)
        R.push_image(reg, "runra-test/dock", "v1", dock)
        R.push_image(reg, "runra-test/idx", "v1", idx)
        for repo in ("runra-test/oci", "runra-test/idx"):
            r = c.request("GET", f"/v2/{repo}/manifests/v1", headers={"Accept": F.MT_DOCKER_MANIFEST})
            assert r.status == 404 and b"MANIFEST_UNKNOWN" in r.body
        r = c.request("GET", "/v2/runra-test/dock/manifests/v1")
        assert r.status == 200
        assert r.header("Content-Type") == "application/vnd.docker.distribution.manifest.v1+prettyjws"
        assert c.get_manifest("runra-test/dock", "v1")[2] == dock.digest
        assert c.get_manifest("runra-test/idx", "v1")[0] == F.MT_OCI_INDEX


def test_registry_stops_cleanly():
    reg = R.Registry().start()
    pid, tmp, port = reg.proc.pid, reg.tmpdir, reg.port
    reg.stop()
    assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    assert not os.path.exists(tmp)
    import socket
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("hasher", ["htpasswd", "crypt"])
def test_basic_auth(hasher):
    if hasher == "htpasswd":
        need("htpasswd", "apache2-utils")
    else:
        try:
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                import crypt
            if crypt.METHOD_BLOWFISH not in crypt.methods:
                pytest.skip("crypt(3) here has no bcrypt")
        except ImportError:
            pytest.skip("this Python has no crypt module (removed in 3.13)")
    img = F.tiny_image("runra-test/basic", "v1", "basic")
    with R.Registry(auth="basic", hasher=hasher) as reg:
        with open(os.path.join(reg.tmpdir, "htpasswd")) as f:
            line = f.read().strip()
        assert line.startswith(reg.username + (":$2y$" if hasher == "htpasswd" else ":$2b$"))
        anon = reg.client(anonymous=True)
        r = anon.ping()
        assert r.status == 401 and R.parse_challenge(r.header("WWW-Authenticate"))[0] == "basic"
        R.push_image(reg, "runra-test/basic", "v1", img)
        r = anon.request("GET", "/v2/runra-test/basic/manifests/v1",
                         headers={"Accept": ", ".join(F.ALL_MANIFEST_TYPES)})
        assert r.status == 401
        bad = reg.client(password="wrong")
        r = bad.request("GET", "/v2/runra-test/basic/manifests/v1")
        assert r.status == 401
        assert reg.client().get_manifest("runra-test/basic", "v1")[2] == img.digest
        conf = reg.docker_config()
        user, _, pw = base64.b64decode(conf["auths"][reg.host]["auth"]).decode().partition(":")
        assert (user, pw) == (reg.username, reg.password)


def _jwt_parts(token):
    def dec(s):
        return json.loads(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    h, c, _ = token.split(".")
    return dec(h), dec(c)


@pytest.mark.parametrize("key_header", ["x5c", "kid"])
def test_bearer_flow(key_header):
    img = F.tiny_image("runra-test/bearer", "v1", "bearer")
    with R.Registry(auth="token", token_key_header=key_header) as reg:
        R.push_image(reg, "runra-test/bearer", "v1", img)
        ts = reg.token_server
        # 1. An anonymous request is refused with a Bearer challenge.
        anon = reg.client(anonymous=True)
        path = "/v2/runra-test/bearer/manifests/v1"
        accept = {"Accept": ", ".join(F.ALL_MANIFEST_TYPES)}
        r = anon._raw("GET", reg.url + path, headers=accept)
        assert r.status == 401
        kind, ch = R.parse_challenge(r.header("WWW-Authenticate"))
        assert kind == "bearer"
        assert ch["realm"] == ts.realm and ch["service"] == R.SERVICE
        assert ch["scope"] == "repository:runra-test/bearer:pull"
        # 2. The token fetch, as a client does it.
        q = urllib.parse.urlencode({"service": ch["service"], "scope": ch["scope"]})
        basic = "Basic " + base64.b64encode(f"{reg.username}:{reg.password}".encode()).decode()
        t = anon._raw("GET", f"{ch['realm']}?{q}", headers={"Authorization": basic})
        assert t.status == 200
        token = t.json()["token"]
        header, claims = _jwt_parts(token)
        assert header["alg"] == "RS256" and key_header in header
        assert claims["aud"] == R.SERVICE and claims["iss"] == R.ISSUER
        assert claims["access"] == [{"type": "repository", "name": "runra-test/bearer",
                                     "actions": ["pull"]}]
        # 3. The retry with the token works.
        r = anon._raw("GET", reg.url + path, headers=dict(accept, Authorization="Bearer " + token))
        assert r.status == 200 and r.header("Docker-Content-Digest") == img.digest
        # A pull token does not allow a push.
        r = anon._raw("POST", reg.url + "/v2/runra-test/bearer/blobs/uploads/",
                      headers={"Authorization": "Bearer " + token, "Content-Length": "0"})
        # The registry names the actions in either order.
        challenge = r.header("WWW-Authenticate")
        assert r.status == 401, challenge
        scope = challenge.split('scope="', 1)[1].split('"', 1)[0]
        assert set(scope.rsplit(":", 1)[1].split(",")) == {"pull", "push"}, challenge
        # A token with a broken signature is refused.
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        r = anon._raw("GET", reg.url + path, headers=dict(accept, Authorization="Bearer " + forged))
        assert r.status == 401
        # Wrong credentials at the token server: 401 there.
        bad = "Basic " + base64.b64encode(f"{reg.username}:nope".encode()).decode()
        assert anon._raw("GET", f"{ch['realm']}?{q}", headers={"Authorization": bad}).status == 401
        # No credentials: a token granting nothing, which the registry refuses.
        t = anon._raw("GET", f"{ch['realm']}?{q}")
        assert t.status == 200 and _jwt_parts(t.json()["token"])[1]["access"] == []
        r = anon._raw("GET", reg.url + path, headers=dict(accept, Authorization="Bearer " + t.json()["token"]))
        assert r.status == 401
        # The client does the flow itself and reuses its token per scope.
        c = reg.client()
        for _ in range(3):
            assert c.get_manifest("runra-test/bearer", "v1")[2] == img.digest
        assert c.token_fetches == ["repository:runra-test/bearer:pull"]


def test_bearer_anonymous_pull():
    img = F.tiny_image("library/hello", "latest", "public")
    with R.Registry(auth="token", anonymous_pull=True) as reg:
        R.push_image(reg, "library/hello", "latest", img)
        anon = reg.client(anonymous=True)
        assert anon.get_manifest("library/hello", "latest")[2] == img.digest
        with pytest.raises(R.HarnessError):
            anon.push_blob("library/hello", b"not allowed")
        assert reg.token_server.requests[-1]["user"] == ""


@pytest.mark.parametrize("auth", ["basic", "token"])
def test_blob_redirect_never_carries_authorization(auth):
    img = F.tiny_image("runra-test/redir", "v1", "redirected")
    with R.Registry(auth=auth, redirect=True) as reg:
        R.push_image(reg, "runra-test/redir", "v1", img)
        target = reg.redirect_target
        target.clear()
        c = reg.client()
        layer = img.layers[0].blob
        # The registry answers a blob GET with a redirect to another host.
        c.get_manifest("runra-test/redir", "v1")  # establishes auth
        r = c.request("GET", f"/v2/runra-test/redir/blobs/{layer.digest}",
                      scope="repository:runra-test/redir:pull", follow_redirects=False)
        assert r.status in (301, 302, 303, 307, 308)
        loc = urllib.parse.urlsplit(r.header("Location"))
        assert loc.hostname == "localhost" and loc.port == target.port
        assert loc.netloc != urllib.parse.urlsplit(reg.url).netloc
        # Followed, the content is right and the target saw no Authorization.
        assert c.get_blob("runra-test/redir", layer.digest) == layer.data
        assert len(target.requests) == 1 and target.authorization_headers() == []
        # Range works at the target (resumed downloads go there too).
        r = c.request("GET", f"/v2/runra-test/redir/blobs/{layer.digest}",
                      headers={"Range": "bytes=5-"}, scope="repository:runra-test/redir:pull")
        assert r.status == 206 and r.body == layer.data[5:]
        # The recorder does see the header when a (broken) client sends it.
        sent = [h for h in c.history if h[0] == "GET" and "/blobs/" in h[1] and h[3]]
        assert sent and all(urllib.parse.urlsplit(h[1]).netloc == reg.host for h in sent)
        c._raw("GET", r.url, headers={"Authorization": "Bearer leaked"})
        assert target.authorization_headers() == ["Bearer leaked"]


def test_fault_proxy_injects_and_resumes():
    img = F.tiny_image("runra-test/faults", "v1", "x" * 5000)
    with R.Registry(auth="token") as reg:
        p = reg.fault_proxy()
        c = R.RegistryClient(p.url, reg.username, reg.password)
        R.push_image(reg, "runra-test/faults", "v1", img, client=c)
        blob = img.layers[0].blob
        path = f"/v2/runra-test/faults/blobs/{blob.digest}"
        scope = "repository:runra-test/faults:pull"
        p.add_fault(blob.digest, "status", times=2, status=503)
        assert c.request("GET", path, scope=scope).status == 503
        assert c.request("GET", path, scope=scope).status == 503
        assert c.request("GET", path, scope=scope).status == 200
        p.add_fault(blob.digest, "drop", after_bytes=20)
        import http.client
        with pytest.raises(http.client.IncompleteRead) as e:
            c.request("GET", path, scope=scope)
        got = e.value.partial
        assert len(got) == 20
        r = c.request("GET", path, headers={"Range": f"bytes={len(got)}-"}, scope=scope)
        assert r.status == 206 and got + r.body == blob.data
        assert p.count("GET", "/blobs/" + blob.digest) == 5
        assert p.count("GET", "/blobs/" + blob.digest, status=503) == 2


@pytest.mark.parametrize("auth", ["none", "basic", "token"])
def test_skopeo_pulls_from_each_setup(auth, scratch):
    need("skopeo")
    idx = F.multiplatform_index()
    with R.Registry(auth=auth) as reg:
        R.push_image(reg, "runra-test/multi", "v1", idx)
        creds = [] if auth == "none" else ["--creds", f"{reg.username}:{reg.password}"]
        ref = f"docker://{reg.host}/runra-test/multi:v1"
        raw = skopeo("inspect", "--raw", "--tls-verify=false", *creds, ref).stdout
        assert raw.encode() == idx.index_blob.data
        arm = skopeo_json("inspect", "--tls-verify=false", *creds, "--override-arch", "arm64",
                          "--override-variant", "v8", ref)
        # skopeo 1.9 reports the index digest as Digest; the layers tell
        # which platform manifest it picked.
        assert arm["Digest"] == idx.digest and arm["Architecture"] == "arm64"
        assert arm["Layers"] == [l.blob.digest for l in idx.image_for("linux", "arm64").layers]
        amd = skopeo_json("inspect", "--tls-verify=false", *creds, "--override-arch", "amd64", ref)
        assert amd["Layers"] == [l.blob.digest for l in idx.image_for("linux", "amd64").layers]
        skopeo("copy", "--all", "--src-tls-verify=false", *(["--src-creds", creds[1]] if creds else []),
               ref, f"oci:{scratch}/copy:multi")
        with open(f"{scratch}/copy/index.json") as f:
            top = json.load(f)["manifests"][0]
        assert top["digest"] == idx.digest
        if auth != "none":
            r = skopeo("inspect", "--tls-verify=false", ref, check=False)
            assert r.returncode != 0


def test_skopeo_pushes_to_token_registry(scratch, whiteout_img):
    need("skopeo")
    layout = F.write_oci_layout(f"{scratch}/wh", whiteout_img)
    with R.Registry(auth="token") as reg:
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", f"{reg.username}:{reg.password}",
               f"oci:{layout}:latest", f"docker://{reg.host}/runra-test/whiteout:pushed")
        assert reg.client().get_manifest("runra-test/whiteout", "pushed")[2] == whiteout_img.digest
        scopes = [r["params"].get("scope") for r in reg.token_server.requests]
        assert ["repository:runra-test/whiteout:pull,push"] in scopes


# ---------------------------------------------------------------------------
# Fixture shapes

def test_multiplatform_index_shape():
    idx = F.multiplatform_index()
    j = idx.manifest
    assert j["mediaType"] == F.MT_OCI_INDEX and len(j["manifests"]) == 4
    plats = [(m["platform"]["os"], m["platform"]["architecture"]) for m in j["manifests"]]
    assert plats == [("linux", "amd64"), ("linux", "arm64"), ("unknown", "unknown"), ("unknown", "unknown")]
    assert j["manifests"][1]["platform"]["variant"] == "v8"
    for att, subject in zip(j["manifests"][2:], j["manifests"][:2]):
        assert att["annotations"][F.ANN_REF_TYPE] == "attestation-manifest"
        assert att["annotations"][F.ANN_REF_DIGEST] == subject["digest"]
    att_img = idx.images[2]
    assert att_img.manifest["layers"][0]["mediaType"] == F.MT_INTOTO
    dl = F.multiplatform_index(docker=True)
    assert dl.media_type == F.MT_DOCKER_LIST and len(dl.manifest["manifests"]) == 2
    assert all(m["mediaType"] == F.MT_DOCKER_MANIFEST for m in dl.manifest["manifests"])


def test_docker_schema2_image_round_trip(scratch):
    img = F.whiteout_image(name="runra-test/docker", docker=True)
    assert img.media_type == F.MT_DOCKER_MANIFEST
    assert img.config_blob.media_type == F.MT_DOCKER_CONFIG
    assert all(l.blob.media_type == F.MT_DOCKER_LAYER_GZIP for l in img.layers)
    idx = F.multiplatform_index(name="runra-test/dlist", docker=True)
    with R.Registry() as reg:
        R.push_image(reg, "runra-test/docker", "v1", img)
        R.push_image(reg, "runra-test/dlist", "v1", idx)
        mt, body, _ = reg.client().get_manifest("runra-test/docker", "v1")
        assert mt == F.MT_DOCKER_MANIFEST and body == img.manifest_blob.data
        assert reg.client().get_manifest("runra-test/dlist", "v1")[0] == F.MT_DOCKER_LIST
        if _have("skopeo", "skopeo")[0]:
            info = skopeo_json("inspect", "--tls-verify=false", f"docker://{reg.host}/runra-test/docker:v1")
            assert info["Digest"] == img.digest


def test_layer_compressions_and_diff_ids():
    for comp in ["none", "gzip"] + (["zstd"] if F.zstd_available() else []):
        img = F.whiteout_image(compression=comp)
        for layer, diff_id in zip(img.layers, img.config["rootfs"]["diff_ids"]):
            assert layer.compression == comp
            assert F.sha256_digest(F.decompress(layer.blob.data, layer.blob.media_type)) == diff_id
        assert img.layers[0].blob.media_type == {"none": F.MT_OCI_LAYER, "gzip": F.MT_OCI_LAYER_GZIP,
                                                 "zstd": F.MT_OCI_LAYER_ZSTD}[comp]
    if not F.zstd_available():
        pytest.skip("zstd command missing: zstd layers not checked")


def test_zstd_layers_are_valid(scratch):
    need("zstd")
    img = F.whiteout_image(compression="zstd")
    assert all(l.blob.data[:4] == b"\x28\xb5\x2f\xfd" for l in img.layers)  # zstd frame magic
    if _have("skopeo", "skopeo")[0]:
        layout = F.write_oci_layout(f"{scratch}/z", img)
        info = skopeo_json("inspect", f"oci:{layout}:latest")
        assert info["Layers"] == [l.blob.digest for l in img.layers]
        # A copy verifies every blob's digest on the way.
        skopeo("copy", f"oci:{layout}:latest", f"dir:{scratch}/zcopy")
        with open(f"{scratch}/zcopy/manifest.json") as f:
            assert [l["mediaType"] for l in json.load(f)["layers"]] == [F.MT_OCI_LAYER_ZSTD] * 3
    # umoci 0.4.7 cannot read zstd layers: the trusted extractor checks the tree.
    root = F.unpack_trusted(img, f"{scratch}/rootfs")
    expected = {k: {kk: vv for kk, vv in v.items() if kk != "xattrs"} for k, v in F.WHITEOUT_EXPECTED.items()}
    if os.geteuid() == 0:
        assert F.compare_tree(root, expected) == []


def test_whiteout_tree_matches_umoci(scratch, whiteout_img):
    need_root()
    root = umoci_unpack(F.write_oci_layout(f"{scratch}/wh", whiteout_img), "latest", f"{scratch}/b")
    assert F.compare_tree(root) == []
    # The comparison is not vacuous: a changed tree is reported.
    with open(os.path.join(root, "etc/keep.conf"), "w") as f:
        f.write("changed\n")
    os.unlink(os.path.join(root, "data/hl"))
    with open(os.path.join(root, "data/hl"), "w") as f:
        f.write("linked content\n")
    os.mkdir(os.path.join(root, "gone"))
    diffs = F.compare_tree(root)
    assert any(d.startswith("etc/keep.conf: content") for d in diffs)
    assert any(d.startswith("hardlinks ") for d in diffs)
    assert "gone: unexpected dir" in diffs


def test_whiteout_tree_trusted_extractor_agrees(scratch, whiteout_img):
    need_root()
    root = F.unpack_trusted(whiteout_img, f"{scratch}/rootfs")
    expected = {k: {kk: vv for kk, vv in v.items() if kk != "xattrs"} for k, v in F.WHITEOUT_EXPECTED.items()}
    assert F.compare_tree(root, expected) == []


def test_layout_and_archives_are_read_by_skopeo(scratch, whiteout_img):
    need("skopeo")
    layout = F.write_oci_layout(f"{scratch}/layout", whiteout_img)
    oci_tar = F.write_oci_archive(f"{scratch}/wh-oci.tar", whiteout_img)
    dock_tar = F.write_docker_archive(f"{scratch}/wh-docker.tar", whiteout_img)
    a = skopeo_json("inspect", f"oci:{layout}:latest")
    b = skopeo_json("inspect", f"oci-archive:{oci_tar}:latest")
    assert a["Digest"] == b["Digest"] == whiteout_img.digest
    assert a["Layers"] == [l.blob.digest for l in whiteout_img.layers]
    d = skopeo_json("inspect", f"docker-archive:{dock_tar}")
    assert d["Layers"] == whiteout_img.config["rootfs"]["diff_ids"]  # uncompressed layer.tar
    cfg = json.loads(skopeo("inspect", "--config", "--raw", f"docker-archive:{dock_tar}").stdout)
    assert cfg["rootfs"]["diff_ids"] == whiteout_img.config["rootfs"]["diff_ids"]
    with tarfile.open(dock_tar) as tf:
        names = tf.getnames()
        m = json.load(tf.extractfile("manifest.json"))
        repos = json.load(tf.extractfile("repositories"))
    assert "repositories" in names and m[0]["RepoTags"] == ["runra-test/whiteout:latest"]
    assert repos["runra-test/whiteout"]["latest"] == m[0]["Layers"][-1].split("/")[0]
    # The docker archive carries the same tree: copy it to a layout, unpack it.
    if os.geteuid() == 0 and _have("umoci", "umoci")[0]:
        skopeo("copy", f"docker-archive:{dock_tar}", f"oci:{scratch}/from-docker:x")
        root = umoci_unpack(f"{scratch}/from-docker", "x", f"{scratch}/b")
        assert F.compare_tree(root) == []


def test_config_fixture():
    img = F.config_image()
    c = img.config["config"]
    assert c["User"] == "app" and c["WorkingDir"] == "/work/dir"
    assert c["Entrypoint"] == ["/bin/sh", "-c"] and c["Cmd"] == ['echo "$GREETING"']
    env = env_of(img)
    assert env["WITH_EQUALS"] == "a=b=c" and env["EMPTY"] == ""
    with tarfile.open(fileobj=io.BytesIO(img.layers[0].tar)) as tf:
        passwd = tf.extractfile("etc/passwd").read().decode()
        assert not any(n.startswith("work") for n in tf.getnames())
    assert "app:x:1234:2345:" in passwd


# ---------------------------------------------------------------------------
# node and python fixtures really run

def test_node_fixture_runs_chrooted(scratch, node_img):
    need_root()
    root = unpack(node_img, scratch)
    env = env_of(node_img)
    assert env["NODE_VERSION"] and node_img.config["config"]["WorkingDir"] == "/app"
    r = run_chrooted(root, ["/usr/bin/node", "-e", "console.log(1+1)"], {"PATH": env["PATH"]})
    assert (r.returncode, r.stdout, r.stderr) == (0, "2\n", "")
    r = run_chrooted(root, ["/bin/sh", "-c", "cd /app && node hello.js && npm --version"], {"PATH": env["PATH"]})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"hello from node v{env['NODE_VERSION']}\n")


def test_python_fixture_runs_chrooted(scratch, python_img):
    need_root()
    root = unpack(python_img, scratch)
    env = env_of(python_img)
    r = run_chrooted(root, ["/usr/bin/python3", "-c", "import json,sys; print(sys.version)"],
                     {"PATH": env["PATH"], "LANG": env["LANG"]})
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(env["PYTHON_VERSION"] + " ")
    r = run_chrooted(root, ["/bin/sh", "-c", "python3 -c 'import ssl, sqlite3, zlib, ctypes, hashlib; print(7*6)'"],
                     {"PATH": env["PATH"]})
    assert (r.returncode, r.stdout) == (0, "42\n"), r.stderr


def test_node_through_registry_and_skopeo(scratch, node_img):
    """The full way a client would go: push to a token registry as
    library/node:22, pull with skopeo, unpack with umoci, run node."""
    need_root()
    need("skopeo")
    need("umoci")
    with R.Registry(auth="token") as reg:
        R.push_image(reg, "library/node", "22", node_img, upload="chunked", chunk_size=8 << 20)
        skopeo("copy", "--src-tls-verify=false", "--src-creds", f"{reg.username}:{reg.password}",
               f"docker://{reg.host}/library/node:22", f"oci:{scratch}/pulled:22")
    root = umoci_unpack(f"{scratch}/pulled", "22", f"{scratch}/b")
    r = run_chrooted(root, ["/usr/bin/node", "-e", "console.log(require('os').platform())"],
                     {"PATH": F.STD_PATH})
    assert (r.returncode, r.stdout) == (0, "linux\n"), r.stderr


# ---------------------------------------------------------------------------
# Hostile fixtures

def _members(image):
    with tarfile.open(fileobj=io.BytesIO(image.layers[0].tar)) as tf:
        return {m.name: m for m in tf.getmembers()}


def test_hostile_tar_layers_say_what_they_mean():
    canary = "/tmp/some-canary"
    m = _members(F.hostile_image("dotdot", canary))
    assert all(n.endswith(("/tmp/some-canary/dotdot", "/tmp/some-canary/dotdot-sub", "sub"))
               for n in m) and any(n.startswith("../") for n in m)
    m = _members(F.hostile_image("absolute", canary))
    assert "/tmp/some-canary/absolute" in m
    m = _members(F.hostile_image("symlink-root", canary))
    assert m["link"].issym() and m["link"].linkname == "/"
    assert "link/tmp/some-canary/symlink-root" in m
    m = _members(F.hostile_image("symlink-relative", canary))
    assert m["a"].linkname.startswith("../../..") and "a/tmp/some-canary/symlink-relative" in m
    m = _members(F.hostile_image("symlink-dir-chain", canary))
    assert m["d/up"].issym() and "d/up/sub/symlink-chain" in m
    m = _members(F.hostile_image("hardlink-outside", canary))
    assert m["shadow"].islnk() and m["shadow"].linkname == "/etc/shadow"
    assert m["shadow2"].linkname.endswith("../etc/shadow")
    m = _members(F.hostile_image("hardlink-via-symlink", canary))
    assert m["s"].linkname == "/etc" and m["h"].islnk() and m["h"].linkname == "s/shadow"
    m = _members(F.hostile_image("devices", canary))
    assert m["dev/evil-null"].ischr() and (m["dev/evil-null"].devmajor, m["dev/evil-null"].devminor) == (1, 3)
    assert m["dev/evil-sda"].isblk()
    assert _members(F.hostile_image("fifo", canary))["evil-fifo"].isfifo()
    m = _members(F.hostile_image("setuid-root", canary))
    assert m["usr/bin/id"].mode & 0o4000 and m["usr/bin/id"].uid == 0
    with pytest.raises(ValueError):
        F.hostile_image("nope")


def test_crc32_of_zeros_matches_zlib():
    for n in (0, 1, 7, 512, 4096, 99999):
        for start in (0, 0xDEADBEEF):
            assert F.crc32_extend_zeros(start, n) == zlib.crc32(b"\0" * n, start)


def test_gzip_bomb_is_a_valid_stream():
    # A small one decompresses exactly to its diff-id.
    layer = F.gzip_bomb_layer(3 << 20)
    raw = gzip.decompress(layer.blob.data)
    assert F.sha256_digest(raw) == layer.diff_id and len(raw) == layer.uncompressed_size
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        (m,) = tf.getmembers()
        assert m.size == 3 << 20
    # The default one is small compressed and declares 4 GiB in its header.
    img = F.hostile_image("gzip-bomb")
    blob = img.layers[0].blob
    assert blob.size < 8 << 20 and img.layers[0].uncompressed_size > 4 << 30
    head = zlib.decompressobj(31).decompress(blob.data[:65536], 4096)
    assert b"size=4294967296" in head or tarfile.TarInfo.frombuf(head[:512], "utf-8", "strict").size == 4 << 30
    assert int.from_bytes(blob.data[-4:], "little") == img.layers[0].uncompressed_size & 0xFFFFFFFF


def test_entries_bomb_is_a_valid_stream():
    layer = F.entries_bomb_layer(20000)
    raw = gzip.decompress(layer.blob.data)
    assert F.sha256_digest(raw) == layer.diff_id and len(raw) == layer.uncompressed_size
    with tarfile.open(fileobj=io.BytesIO(raw)) as tf:
        names = tf.getnames()
    assert len(names) == 20001 and len(set(names)) == 20001
    assert layer.blob.size * 20 < len(raw)


def test_truncated_and_mismatched_blobs(scratch):
    trunc = F.hostile_image("truncated-gzip")
    with pytest.raises(EOFError):
        gzip.decompress(trunc.layers[0].blob.data)
    dm = F.hostile_image("digest-mismatch")
    layer = dm.layers[0].blob
    bad = dm.overrides[layer.digest]
    assert len(bad) == layer.size and F.sha256_digest(bad) != layer.digest
    did = F.hostile_image("diffid-mismatch")
    real = F.sha256_digest(F.decompress(did.layers[0].blob.data, did.layers[0].blob.media_type))
    assert real != did.config["rootfs"]["diff_ids"][0]
    # The registry serves the wrong bytes under the right digest...
    with R.Registry() as reg:
        R.push_image(reg, "hostile/digest-mismatch", "latest", dm)
        got = reg.client().get_blob("hostile/digest-mismatch", layer.digest)
        assert got == bad
        R.push_image(reg, "hostile/truncated-gzip", "latest", trunc)
    # ...and so does the layout writer.
    lay = F.write_oci_layout(f"{scratch}/dm", dm)
    with open(f"{lay}/blobs/sha256/{layer.digest.split(':')[1]}", "rb") as f:
        assert f.read() == bad
    if _have("skopeo", "skopeo")[0]:
        r = skopeo("copy", f"oci:{lay}:latest", f"dir:{scratch}/dm-copy", check=False)
        assert r.returncode != 0 and "digest" in r.stderr.lower()


def test_all_hostile_images_push(scratch):
    with R.Registry() as reg:
        for kind in F.HOSTILE_KINDS:
            kw = {"size": 1 << 20} if kind == "gzip-bomb" else {"count": 1000} if kind == "entries-bomb" else {}
            img = F.hostile_image(kind, canary_dir=f"{scratch}/canary", **kw)
            assert R.push_image(reg, img.name, img.tag, img) == img.digest
        assert len([r for r in reg.client().catalog() if r.startswith("hostile/")]) == len(F.HOSTILE_KINDS)
