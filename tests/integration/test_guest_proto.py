"""Black-box tests of runra-init: real frames over a unix socket.

Each test starts runra-init in the current environment (no --ns) with
--workdir in a temporary directory, connects, and checks what comes back.
"""

import errno
import hashlib
import json
import os
import signal
import subprocess
import time

import pytest

import guestproto as gp


@pytest.fixture
def guest(tmp_path):
    if not gp.init_binary().exists():
        pytest.fail(f"{gp.init_binary()} is missing; build first (ninja -C build)")
    work = tmp_path / "work"
    work.mkdir()
    g = gp.Guest(tmp_path, work)
    yield g
    code = g.stop()
    assert code == 0, f"runra-init exited with {code}"


@pytest.fixture
def conn(guest):
    c = guest.connect()
    yield c
    c.close()


def no_zombies(g):
    return not [p for p, st in gp.children(g.pid) if st == "Z"]


# Connection.

def test_hello(guest, conn):
    assert conn.hello == {"version": 1, "pid": guest.pid}
    assert conn.call(gp.PING, None) == {}


def test_reconnect_gets_new_hello_and_cancels_calls(guest, conn):
    cid = conn.exec_start(["sh", "-c", "echo $$; exec sleep 100"])
    t, p = conn.next(cid)
    assert t == gp.STDOUT
    pid = int(p)
    assert gp.proc_stat(pid) is not None
    conn.close()
    # The exec is cancelled with the connection: its tree is killed.
    assert gp.wait_until(lambda: gp.proc_stat(pid) is None)
    c2 = guest.connect()
    assert c2.hello == {"version": 1, "pid": guest.pid}
    assert c2.exec(["echo", "again"])["stdout"] == b"again\n"
    c2.close()
    assert gp.wait_until(lambda: no_zombies(guest))


# Exec.

def test_exec_exit_codes(conn):
    assert conn.exec(["true"])["exitCode"] == 0
    r = conn.exec(["sh", "-c", "exit 7"])
    assert (r["exitCode"], r["signal"], r["timedOut"]) == (7, 0, False)
    r = conn.exec(["sh", "-c", "kill -TERM $$"])
    assert (r["exitCode"], r["signal"]) == (143, 15)


def test_exec_stdout_stderr(conn):
    r = conn.exec(["sh", "-c", "echo out; echo err >&2; printf x"])
    assert r["stdout"] == b"out\nx"
    assert r["stderr"] == b"err\n"
    assert (r["stdoutBytes"], r["stderrBytes"]) == (5, 4)


def test_exec_large_output_streams(conn):
    r = conn.exec(["sh", "-c", "head -c 5000000 /dev/urandom | od -An -v | head -c 6000000"])
    assert r["exitCode"] == 0
    assert len(r["stdout"]) == r["stdoutBytes"] == 6000000
    assert not r["truncated"]


def test_exec_env(guest, conn):
    r = conn.exec(["env"])
    env = dict(line.split("=", 1) for line in r["stdout"].decode().splitlines())
    assert env == {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "HOSTNAME": os.uname().nodename,
        "LANG": "C.UTF-8",
        "USER": "root",
        "PWD": str(guest.workdir),
    }
    r = conn.exec(["sh", "-c", "echo $FOO $HOME"], env=["FOO=bar", "HOME=/tmp", "FOO=baz"])
    assert r["stdout"] == b"baz /tmp\n"


def test_exec_path_from_request_env(guest, conn):
    bindir = guest.workdir / "bin"
    bindir.mkdir()
    tool = bindir / "mytool"
    tool.write_text("#!/bin/sh\necho mine\n")
    tool.chmod(0o755)
    assert conn.exec(["mytool"])["exitCode"] == 127
    r = conn.exec(["mytool"], env=[f"PATH={bindir}:/usr/bin:/bin"])
    assert r["stdout"] == b"mine\n"


def test_exec_cwd(guest, conn):
    (guest.workdir / "sub").mkdir()
    assert conn.exec(["pwd"])["stdout"].decode().strip() == str(guest.workdir)
    assert conn.exec(["pwd"], cwd="sub")["stdout"].decode().strip() == str(guest.workdir / "sub")
    assert conn.exec(["pwd"], cwd="/")["stdout"] == b"/\n"
    with pytest.raises(gp.GuestError) as e:
        conn.exec(["pwd"], cwd="missing")
    assert e.value.errno == errno.ENOENT
    assert str(guest.workdir / "missing") in e.value.message


def test_exec_stdin(conn):
    assert conn.exec(["cat"], stdin=b"hello\n")["stdout"] == b"hello\n"
    # More than any pipe holds, in several frames.
    data = os.urandom(3 << 20)
    r = conn.exec(["sha256sum"], stdin=data)
    assert r["stdout"].split()[0].decode() == hashlib.sha256(data).hexdigest()
    # Without a stdin pipe the command reads /dev/null.
    assert conn.exec(["cat"])["stdout"] == b""


def test_exec_stdin_closed_by_command(conn):
    # head exits after one line; the rest of stdin is dropped, not an error.
    r = conn.exec(["head", "-n1"], stdin=b"a\n" + b"b" * (2 << 20))
    assert r["exitCode"] == 0 and r["stdout"] == b"a\n"


def test_command_not_found_and_not_executable(guest, conn):
    r = conn.exec(["no-such-command-xyz"])
    assert r["exitCode"] == 127
    assert r["stderr"] == b"runra: no-such-command-xyz: command not found\n"
    f = guest.workdir / "noexec"
    f.write_text("#!/bin/sh\n")
    f.chmod(0o644)
    r = conn.exec([str(f)])
    assert r["exitCode"] == 126
    assert b"Permission denied" in r["stderr"]


def test_timeout_kills_whole_tree(guest, conn):
    start = time.monotonic()
    r = conn.exec(["sh", "-c", "setsid sleep 100 & echo $!; sleep 100"], timeoutMs=500)
    took = time.monotonic() - start
    assert r["timedOut"] and (r["exitCode"], r["signal"]) == (137, 9)
    assert 0.45 < took < 5
    grandchild = int(r["stdout"])
    assert gp.wait_until(lambda: gp.proc_stat(grandchild) is None)
    assert gp.wait_until(lambda: gp.children(guest.pid) == [])


def test_timeout_with_background_child_holding_pipe(guest, conn):
    start = time.monotonic()
    r = conn.exec(["sh", "-c", "sleep 100 & echo $!; exit 3"], timeoutMs=800)
    took = time.monotonic() - start
    # The main process exited on its own; the timeout ended the holder.
    assert r["timedOut"] and (r["exitCode"], r["signal"]) == (3, 0)
    assert took >= 0.75 and r["durationMs"] >= 780
    bg = int(r["stdout"])
    assert gp.wait_until(lambda: gp.proc_stat(bg) is None)


def test_detached_daemon_outlives_exec(guest, conn):
    r = conn.exec(["sh", "-c", "setsid sleep 30 >/dev/null 2>&1 </dev/null & echo $!"])
    assert r["exitCode"] == 0 and not r["timedOut"]
    pid = int(r["stdout"])
    try:
        # It closed the pipes, so the exec ended; it now belongs to init.
        assert gp.wait_until(lambda: (gp.proc_stat(pid) or ("", 0))[1] == guest.pid)
    finally:
        os.kill(pid, signal.SIGKILL)
    assert gp.wait_until(lambda: gp.children(guest.pid) == [])


def test_output_truncation(conn):
    r = conn.exec(["sh", "-c", "head -c 300000 /dev/zero; head -c 5000 /dev/zero >&2"],
                  maxOutput=1000)
    assert len(r["stdout"]) == 1000 and len(r["stderr"]) == 1000
    assert (r["stdoutBytes"], r["stderrBytes"]) == (300000, 5000)
    assert r["truncated"] and r["exitCode"] == 0
    # A command producing far more than is kept still runs to its end.
    r = conn.exec(["head", "-c", "50000000", "/dev/zero"], maxOutput=10)
    assert r["stdoutBytes"] == 50000000 and len(r["stdout"]) == 10
    r = conn.exec(["echo", "short"], maxOutput=1000)
    assert not r["truncated"]


def test_signal_and_cancel(conn):
    cid = conn.exec_start(["sh", "-c", "echo ready; exec sleep 100"])
    assert conn.next(cid) == (gp.STDOUT, b"ready\n")
    conn.send_json(gp.SIGNAL, cid, {"signal": 15})
    r = conn.exec_wait(cid)
    assert (r["exitCode"], r["signal"], r["timedOut"]) == (143, 15, False)

    cid = conn.exec_start(["sh", "-c", "echo ready; sleep 100 & sleep 100"])
    assert conn.next(cid) == (gp.STDOUT, b"ready\n")
    conn.send(gp.CANCEL, cid)
    r = conn.exec_wait(cid)
    assert (r["exitCode"], r["signal"], r["timedOut"]) == (137, 9, False)


def test_concurrent_calls(conn):
    start = time.monotonic()
    ids = {conn.exec_start(["sh", "-c", f"sleep 1; echo {i}"]): i for i in range(8)}
    ping = conn.new_id()
    conn.send(gp.PING, ping)
    assert conn.expect(ping, gp.RESULT) == {}
    # Answered while the execs run.
    assert time.monotonic() - start < 0.9
    for cid, i in ids.items():
        assert conn.exec_wait(cid)["stdout"] == f"{i}\n".encode()
    assert time.monotonic() - start < 3


def test_call_limit(conn):
    ids = [conn.exec_start(["sleep", "30"]) for _ in range(256)]
    extra = conn.exec_start(["true"])
    t, p = conn.next(extra)
    assert t == gp.ERROR and json.loads(p)["errno"] == errno.EAGAIN
    for cid in ids:
        conn.send(gp.CANCEL, cid)
    for cid in ids:
        assert conn.exec_wait(cid)["signal"] == 9
    assert conn.exec(["true"])["exitCode"] == 0


def test_no_zombies(guest, conn):
    for _ in range(5):
        conn.exec(["sh", "-c", "(sleep 0.1 &); (true &); exit 0"])
    time.sleep(0.3)
    assert gp.wait_until(lambda: gp.children(guest.pid) == [])
    assert no_zombies(guest)


# Files.

def test_file_binary_round_trip(guest, conn):
    data = bytes(range(256)) * 64
    assert conn.write_file("bin.dat", data) == {"size": len(data)}
    assert (guest.workdir / "bin.dat").read_bytes() == data
    assert conn.read_file(str(guest.workdir / "bin.dat")) == data
    assert conn.read_file("bin.dat", offset=10, limit=5) == data[10:15]
    assert conn.read_file("bin.dat", offset=len(data) - 3) == data[-3:]
    assert conn.read_file("bin.dat", offset=len(data) + 100) == b""
    info = conn.call(gp.FILE_STAT, {"path": "bin.dat"})
    assert info["size"] == len(data) and info["type"] == "file" and info["mode"] == 0o644


def test_file_large_chunks(guest, conn):
    data = os.urandom(50 << 20)
    assert conn.write_file("big", data) == {"size": len(data)}
    back = conn.read_file("big")
    assert hashlib.sha256(back).digest() == hashlib.sha256(data).digest()
    assert conn.read_file("big", offset=(30 << 20) + 7, limit=3 << 20) == \
        data[(30 << 20) + 7:(33 << 20) + 7]


def test_file_write_modes(guest, conn):
    conn.write_file("a/b/c.txt", b"one", parents=True)
    assert (guest.workdir / "a/b/c.txt").read_bytes() == b"one"
    assert oct((guest.workdir / "a/b").stat().st_mode & 0o777) == oct(0o755)
    conn.write_file("a/b/c.txt", b"two", append=True)
    assert (guest.workdir / "a/b/c.txt").read_bytes() == b"onetwo"
    conn.write_file("a/b/c.txt", b"3")
    assert (guest.workdir / "a/b/c.txt").read_bytes() == b"3"
    conn.write_file("run.sh", b"#!/bin/sh\necho ran\n", mode=0o755)
    assert conn.exec(["./run.sh"])["stdout"] == b"ran\n"
    with pytest.raises(gp.GuestError) as e:
        conn.write_file("nodir/x", b"x")
    assert e.value.errno == errno.ENOENT
    assert e.value.message == f"open '{guest.workdir}/nodir/x': No such file or directory"


def test_file_errors(guest, conn):
    with pytest.raises(gp.GuestError) as e:
        conn.read_file("missing")
    assert e.value.errno == errno.ENOENT
    assert e.value.message == f"open '{guest.workdir}/missing': No such file or directory"
    with pytest.raises(gp.GuestError) as e:
        conn.read_file(str(guest.workdir))
    assert e.value.errno == errno.EISDIR
    with pytest.raises(gp.GuestError) as e:
        conn.call(gp.FILE_STAT, {"path": "missing"})
    assert e.value.errno == errno.ENOENT
    (guest.workdir / "f").write_text("x")
    with pytest.raises(gp.GuestError) as e:
        conn.call(gp.FILE_LIST, {"path": "f"})
    assert e.value.errno == errno.ENOTDIR
    with pytest.raises(gp.GuestError) as e:
        conn.call(gp.FILE_MKDIR, {"path": "f"})
    assert e.value.errno == errno.EEXIST
    with pytest.raises(gp.GuestError) as e:
        conn.read_file("/dev/zero")
    assert e.value.errno == errno.EINVAL


def test_file_list_stat_mkdir(guest, conn):
    w = guest.workdir
    for name in ["b", "a", "c"]:
        (w / name).write_text(name * 3)
    (w / "d").mkdir()
    os.symlink("a", w / "link")
    res = conn.call(gp.FILE_LIST, {"path": "."})
    assert not res["truncated"]
    names = [e["name"] for e in res["entries"]]
    assert names == ["a", "b", "c", "d", "link"]
    by = {e["name"]: e for e in res["entries"]}
    assert by["a"]["size"] == 3 and by["a"]["type"] == "file"
    assert by["a"]["path"] == str(w / "a")
    assert by["d"]["type"] == "dir"
    assert by["link"]["type"] == "symlink" and by["link"]["target"] == "a"
    st = conn.call(gp.FILE_STAT, {"path": "link"})
    assert st["type"] == "symlink" and st["target"] == "a" and st["name"] == "link"
    assert st["path"] == str(w / "link")
    st = conn.call(gp.FILE_STAT, {"path": "d/../a"})
    assert st["path"] == str(w / "a") and st["type"] == "file"

    m = conn.call(gp.FILE_MKDIR, {"path": "x/y/z", "parents": True})
    assert m["type"] == "dir" and m["path"] == str(w / "x/y/z")
    assert conn.call(gp.FILE_MKDIR, {"path": "x/y/z", "parents": True})["type"] == "dir"
    with pytest.raises(gp.GuestError) as e:
        conn.call(gp.FILE_MKDIR, {"path": "x/y/z"})
    assert e.value.errno == errno.EEXIST
    with pytest.raises(gp.GuestError) as e:
        conn.call(gp.FILE_MKDIR, {"path": "q/r"})
    assert e.value.errno == errno.ENOENT
    m = conn.call(gp.FILE_MKDIR, {"path": "private", "mode": 0o700})
    assert m["mode"] == 0o700
    m = conn.call(gp.FILE_MKDIR, {"path": "wide", "mode": 0o777})
    assert m["mode"] == 0o777


def test_file_list_truncated(guest, conn):
    d = guest.workdir / "many"
    d.mkdir()
    for i in range(10050):
        (d / f"f{i:05d}").touch()
    res = conn.call(gp.FILE_LIST, {"path": "many"})
    assert res["truncated"]
    names = [e["name"] for e in res["entries"]]
    assert len(names) <= 10000
    # Whatever fits is the start of the sorted listing.
    assert names == [f"f{i:05d}" for i in range(len(names))]


def test_file_remove_and_move(guest, conn):
    w = guest.workdir
    (w / "t/u").mkdir(parents=True)
    (w / "t/u/f").write_text("x")
    with pytest.raises(gp.GuestError) as e:
        conn.call(gp.FILE_REMOVE, {"path": "t"})
    assert e.value.errno == errno.ENOTEMPTY
    assert conn.call(gp.FILE_REMOVE, {"path": "t", "recursive": True}) == {}
    assert not (w / "t").exists()
    with pytest.raises(gp.GuestError) as e:
        conn.call(gp.FILE_REMOVE, {"path": "t"})
    assert e.value.errno == errno.ENOENT
    (w / "empty").mkdir()
    assert conn.call(gp.FILE_REMOVE, {"path": "empty"}) == {}
    with pytest.raises(gp.GuestError) as e:
        conn.call(gp.FILE_REMOVE, {"path": "/", "recursive": True})
    assert e.value.errno == errno.EPERM

    (w / "src").write_text("s")
    (w / "dst").write_text("d")
    with pytest.raises(gp.GuestError) as e:
        conn.call(gp.FILE_MOVE, {"from": "src", "to": "dst"})
    assert e.value.errno == errno.EEXIST
    info = conn.call(gp.FILE_MOVE, {"from": "src", "to": "dst", "overwrite": True})
    assert info["path"] == str(w / "dst") and info["size"] == 1
    assert (w / "dst").read_text() == "s" and not (w / "src").exists()
    info = conn.call(gp.FILE_MOVE, {"from": "dst", "to": "renamed"})
    assert info["name"] == "renamed"


def mount_tmpfs(path, size):
    path.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount tmpfs: {r.stderr.decode().strip()}")


def test_remove_does_not_cross_mounts(guest, conn):
    w = guest.workdir
    (w / "tree").mkdir()
    mnt = w / "tree" / "mnt"
    mount_tmpfs(mnt, "1m")
    try:
        (mnt / "keep").write_text("k")
        with pytest.raises(gp.GuestError) as e:
            conn.call(gp.FILE_REMOVE, {"path": "tree", "recursive": True})
        assert e.value.errno == errno.EBUSY
        assert (mnt / "keep").read_text() == "k"
        with pytest.raises(gp.GuestError) as e:
            conn.call(gp.FILE_REMOVE, {"path": "tree/mnt", "recursive": True})
        assert e.value.errno == errno.EBUSY
    finally:
        subprocess.run(["umount", str(mnt)])


def test_write_error_ignores_rest(guest, conn):
    small = guest.workdir / "small"
    mount_tmpfs(small, "64k")
    try:
        cid = conn.new_id()
        conn.send_json(gp.FILE_WRITE, cid, {"path": "small/f"})
        for _ in range(4):
            conn.send(gp.DATA, cid, b"x" * (64 << 10))
        conn.send(gp.DATA, cid, b"")
        t, p = conn.next(cid)
        assert t == gp.ERROR and json.loads(p)["errno"] == errno.ENOSPC
        assert "write '" in json.loads(p)["message"]
        # The call ended: its remaining DATA was dropped, nothing else came.
        assert conn.call(gp.PING, None) == {}
        assert not conn.pending[cid]
    finally:
        subprocess.run(["umount", str(small)])


def test_cancel_file_write(guest, conn):
    cid = conn.new_id()
    conn.send_json(gp.FILE_WRITE, cid, {"path": "partial"})
    conn.send(gp.DATA, cid, b"abc")
    conn.send(gp.CANCEL, cid)
    t, p = conn.next(cid)
    assert t == gp.ERROR and json.loads(p)["errno"] == errno.ECANCELED


# Hostile or broken input.

def test_bad_requests_get_errors(guest, conn):
    cases = [
        (gp.EXEC, b"not json"),
        (gp.EXEC, b"[]"),
        (gp.EXEC, json.dumps({"argv": ["true"], "bogus": 1}).encode()),
        (gp.EXEC, json.dumps({"argv": []}).encode()),
        (gp.EXEC, json.dumps({"argv": ["true"], "env": ["1BAD=x"]}).encode()),
        (gp.EXEC, json.dumps({"argv": ["true"], "timeoutMs": -1}).encode()),
        (gp.FILE_READ, b"{"),
        (gp.FILE_STAT, json.dumps({"path": ""}).encode()),
        (gp.FILE_MOVE, json.dumps({"from": "a"}).encode()),
        (gp.FILE_MKDIR, json.dumps({"path": "x", "mode": 99999}).encode()),
    ]
    for ftype, payload in cases:
        cid = conn.new_id()
        conn.send(ftype, cid, payload)
        t, p = conn.next(cid)
        assert t == gp.ERROR, payload
        e = json.loads(p)
        assert e["errno"] == errno.EINVAL and e["message"], payload
    # Id 0 is the connection's own.
    conn.send(gp.PING, 0)
    t, p = conn.next(0)
    assert t == gp.ERROR
    # Frames for calls that do not exist are ignored.
    conn.send(gp.STDIN, 4242, b"x")
    conn.send(gp.DATA, 4243, b"x")
    conn.send(gp.CANCEL, 4244)
    conn.send_json(gp.SIGNAL, 4245, {"signal": 9})
    conn.send(gp.RESULT, 4246, b"{}")
    assert conn.call(gp.PING, None) == {}
    assert guest.alive()


@pytest.mark.parametrize("header", [
    gp.HDR.pack(0, 1, 999, 0),                 # unknown type
    gp.HDR.pack(0, 1, gp.PING, 1),             # flags set
    gp.HDR.pack((1 << 20) + 1, 1, gp.EXEC, 0),  # payload too large
])
def test_bad_header_drops_connection(guest, conn, header):
    conn.sock.sendall(header)
    with pytest.raises((EOFError, ConnectionResetError)):
        conn.recv_frame()
    assert guest.alive()
    c2 = guest.connect()
    assert c2.call(gp.PING, None) == {}
    c2.close()


def test_survives_signals(guest, conn):
    for sig in (signal.SIGHUP, signal.SIGPIPE, signal.SIGUSR1, signal.SIGCHLD):
        os.kill(guest.pid, sig)
    time.sleep(0.1)
    assert guest.alive()
    assert conn.call(gp.PING, None) == {}


# Bounds: what the host can make runra-init hold.

def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_host_not_reading_bounds_memory(guest, conn):
    size = 200 << 20
    cid = conn.exec_start(["head", "-c", str(size), "/dev/zero"])
    rid = conn.new_id()
    (guest.workdir / "big").write_bytes(os.urandom(20 << 20))
    conn.send_json(gp.FILE_READ, rid, {"path": "big"})
    time.sleep(1.5)
    # Neither the command's output nor the file was buffered in full.
    rss = rss_kb(guest.pid)
    print("runra-init VmRSS kB while the host is not reading:", rss)
    assert rss < 48 * 1024
    r = conn.exec_wait(cid)
    assert r["stdoutBytes"] == size and len(r["stdout"]) == size
    assert len(conn.read_file("big")) == 20 << 20
    while conn.pending[rid]:
        conn.pending[rid].popleft()


def test_stdin_overflow_fails_call(guest, conn):
    cid = conn.exec_start(["sh", "-c", "echo $$; exec sleep 100"], stdin=True)
    t, p = conn.next(cid)
    pid = int(p)
    chunk = b"x" * (1 << 20)
    for _ in range(18):
        conn.send(gp.STDIN, cid, chunk)
    t, p = conn.next(cid)
    assert t == gp.ERROR and json.loads(p)["errno"] == errno.ENOBUFS
    assert gp.wait_until(lambda: gp.proc_stat(pid) is None)
    assert conn.call(gp.PING, None) == {}


def test_sigterm_stops_cleanly(guest, conn):
    cid = conn.exec_start(["sh", "-c", "echo $$; exec sleep 100"])
    t, p = conn.next(cid)
    pid = int(p)
    guest.proc.send_signal(signal.SIGTERM)
    assert guest.proc.wait(10) == 0
    assert gp.wait_until(lambda: gp.proc_stat(pid) is None or gp.proc_stat(pid)[0] == "Z")


def test_command_killing_its_shim(guest, conn):
    # Only SIGKILL can end the shim; the call still ends, reported as killed.
    r = conn.exec(["sh", "-c", "kill -9 $PPID; sleep 0.2"], timeoutMs=10000)
    assert (r["exitCode"], r["signal"]) == (137, 9)
    assert r["durationMs"] < 5000
    assert conn.exec(["true"])["exitCode"] == 0
    assert gp.wait_until(lambda: gp.children(guest.pid) == [])


def test_ns_setup_failure_is_reported(tmp_path):
    """The ns form accepts first, then sets up; a failed setup is an ERROR
    with id 0 and exit status 1. Run in private mount and pid namespaces so
    the setup steps before the failing one cannot touch the host."""
    import shutil
    import socket
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare")
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    lsock.bind(str(tmp_path / "s"))
    lsock.listen(1)
    proc = subprocess.Popen(
        ["unshare", "-m", "-p", "-f", "--mount-proc", str(gp.init_binary()), "--ns",
         "--root", str(tmp_path / "no-such-root"), "--hostname", "sbx1", "--image", "host",
         "--workdir", "/workspace", "--listen-fd", str(lsock.fileno())],
        pass_fds=(lsock.fileno(),), stderr=subprocess.PIPE)
    lsock.close()
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(str(tmp_path / "s"))
        hdr = s.recv(gp.HDR.size, socket.MSG_WAITALL)
        if len(hdr) < gp.HDR.size:
            pytest.skip(f"unshare failed: {proc.stderr.read().decode()}")
        ln, cid, ftype, flags = gp.HDR.unpack(hdr)
        e = json.loads(s.recv(ln, socket.MSG_WAITALL))
        assert (cid, ftype) == (0, gp.ERROR)
        assert e["errno"] == errno.ENOENT and "no-such-root" in e["message"]
        assert proc.wait(10) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
