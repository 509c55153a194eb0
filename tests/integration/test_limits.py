"""Each resource limit is really enforced: memory (the exec reports
oomKilled), pids (a fork bomb is contained), cpu (a quota caps CPU time),
disk (ENOSPC inside, 507 from the files API, the host disk untouched)."""

import os
import threading
import time

import pytest

from runra_client import FORK_BOMB, HOST_PROCS, Ident, ns_only, procs_with_uids, wait_until


@pytest.fixture(scope="module")
def membox(client):
    sb = client.create({"resources": {"memoryMb": 64}})
    yield sb["id"]
    client.destroy(sb["id"])


def test_memory_within_limit_works(client, membox):
    res = client.exec(membox, "python3 -c \"b = b'x' * (16 << 20); print(len(b))\"")
    assert res["exitCode"] == 0, res
    assert res["oomKilled"] is False


def test_memory_breach_is_oom_killed(client, membox):
    # argv: the allocating process is the exec's own process.
    res = client.exec(membox, argv=["python3", "-c", "b = b'x' * (400 << 20); print('survived')"],
                      timeoutMs=30000)
    assert "survived" not in res["stdout"], res
    assert res["signal"] == 9 and res["exitCode"] == 137, res
    assert res["oomKilled"] is True, res
    assert res["timedOut"] is False
    # The sandbox survives its command's OOM kill.
    assert client.sh(membox, "echo alive") == "alive\n"


def test_memory_breach_under_a_shell_is_oom_killed(client, membox):
    # command: /bin/sh -c forks the allocating process; the shell survives
    # it, yet the exec still breached the memory limit and must say so.
    res = client.exec(membox, "python3 -c \"b = b'x' * (400 << 20); print('survived')\"",
                      timeoutMs=30000)
    assert "survived" not in res["stdout"], res
    assert res["exitCode"] == 137, res
    assert res["oomKilled"] is True, res


def test_memory_breach_in_a_child_is_reported(client, membox):
    # The OOM victim is a grandchild; the shell survives and reports it.
    res = client.exec(membox, "python3 -c \"b = b'y' * (400 << 20)\"; echo rc=$?", timeoutMs=30000)
    assert "rc=137" in res["stdout"], res


def test_pids_limit_contains_fork_loop(client):
    sid = client.create({"resources": {"pids": 32}})["id"]
    try:
        res = client.exec(sid, "python3 -c \"\n"
                               "import os, time, errno\n"
                               "n = 0; err = None; kids = []\n"
                               "for i in range(500):\n"
                               "    try:\n"
                               "        p = os.fork()\n"
                               "    except OSError as e:\n"
                               "        err = e.errno; break\n"
                               "    if p == 0:\n"
                               "        time.sleep(30); os._exit(0)\n"
                               "    kids.append(p); n += 1\n"
                               "print(n, err)\n"
                               "for p in kids: os.kill(p, 9)\n"
                               "for p in kids: os.waitpid(p, 0)\n"
                               "\"", timeoutMs=30000)
        n, err = res["stdout"].split()
        assert int(n) < 32, f"{n} processes forked under a pids limit of 32"
        assert int(n) >= 20, f"only {n} forks under a pids limit of 32: {res}"
        assert err == "11", f"fork failed with errno {err}, expected EAGAIN"
        assert client.sh(sid, "echo alive") == "alive\n"
    finally:
        client.destroy(sid)


@ns_only(HOST_PROCS)
def test_fork_bomb_is_contained(client):
    sid = client.create({"resources": {"pids": 64}})["id"]
    try:
        ident = Ident(client, sid)
        box = {}
        t = threading.Thread(target=lambda: box.update(
            r=client.exec(sid, FORK_BOMB, timeoutMs=3000, timeout=60)))
        t0 = time.monotonic()
        t.start()
        peak = 0
        while t.is_alive() and time.monotonic() - t0 < 30:
            peak = max(peak, len(procs_with_uids(ident)))
            time.sleep(0.05)
        t.join(30)
        res = box["r"]
        assert time.monotonic() - t0 < 20
        assert res["timedOut"] is True, res
        assert peak >= 40, f"the bomb never got going (peak {peak} processes)"
        assert peak <= 64, f"{peak} processes on the host under a pids limit of 64"
        assert client.health()["status"] == "ok"
        # The bomb's processes die with the exec (its timeout kills the tree).
        gone = wait_until(lambda: len(procs_with_uids(ident)) <= 2, 10)
        assert gone, f"fork bomb survived its exec: {len(procs_with_uids(ident))} processes"
        assert client.sh(sid, "echo alive") == "alive\n"
    finally:
        client.destroy(sid)


def _cpu_ratio(client, sid, seconds=1.5):
    # CPU time over the busy loop alone: the interpreter's start is slow in
    # an emulated VM and must not count.
    res = client.exec(sid, "python3 -c \"\n"
                           "import time, resource\n"
                           "def used():\n"
                           "    u = resource.getrusage(resource.RUSAGE_SELF)\n"
                           "    return u.ru_utime + u.ru_stime\n"
                           "c = used()\n"
                           "t = time.monotonic()\n"
                           f"while time.monotonic() - t < {seconds}: pass\n"
                           "print((used() - c) / (time.monotonic() - t))\n"
                           "\"", timeoutMs=30000)
    assert res["exitCode"] == 0, res
    return float(res["stdout"])


def test_cpu_quota(client, sandbox):
    sid = client.create({"resources": {"cpu": 0.2}})["id"]
    try:
        limited = _cpu_ratio(client, sid)
        assert limited < 0.35, f"a 0.2-core sandbox used {limited:.2f} cores"
        free = _cpu_ratio(client, sandbox)  # default: 1 core
        if free <= limited * 1.5:  # a busy host; measure once more
            free = _cpu_ratio(client, sandbox)
        assert free > limited * 1.5, f"unlimited {free:.2f} vs limited {limited:.2f}"
    finally:
        client.destroy(sid)


def test_cpu_quota_across_processes(client):
    sid = client.create({"resources": {"cpu": 0.5}})["id"]
    try:
        res = client.exec(sid, "python3 -c \"\n"
                               "import os, time, resource\n"
                               "t = time.monotonic()\n"
                               "kids = []\n"
                               "for i in range(2):\n"
                               "    p = os.fork()\n"
                               "    if p == 0:\n"
                               "        while time.monotonic() - t < 1.5: pass\n"
                               "        os._exit(0)\n"
                               "    kids.append(p)\n"
                               "for p in kids: os.waitpid(p, 0)\n"
                               "u = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
                               "print((u.ru_utime + u.ru_stime) / (time.monotonic() - t))\n"
                               "\"", timeoutMs=30000)
        ratio = float(res["stdout"])
        assert ratio < 0.75, f"two busy processes used {ratio:.2f} cores under a 0.5-core quota"
    finally:
        client.destroy(sid)


def _allocated_bytes(path):
    total = 0
    for root, dirs, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_blocks * 512
            except OSError:
                pass
    return total


def test_disk_limit(client, daemon):
    sid = client.create({"resources": {"diskMb": 32}})["id"]
    try:
        res = client.exec(sid, "dd if=/dev/zero of=/workspace/fill bs=1M count=100 2>&1; echo rc=$?",
                          timeoutMs=60000)
        assert "rc=0" not in res["stdout"], f"wrote 100 MB into a 32 MB sandbox: {res}"
        assert "No space left on device" in res["stdout"] or "Disk quota exceeded" in res["stdout"], res
        size = int(client.sh(sid, "stat -c %s /workspace/fill"))
        assert size <= 40 << 20, size
        # The files API reports the same condition as 507.
        r = client.write(sid, "/workspace/more", b"z" * (20 << 20))
        assert r.status == 507, r
        assert r.error_code == "insufficient_storage"
        # The host holds at most about the limit for this sandbox.
        used = _allocated_bytes(os.path.join(daemon.state_dir, "sandboxes", sid))
        assert used < 48 << 20, f"{used >> 20} MB allocated on the host for a 32 MB sandbox"
        # Freeing space makes it writable again.
        client.sh(sid, "rm -f /workspace/fill /workspace/more")
        assert client.write(sid, "/workspace/small", b"ok").status == 200
    finally:
        client.destroy(sid)


def test_disk_limit_covers_other_writable_paths(client):
    sid = client.create({"resources": {"diskMb": 32}})["id"]
    try:
        for d in ["/root", "/home", "/var/tmp"]:
            res = client.exec(sid, f"mkdir -p {d} && dd if=/dev/zero of={d}/fill bs=1M count=100 2>&1; "
                                   f"echo rc=$?; rm -f {d}/fill", timeoutMs=60000)
            assert "rc=0" not in res["stdout"], (d, res)
    finally:
        client.destroy(sid)


def test_tmp_is_bounded(client):
    sid = client.create({"resources": {"diskMb": 32, "memoryMb": 256}})["id"]
    try:
        res = client.exec(sid, "dd if=/dev/zero of=/tmp/fill bs=1M count=300 2>&1; echo rc=$?",
                          timeoutMs=60000)
        assert "rc=0" not in res["stdout"], f"300 MB went into /tmp of a 32 MB/256 MB sandbox: {res}"
    finally:
        client.destroy(sid)


def test_limits_are_per_sandbox(client):
    # Two sandboxes each get their own memory budget.
    a = client.create({"resources": {"memoryMb": 128}})["id"]
    b = client.create({"resources": {"memoryMb": 128}})["id"]
    try:
        results = {}

        def hold(sid):
            results[sid] = client.exec(sid, "python3 -c \"import time; b = b'x' * (80 << 20); "
                                            "time.sleep(1.5); print('ok')\"", timeoutMs=30000)

        ts = [threading.Thread(target=hold, args=(s,)) for s in (a, b)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(40)
        for s in (a, b):
            assert results[s]["stdout"] == "ok\n", results[s]
    finally:
        client.destroy(a)
        client.destroy(b)
