"""Nothing is left behind: after DELETE, after a sandbox times out, after a
failed create, after the daemon's SIGTERM (with execs in flight), and after a
daemon crash once a new daemon starts on the same state dir. "Nothing" means
no mounts mentioning the state dir in any host process's mountinfo, no cgroup
dirs named after the id, no processes running as the sandbox's uids, no loop
devices backed by state files and no sandbox dirs."""

import os
import signal
import threading
import time

from conftest import BUILD_DIR, _live_daemons, finish_daemon, start_daemon
from runra_client import (Daemon, Ident, cgroup_dirs_named, leftovers, loop_devices_backed_by, mountinfo_mentions,
                          procs_with_uids, wait_until)


def _busy_sandbox(client, spec=None):
    """Creates a sandbox with a file written in it; returns (id, Ident)."""
    sid = client.create(spec or {"resources": {"memoryMb": 128, "diskMb": 64}})["id"]
    ranges = Ident(client, sid)
    client.write(sid, "/workspace/data", b"x" * 4096)
    return sid, ranges


def _start_exec(client, sid, command="sleep 60"):
    box = {}
    t = threading.Thread(target=lambda: box.update(r=_safe_exec(client, sid, command)))
    t.start()
    return t, box


def _safe_exec(client, sid, command):
    try:
        return client.exec_raw(sid, command=command, timeout=30)
    except OSError as e:
        return e


def _assert_present(state_dir, sid, ranges):
    """The probes must see a live sandbox, or their 'nothing left' is vacuous."""
    assert os.path.isdir(os.path.join(state_dir, "sandboxes", sid)), "no sandbox dir to watch"
    assert loop_devices_backed_by(os.path.join(state_dir, "sandboxes", sid)), "no loop device to watch"
    assert wait_until(lambda: procs_with_uids(ranges), 3), "no host process runs as the sandbox's uids"
    assert cgroup_dirs_named(sid), f"no cgroup dir named after {sid} under /sys/fs/cgroup/*/runra"


def _assert_gone(state_dir, sid, ranges, timeout=5):
    left = wait_until(lambda: not leftovers(state_dir, sid, ranges), timeout)
    assert left, f"sandbox {sid} left: {leftovers(state_dir, sid, ranges)}"


def test_delete_leaves_nothing(client, daemon):
    sid, ranges = _busy_sandbox(client)
    t, box = _start_exec(client, sid, "sleep 60 & sleep 61 & setsid sleep 62 & wait")
    try:
        _assert_present(daemon.state_dir, sid, ranges)
        assert wait_until(lambda: len(procs_with_uids(ranges)) >= 4, 3)
    finally:
        client.destroy(sid)
        t.join(20)
    assert not t.is_alive()
    _assert_gone(daemon.state_dir, sid, ranges, timeout=2)
    assert sid not in client.list_ids()


def test_delete_of_many_leaves_nothing(client, daemon):
    boxes = [_busy_sandbox(client, {}) for _ in range(4)]
    for sid, _ in boxes:
        client.destroy(sid)
    for sid, ranges in boxes:
        _assert_gone(daemon.state_dir, sid, ranges)


def test_timeout_expiry_leaves_nothing(client, daemon):
    sid = client.create({"timeoutMs": 2000})["id"]
    ranges = Ident(client, sid)
    t, box = _start_exec(client, sid, "sleep 60")
    try:
        _assert_present(daemon.state_dir, sid, ranges)
        assert wait_until(lambda: client.get(f"/v1/sandboxes/{sid}").status == 404, 10)
    finally:
        t.join(20)
    _assert_gone(daemon.state_dir, sid, ranges)


def test_oom_and_fork_bomb_leave_nothing(client, daemon):
    sid = client.create({"resources": {"memoryMb": 64, "pids": 32}})["id"]
    ranges = Ident(client, sid)
    client.exec(sid, "python3 -c \"b = b'x' * (300 << 20)\"", timeoutMs=20000)
    client.exec(sid, "f() { f | f & }; f; sleep 1", timeoutMs=1500)
    client.destroy(sid)
    _assert_gone(daemon.state_dir, sid, ranges)


def test_failed_creates_leave_nothing(client, daemon):
    before = set(os.listdir(os.path.join(daemon.state_dir, "sandboxes")))
    for body in [{"resources": {"memoryMb": 1}}, {"image": "nope"}, {"backend": "vm", "network": {"mode": "allowlist", "allow": ["bad host"]}},
                 {"backend": "vm", "mounts": [{"source": "/usr/share", "target": "/mnt/x"}]},
                 {"workdir": "/proc/1"}]:
        r = client.post("/v1/sandboxes", body)
        assert r.status >= 400
    assert set(os.listdir(os.path.join(daemon.state_dir, "sandboxes"))) == before


def test_sigterm_with_execs_in_flight_leaves_nothing():
    d = start_daemon()
    try:
        c = d.client
        boxes = [_busy_sandbox(c) for _ in range(3)]
        for sid, ranges in boxes:
            _assert_present(d.state_dir, sid, ranges)
        execs = [_start_exec(c, sid, "sleep 60 & setsid sleep 61 & wait") for sid, _ in boxes]
        assert wait_until(lambda: all(len(procs_with_uids(r)) >= 3 for _, r in boxes), 5)
        t0 = time.monotonic()
        rc = d.stop(timeout=10)
        assert rc is not None, f"runrad did not exit within 10 s of SIGTERM:\n{d.log()}"
        assert rc == 0, f"runrad exited {rc} on SIGTERM:\n{d.log()}"
        assert time.monotonic() - t0 < 10
        for t, box in execs:
            t.join(10)
            assert not t.is_alive(), "an exec request outlived the daemon"
        for sid, ranges in boxes:
            left = leftovers(d.state_dir, sid, ranges)
            assert not left, f"after SIGTERM, sandbox {sid} left {left}"
        left = leftovers(d.state_dir)
        assert not left, f"after SIGTERM the daemon left {left}"
        assert not os.path.exists(d.socket), "the socket file outlived the daemon"
    finally:
        finish_daemon(d)


def test_socket_elsewhere_is_hidden_and_removed():
    d = start_daemon(socket_name="api.sock")
    try:
        c = d.client
        assert os.path.dirname(d.socket) != d.state_dir
        sid = c.create()["id"]
        res = c.exec(sid, f"ls -la {os.path.dirname(d.socket)} 2>&1; test -e {d.socket}")
        assert res["exitCode"] != 0, f"the sandbox sees the daemon's socket: {res}"
        assert "api.sock" not in res["stdout"], res
        rc = d.stop(timeout=10)
        assert rc == 0, d.log()
        assert not os.path.exists(d.socket), "the socket file outlived the daemon"
    finally:
        finish_daemon(d)


def test_sigterm_idle_daemon_exits_zero():
    d = start_daemon()
    finish_daemon(d)


def test_restart_after_crash_cleans_up():
    d = start_daemon()
    state = d.state_dir
    try:
        c = d.client
        boxes = [_busy_sandbox(c) for _ in range(2)]
        for sid, ranges in boxes:
            _assert_present(state, sid, ranges)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
    except BaseException:
        finish_daemon(d)
        raise
    finally:
        d._log.close()
        if d in _live_daemons:
            _live_daemons.remove(d)
    # A new daemon on the same state dir adopts what the dead one left;
    # destroying them through it then leaves nothing.
    d2 = Daemon(BUILD_DIR, state)
    d2.log_path = state + ".restart.stderr.log"
    _live_daemons.append(d2)
    try:
        d2.start()
        assert set(d2.client.list_ids()) == {sid for sid, _ in boxes}
        for sid, ranges in boxes:
            assert d2.client.sh(sid, "echo back") == "back\n"
            d2.client.destroy(sid)
        for sid, ranges in boxes:
            ok = wait_until(lambda: not leftovers(state, sid, ranges), 10)
            assert ok, f"restarted daemon left crashed sandbox {sid}: {leftovers(state, sid, ranges)}"
    finally:
        finish_daemon(d2)


def test_module_daemon_has_no_stray_state(client, daemon):
    # With every sandbox of this module gone, the state dir holds none.
    for sid in client.list_ids():
        client.destroy(sid)
    assert client.count() == 0
    sbdir = os.path.join(daemon.state_dir, "sandboxes")
    assert wait_until(lambda: not os.listdir(sbdir), 5), os.listdir(sbdir)
    assert not mountinfo_mentions(sbdir + "/")
