"""Host paths bound into a sandbox ("mounts" on create, what `runra agent run`
uses for the current directory): idmapped, so the host owner's files are the
sandbox root's and what the sandbox writes belongs to that owner on the
host; read-only on request; for the admin only; never runrad's own state;
and bad specs change nothing."""

import json
import os
import shutil
import socket
import tempfile

import pytest

from conftest import finish_daemon, start_daemon


@pytest.fixture
def hostdir():
    d = tempfile.mkdtemp(prefix="runra-mnt-", dir="/tmp")
    with open(os.path.join(d, "from-host.txt"), "w") as f:
        f.write("host data\n")
    os.makedirs(os.path.join(d, "sub"))
    for root, dirs, files in os.walk(d):
        for n in dirs + files:
            os.chown(os.path.join(root, n), 1000, 1000)
    os.chown(d, 1000, 1000)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def test_a_mounted_dir_is_the_sandbox_roots_and_writes_land_as_its_owner(client, hostdir):
    sid = client.create({"mounts": [{"source": hostdir, "target": "/workspace"}]})["id"]
    try:
        assert client.sh(sid, "cat /workspace/from-host.txt") == "host data\n"
        # The host owner (1000) is the sandbox's root inside.
        assert client.sh(sid, "stat -c %u:%g /workspace/from-host.txt /workspace") == "0:0\n0:0\n"
        client.sh(sid, "echo made > /workspace/new.txt && mkdir -p /workspace/sub/deep && "
                       "echo x > /workspace/sub/deep/f")
        st = os.stat(os.path.join(hostdir, "new.txt"))
        assert (st.st_uid, st.st_gid) == (1000, 1000)
        assert os.stat(os.path.join(hostdir, "sub", "deep", "f")).st_uid == 1000
        with open(os.path.join(hostdir, "new.txt")) as f:
            assert f.read() == "made\n"
        # Host changes show inside at once (a bind, not a copy).
        with open(os.path.join(hostdir, "later.txt"), "w") as f:
            f.write("later\n")
        assert client.sh(sid, "cat /workspace/later.txt") == "later\n"
        # No setuid through it.
        out = client.sh(sid, "mount | grep ' /workspace '")
        assert "nosuid" in out and "nodev" in out and "idmapped" in out
        # The file API sees the same files.
        assert client.read(sid, "/workspace/from-host.txt").body == b"host data\n"
    finally:
        client.destroy(sid)
    # The sandbox's files stay on the host after it is gone.
    assert os.path.exists(os.path.join(hostdir, "new.txt"))


def test_read_only_and_file_mounts(client, hostdir):
    f = os.path.join(hostdir, "from-host.txt")
    sid = client.create({"mounts": [
        {"source": hostdir, "target": "/opt/tools", "readOnly": True},
        {"source": f, "target": "/workspace/cfg/settings.txt"}]})["id"]
    try:
        assert client.sh(sid, "cat /opt/tools/from-host.txt") == "host data\n"
        r = client.exec(sid, "touch /opt/tools/x 2>&1; echo $?")
        assert "Read-only" in r["stdout"], r
        assert not os.path.exists(os.path.join(hostdir, "x"))
        assert client.sh(sid, "cat /workspace/cfg/settings.txt") == "host data\n"
        client.sh(sid, "echo changed > /workspace/cfg/settings.txt")
        with open(f) as fh:
            assert fh.read() == "changed\n"
    finally:
        client.destroy(sid)


@pytest.mark.parametrize("mounts,what", [
    ("no-list", "mounts"),
    ([{"source": "relative/dir", "target": "/workspace"}], "source"),
    ([{"source": "/tmp/../etc", "target": "/workspace"}], "source"),
    ([{"source": "/", "target": "/workspace"}], "source"),
    ([{"source": "/tmp", "target": "workspace"}], "target"),
    ([{"source": "/tmp", "target": "/"}], "target"),
    ([{"source": "/tmp", "target": "/proc/x"}], "target"),
    ([{"source": "/tmp", "target": "/etc"}], "target"),
    ([{"source": "/tmp", "target": "/usr/local"}], "target"),
    ([{"source": "/tmp", "target": "/workspace/../etc"}], "target"),
    ([{"source": "/tmp", "target": "/a"}, {"source": "/var", "target": "/a"}], "twice"),
    ([{"source": "/tmp", "target": "/a", "bogus": 1}], "bogus"),
    ([{"source": "/tmp", "target": "/a", "readOnly": "yes"}], "mounts[0]"),
    ([{"source": "/no/such/dir", "target": "/a"}], "source"),
    ([{"source": "/tmp", "target": "/a"}] * 17, "mounts"),
])
def test_bad_mounts_are_400_and_create_nothing(client, mounts, what):
    before = client.list_ids()
    r = client.request("POST", "/v1/sandboxes", {"mounts": mounts})
    assert r.status == 400, r
    assert what in r.json()["error"]["message"], r.json()
    assert client.list_ids() == before


def test_runrads_own_state_cannot_be_mounted(client, daemon):
    for src in [daemon.state_dir, os.path.join(daemon.state_dir, "sandboxes"),
                os.path.dirname(daemon.state_dir)]:
        r = client.request("POST", "/v1/sandboxes", {"mounts": [{"source": src, "target": "/x"}]})
        assert r.status == 403 and "state" in r.json()["error"]["message"], (src, r)


def test_symlinked_and_root_owned_sources_are_refused(client, daemon, hostdir):
    before = client.list_ids()
    # A symlink anywhere on the source's path: refused, not followed (what
    # it points at could change between a check and the mount).
    link = hostdir + "-link"
    os.symlink(hostdir, link)
    try:
        r = client.request("POST", "/v1/sandboxes", {"mounts": [{"source": link, "target": "/x"}]})
        assert r.status == 400 and "symlink" in r.json()["error"]["message"], r
        r = client.request("POST", "/v1/sandboxes",
                           {"mounts": [{"source": link + "/sub", "target": "/x"}]})
        assert r.status == 400, r
    finally:
        os.unlink(link)
    # A symlink into runrad's state, made where the sandbox could make one.
    trap = os.path.join(hostdir, "trap")
    os.symlink(daemon.state_dir, trap)
    r = client.request("POST", "/v1/sandboxes", {"mounts": [{"source": trap, "target": "/x"}]})
    assert r.status in (400, 403), r
    os.unlink(trap)
    # Root-owned and read-write: what the sandbox wrote would be root's on
    # the host (setuid files). Read-only is fine.
    rootdir = tempfile.mkdtemp(prefix="runra-mnt-root-", dir="/tmp")
    try:
        r = client.request("POST", "/v1/sandboxes",
                           {"mounts": [{"source": rootdir, "target": "/x"}]})
        assert r.status == 403 and "root" in r.json()["error"]["message"], r
        assert client.list_ids() == before
        sid = client.create({"mounts": [{"source": rootdir, "target": "/x", "readOnly": True}]})["id"]
        client.destroy(sid)
    finally:
        shutil.rmtree(rootdir)
    assert client.list_ids() == before


def test_mounts_are_for_the_admin_only():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = start_daemon(["--listen", f"127.0.0.1:{port}"])
    try:
        key = d.client.request("POST", "/v1/keys", {"name": "t"}).json()["key"]
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("POST", "/v1/sandboxes",
                  body=json.dumps({"mounts": [{"source": "/tmp", "target": "/x"}]}),
                  headers={"Authorization": "Bearer " + key, "Content-Type": "application/json"})
        r = c.getresponse()
        body = r.read()
        assert r.status == 403 and b"admin" in body, body
        assert d.client.list_ids() == []
    finally:
        finish_daemon(d)
