"""Pause and resume against a real runrad: a paused sandbox's processes use
no CPU (read from the host's /proc), work on it is refused with 409 (or
resumes it, with autoResume), and resume continues exactly where it was:
a counter started before the pause goes on from its value, files and
background processes intact. Then many cycles with a workload writing
files, checksummed after each."""

import hashlib
import os
import subprocess
import time

import pytest

from conftest import BUILD_DIR
from runra_client import HOST_PROCS, ns_only, procs_with_cmdline, wait_until

RUNRA = os.path.join(BUILD_DIR, "src", "cli", "runra")


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def state(c, sid):
    return c.request("GET", f"/v1/sandboxes/{sid}").json()["state"]


def counter(c, sid):
    r = c.request("GET", f"/v1/sandboxes/{sid}/files?path=/workspace/count")
    if r.status == 404:
        return 0
    assert r.status == 200, r
    return int(r.body.decode().strip() or 0)


@ns_only(HOST_PROCS)
def test_pause_stops_everything_and_resume_continues(client):
    c = client
    sid = c.create({})["id"]
    try:
        marker = "spin-" + os.urandom(3).hex()
        r = c.request("POST", f"/v1/sandboxes/{sid}/processes",
                      {"command": f"i=0; while :; do i=$((i+1)); echo $i > /workspace/count; "
                                  f"sleep 0.05; done", "tag": "count"})
        assert r.status == 201, r
        r = c.request("POST", f"/v1/sandboxes/{sid}/processes",
                      {"argv": ["sh", "-c", f"while :; do :; done # {marker}"]})
        assert r.status == 201, r
        assert wait_until(lambda: counter(c, sid) > 5, 10)
        spinners = [p[0] if isinstance(p, tuple) else p for p in procs_with_cmdline(marker)]
        assert spinners, "the busy loop is not visible from the host"

        r = c.request("POST", f"/v1/sandboxes/{sid}/pause")
        assert r.status == 200 and r.json()["state"] == "paused", r
        assert state(c, sid) == "paused"
        # Work is refused, clearly, and changes nothing.
        r = c.request("POST", f"/v1/sandboxes/{sid}/exec", {"command": "true"})
        assert r.status == 409 and "paused" in r.json()["error"]["message"], r
        r = c.request("GET", f"/v1/sandboxes/{sid}/files?path=/workspace/count")
        assert r.status == 409, r
        # No CPU while paused.
        before = {p: cpu_ticks(p) for p in spinners}
        time.sleep(1.0)
        after = {p: cpu_ticks(p) for p in spinners}
        assert before == after, (before, after)
        # Pausing twice is fine.
        assert c.request("POST", f"/v1/sandboxes/{sid}/pause").status == 200

        r = c.request("POST", f"/v1/sandboxes/{sid}/resume")
        assert r.status == 200 and r.json()["state"] == "running", r
        v0 = counter(c, sid)
        time.sleep(0.5)
        v1 = counter(c, sid)
        # It went on from where it stopped, not from a fresh start.
        assert v1 > v0 >= 5, (v0, v1)
        assert sum(cpu_ticks(p) for p in spinners) > sum(after.values())
        procs = c.request("GET", f"/v1/sandboxes/{sid}/processes").json()["processes"]
        assert [p["state"] for p in procs] == ["running", "running"], procs
        assert c.request("POST", f"/v1/sandboxes/{sid}/resume").status == 200
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


@ns_only(HOST_PROCS)
def test_auto_resume_and_destroy_while_paused(client, daemon):
    c = client
    sid = c.create({"autoResume": True})["id"]
    assert c.request("GET", f"/v1/sandboxes/{sid}").json()["autoResume"] is True
    c.request("POST", f"/v1/sandboxes/{sid}/processes", {"command": "sleep 1000 # paused-kill"})
    assert c.request("POST", f"/v1/sandboxes/{sid}/pause").json()["state"] == "paused"
    r = c.request("POST", f"/v1/sandboxes/{sid}/exec", {"command": "echo woke"})
    assert r.status == 200 and r.json()["stdout"] == "woke\n", r
    assert state(c, sid) == "running"
    # A paused sandbox is destroyed whole: no frozen process survives it.
    assert c.request("POST", f"/v1/sandboxes/{sid}/pause").status == 200
    assert procs_with_cmdline("paused-kill")
    assert c.request("DELETE", f"/v1/sandboxes/{sid}").status == 204
    assert wait_until(lambda: not procs_with_cmdline("paused-kill"), 10)


def test_pause_unknown_and_bad_requests(client):
    c = client
    assert c.request("POST", "/v1/sandboxes/nosuchbox/pause").status == 404
    sid = c.create({})["id"]
    try:
        r = c.request("POST", f"/v1/sandboxes/{sid}/pause?now=1")
        assert r.status == 400, r
        assert state(c, sid) == "running"
        r = c.request("POST", "/v1/sandboxes", {"autoResume": "yes"})
        assert r.status == 400, r
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_cli_pause_resume(daemon, client):
    env = dict(os.environ, RUNRA_NO_AUTOSTART="1")

    def run(*a):
        return subprocess.run([RUNRA, "--socket", daemon.socket, *a], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, env=env, timeout=60)

    sid = run("create").stdout.decode().strip()
    try:
        assert run("pause", sid).returncode == 0
        p = run("exec", sid, "--", "true")
        assert p.returncode == 1 and b"paused" in p.stderr, p
        assert run("resume", sid).returncode == 0
        assert run("exec", sid, "--", "true").returncode == 0
        sid2 = run("create", "--auto-resume").stdout.decode().strip()
        assert run("pause", sid2).returncode == 0
        assert run("exec", sid2, "--", "echo", "hi").stdout == b"hi\n"
        run("rm", sid2)
    finally:
        run("rm", sid)


def test_many_cycles_keep_the_workspace_intact(client):
    c = client
    sid = c.create({})["id"]
    try:
        # A writer that appends numbered lines and keeps a checksum file of
        # what it has written; after each resume both must agree.
        c.request("POST", f"/v1/sandboxes/{sid}/processes", {"command": (
            "i=0; while :; do i=$((i+1)); echo line-$i >> /workspace/log; "
            "sha256sum /workspace/log > /workspace/log.sum.tmp; "
            "mv /workspace/log.sum.tmp /workspace/log.sum; done")})
        # The writer has a checksum down before the cycles begin (a VM
        # emulated with TCG takes a moment to get going).
        assert wait_until(lambda: c.request(
            "GET", f"/v1/sandboxes/{sid}/files?path=/workspace/log.sum").status == 200, 30)
        cycles = int(os.environ.get("RUNRA_PAUSE_CYCLES", "100"))
        last = 0
        for i in range(cycles):
            assert c.request("POST", f"/v1/sandboxes/{sid}/pause").status == 200
            assert c.request("POST", f"/v1/sandboxes/{sid}/resume").status == 200
            if i % 10 == 9:
                # Check under a pause, so the writer is not mid-line.
                assert c.request("POST", f"/v1/sandboxes/{sid}/pause").status == 200
                log = c.request("GET", f"/v1/sandboxes/{sid}/files?path=/workspace/log")
                assert log.status == 409  # paused: refused, as it should be
                c.request("POST", f"/v1/sandboxes/{sid}/resume")
                sums = c.request("GET", f"/v1/sandboxes/{sid}/files?path=/workspace/log.sum").body
                data = c.request("GET", f"/v1/sandboxes/{sid}/files?path=/workspace/log").body
                lines = data.splitlines(keepends=True)
                nums = [int(l.split(b"-")[1]) for l in lines if l.endswith(b"\n")]
                assert nums == list(range(1, len(nums) + 1)), "lines lost or reordered"
                # The checksum the workload wrote matches the log as it was
                # then: a prefix of the log now, a few lines short at most.
                want = sums.split()[0].decode()
                assert any(hashlib.sha256(b"".join(lines[:n])).hexdigest() == want
                           for n in range(len(lines), max(0, len(lines) - 200), -1)), \
                    "the workload's checksum matches no prefix of its log"
                assert len(nums) >= last
                last = len(nums)
        assert last > 0
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_timeout_pauses_when_asked_and_patch_extends(client):
    c = client
    sid = c.create({"timeoutMs": 1500, "onTimeout": "pause"})["id"]
    try:
        assert c.request("GET", f"/v1/sandboxes/{sid}").json()["onTimeout"] == "pause"
        c.request("POST", f"/v1/sandboxes/{sid}/processes", {"command": "sleep 1000"})
        assert wait_until(lambda: state(c, sid) == "paused", 10), state(c, sid)
        r = c.request("POST", f"/v1/sandboxes/{sid}/resume")
        assert r.status == 200 and r.json()["state"] == "running", r
        procs = c.request("GET", f"/v1/sandboxes/{sid}/processes").json()["processes"]
        assert procs and procs[0]["state"] == "running", procs
        # Paused at its timeout, it has no timeout left: it stays.
        time.sleep(0.5)
        assert state(c, sid) == "running"
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")

    sid = c.create({"timeoutMs": 1200})["id"]
    r = c.request("PATCH", f"/v1/sandboxes/{sid}", {"timeoutMs": 60000})
    assert r.status == 200 and r.json()["timeoutMs"] == 60000 and r.json()["expiresAt"], r
    time.sleep(1.8)
    assert c.request("GET", f"/v1/sandboxes/{sid}").status == 200
    r = c.request("PATCH", f"/v1/sandboxes/{sid}", {"timeoutMs": 200})
    assert r.status == 200, r
    assert wait_until(lambda: c.request("GET", f"/v1/sandboxes/{sid}").status == 404, 10)


def test_timeout_bad_updates_change_nothing(client):
    c = client
    assert c.request("POST", "/v1/sandboxes", {"onTimeout": "explode"}).status == 400
    sid = c.create({"timeoutMs": 60000})["id"]
    try:
        before = c.request("GET", f"/v1/sandboxes/{sid}").json()
        for bad in ({}, {"timeoutMs": -1}, {"timeoutMs": "soon"}, {"onTimeout": "never"},
                    {"timeoutMs": 10, "color": "red"}):
            r = c.request("PATCH", f"/v1/sandboxes/{sid}", bad)
            assert r.status == 400, (bad, r)
        assert c.request("GET", f"/v1/sandboxes/{sid}").json() == before
        assert c.request("PATCH", "/v1/sandboxes/nosuchbox", {"timeoutMs": 5}).status == 404
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_cli_on_timeout_pause(daemon, client):
    env = dict(os.environ, RUNRA_NO_AUTOSTART="1")
    p = subprocess.run([RUNRA, "--socket", daemon.socket, "create", "--timeout", "1s",
                        "--on-timeout", "pause"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=env, timeout=60)
    assert p.returncode == 0, p
    sid = p.stdout.decode().strip()
    try:
        assert wait_until(lambda: state(client, sid) == "paused", 10)
    finally:
        client.request("DELETE", f"/v1/sandboxes/{sid}")
    p = subprocess.run([RUNRA, "--socket", daemon.socket, "create", "--on-timeout", "later"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)
    assert p.returncode == 2, p
