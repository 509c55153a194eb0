"""GET /metrics: the Prometheus text format, checked by promtool (Debian's
prometheus package), with figures that follow what the daemon did: creates,
destroys, execs in the latency histogram, a sandbox's CPU seconds growing
while it spins, its memory and OOM kills, pause state."""

import os
import re
import shutil
import subprocess
import time

import pytest

from runra_client import wait_until


def metrics(c):
    r = c.request("GET", "/metrics")
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4"), r.headers
    return r.body.decode()


def value(text, name, **labels):
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pat = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if labels else "") + r" (\S+)$"
    for line in text.splitlines():
        m = re.match(pat, line)
        if m:
            return float(m.group(1))
    return None


def promtool_check(text):
    if not shutil.which("promtool"):
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, (p.stdout, p.stderr, text[:2000])


def test_metrics_follow_the_daemon(client):
    c = client
    m0 = metrics(c)
    promtool_check(m0)
    created0 = value(m0, "runra_sandboxes_created_total")
    execs0 = value(m0, "runra_exec_duration_seconds_count")
    sid = c.create({"resources": {"memoryMb": 64}})["id"]
    try:
        for _ in range(3):
            assert c.sh(sid, "true") == ""
        r = c.request("POST", f"/v1/sandboxes/{sid}/exec",
                      {"command": "sh -c 'x=a; while :; do x=$x$x; done'", "timeoutMs": 20000})
        assert r.json()["oomKilled"], r
        c.request("POST", f"/v1/sandboxes/{sid}/processes",
                  {"command": "while :; do :; done"})
        m1 = metrics(c)
        promtool_check(m1)
        assert value(m1, "runra_sandboxes_created_total") == created0 + 1
        assert value(m1, "runra_exec_duration_seconds_count") >= execs0 + 4
        assert value(m1, "runra_exec_duration_seconds_bucket", le="+Inf") == \
            value(m1, "runra_exec_duration_seconds_count")
        assert value(m1, "runra_sandboxes", state="running") >= 1
        assert value(m1, "runra_sandbox_memory_bytes", sandbox=sid) > 0
        assert value(m1, "runra_sandbox_oom_kills_total", sandbox=sid) >= 1
        cpu1 = value(m1, "runra_sandbox_cpu_seconds_total", sandbox=sid)
        assert cpu1 is not None
        time.sleep(1.0)
        cpu2 = value(metrics(c), "runra_sandbox_cpu_seconds_total", sandbox=sid)
        assert cpu2 > cpu1 + 0.3, (cpu1, cpu2)
        c.request("POST", f"/v1/sandboxes/{sid}/pause")
        m2 = metrics(c)
        assert value(m2, "runra_sandboxes", state="paused") >= 1
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")
    assert wait_until(lambda: value(metrics(c), "runra_sandboxes_destroyed_total") >=
                      value(m0, "runra_sandboxes_destroyed_total") + 1, 10)
    assert value(metrics(c), "runra_sandbox_memory_bytes", sandbox=sid) is None
    r = c.request("GET", "/metrics?x=1")
    assert r.status == 400, r
