"""The image commands of the `runra` CLI (and librunra's image calls under
them) against a real runrad and a real registry on 127.0.0.1: pull with
--json events, plain lines and terminal progress bars (under a pty), ^C
during a pull, images, rmi (by name, by digest, missing, in use, --force),
image import of oci-archive and docker-archive files (and stdin), inspect,
prune, and create --image followed by an exec."""

import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time

import pytest

from conftest import BUILD_DIR, REPO, finish_daemon, start_daemon

sys.path.insert(0, os.path.join(REPO, "tests", "images"))
import fixtures as F  # noqa: E402
import registry as R  # noqa: E402

RUNRA = os.path.join(BUILD_DIR, "src", "cli", "runra")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
ANSI_RE = re.compile(r"\x1b\[")
ANSI_CSI_RE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
LAYER_STATUSES = {"cached", "downloading", "retry", "downloaded", "extracting", "done"}


class Env:
    pass


def _marker_layer(marker, random_bytes=0):
    """A layer of its own: /marker.txt, and optionally incompressible data
    so that a download takes more than one read."""
    entries = [F.tfile("marker.txt", marker + "\n")]
    if random_bytes:
        entries.append(F.tfile(f"data-{marker}.bin", os.urandom(random_bytes)))
    return F.make_layer(entries, "gzip", 1)


@pytest.fixture(scope="module")
def env():
    if os.geteuid() != 0:
        pytest.skip("runrad needs root (namespaces, cgroups, mounts)")
    if not R.docker_registry_binary():
        pytest.skip("docker-registry missing (Debian package docker-registry)")
    if not os.access(RUNRA, os.X_OK):
        pytest.fail(f"runra not built at {RUNRA}")
    e = Env()
    e.reg = R.Registry(auth="none").start()
    e.tmp = tempfile.mkdtemp(prefix="runra-images-cli-")
    try:
        e.proxy = e.reg.fault_proxy()
        cfg = os.path.join(e.tmp, "runrad.json")
        with open(cfg, "w") as f:
            json.dump({"registries": {e.reg.host: {"insecure": True},
                                      e.proxy.host: {"insecure": True}}}, f)
        # The base layer (a shell and a few tools) is shared by every image
        # here, as a real base image would be.
        base = F._base_tree()
        etc = F._etc_entries(users=[("root", 0, 0, "/root", "/bin/sh")], groups=[("root", 0)])
        e.base = F.make_layer(etc + base.take(), "gzip", 1)
        e.daemon = start_daemon(extra_args=["--config", cfg])
    except BaseException:
        e.reg.stop()
        raise
    yield e
    try:
        finish_daemon(e.daemon)
    finally:
        e.reg.stop()
        subprocess.run(["rm", "-rf", e.tmp])


def make(env, repo, tag, random_bytes=0, marker=None):
    """Builds an image with a layer of its own, pushes it as repo:tag and
    returns (reference, image)."""
    marker = marker or f"{repo.replace('/', '-')}-{tag}"
    img = F.make_image(repo, tag, [env.base, _marker_layer(marker, random_bytes)],
                       {"Env": [f"PATH={F.STD_PATH}", f"MARKER={marker}"], "Cmd": ["/bin/sh"]})
    R.push_image(env.reg, repo, tag, img)
    return f"{env.reg.host}/{repo}:{tag}", img


def runra(env, *args, input=None, timeout=120):
    e = dict(os.environ, RUNRA_NO_AUTOSTART="1")
    e.pop("RUNRA_SOCKET", None)
    return subprocess.run([RUNRA, "--socket", env.daemon.socket, *args], input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=e)


def ok(p):
    assert p.returncode == 0, f"rc={p.returncode} stdout={p.stdout[-800:]!r} stderr={p.stderr[-800:]!r}"
    return p.stdout.decode()


def failed(p, rc=1):
    assert p.returncode == rc, f"rc={p.returncode} stdout={p.stdout[-500:]!r} stderr={p.stderr!r}"
    err = p.stderr.decode()
    assert err.startswith("runra: "), err
    return err


def json_lines(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def short(digest):
    return digest.split(":", 1)[1][:12]


# ---- usage -------------------------------------------------------------------


def test_help_lists_the_image_commands(env):
    out = ok(runra(env, "help"))
    for cmd in ("pull", "images", "rmi", "image"):
        assert f"  {cmd} " in out
    assert "Usage: runra pull" in ok(runra(env, "pull", "--help"))
    assert "Usage: runra image COMMAND" in ok(runra(env, "help", "image"))
    assert "import FILE" in ok(runra(env, "image", "--help"))
    assert "Usage: runra image import" in ok(runra(env, "image", "import", "--help"))
    failed(runra(env, "pull"), rc=2)
    failed(runra(env, "pull", "a", "b"), rc=2)
    assert runra(env, "image").returncode == 2
    assert "unknown command 'image nope'" in failed(runra(env, "image", "nope"), rc=2)
    failed(runra(env, "image", "import", "--format", "zip", "/dev/null"), rc=2)
    assert "No such file" in failed(runra(env, "image", "import", "/nonexistent/a.tar"))


# ---- pull ----------------------------------------------------------------------


def test_pull_json_events(env):
    ref, img = make(env, "library/busybox", "1", random_bytes=3 << 20)
    events = json_lines(ok(runra(env, "pull", "--json", ref)))
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "done", kinds
    resolved = [e for e in events if e["event"] == "resolved"]
    assert len(resolved) == 1 and resolved[0]["digest"] == img.digest
    assert kinds.index("resolved") < kinds.index("layer")
    layers = [e for e in events if e["event"] == "layer"]
    assert {e["status"] for e in layers} <= LAYER_STATUSES
    # Every layer of the image is accounted for, and each fresh one is
    # downloaded and then unpacked.
    want = {l.blob.digest for l in img.layers}
    assert {e["digest"] for e in layers} == want
    fresh = img.layers[1].blob.digest
    statuses = [e["status"] for e in layers if e["digest"] == fresh]
    assert "downloading" in statuses and statuses[-1] == "done", statuses
    downloading = [e for e in layers if e["digest"] == fresh and e["status"] == "downloading"]
    assert all(e["total"] in (0, img.layers[1].blob.size) for e in downloading)
    currents = [e["current"] for e in downloading]
    assert currents == sorted(currents)
    done = events[-1]["image"]
    assert done["digest"] == img.digest
    assert ref in done["names"]
    assert done["layers"] == 2
    assert done["size"] == sum(l.blob.size for l in img.layers)
    assert f"PATH={F.STD_PATH}" in done["env"]

    # Pulled again: nothing is fetched, every layer is cached.
    again = json_lines(ok(runra(env, "pull", "--json", ref)))
    assert again[-1]["event"] == "done" and again[-1]["image"]["digest"] == img.digest
    again_layers = [e for e in again if e["event"] == "layer"]
    assert {e["digest"] for e in again_layers if e["status"] == "cached"} == want
    assert not [e for e in again_layers if e["status"] in ("downloading", "downloaded")]


def test_pull_plain_lines_when_not_a_terminal(env):
    ref, img = make(env, "library/plain", "1", random_bytes=2 << 20)
    out = ok(runra(env, "pull", ref))
    assert not ANSI_RE.search(out), out
    lines = out.splitlines()
    assert lines[0] == f"Pulling {ref}"
    assert f"Resolved {img.digest}" in lines
    assert lines[-2] == f"Pulled {ref}"
    assert lines[-1] == f"Digest: {img.digest}"
    fresh = img.layers[1].blob.digest
    mine = [l for l in lines if l.startswith(f"sha256:{short(fresh)}: ")]
    states = [l.split(": ", 1)[1].split(" ")[0] for l in mine]
    assert states[0] == "downloading" and states[-1] == "done", mine
    assert "downloaded" in states and "extracting" in states
    # One line per change of state, not per progress tick.
    assert len(mine) <= 8, mine
    assert any(re.search(r"downloaded \d+(\.\d)? (B|kB|MB)$", l) for l in mine), mine


def test_pull_failure_is_an_error(env):
    ref = f"{env.reg.host}/library/nope:1"
    err = failed(runra(env, "pull", ref))
    assert f"pull {ref}" in err
    p = runra(env, "pull", "--json", ref)
    failed(p)
    last = json_lines(p.stdout.decode())[-1]
    assert last["event"] == "error" and last["error"]["code"] and last["error"]["message"]
    failed(runra(env, "pull", "Not A Reference!"))


def _pty_run(env, args, cols=120, rows=40, timeout=120):
    """Runs runra on a pseudo-terminal; returns (exit status, output)."""
    e = dict(os.environ, RUNRA_NO_AUTOSTART="1", TERM="xterm")
    e.pop("RUNRA_SOCKET", None)
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(RUNRA, [RUNRA, "--socket", env.daemon.socket, *args], e)
    import fcntl
    import termios
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_pull_draws_progress_bars_on_a_terminal(env):
    ref, img = make(env, "library/tty", "1", random_bytes=2 << 20)
    rc, out = _pty_run(env, ["pull", ref])
    assert rc == 0, out
    # Layer lines are redrawn in place: cursor up, clear line.
    assert re.search(r"\x1b\[\d+A", out), repr(out[:2000])
    assert "\x1b[2K" in out
    assert re.search(r"\[=+>? *\]", out), repr(out[:2000])
    fresh = short(img.layers[1].blob.digest)
    assert fresh in out
    # The cursor is hidden while drawing and shown again at the end.
    assert "\x1b[?25l" in out and out.rfind("\x1b[?25h") > out.rfind("\x1b[?25l")
    lines = [ANSI_CSI_RE.sub("", l) for l in out.replace("\r", "\n").split("\n")]
    lines = [l for l in lines if l.strip()]
    assert lines[-1] == f"Digest: {img.digest}", lines[-4:]
    assert lines[-2] == f"Pulled {ref}"
    # No line is wider than the terminal (wrapping would break the redraw).
    assert all(len(l) < 120 for l in lines)


def test_sigint_ends_a_pull_cleanly(env):
    """^C while the layers hang in the registry: runra exits 128+SIGINT
    at once, says so, and leaves the terminal state alone."""
    repo, tag = "library/slow", "1"
    img = F.make_image(repo, tag, [env.base, _marker_layer("slow", 1 << 20)],
                       {"Env": [f"PATH={F.STD_PATH}"]})
    R.push_image(env.reg, repo, tag, img)
    env.proxy.add_fault(r"/blobs/sha256:", "delay", times=4, seconds=4)
    e = dict(os.environ, RUNRA_NO_AUTOSTART="1")
    e.pop("RUNRA_SOCKET", None)
    p = subprocess.Popen([RUNRA, "--socket", env.daemon.socket, "pull", "--json",
                          f"{env.proxy.host}/{repo}:{tag}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    try:
        out = b""
        deadline = time.monotonic() + 30
        while b'"resolved"' not in out and time.monotonic() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
        assert b'"resolved"' in out, out
        t0 = time.monotonic()
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=10)
        assert time.monotonic() - t0 < 3
        assert p.returncode == 128 + signal.SIGINT, (p.returncode, err)
        assert b"interrupted" in err, err
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# ---- images, inspect ------------------------------------------------------------


def test_images_lists_a_row_per_name(env):
    ref1, img = make(env, "library/listed", "a")
    R.push_image(env.reg, "library/listed", "b", img)
    ref2 = f"{env.reg.host}/library/listed:b"
    ok(runra(env, "pull", ref1))
    ok(runra(env, "pull", ref2))
    out = ok(runra(env, "images"))
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "DIGEST", "SIZE", "LAYERS", "STORED"]
    rows = {l.split()[0]: l for l in lines[1:]}
    for ref in (ref1, ref2):
        row = rows[ref]
        assert re.search(rf"^{re.escape(ref)}\s+{short(img.digest)}\s+\d+(\.\d)? (B|kB|MB)\s+2\s+"
                         r"(just now|\d+ seconds? ago|\d+ minutes? ago)$", row), row
    quiet = ok(runra(env, "images", "-q")).split()
    assert img.digest in quiet and len(quiet) == len(set(quiet))
    listed = json.loads(ok(runra(env, "images", "--json")))["images"]
    mine = [i for i in listed if i["digest"] == img.digest]
    assert len(mine) == 1 and {ref1, ref2} <= set(mine[0]["names"])
    assert ok(runra(env, "image", "ls")).splitlines()[0] == lines[0]


def test_image_inspect(env):
    ref, img = make(env, "library/inspected", "1")
    ok(runra(env, "pull", ref))
    j = json.loads(ok(runra(env, "image", "inspect", ref)))
    assert j["digest"] == img.digest and ref in j["names"]
    assert j["configDigest"] == img.config_blob.digest
    assert j["layers"] == 2 and j["os"] == "linux"
    assert "MARKER=library-inspected-1" in j["env"]
    assert j["cmd"] == ["/bin/sh"] and j["entrypoint"] is None and j["workdir"] is None
    # By digest, and by a 12-digit prefix of it.
    assert json.loads(ok(runra(env, "image", "inspect", img.digest)))["digest"] == img.digest
    assert json.loads(ok(runra(env, "image", "inspect", short(img.digest))))["digest"] == img.digest
    both = json.loads(ok(runra(env, "image", "inspect", ref, img.digest)))
    assert [i["digest"] for i in both] == [img.digest, img.digest]
    err = failed(runra(env, "image", "inspect", f"{env.reg.host}/library/absent:1"))
    assert "image inspect" in err


# ---- rmi, prune ------------------------------------------------------------------


def test_rmi_by_name_then_by_digest(env):
    ref1, img = make(env, "library/removed", "a", random_bytes=64 << 10)
    R.push_image(env.reg, "library/removed", "b", img)
    ref2 = f"{env.reg.host}/library/removed:b"
    ok(runra(env, "pull", ref1))
    ok(runra(env, "pull", ref2))

    out = ok(runra(env, "rmi", ref1)).splitlines()
    assert out[0] == f"removed {ref1}"
    assert not any(l.startswith("deleted") for l in out)
    assert re.match(r"^reclaimed 0 blobs, 0 layers$", out[-1]), out
    names = json.loads(ok(runra(env, "image", "inspect", img.digest)))["names"]
    assert ref1 not in names and ref2 in names

    out = ok(runra(env, "image", "rm", img.digest)).splitlines()
    assert out[0] == f"removed {ref2}"
    assert out[1] == f"deleted {img.digest}"
    m = re.match(r"^reclaimed (\d+) blobs?, (\d+) layers?$", out[2])
    assert m and int(m.group(2)) >= 1, out
    assert img.digest not in ok(runra(env, "images", "-q"))

    err = failed(runra(env, "rmi", ref1))
    assert f"rmi {ref1}" in err
    # Several at once: the missing one fails, the others still go.
    ref3, _ = make(env, "library/removed", "c")
    ok(runra(env, "pull", ref3))
    p = runra(env, "rmi", ref1, ref3)
    failed(p)
    assert f"removed {ref3}" in p.stdout.decode()


def test_rmi_of_an_image_in_use(env):
    ref, img = make(env, "library/inuse", "1", random_bytes=64 << 10)
    sid = ok(runra(env, "create", "--image", ref)).strip()
    try:
        err = failed(runra(env, "rmi", ref))
        assert "in use" in err, err
        assert ref in json.loads(ok(runra(env, "image", "inspect", ref)))["names"]
        out = ok(runra(env, "rmi", "--force", ref))
        assert f"removed {ref}" in out
        assert ref not in ok(runra(env, "images"))
        # The sandbox keeps its root filesystem.
        assert ok(runra(env, "exec", sid, "--", "cat", "/marker.txt")) == "library-inuse-1\n"
    finally:
        ok(runra(env, "rm", sid))
    out = ok(runra(env, "image", "prune")).strip()
    assert re.match(r"^reclaimed \d+ blobs?, \d+ layers?$", out), out
    again = json.loads(ok(runra(env, "image", "prune", "--json")))
    assert again == {"reclaimed": {"blobs": 0, "layers": 0}}


# ---- create --image ---------------------------------------------------------------


def test_create_with_an_image_pulls_it_and_runs_in_it(env):
    ref, img = make(env, "library/created", "1")
    assert ref not in ok(runra(env, "images"))
    sid = ok(runra(env, "create", "--image", ref)).strip()
    try:
        assert ok(runra(env, "exec", sid, "--", "cat", "/marker.txt")) == "library-created-1\n"
        assert ok(runra(env, "exec", sid, "--", "sh", "-c", "echo $MARKER")) == "library-created-1\n"
        sb = json.loads(ok(runra(env, "inspect", sid)))
        assert ref in sb["image"] or img.digest in sb["image"]
    finally:
        ok(runra(env, "rm", sid))
    assert ref in ok(runra(env, "images"))


# ---- import ----------------------------------------------------------------------


def test_import_an_oci_archive(env):
    img = F.make_image("runra-test/imported", "oci", [env.base, _marker_layer("oci-imported")],
                       {"Env": [f"PATH={F.STD_PATH}"], "Cmd": ["/bin/sh"]})
    path = F.write_oci_archive(os.path.join(env.tmp, "image-oci.tar"), img)
    out = ok(runra(env, "image", "import", "--name", "runra-test/imported:oci", path))
    assert out.splitlines() == [f"imported docker.io/runra-test/imported:oci ({img.digest})"], out
    j = json.loads(ok(runra(env, "image", "inspect", "runra-test/imported:oci")))
    assert j["digest"] == img.digest and j["layers"] == 2
    sid = ok(runra(env, "create", "--image", "runra-test/imported:oci")).strip()
    try:
        assert ok(runra(env, "exec", sid, "--", "cat", "/marker.txt")) == "oci-imported\n"
    finally:
        ok(runra(env, "rm", sid))

    # From stdin, with the format named, as JSON.
    with open(path, "rb") as f:
        data = f.read()
    listed = json.loads(ok(runra(env, "image", "import", "--json", "--format", "oci-archive",
                                 "--name", "runra-test/imported:stdin", "-", input=data)))
    assert [i["digest"] for i in listed["images"]] == [img.digest]
    assert "docker.io/runra-test/imported:stdin" in listed["images"][0]["names"]


def test_import_without_a_name(env):
    """An oci-archive whose index names only a tag ("v2", as skopeo writes
    for oci-archive:FILE:v2) gives an image without a name: <none>."""
    img = F.make_image("runra-test/nameless", "v2", [env.base, _marker_layer("nameless")],
                       {"Env": [f"PATH={F.STD_PATH}"]})
    path = F.write_oci_archive(os.path.join(env.tmp, "nameless.tar"), img)
    assert ok(runra(env, "image", "import", path)).splitlines() == [f"imported {img.digest}"]
    rows = [l for l in ok(runra(env, "images")).splitlines() if short(img.digest) in l]
    assert len(rows) == 1 and rows[0].split()[0] == "<none>", rows
    out = ok(runra(env, "rmi", img.digest)).splitlines()
    assert out[0] == f"deleted {img.digest}"


def test_import_a_docker_archive(env):
    img = F.make_image("runra-test/saved", "v1", [env.base, _marker_layer("docker-imported")],
                       {"Env": [f"PATH={F.STD_PATH}"], "Cmd": ["/bin/sh"]}, docker=True)
    path = F.write_docker_archive(os.path.join(env.tmp, "image-docker.tar"), img)
    out = ok(runra(env, "image", "import", "--format", "docker-archive", path))
    m = re.match(r"^imported (\S+) \((sha256:[0-9a-f]{64})\)$", out.strip())
    assert m and m.group(1) == "docker.io/runra-test/saved:v1", out
    j = json.loads(ok(runra(env, "image", "inspect", "runra-test/saved:v1")))
    # docker save keeps the config byte for byte; the manifest is rebuilt.
    assert j["configDigest"] == img.config_blob.digest and j["digest"] == m.group(2)
    sid = ok(runra(env, "create", "--image", "runra-test/saved:v1")).strip()
    try:
        assert ok(runra(env, "exec", sid, "--", "cat", "/marker.txt")) == "docker-imported\n"
    finally:
        ok(runra(env, "rm", sid))
    # A file that is no archive of either kind.
    junk = os.path.join(env.tmp, "junk.tar")
    with open(junk, "wb") as f:
        f.write(b"not a tar at all" * 100)
    assert "image import" in failed(runra(env, "image", "import", junk))
