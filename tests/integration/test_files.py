"""The files API: binary and large round trips, ranges, append, modes, list,
stat, mkdir, move, remove and their errors; and confinement: `..` paths and
symlinks pointing anywhere resolve inside the sandbox, never on the host."""

import hashlib
import os
import uuid

import pytest

from runra_client import ns_only, q


def test_binary_round_trip(client, sandbox):
    data = bytes(range(256)) * 64 + b"\x00\r\n\xff"
    r = client.write(sandbox, "/workspace/bin.dat", data)
    assert r.status == 200, r
    assert r.json() == {"path": "/workspace/bin.dat", "size": len(data)}
    r = client.read(sandbox, "/workspace/bin.dat")
    assert r.status == 200
    assert r.body == data
    assert client.stat(sandbox, "/workspace/bin.dat").json()["mode"] & 0o7777 == 0o644
    # exec sees the same file.
    out = client.sh(sandbox, "sha256sum /workspace/bin.dat")
    assert out.split()[0] == hashlib.sha256(data).hexdigest()


def test_empty_file(client, sandbox):
    r = client.write(sandbox, "/workspace/empty", b"")
    assert r.status == 200 and r.json()["size"] == 0, r
    r = client.read(sandbox, "/workspace/empty")
    assert r.status == 200 and r.body == b""


def test_exec_written_file_is_readable(client, sandbox):
    client.sh(sandbox, "printf 'from exec\\n' > /tmp/fromexec")
    r = client.read(sandbox, "/tmp/fromexec")
    assert r.body == b"from exec\n"


def test_50mb_file(client, sandbox):
    data = os.urandom(50 << 20)
    r = client.write(sandbox, "/workspace/big.bin", data)
    assert r.status == 200, r
    assert r.json()["size"] == len(data)
    out = client.sh(sandbox, "sha256sum /workspace/big.bin")
    assert out.split()[0] == hashlib.sha256(data).hexdigest()
    r = client.read(sandbox, "/workspace/big.bin")
    assert r.status == 200
    assert len(r.body) == len(data)
    assert r.body == data
    r = client.read(sandbox, "/workspace/big.bin", offset=(30 << 20) + 7, limit=1000)
    assert r.body == data[(30 << 20) + 7:(30 << 20) + 1007]
    client.remove(sandbox, "/workspace/big.bin")


def test_offset_and_limit(client, sandbox):
    client.write(sandbox, "/workspace/abc", b"0123456789")
    assert client.read(sandbox, "/workspace/abc", offset=3).body == b"3456789"
    assert client.read(sandbox, "/workspace/abc", offset=3, limit=2).body == b"34"
    assert client.read(sandbox, "/workspace/abc", offset=100).body == b""
    r = client.read(sandbox, "/workspace/abc", offset=-1)
    assert r.status == 400 and r.error_code == "invalid_argument"
    r = client.read(sandbox, "/workspace/abc", limit="x")
    assert r.status == 400


def test_append_and_overwrite(client, sandbox):
    assert client.write(sandbox, "/workspace/log", b"one\n").status == 200
    r = client.write(sandbox, "/workspace/log", b"two\n", append=True)
    assert r.status == 200 and r.json()["size"] == 8, r  # the size after the write (openapi.yaml)
    assert client.read(sandbox, "/workspace/log").body == b"one\ntwo\n"
    assert client.write(sandbox, "/workspace/log", b"3").status == 200
    assert client.read(sandbox, "/workspace/log").body == b"3"


def test_mode_and_parents(client, sandbox):
    r = client.write(sandbox, "/workspace/deep/er/x.sh", b"#!/bin/sh\necho run-me\n", mode="755")
    assert r.status == 200, r
    st = client.stat(sandbox, "/workspace/deep/er/x.sh").json()
    assert st["mode"] & 0o7777 == 0o755
    assert client.sh(sandbox, "/workspace/deep/er/x.sh") == "run-me\n"
    st = client.stat(sandbox, "/workspace/deep").json()
    assert st["type"] == "dir"
    r = client.write(sandbox, "/workspace/badmode", b"", mode="999")
    assert r.status == 400, r


def test_relative_paths_resolve_against_workdir(client, sandbox):
    r = client.write(sandbox, "rel/file.txt", b"relative")
    assert r.status == 200, r
    assert client.sh(sandbox, "cat /workspace/rel/file.txt") == "relative"
    assert client.read(sandbox, "./rel/../rel/file.txt").body == b"relative"
    st = client.stat(sandbox, "rel/file.txt").json()
    assert st["path"] == "/workspace/rel/file.txt"
    assert st["name"] == "file.txt"


def test_stat_fields(client, sandbox):
    client.write(sandbox, "/workspace/st", b"12345", mode="640")
    st = client.stat(sandbox, "/workspace/st").json()
    assert st["name"] == "st" and st["path"] == "/workspace/st"
    assert st["type"] == "file" and st["size"] == 5
    assert st["mode"] & 0o7777 == 0o640
    assert st["uid"] == 0 and st["gid"] == 0
    assert isinstance(st["mtimeMs"], int) and st["mtimeMs"] > 1_600_000_000_000
    assert "target" not in st
    d = client.stat(sandbox, "/").json()
    assert d["type"] == "dir"
    assert client.stat(sandbox, "/dev/null").json()["type"] == "other"
    r = client.stat(sandbox, "/workspace/nope")
    assert r.status == 404 and r.error_code == "not_found"


def test_list(client, sandbox):
    client.sh(sandbox, "rm -rf /workspace/ls && mkdir -p /workspace/ls/sub && "
                       "printf ab > /workspace/ls/a && ln -s a /workspace/ls/link")
    r = client.listdir(sandbox, "/workspace/ls")
    assert r.status == 200, r
    j = r.json()
    assert j["path"] == "/workspace/ls" and j["truncated"] is False
    ents = {e["name"]: e for e in j["entries"]}
    assert set(ents) == {"a", "sub", "link"}
    assert ents["a"]["type"] == "file" and ents["a"]["size"] == 2
    assert ents["a"]["path"] == "/workspace/ls/a"
    assert ents["sub"]["type"] == "dir"
    assert ents["link"]["type"] == "symlink" and ents["link"]["target"] == "a"
    r = client.listdir(sandbox, "/workspace/ls/a")
    assert r.status == 400 and r.error_code == "not_a_directory", r
    assert client.listdir(sandbox, "/workspace/none").status == 404


def test_list_many_entries(client, sandbox):
    client.sh(sandbox, "mkdir -p /tmp/many && cd /tmp/many && seq -w 1 3000 | xargs touch")
    j = client.listdir(sandbox, "/tmp/many").json()
    assert len(j["entries"]) == 3000 and j["truncated"] is False
    client.sh(sandbox, "rm -rf /tmp/many")


def test_list_is_capped_and_sorted(client, sandbox):
    client.sh(sandbox, "mkdir -p /tmp/huge && cd /tmp/huge && seq -w 1 10050 | xargs touch")
    try:
        j = client.listdir(sandbox, "/tmp/huge").json()
        names = [e["name"] for e in j["entries"]]
        assert j["truncated"] is True
        # At most RUNRA_LIST_MAX, and always the first names in sorted order.
        assert 1000 <= len(names) <= 10000, len(names)
        assert names == ["%05d" % i for i in range(1, len(names) + 1)]
    finally:
        client.sh(sandbox, "rm -rf /tmp/huge")


def test_mkdir(client, sandbox):
    r = client.mkdir(sandbox, path="/workspace/md")
    assert r.status == 200, r
    assert r.json()["type"] == "dir"
    r = client.mkdir(sandbox, path="/workspace/md")
    assert r.status == 409 and r.error_code == "already_exists", r
    r = client.mkdir(sandbox, path="/workspace/md2/a/b")
    assert r.status == 404, r
    r = client.mkdir(sandbox, path="/workspace/md2/a/b", parents=True, mode=0o700)
    assert r.status == 200, r
    assert r.json()["mode"] & 0o777 == 0o700
    r = client.mkdir(sandbox, path="/workspace/md2/a/b", parents=True)
    assert r.status == 200, "mkdir -p of an existing dir must succeed"
    for bad in [{}, {"path": 1}, {"path": "/x", "bogus": 1}, {"path": "/x", "mode": 99999},
                {"path": "/x", "parents": "yes"}, {"path": ""}]:
        r = client.mkdir(sandbox, **bad)
        assert r.status == 400, (bad, r)
        assert r.error_code == "invalid_argument"
    assert client.stat(sandbox, "/x").status == 404


def test_move(client, sandbox):
    client.write(sandbox, "/workspace/mv-a", b"A")
    client.write(sandbox, "/workspace/mv-b", b"B")
    r = client.move(sandbox, **{"from": "/workspace/mv-a", "to": "/workspace/mv-b"})
    assert r.status == 409 and r.error_code == "already_exists", r
    assert client.read(sandbox, "/workspace/mv-b").body == b"B"
    r = client.move(sandbox, **{"from": "/workspace/mv-a", "to": "/workspace/mv-b", "overwrite": True})
    assert r.status == 200, r
    assert r.json()["path"] == "/workspace/mv-b"
    assert client.read(sandbox, "/workspace/mv-b").body == b"A"
    assert client.stat(sandbox, "/workspace/mv-a").status == 404
    r = client.move(sandbox, **{"from": "/workspace/mv-b", "to": "/tmp/moved-dir/new"})
    assert r.status in (200, 404), r
    r = client.move(sandbox, **{"from": "/workspace/none", "to": "/workspace/x"})
    assert r.status == 404 and r.error_code == "not_found"
    r = client.move(sandbox, **{"from": "/workspace/mv-b"})
    assert r.status == 400


def test_remove(client, sandbox):
    client.write(sandbox, "/workspace/rm/a/b", b"x")
    r = client.remove(sandbox, "/workspace/rm/a/b")
    assert r.status == 204, r
    assert client.stat(sandbox, "/workspace/rm/a/b").status == 404
    client.write(sandbox, "/workspace/rm/a/c", b"x")
    r = client.remove(sandbox, "/workspace/rm")
    assert r.status == 409 and r.error_code == "not_empty", r
    r = client.remove(sandbox, "/workspace/rm", recursive=True)
    assert r.status == 204, r
    assert client.stat(sandbox, "/workspace/rm").status == 404
    r = client.remove(sandbox, "/workspace/rm")
    assert r.status == 404
    r = client.remove(sandbox, "/", recursive=True)
    assert r.status >= 400, r
    assert client.stat(sandbox, "/workspace").status == 200


def test_read_errors(client, sandbox):
    r = client.read(sandbox, "/workspace/nope")
    assert r.status == 404 and r.error_code == "not_found"
    r = client.read(sandbox, "/workspace")
    assert r.status == 400 and r.error_code == "is_a_directory", r
    r = client.get(client.files(sandbox))
    assert r.status == 400 and r.error_code == "invalid_argument"
    r = client.read(sandbox, "")
    assert r.status == 400
    r = client.read(sandbox, "/" + "a" * 5000)
    assert r.status == 400


@ns_only("a VM's root is its own copy of the image, writable throughout")
def test_write_to_readonly_places_fails(client, sandbox):
    for p in ["/usr/bin/runra-evil", "/etc/runra-evil", "/runra-evil", "/usr/runra-evil"]:
        r = client.write(sandbox, p, b"evil")
        assert r.status in (403, 404), (p, r)
        assert r.error_code in ("read_only", "permission_denied", "not_found")
        assert not os.path.exists(p), f"{p} appeared on the host"
    r = client.remove(sandbox, "/usr/bin/env")
    assert r.status == 403, r
    assert os.path.exists("/usr/bin/env")
    r = client.mkdir(sandbox, path="/usr/runra-evil-dir")
    assert r.status == 403, r


# -- confinement ------------------------------------------------------------

@pytest.fixture(scope="module")
def host_marker():
    """A file only the host has: /tmp/runra-host-marker-<uuid>."""
    name = f"runra-host-marker-{uuid.uuid4().hex}"
    path = f"/tmp/{name}"
    with open(path, "w") as f:
        f.write("HOST-ONLY-CONTENT\n")
    os.makedirs(f"/tmp/{name}.d", exist_ok=True)
    yield name
    os.unlink(path)
    for root, dirs, files in os.walk(f"/tmp/{name}.d", topdown=False):
        for x in files:
            os.unlink(os.path.join(root, x))
        for x in dirs:
            os.rmdir(os.path.join(root, x))
    os.rmdir(f"/tmp/{name}.d")


def test_host_tmp_marker_is_invisible(client, sandbox, host_marker):
    for p in [f"/tmp/{host_marker}", f"../../../../../tmp/{host_marker}",
              f"/workspace/../../tmp/{host_marker}", f"/proc/1/root/tmp/{host_marker}",
              f"/proc/self/root/tmp/{host_marker}", f"//tmp//{host_marker}"]:
        r = client.read(sandbox, p)
        assert r.status == 404, (p, r)
        assert b"HOST-ONLY" not in r.body
        assert client.stat(sandbox, p).status == 404
    res = client.exec(sandbox, f"cat /tmp/{host_marker}")
    assert res["exitCode"] != 0 and "HOST-ONLY" not in res["stdout"]
    found = client.exec(sandbox, f"find / -xdev -name '{host_marker}*' 2>/dev/null; "
                                 f"find /tmp /proc/1/root/tmp -name '{host_marker}*' 2>/dev/null; "
                                 f"grep -rl HOST-ONLY-CONTENT /tmp /workspace /root /home 2>/dev/null; true",
                        timeoutMs=60000)
    assert host_marker not in found["stdout"], found


def test_dotdot_writes_stay_inside(client, sandbox, host_marker):
    name = f"{host_marker}.d/written"
    r = client.write(sandbox, f"../../../../../../tmp/{name}", b"inside")
    assert r.status in (200, 404), r
    assert not os.path.exists(f"/tmp/{name}"), "a ../ write landed on the host"
    if r.status == 200:
        assert client.sh(sandbox, f"cat /tmp/{name}") == "inside"


def test_dotdot_reads_etc_of_the_sandbox(client, sandbox):
    r = client.read(sandbox, "../../../../../../etc/shadow")
    assert r.status in (200, 403, 404), r
    with open("/etc/shadow", "rb") as f:
        host = f.read()
    assert host, "host /etc/shadow is empty; the test cannot tell"
    assert host not in r.body


def test_symlink_to_host_marker_reads_nothing(client, sandbox, host_marker):
    client.sh(sandbox, f"ln -sfn /tmp/{host_marker} /workspace/l-marker")
    st = client.stat(sandbox, "/workspace/l-marker").json()
    assert st["type"] == "symlink" and st["target"] == f"/tmp/{host_marker}"
    r = client.read(sandbox, "/workspace/l-marker")
    assert r.status == 404, r
    assert b"HOST-ONLY" not in r.body


def test_symlink_to_root_stays_inside(client, sandbox, host_marker):
    client.sh(sandbox, "ln -sfn / /workspace/l-root && echo sandbox-file > /tmp/inside-only")
    r = client.read(sandbox, "/workspace/l-root/tmp/inside-only")
    assert r.status == 200 and r.body == b"sandbox-file\n", r
    r = client.read(sandbox, f"/workspace/l-root/tmp/{host_marker}")
    assert r.status == 404, r
    r = client.listdir(sandbox, "/workspace/l-root/tmp")
    names = {e["name"] for e in r.json()["entries"]}
    assert "inside-only" in names and host_marker not in names
    # Writing through the link creates the file in the sandbox only.
    r = client.write(sandbox, f"/workspace/l-root/tmp/{host_marker}.d/through-link", b"x")
    assert not os.path.exists(f"/tmp/{host_marker}.d/through-link")
    # The root link listing equals the sandbox's root, which has /workspace.
    names = {e["name"] for e in client.listdir(sandbox, "/workspace/l-root").json()["entries"]}
    assert "workspace" in names


def test_symlink_to_etc_hostname_is_the_sandboxes(client, sandbox):
    with open("/etc/hostname", "rb") as f:
        host = f.read()
    client.sh(sandbox, "ln -sfn /etc/hostname /workspace/l-host")
    r = client.read(sandbox, "/workspace/l-host")
    assert r.status == 200, r
    assert r.body != host, "reading through the link gave the host's /etc/hostname"
    assert r.body.strip() == sandbox.encode(), r
    assert r.body.decode() == client.sh(sandbox, "cat /workspace/l-host")


def test_symlink_to_shadow_reads_nothing_secret(client, sandbox):
    client.sh(sandbox, "ln -sfn /etc/shadow /workspace/l-shadow")
    r = client.read(sandbox, "/workspace/l-shadow")
    assert r.status in (200, 403, 404), r
    with open("/etc/shadow", "rb") as f:
        host = f.read()
    assert r.status != 200 or r.body != host


def test_symlink_loop(client, sandbox):
    client.sh(sandbox, "ln -sfn loop-b /workspace/loop-a && ln -sfn loop-a /workspace/loop-b")
    r = client.read(sandbox, "/workspace/loop-a")
    assert r.status == 400, r
    assert client.stat(sandbox, "/workspace/loop-a").json()["type"] == "symlink"


def test_proc_root_of_sandbox_is_its_own(client, sandbox):
    client.sh(sandbox, "echo via-proc > /workspace/pr")
    r = client.read(sandbox, "/proc/1/root/workspace/pr")
    assert r.status in (200, 403, 404), r
    if r.status == 200:
        assert r.body == b"via-proc\n"


def test_state_dir_unreachable_by_path(client, sandbox, daemon):
    for p in [daemon.state_dir, daemon.socket, os.path.join(daemon.state_dir, "runra.db")]:
        r = client.stat(sandbox, p)
        assert r.status in (403, 404), (p, r)
        r = client.read(sandbox, p)
        assert r.status in (400, 403, 404), (p, r)
    assert client.write(sandbox, daemon.state_dir + "/evil", b"x").status in (200, 403, 404)
    assert not os.path.exists(daemon.state_dir + "/evil")


def test_files_on_unknown_sandbox(client):
    for r in [client.read("nosuchsandbox", "/x"), client.write("nosuchsandbox", "/x", b"1"),
              client.stat("nosuchsandbox", "/"), client.listdir("nosuchsandbox", "/"),
              client.remove("nosuchsandbox", "/x"), client.mkdir("nosuchsandbox", path="/x"),
              client.move("nosuchsandbox", **{"from": "/a", "to": "/b"})]:
        assert r.status == 404 and r.error_code == "not_found", r
    r = client.get(q("/v1/sandboxes/nosuchsandbox/files", path="/x", bogus=1))
    assert r.status == 400
