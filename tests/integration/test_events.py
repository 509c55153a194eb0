"""The audit trail against a real runrad: every lifecycle change, exec, file
change, process start and port exposure becomes an event, in order, in the
store (so an acknowledged exec's event survives a kill -9 of the daemon),
in --events-file, and for followers as it happens; secrets (env values)
never appear in any of them."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import BUILD_DIR, _live_daemons, finish_daemon, start_daemon
from runra_client import Daemon, wait_until

RUNRA = os.path.join(BUILD_DIR, "src", "cli", "runra")
SECRET = "s3cret-value-" + os.urandom(4).hex()


def events(c, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    r = c.request("GET", "/v1/events" + ("?" + qs if qs else ""))
    assert r.status == 200, r
    return [json.loads(l) for l in r.body.decode().splitlines()]


@pytest.fixture(scope="module")
def evd(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("ev") / "events.jsonl")
    d = start_daemon(["--events-file", path])
    d.events_path = path
    yield d
    finish_daemon(d)


def test_a_sandbox_life_in_events(evd):
    c = evd.client
    sid = c.create({"env": {"API_TOKEN": SECRET}})["id"]
    r = c.request("POST", f"/v1/sandboxes/{sid}/exec",
                  {"argv": ["sh", "-c", "echo hi; echo $API_TOKEN >/dev/null; exit 3"],
                   "cwd": "/tmp"})
    assert r.json()["exitCode"] == 3
    assert c.request("PUT", f"/v1/sandboxes/{sid}/files?path=/workspace/a.txt", "12345").status < 300
    assert c.request("DELETE", f"/v1/sandboxes/{sid}/files?path=/workspace/a.txt").status < 300
    r = c.request("POST", f"/v1/sandboxes/{sid}/processes", {"command": "sleep 100", "tag": "s"})
    pid = r.json()["pid"]
    r = c.request("POST", f"/v1/sandboxes/{sid}/ports", {"port": 8080})
    host_port = r.json()["hostPort"]
    c.request("POST", f"/v1/sandboxes/{sid}/pause")
    c.request("POST", f"/v1/sandboxes/{sid}/resume")
    c.request("DELETE", f"/v1/sandboxes/{sid}")
    assert wait_until(lambda: any(e["type"] == "sandbox.destroyed"
                                  for e in events(c, sandbox=sid)), 10)
    ev = events(c, sandbox=sid)
    types = [e["type"] for e in ev]
    assert types == ["sandbox.created", "exec", "file.write", "file.remove", "process.start",
                     "port.expose", "sandbox.paused", "sandbox.resumed",
                     "sandbox.destroyed"], types
    ids = [e["id"] for e in ev]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert all(e["sandbox"] == sid and e["time"].endswith("Z") for e in ev)
    created, ex, fw, fr, ps, pe = ev[:6]
    assert created["data"]["envKeys"] == ["API_TOKEN"]
    assert ex["data"]["argv"][0] == "sh" and ex["data"]["cwd"] == "/tmp"
    assert ex["data"]["exitCode"] == 3 and ex["data"]["stdoutBytes"] == 3
    assert ex["data"]["timedOut"] is False and ex["data"]["durationMs"] >= 0
    assert fw["data"] == {"path": "/workspace/a.txt", "size": 5}
    assert fr["data"]["path"] == "/workspace/a.txt"
    assert ps["data"]["pid"] == pid and ps["data"]["tag"] == "s"
    assert pe["data"] == {"port": 8080, "hostPort": host_port}
    # Filters and cursors.
    assert [e["type"] for e in events(c, sandbox=sid, type="exec")] == ["exec"]
    assert events(c, sandbox=sid, since=ids[-2]) == ev[-1:]
    assert events(c, sandbox=sid, limit=2) == ev[:2]


def test_secrets_never_appear(evd):
    c = evd.client
    sid = c.create({"env": {"DB_PASSWORD": SECRET}})["id"]
    c.request("POST", f"/v1/sandboxes/{sid}/exec", {"command": "env >/dev/null"})
    c.request("DELETE", f"/v1/sandboxes/{sid}")
    time.sleep(0.2)
    everything = c.request("GET", "/v1/events").body.decode()
    assert SECRET not in everything
    with open(evd.events_path) as f:
        assert SECRET not in f.read()
    assert SECRET not in evd.log()


def test_events_file_matches_the_api(evd):
    c = evd.client
    api = events(c)
    with open(evd.events_path) as f:
        lines = [json.loads(l) for l in f.read().splitlines()]
    assert lines == api


def test_follow_streams_new_events(evd):
    c = evd.client
    last = events(c)[-1]["id"]
    got = []
    p = subprocess.Popen([RUNRA, "--socket", evd.socket, "events", "-f", "--json", "--since",
                          str(last)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=dict(os.environ, RUNRA_NO_AUTOSTART="1"))

    def reader():
        for line in p.stdout:
            got.append(json.loads(line))
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        sid = c.create({})["id"]
        c.sh(sid, "true")
        assert wait_until(lambda: [e["type"] for e in got][:2] == ["sandbox.created", "exec"], 10), got
        c.request("DELETE", f"/v1/sandboxes/{sid}")
    finally:
        p.terminate()
        p.wait(10)
    h = subprocess.run([RUNRA, "--socket", evd.socket, "events", "--sandbox", sid, "--type",
                        "exec"], stdout=subprocess.PIPE, env=dict(os.environ, RUNRA_NO_AUTOSTART="1"))
    assert h.returncode == 0 and b" exec " in h.stdout and b"exitCode=0" in h.stdout, h


def test_bad_queries(evd):
    c = evd.client
    for q in ("since=-1", "limit=1000001", "bogus=1", "follow=maybe", "sandbox=", "type="):
        r = c.request("GET", "/v1/events?" + q)
        assert r.status == 400, (q, r)


def test_an_acknowledged_exec_survives_kill_9():
    d = start_daemon()
    state = d.state_dir
    c = d.client
    sid = c.create({})["id"]
    r = c.request("POST", f"/v1/sandboxes/{sid}/exec", {"command": "echo acked"})
    assert r.status == 200
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    d._log.close()
    _live_daemons.remove(d)
    d2 = Daemon(BUILD_DIR, state)
    d2.log_path = state + ".restart.stderr.log"
    _live_daemons.append(d2)
    try:
        d2.start()
        ev = events(d2.client, sandbox=sid, type="exec")
        assert len(ev) == 1 and ev[0]["data"]["argv"] == ["/bin/sh", "-c", "echo acked"], ev
    finally:
        finish_daemon(d2)
