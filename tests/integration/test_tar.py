"""Tar transfer: GET and PUT /files/tar. A tree with modes, symlinks, empty
dirs, unicode names, thousands of files and a 20 MB file survives a round
trip; hostile archives built here with tarfile never write outside the
target (checked in the sandbox's other dirs and on the host), get a clear
error naming the entry, and change nothing when they are refused."""

import gzip
import hashlib
import io
import os
import tarfile
import uuid

import pytest

from runra_client import q


def tar_url(client, sid, path):
    return q(client.files(sid, "/tar"), path=path)


def put_tar(client, sid, path, data, timeout=120):
    return client.put(tar_url(client, sid, path), data,
                      headers={"Content-Type": "application/x-tar"}, timeout=timeout)


def get_tar(client, sid, path):
    return client.get(tar_url(client, sid, path), timeout=120)


def build(entries, fmt=tarfile.PAX_FORMAT):
    """entries: (TarInfo kwargs dict, data bytes or None)."""
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w", format=fmt) as t:
        for kw, data in entries:
            ti = tarfile.TarInfo(kw.pop("name"))
            for k, v in kw.items():
                setattr(ti, k, v)
            if data is not None:
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
            else:
                t.addfile(ti)
    return b.getvalue()


def reg(name, data=b"x", mode=0o644):
    return ({"name": name, "mode": mode}, data)


def sym(name, target):
    return ({"name": name, "type": tarfile.SYMTYPE, "linkname": target}, None)


def hard(name, target):
    return ({"name": name, "type": tarfile.LNKTYPE, "linkname": target}, None)


def tree_listing(client, sid, root):
    """Type, mode, link target and content hash of everything under root."""
    script = (
        f"cd {root} && find . -mindepth 1 | LC_ALL=C sort | while IFS= read -r p; do "
        "if [ -L \"$p\" ]; then echo \"L $p -> $(readlink \"$p\")\"; "
        "elif [ -d \"$p\" ]; then echo \"D $p $(stat -c %a \"$p\")\"; "
        "else echo \"F $p $(stat -c %a \"$p\") $(sha256sum < \"$p\" | cut -c1-16)\"; fi; done"
    )
    return client.sh(sid, script, timeoutMs=120000)


def test_round_trip_tree(client, sandbox):
    client.sh(sandbox, r"""
set -e
mkdir -p /workspace/src/a/b/c /workspace/src/empty /workspace/src/many
cd /workspace/src
printf hello > a/b/c/hello.txt
printf 'run me' > a/tool.sh && chmod 750 a/tool.sh
printf ro > a/ro && chmod 400 a/ro
chmod 711 a/b
printf 'ünï' > 'dïr ünïcode ✓.txt'
ln -s a/b/c/hello.txt link-in
ln -s ../empty a/link-up
ln -s does-not-exist dangling
head -c 20971520 /dev/urandom > big.bin
i=0; while [ $i -lt 3000 ]; do printf "$i" > many/f$i; i=$((i+1)); done
""", timeoutMs=120000)
    want = tree_listing(client, sandbox, "/workspace/src")
    r = get_tar(client, sandbox, "/workspace/src")
    assert r.status == 200, r
    assert r.headers["content-type"] == "application/x-tar"
    with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
        names = {m.name: m for m in t.getmembers()}
    assert names["link-in"].issym() and names["link-in"].linkname == "a/b/c/hello.txt"
    assert names["a/tool.sh"].mode & 0o7777 == 0o750
    assert names["big.bin"].size == 20971520
    assert "dïr ünïcode ✓.txt" in names and "empty" in names
    assert len([n for n in names if n.startswith("many/")]) == 3000

    r = put_tar(client, sandbox, "/workspace/copy/deeper", r.body)
    assert r.status == 200, r
    j = r.json()
    assert j["path"] == "/workspace/copy/deeper"
    assert j["entries"] == len(names) and j["bytes"] > 20971520 and j["skipped"] == 0
    assert tree_listing(client, sandbox, "/workspace/copy/deeper") == want


def test_put_gzip_and_setuid_stripped_and_devices_skipped(client, sandbox):
    data = build([
        reg("bin/suid", b"#!/bin/sh\n", 0o4755),
        reg("bin/sgid-sticky", b"y", 0o3775),
        ({"name": "dev/null2", "type": tarfile.CHRTYPE, "devmajor": 1, "devminor": 3}, None),
        ({"name": "dev/sda2", "type": tarfile.BLKTYPE, "devmajor": 8, "devminor": 0}, None),
        ({"name": "dev/fifo", "type": tarfile.FIFOTYPE}, None),
        reg("ok", b"fine"),
    ])
    r = put_tar(client, sandbox, "/workspace/gz", gzip.compress(data))
    assert r.status == 200, r
    assert r.json()["skipped"] == 3 and r.json()["entries"] == 3
    assert client.sh(sandbox, "stat -c %a /workspace/gz/bin/suid /workspace/gz/bin/sgid-sticky") \
        == "755\n775\n"
    assert client.sh(sandbox, "ls /workspace/gz/dev | wc -l") == "0\n"
    assert client.read(sandbox, "/workspace/gz/ok").body == b"fine"


def test_extract_over_existing_and_hardlink_inside(client, sandbox):
    client.sh(sandbox, "mkdir -p /workspace/ow && echo old > /workspace/ow/f")
    r = put_tar(client, sandbox, "/workspace/ow",
                build([reg("f", b"new"), hard("g", "f"), reg("d/x", b"1")]))
    assert r.status == 200, r
    assert client.read(sandbox, "/workspace/ow/f").body == b"new"
    assert client.sh(sandbox, "stat -c %h /workspace/ow/g") == "2\n"


MARK = "pwned-" + uuid.uuid4().hex[:8]

HOSTILE = {
    "dotdot": ([reg("good"), reg(f"../{MARK}")], 400, f"../{MARK}"),
    "dotdot-deep": ([reg(f"a/../../{MARK}")], 400, MARK),
    "absolute": ([reg(f"/etc/{MARK}")], 400, f"/etc/{MARK}"),
    "absolute-tmp": ([reg(f"/tmp/{MARK}")], 400, MARK),
    "symlink-root-then-through": ([sym("l", "/"), reg(f"l/tmp/{MARK}")], 400, "'l'"),
    "symlink-escape": ([sym("l", "../../../tmp")], 400, "'l'"),
    "symlink-inside-then-through": ([reg("good"), sym("l", "sub"), reg(f"l/{MARK}")], 400,
                                    f"l/{MARK}"),
    "symlink-dotdot-after-name": ([sym("l", "a/../../x")], 400, "'l'"),
    "hardlink-etc-passwd": ([hard(MARK, "/etc/passwd")], 400, "/etc/passwd"),
    "hardlink-outside": ([hard(MARK, "../outside")], 400, "../outside"),
    "hardlink-through-symlink": ([sym("l", "."), hard(MARK, "l/good")], 400, MARK),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_refused(client, sandbox, case):
    entries, status, needle = HOSTILE[case]
    target = f"/workspace/hostile-{case}"
    client.sh(sandbox, "mkdir -p /workspace/sub /tmp && echo keep > /workspace/outside")
    r = put_tar(client, sandbox, target, build([(dict(kw), d) for kw, d in entries]))
    assert r.status == status, r
    assert r.error_code == "invalid_argument"
    assert needle in r.json()["error"]["message"], r
    # Nothing was written, not even the harmless entries before the bad one.
    assert client.sh(sandbox, f"ls -A {target} | wc -l") == "0\n"
    # Nowhere else in the sandbox...
    found = client.sh(sandbox, f"find / -xdev -name '{MARK}*' 2>/dev/null | head -5; true")
    assert found == "", found
    assert client.read(sandbox, "/workspace/outside").body == b"keep\n"
    # ...and not on the host.
    for d in ("/", "/etc", "/tmp", "/workspace"):
        assert not os.path.lexists(os.path.join(d, MARK))


def test_corrupt_and_truncated(client, sandbox):
    good = build([reg("a", b"A" * 5000), reg("b", b"B" * 5000)])
    r = put_tar(client, sandbox, "/workspace/trunc", good[:1200])
    assert r.status == 400, r
    assert "truncated" in r.json()["error"]["message"] or "corrupt" in r.json()["error"]["message"]
    assert client.sh(sandbox, "ls -A /workspace/trunc | wc -l") == "0\n"
    r = put_tar(client, sandbox, "/workspace/garbage", os.urandom(4096))
    assert r.status == 400, r
    bad = bytearray(good)
    bad[148:156] = b"9999999\0"  # a broken header checksum
    r = put_tar(client, sandbox, "/workspace/badsum", bytes(bad))
    assert r.status == 400, r


def test_too_many_entries(client, sandbox):
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz", format=tarfile.USTAR_FORMAT, compresslevel=1) as t:
        for i in range(100001):
            t.addfile(tarfile.TarInfo(f"f{i}"))
    r = put_tar(client, sandbox, "/workspace/many-entries", b.getvalue(), timeout=300)
    assert r.status == 413, r
    assert "100000" in r.json()["error"]["message"]
    assert client.sh(sandbox, "ls -A /workspace/many-entries | wc -l") == "0\n"


def test_entry_too_large(client, sandbox):
    ti = tarfile.TarInfo("huge")
    ti.size = 5 << 30
    data = ti.tobuf(tarfile.PAX_FORMAT) + b"\0" * 4096
    r = put_tar(client, sandbox, "/workspace/huge", data)
    assert r.status == 413, r
    assert "huge" in r.json()["error"]["message"]


def test_errors(client, sandbox):
    r = get_tar(client, sandbox, "/workspace/no-such-dir")
    assert r.status == 404, r
    r = client.get(q(client.files(sandbox, "/tar"), path="/workspace", bogus="1"))
    assert r.status == 400, r
    r = client.get(client.files(sandbox, "/tar"))
    assert r.status == 400, r
    client.sh(sandbox, "echo f > /workspace/plainfile")
    r = put_tar(client, sandbox, "/workspace/plainfile", build([reg("x")]))
    assert r.status in (400, 409), r


def test_download_does_not_follow_symlinks(client, sandbox):
    client.sh(sandbox, "mkdir -p /workspace/sl && ln -sf /etc /workspace/sl/etc")
    r = get_tar(client, sandbox, "/workspace/sl")
    assert r.status == 200, r
    with tarfile.open(fileobj=io.BytesIO(r.body)) as t:
        members = t.getmembers()
    assert [(m.name, m.issym(), m.linkname) for m in members] == [("etc", True, "/etc")]


RUNRA = os.path.join(os.path.realpath(os.environ.get(
    "RUNRA_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))),
    "src", "cli", "runra")


def run_cli(daemon, *args):
    import subprocess
    env = dict(os.environ, RUNRA_NO_AUTOSTART="1")
    env.pop("RUNRA_SOCKET", None)
    return subprocess.run([RUNRA, "--socket", daemon.socket, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120, env=env)


def host_listing(root):
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for n in sorted(dirnames + filenames):
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if os.path.islink(p):
                out.append(("L", rel, os.readlink(p)))
            elif os.path.isdir(p):
                out.append(("D", rel, oct(st.st_mode & 0o7777)))
            else:
                with open(p, "rb") as f:
                    out.append(("F", rel, oct(st.st_mode & 0o7777),
                                hashlib.sha256(f.read()).hexdigest()))
    return sorted(out)


def test_cli_cp_directory_both_ways(daemon, client, sandbox, tmp_path):
    src = tmp_path / "src"
    (src / "sub" / "empty").mkdir(parents=True)
    (src / "sub" / "run.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(src / "sub" / "run.sh", 0o750)
    (src / "ünï ✓").write_bytes(os.urandom(100000))
    os.chmod(src / "sub", 0o711)
    os.symlink("sub/run.sh", src / "link")
    p = run_cli(daemon, "cp", str(src), f"{sandbox}:/workspace/cli/dir")
    assert p.returncode == 0, p.stderr
    assert client.sh(sandbox, "/workspace/cli/dir/link") == "hi\n"
    assert client.sh(sandbox, "stat -c %a /workspace/cli/dir/sub/run.sh") == "750\n"

    out = tmp_path / "out"
    p = run_cli(daemon, "cp", f"{sandbox}:/workspace/cli/dir", str(out))
    assert p.returncode == 0, p.stderr
    assert host_listing(out) == host_listing(src)

    # Into an existing directory with a trailing slash.
    p = run_cli(daemon, "cp", f"{sandbox}:/workspace/cli/dir", str(tmp_path) + "/")
    assert p.returncode == 0, p.stderr
    assert host_listing(tmp_path / "dir") == host_listing(src)


def test_cli_download_of_hostile_tree_stays_in_target(daemon, client, sandbox, tmp_path):
    """A sandbox can put any symlink in a tree; downloading it must not let
    the host-side extraction write through one."""
    client.sh(sandbox, f"mkdir -p /workspace/evil && ln -sfn {tmp_path}/victim "
                       "/workspace/evil/esc && ln -sfn / /workspace/evil/root")
    (tmp_path / "victim").mkdir()
    p = run_cli(daemon, "cp", f"{sandbox}:/workspace/evil", str(tmp_path / "got"))
    assert p.returncode == 1
    assert b"leaves the target" in p.stderr
    assert not os.path.exists(tmp_path / "got" / "esc")
    assert list((tmp_path / "victim").iterdir()) == []


def test_existing_directory_keeps_its_mode(client, sandbox):
    # An archive may create directories with its modes, but one that was
    # already there keeps its own: a download into ~ must not open ~/.ssh.
    client.sh(sandbox, "mkdir -p /workspace/keep/.ssh && chmod 700 /workspace/keep/.ssh")
    data = build([({"name": ".ssh", "type": tarfile.DIRTYPE, "mode": 0o777}, None),
                  ({"name": "fresh", "type": tarfile.DIRTYPE, "mode": 0o751}, None),
                  reg(".ssh/authorized_keys", b"k", 0o600)])
    r = put_tar(client, sandbox, "/workspace/keep", data)
    assert r.status == 200, r
    assert client.sh(sandbox, "stat -c %a /workspace/keep/.ssh /workspace/keep/fresh") == "700\n751\n"


def test_symlink_names_are_bounded(client, sandbox):
    # Thousands of long symlink names compress to almost nothing; what the
    # checker remembers of them is bounded (16 MiB), and nothing is written.
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w:gz", format=tarfile.PAX_FORMAT, compresslevel=1) as t:
        for i in range(4400):
            ti = tarfile.TarInfo("d/" + "/".join(["x" * 200] * 19) + f"/{i:05d}")
            ti.type = tarfile.SYMTYPE
            ti.linkname = "."
            t.addfile(ti)
    r = put_tar(client, sandbox, "/workspace/many-links", b.getvalue(), timeout=300)
    assert r.status == 413, r
    assert "symlinks" in r.json()["error"]["message"], r
    assert client.exec(sandbox, "ls -A /workspace/many-links 2>/dev/null | wc -l")["stdout"] == "0\n"
