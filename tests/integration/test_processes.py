"""Background processes: started, listed, followed, fed, signalled and
waited for through the API; they outlive the client that started them, are
found again by pid and by tag, keep a bounded log ring, and die with their
sandbox (checked from the host)."""

import base64
import json
import time

import pytest

from runra_client import HOST_PROCS, UnixHTTPConnection, ns_only, procs_with_cmdline, wait_until


def P(sid, suffix=""):
    return f"/v1/sandboxes/{sid}/processes{suffix}"


def start(client, sid, **body):
    r = client.post(P(sid), body)
    assert r.status == 201, r
    return r.json()


def wait(client, sid, ref, **body):
    r = client.post(P(sid, f"/{ref}/wait"), body or None)
    assert r.status == 200, r
    return r.json()


def logs(client, sid, ref, **params):
    qs = "&".join(f"{k}={str(v).lower()}" for k, v in params.items())
    r = client.get(P(sid, f"/{ref}/logs") + ("?" + qs if qs else ""))
    assert r.status == 200, r
    out = b""
    evs = [json.loads(l) for l in r.body.splitlines()]
    for ev in evs:
        if ev["type"] in ("stdout", "stderr"):
            out += base64.b64decode(ev["data"])
    return out, evs


def test_start_list_and_reattach_by_pid_and_tag(client, sandbox):
    p = start(client, sandbox, command="echo hello; echo oops >&2; read x; echo got $x",
              tag="web")
    assert p["state"] == "running" and p["tag"] == "web" and p["pid"] > 1
    assert p["argv"] == ["/bin/sh", "-c", "echo hello; echo oops >&2; read x; echo got $x"]
    # Every request is its own connection: the starter is long gone.
    procs = client.get(P(sandbox)).json()["processes"]
    mine = [x for x in procs if x["pid"] == p["pid"]]
    assert mine and mine[0]["state"] == "running" and mine[0]["exitCode"] is None
    assert wait_until(lambda: b"hello" in logs(client, sandbox, "web")[0], 5)
    out, evs = logs(client, sandbox, p["pid"])
    assert b"hello\n" in out and b"oops\n" in out
    assert {"stdout", "stderr"} <= {e["type"] for e in evs}
    r = client.post(P(sandbox, "/web/stdin"), b"there\n")
    assert r.status == 200, r
    res = wait(client, sandbox, p["pid"])
    assert res["exitCode"] == 0 and res["signal"] == 0
    assert logs(client, sandbox, "web")[0].endswith(b"got there\n")
    done = [x for x in client.get(P(sandbox)).json()["processes"] if x["pid"] == p["pid"]][0]
    assert done["state"] == "exited" and done["exitCode"] == 0 and done["exitedMs"] >= done["startedMs"]


def test_tags_are_unique_among_live_processes(client, sandbox):
    start(client, sandbox, argv=["sleep", "1000"], tag="dup")
    r = client.post(P(sandbox), {"argv": ["true"], "tag": "dup"})
    assert r.status == 409 and r.error_code == "already_exists", r
    assert client.post(P(sandbox, "/dup/signal"), {"signal": "KILL"}).status == 200
    assert wait(client, sandbox, "dup")["signal"] == 9
    # Once it exited, the tag is free again.
    p = start(client, sandbox, argv=["true"], tag="dup")
    assert wait(client, sandbox, "dup")["exitCode"] == 0
    assert p["tag"] == "dup"


def test_follow_streams_until_exit(daemon, client, sandbox):
    p = start(client, sandbox, command="for i in 1 2 3; do echo l$i; sleep 0.7; done; exit 3")
    conn = UnixHTTPConnection(daemon.socket, timeout=30)
    t0 = time.monotonic()
    try:
        conn.request("GET", P(sandbox, f"/{p['pid']}/logs?follow=true"))
        r = conn.getresponse()
        assert r.status == 200
        got = []
        while True:
            line = r.readline()
            if not line:
                break
            got.append((time.monotonic() - t0, json.loads(line)))
    finally:
        conn.close()
    out = b"".join(base64.b64decode(e["data"]) for _, e in got if e["type"] == "stdout")
    assert out == b"l1\nl2\nl3\n"
    assert got[-1][1]["type"] == "exit" and got[-1][1]["exitCode"] == 3
    # Live: the last line came well after the first.
    assert got[-2][0] - got[0][0] > 1.0, got


@ns_only(HOST_PROCS)
def test_follow_disconnect_leaves_the_process_running(daemon, client, sandbox):
    p = start(client, sandbox, command="echo up; exec sleep 4813", tag="survivor")
    conn = UnixHTTPConnection(daemon.socket, timeout=30)
    conn.request("GET", P(sandbox, "/survivor/logs?follow=true"))
    r = conn.getresponse()
    assert json.loads(r.readline())["type"] == "stdout"
    conn.sock.close()
    conn.close()
    time.sleep(1)
    assert procs_with_cmdline("4813"), "the process died with its follower"
    procs = [x for x in client.get(P(sandbox)).json()["processes"] if x["pid"] == p["pid"]]
    assert procs[0]["state"] == "running"
    assert client.post(P(sandbox, "/survivor/signal"), {"signal": "SIGTERM"}).status == 200
    res = wait(client, sandbox, "survivor")
    assert res["signal"] == 15 and res["exitCode"] == 143


def test_log_ring_is_bounded_and_tail_works(client, sandbox):
    p = start(client, sandbox, command="head -c 3000000 /dev/zero | tr '\\0' a; echo END")
    wait(client, sandbox, p["pid"])
    out, _ = logs(client, sandbox, p["pid"])
    assert len(out) == 1 << 20 and out.endswith(b"aaaEND\n"), len(out)
    out, _ = logs(client, sandbox, p["pid"], tail=6)
    assert out == b"aaEND\n", out


def test_stdin_close_and_signals_by_number(client, sandbox):
    p = start(client, sandbox, argv=["cat"])
    assert client.post(P(sandbox, f"/{p['pid']}/stdin"), b"\x00bin\xff").status == 200
    assert client.post(P(sandbox, f"/{p['pid']}/stdin?close=true"), b"").status == 200
    assert wait(client, sandbox, p["pid"])["exitCode"] == 0
    assert logs(client, sandbox, p["pid"])[0] == b"\x00bin\xff"
    r = client.post(P(sandbox, f"/{p['pid']}/stdin"), b"late")
    assert r.status == 409, r
    q = start(client, sandbox, argv=["sleep", "1000"])
    assert client.post(P(sandbox, f"/{q['pid']}/signal"), {"signal": 9}).status == 200
    assert wait(client, sandbox, q["pid"])["signal"] == 9
    r = client.post(P(sandbox, f"/{q['pid']}/signal"), {"signal": "TERM"})
    assert r.status == 409, r


def test_wait_timeout(client, sandbox):
    p = start(client, sandbox, argv=["sleep", "1000"])
    t0 = time.monotonic()
    r = client.post(P(sandbox, f"/{p['pid']}/wait"), {"timeoutMs": 300})
    assert r.status == 504 and r.error_code == "timeout", r
    assert time.monotonic() - t0 < 5
    client.post(P(sandbox, f"/{p['pid']}/signal"), {"signal": "KILL"})
    wait(client, sandbox, p["pid"])


@pytest.mark.parametrize("method,suffix,body,status", [
    ("GET", "/999999/logs", None, 404),
    ("GET", "/nosuchtag/logs", None, 404),
    ("POST", "/999999/wait", None, 404),
    ("POST", "/nosuchtag/signal", {"signal": "TERM"}, 404),
    ("POST", "/nosuchtag/stdin", b"x", 404),
    ("POST", "/bad%20tag/wait", None, 400),
    ("GET", "/x/logs?bogus=1", None, 400),
    ("POST", "/1/signal", {"signal": "SIGFOO"}, 400),
    ("POST", "/1/signal", {"signal": 0}, 400),
    ("POST", "/1/signal", {"signal": 99}, 400),
    ("POST", "/1/signal", {"sig": 9}, 400),
    ("POST", "/1/wait", {"timeoutMs": -1}, 400),
    ("POST", "", {"argv": ["true"], "bogus": 1}, 400),
    ("POST", "", {"argv": ["true"], "tag": "12345"}, 400),
    ("POST", "", {"argv": ["true"], "tag": "a/b"}, 400),
    ("POST", "", {"command": "true", "argv": ["true"]}, 400),
    ("POST", "", {"argv": ["true"], "cwd": "/nonexistent"}, 404),
])
def test_bad_input(client, sandbox, method, suffix, body, status):
    r = client.request(method, P(sandbox, suffix), body=body)
    assert r.status == status, r
    r.error_code


@ns_only(HOST_PROCS)
def test_process_limit_and_death_with_the_sandbox(client):
    sid = client.create()["id"]
    try:
        for i in range(64):
            start(client, sid, argv=["sleep", "9264"])
        r = client.post(P(sid), {"argv": ["true"]})
        assert r.status == 409 and "64" in r.json()["error"]["message"], r
        # A started process may still be between fork and exec for a moment.
        assert wait_until(lambda: len(procs_with_cmdline("9264")) == 64, 10), \
            len(procs_with_cmdline("9264"))
    finally:
        client.destroy(sid)
    assert wait_until(lambda: not procs_with_cmdline("9264"), 10), procs_with_cmdline("9264")
