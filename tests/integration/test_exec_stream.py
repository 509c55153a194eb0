"""Streaming exec: NDJSON events over a chunked response, arriving as the
command produces them, byte-exact, and a client that hangs up mid-stream
takes the command's whole tree with it (checked from the host)."""

import base64
import json
import time

from runra_client import UnixHTTPConnection, procs_with_cmdline, wait_until


def open_stream(daemon, sid, body, headers=None, timeout=60):
    conn = UnixHTTPConnection(daemon.socket, timeout=timeout)
    hdrs = {"Content-Type": "application/json"}
    hdrs.update(headers or {})
    conn.request("POST", f"/v1/sandboxes/{sid}/exec", body=json.dumps(body).encode(), headers=hdrs)
    return conn, conn.getresponse()


def events(resp):
    """Yields (arrival time, event) for each NDJSON line."""
    while True:
        line = resp.readline()
        if not line:
            return
        assert line.endswith(b"\n"), line
        yield time.monotonic(), json.loads(line)


def collect(resp):
    out, err, exits = b"", b"", []
    for _, ev in events(resp):
        if ev["type"] == "stdout":
            out += base64.b64decode(ev["data"])
        elif ev["type"] == "stderr":
            err += base64.b64decode(ev["data"])
        else:
            exits.append(ev)
    return out, err, exits


def test_lines_arrive_as_they_are_printed(daemon, sandbox):
    t0 = time.monotonic()
    conn, r = open_stream(daemon, sandbox, {"command": "for i in 1 2 3; do echo $i; sleep 1; done",
                                            "stream": True})
    try:
        assert r.status == 200
        assert r.getheader("Content-Type") == "application/x-ndjson"
        got = [(t - t0, ev) for t, ev in events(r)]
    finally:
        conn.close()
    outs = [(t, base64.b64decode(ev["data"])) for t, ev in got if ev["type"] == "stdout"]
    assert b"".join(d for _, d in outs) == b"1\n2\n3\n"
    # The first line is there long before the command ends (about 3 s).
    assert outs[0][0] < 1.5, got
    assert got[-1][1]["type"] == "exit" and got[-1][0] > 2.0, got
    ex = got[-1][1]
    assert ex["exitCode"] == 0 and ex["timedOut"] is False and "stdout" not in ex
    assert set(ex) >= {"exitCode", "signal", "durationMs", "timedOut", "oomKilled", "truncated"}


def test_accept_header_streams_binary_and_exit_code(daemon, sandbox):
    cmd = "printf '\\000\\377\\001ab'; printf 'err\\n' >&2; exit 7"
    conn, r = open_stream(daemon, sandbox, {"command": cmd},
                          headers={"Accept": "application/x-ndjson"})
    try:
        assert r.status == 200
        out, err, exits = collect(r)
    finally:
        conn.close()
    assert out == b"\x00\xff\x01ab" and err == b"err\n"
    assert len(exits) == 1 and exits[0]["exitCode"] == 7


def test_stream_timeout_and_stdin(daemon, sandbox):
    conn, r = open_stream(daemon, sandbox, {"argv": ["sleep", "30"], "timeoutMs": 500, "stream": True})
    try:
        _, _, exits = collect(r)
    finally:
        conn.close()
    assert exits[-1]["timedOut"] is True
    conn, r = open_stream(daemon, sandbox, {"argv": ["cat"], "stdin": "piped\n", "stream": True})
    try:
        out, _, exits = collect(r)
    finally:
        conn.close()
    assert out == b"piped\n" and exits[-1]["exitCode"] == 0


def test_stream_errors_are_http_errors(daemon, sandbox):
    conn, r = open_stream(daemon, sandbox, {"argv": ["true"], "cwd": "/nonexistent", "stream": True})
    try:
        assert r.status == 404, r.read()
    finally:
        conn.close()
    conn, r = open_stream(daemon, sandbox, {"argv": ["true"], "stream": "yes"})
    try:
        assert r.status == 400
    finally:
        conn.close()


def test_disconnect_mid_stream_kills_the_tree(daemon, client, sandbox):
    marker = "7351"
    cmd = f"sleep {marker}1 & sleep {marker}2 & echo started; sleep {marker}3"
    conn, r = open_stream(daemon, sandbox, {"command": cmd, "stream": True})
    first = json.loads(r.readline())
    assert first["type"] == "stdout" and base64.b64decode(first["data"]) == b"started\n"
    # The shell and its three sleeps.
    assert wait_until(lambda: len(procs_with_cmdline(marker)) == 4, 5), \
        procs_with_cmdline(marker)
    conn.sock.close()
    conn.close()
    assert wait_until(lambda: not procs_with_cmdline(marker), 10), \
        procs_with_cmdline(marker)
    # The sandbox is fine afterwards.
    assert client.sh(sandbox, "echo ok") == "ok\n"
