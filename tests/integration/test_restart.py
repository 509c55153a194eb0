"""Sandboxes outlive runrad. A daemon stopped with SIGTERM (it keeps its
sandboxes by default) or killed with SIGKILL leaves them running; the next
daemon on the same state dir finds them in its store, reconnects to each
runra-init and everything keeps working: background processes, files,
paused state, exposed ports, secrets, owners. A sandbox whose processes
died while no daemon ran is reported ("failed"), and one created with
persist: true keeps its disk and comes back with resume ("stopped")."""

import http.client
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from conftest import BUILD_DIR, _live_daemons, finish_daemon
from runra_client import Daemon, Ident, cgroup_dirs_named, leftovers, procs_with_uids, wait_until

RUNRA = os.path.join(BUILD_DIR, "src", "cli", "runra")


class Restarts:
    """runrads one after another on one state dir."""

    def __init__(self):
        if os.geteuid() != 0:
            pytest.skip("runrad needs root (namespaces, cgroups, mounts)")
        self.top = tempfile.mkdtemp(prefix="runra-it-", dir="/tmp")
        self.state = os.path.join(self.top, "state")
        self.n = 0
        self.d = None

    def start(self, keep=True, extra=()):
        self.n += 1
        d = Daemon(BUILD_DIR, self.state,
                   ["--keep-sandboxes" if keep else "--no-keep-sandboxes", *extra])
        d.log_path = f"{self.state}.{self.n}.stderr.log"
        _live_daemons.append(d)
        d.start()
        self.d = d
        return d.client

    def _gone(self):
        self.d._log.close()
        _live_daemons.remove(self.d)

    def term(self):
        rc = self.d.stop(timeout=15)
        assert rc == 0, self.d.log()
        self._gone()

    def crash(self):
        self.d.proc.send_signal(signal.SIGKILL)
        self.d.proc.wait(10)
        self._gone()

    def finish(self):
        """A last daemon that destroys whatever is left, then checks that
        nothing of any sandbox survives it."""
        if self.d is not None and self.d.alive():
            self.d.kill()
            self._gone()
        self.start(keep=False)
        finish_daemon(self.d)


@pytest.fixture
def rs():
    r = Restarts()
    try:
        yield r
    finally:
        r.finish()


def counter(c, sid):
    r = c.request("GET", f"/v1/sandboxes/{sid}/files?path=/workspace/count")
    assert r.status == 200, r
    return int(r.body.decode().strip() or 0)


def start_counter(c, sid):
    r = c.request("POST", f"/v1/sandboxes/{sid}/processes",
                  {"command": "i=0; while :; do i=$((i+1)); echo $i > /workspace/count.new; "
                              "mv /workspace/count.new /workspace/count; sleep 0.05; done",
                   "tag": "count"})
    assert r.status == 201, r
    assert wait_until(lambda: c.request("GET", f"/v1/sandboxes/{sid}/files?path=/workspace/count")
                      .status == 200 and counter(c, sid) > 3, 10)
    return r.json()["pid"]


def sandbox_state(c, sid):
    r = c.request("GET", f"/v1/sandboxes/{sid}")
    assert r.status == 200, r
    return r.json()["state"]


def kill_sandbox_processes(sid):
    """What a host reboot does to a sandbox: every process of it dies."""
    dirs = cgroup_dirs_named(sid)
    assert dirs, f"no cgroup of {sid}"
    for d in dirs:
        if os.path.exists(os.path.join(d, "cgroup.kill")):
            with open(os.path.join(d, "cgroup.kill"), "w") as f:
                f.write("1")
    for d in dirs:
        try:
            with open(os.path.join(d, "cgroup.procs")) as f:
                for pid in f.read().split():
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        except FileNotFoundError:
            pass

    def empty():
        for d in dirs:
            try:
                with open(os.path.join(d, "cgroup.procs")) as f:
                    if f.read().strip():
                        return False
            except FileNotFoundError:
                pass
        return True
    assert wait_until(empty, 10), "the sandbox's processes did not die"


def http_get(port, path="/"):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read()


def events_of(c, sid):
    r = c.request("GET", f"/v1/events?sandbox={sid}")
    assert r.status == 200, r
    return [json.loads(l)["type"] for l in r.body.decode().splitlines() if l.strip()]


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_sandboxes_survive_a_daemon_restart(rs, how):
    c = rs.start()
    sid = c.create({"env": {"PLAIN": "visible"}, "secrets": {"TOKEN": "tok-" + os.urandom(6).hex()},
                    "metadata": {"team": "a"}})["id"]
    token = c.sh(sid, "printf %s \"$TOKEN\"")
    assert token.startswith("tok-")
    ident = Ident(c, sid)
    c.write(sid, "/workspace/kept.txt", b"written before the restart\n")
    pid = start_counter(c, sid)
    r = c.request("POST", f"/v1/sandboxes/{sid}/processes",
                  {"argv": ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"],
                   "cwd": "/workspace", "tag": "web"})
    assert r.status == 201, r
    r = c.request("POST", f"/v1/sandboxes/{sid}/ports", {"port": 8000})
    assert r.status == 201, r
    host_port = r.json()["hostPort"]
    assert wait_until(lambda: _fetches(host_port, "/kept.txt"), 15)

    rs.term() if how == "sigterm" else rs.crash()
    # No daemon now, and the sandbox runs on.
    assert procs_with_uids(ident), "the sandbox died with its daemon"
    time.sleep(0.5)

    c = rs.start()
    assert c.list_ids() == [sid]
    assert sandbox_state(c, sid) == "running"
    info = c.request("GET", f"/v1/sandboxes/{sid}").json()
    assert info["metadata"] == {"team": "a"} and info["envKeys"] == ["PLAIN"]
    assert "TOKEN" not in json.dumps(info) and token not in json.dumps(info)
    # The same processes, still counting, and the files.
    procs = c.request("GET", f"/v1/sandboxes/{sid}/processes").json()["processes"]
    tags = {p["tag"]: p for p in procs}
    assert tags["count"]["pid"] == pid and tags["count"]["state"] == "running", procs
    n = counter(c, sid)
    assert wait_until(lambda: counter(c, sid) > n + 3, 10)
    assert c.read(sid, "/workspace/kept.txt").body == b"written before the restart\n"
    # New work sees the sandbox's env and secrets, none of the daemon's.
    assert c.sh(sid, "printf '%s %s %s' \"$PLAIN\" \"$TOKEN\" \"${RUNRA_IT_CANARY:-none}\"") == \
        f"visible {token} none"
    # The exposed port is back, on the same host port.
    ports = c.request("GET", f"/v1/sandboxes/{sid}/ports").json()["ports"]
    assert ports == [{"port": 8000, "hostPort": host_port, "url": f"http://127.0.0.1:{host_port}"}]
    assert http_get(host_port, "/kept.txt") == b"written before the restart\n"
    # Logs of a process started before the restart still follow.
    r = c.request("GET", f"/v1/sandboxes/{sid}/processes/count/logs")
    assert r.status == 200, r
    assert "sandbox.reattached" in events_of(c, sid)
    # And it can still be destroyed completely.
    assert c.request("DELETE", f"/v1/sandboxes/{sid}").status == 204
    assert wait_until(lambda: not leftovers(rs.d.state_dir, sid, ident), 10), \
        leftovers(rs.d.state_dir, sid, ident)


def _fetches(port, path):
    try:
        http_get(port, path)
        return True
    except OSError:
        return False


def test_exec_in_flight_when_the_daemon_dies_ends_and_the_sandbox_stays(rs):
    c = rs.start()
    sid = c.create({})["id"]
    start_counter(c, sid)
    import threading
    box = {}

    def slow():
        try:
            box["r"] = c.request("POST", f"/v1/sandboxes/{sid}/exec",
                                 {"command": "sleep 31337; echo late > /workspace/late"}, timeout=60)
        except OSError as e:
            box["e"] = e
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    rs.crash()
    t.join(10)
    assert not t.is_alive() and "e" in box, box
    c = rs.start()
    assert sandbox_state(c, sid) == "running"
    # The exec died with its connection (runra-init kills a dropped call's
    # process tree); the background process did not.
    assert c.sh(sid, "pgrep -f 'sleep 3133[7]' || echo none").strip() == "none"
    n = counter(c, sid)
    assert wait_until(lambda: counter(c, sid) > n, 10)
    assert c.sh(sid, "echo still here") == "still here\n"


def test_a_paused_sandbox_stays_paused_across_a_restart(rs):
    c = rs.start()
    sid = c.create({})["id"]
    start_counter(c, sid)
    assert c.request("POST", f"/v1/sandboxes/{sid}/pause").status == 200
    time.sleep(0.2)
    rs.term()
    time.sleep(1.0)  # 20 ticks of the counter, were it running
    c = rs.start()
    assert sandbox_state(c, sid) == "paused"
    r = c.request("POST", f"/v1/sandboxes/{sid}/exec", {"command": "true"})
    assert r.status == 409 and "paused" in r.json()["error"]["message"], r
    # A crash while paused changes nothing either.
    rs.crash()
    c = rs.start()
    assert sandbox_state(c, sid) == "paused"
    r = c.request("POST", f"/v1/sandboxes/{sid}/resume")
    assert r.status == 200 and r.json()["state"] == "running", r
    # Right after the resume the counter is where the pause left it.
    first = counter(c, sid)
    assert wait_until(lambda: counter(c, sid) > first + 3, 10)
    procs = c.request("GET", f"/v1/sandboxes/{sid}/processes").json()["processes"]
    assert [p["state"] for p in procs if p["tag"] == "count"] == ["running"], procs
    assert c.sh(sid, "echo ok") == "ok\n"


def test_a_sandbox_that_died_while_the_daemon_was_away_is_reported(rs):
    c = rs.start()
    sid = c.create({})["id"]
    ident = Ident(c, sid)
    rs.term()
    kill_sandbox_processes(sid)
    c = rs.start()
    assert c.list_ids() == [sid]
    assert sandbox_state(c, sid) == "failed"
    r = c.request("POST", f"/v1/sandboxes/{sid}/exec", {"command": "true"})
    assert r.status == 502 and "gone" in r.json()["error"]["message"], r
    r = c.request("POST", f"/v1/sandboxes/{sid}/resume")
    assert r.status == 502, r
    assert "sandbox.failed" in events_of(c, sid)
    # Its resources are already gone; only the record remains until deleted.
    # (The dead init was the old daemon's child, so the host's init reaps it.)
    assert wait_until(lambda: not procs_with_uids(ident), 10)
    assert not cgroup_dirs_named(sid)
    assert c.request("DELETE", f"/v1/sandboxes/{sid}").status == 204
    assert wait_until(lambda: not leftovers(rs.d.state_dir, sid, ident), 10)
    # Across another restart it stays deleted.
    rs.term()
    c = rs.start()
    assert c.list_ids() == []


def test_persist_brings_the_workspace_back_after_a_reboot(rs):
    c = rs.start()
    sid = c.create({"persist": True, "secrets": {"TOKEN": "persisted"},
                    "resources": {"diskMb": 64}})["id"]
    assert c.request("GET", f"/v1/sandboxes/{sid}").json()["persist"] is True
    c.write(sid, "/workspace/notes.md", b"# kept across reboots\n")
    c.sh(sid, "mkdir -p /workspace/src && seq 1 1000 > /workspace/src/nums && "
              "echo etc > /root/.profile-note")
    sums = c.sh(sid, "cd / && sha256sum workspace/notes.md workspace/src/nums root/.profile-note")
    start_counter(c, sid)
    r = c.request("POST", f"/v1/sandboxes/{sid}/ports", {"port": 9000})
    assert r.status == 201, r
    # "Reboot": the daemon and every process of the sandbox die.
    rs.crash()
    kill_sandbox_processes(sid)
    c = rs.start()
    assert sandbox_state(c, sid) == "stopped"
    assert "sandbox.stopped" in events_of(c, sid)
    r = c.request("POST", f"/v1/sandboxes/{sid}/exec", {"command": "true"})
    assert r.status == 409 and "stopped" in r.json()["error"]["message"], r
    r = c.request("POST", f"/v1/sandboxes/{sid}/pause")
    assert r.status == 409, r
    r = c.request("POST", f"/v1/sandboxes/{sid}/resume")
    assert r.status == 200 and r.json()["state"] == "running", r
    # Every file, processes started fresh, the secret, the exposed port.
    assert c.sh(sid, "cd / && sha256sum workspace/notes.md workspace/src/nums "
                     "root/.profile-note") == sums
    procs = c.request("GET", f"/v1/sandboxes/{sid}/processes").json()["processes"]
    assert procs == [], procs
    assert c.sh(sid, "printf %s \"$TOKEN\"") == "persisted"
    ports = c.request("GET", f"/v1/sandboxes/{sid}/ports").json()["ports"]
    assert [p["port"] for p in ports] == [9000]
    # A stopped sandbox survives further restarts as stopped, and a clean
    # restart keeps the restarted one.
    rs.term()
    c = rs.start()
    assert sandbox_state(c, sid) == "running"
    assert c.read(sid, "/workspace/notes.md").body == b"# kept across reboots\n"


def runra(d, *args):
    return subprocess.run([RUNRA, "--socket", d.socket, *args], stdin=subprocess.DEVNULL,
                          capture_output=True, timeout=60)


def test_auto_resume_restarts_a_stopped_sandbox(rs):
    c = rs.start()
    p = runra(rs.d, "create", "--persist", "--auto-resume")
    assert p.returncode == 0, p
    sid = p.stdout.decode().strip()
    info = c.request("GET", f"/v1/sandboxes/{sid}").json()
    assert info["persist"] is True and info["autoResume"] is True, info
    c.write(sid, "/workspace/a", b"A")
    rs.term()
    kill_sandbox_processes(sid)
    c = rs.start()
    p = runra(rs.d, "ls")
    assert p.returncode == 0 and sid in p.stdout.decode() and "stopped" in p.stdout.decode(), p
    p = runra(rs.d, "exec", sid, "--", "cat", "/workspace/a")
    assert p.returncode == 0 and p.stdout == b"A", p
    assert sandbox_state(c, sid) == "running"


def test_timeout_and_network_changes_survive_a_restart(rs):
    c = rs.start()
    sid = c.create({"timeoutMs": 600000})["id"]
    r = c.request("PATCH", f"/v1/sandboxes/{sid}", {"timeoutMs": 3000, "onTimeout": "pause"})
    assert r.status == 200, r
    rs.crash()
    c = rs.start()
    info = c.request("GET", f"/v1/sandboxes/{sid}").json()
    assert info["timeoutMs"] == 3000 and info["onTimeout"] == "pause", info
    # It expires on time under the new daemon, as the PATCH said: paused.
    assert wait_until(lambda: sandbox_state(c, sid) == "paused", 10)


def test_no_keep_sandboxes_destroys_them_on_exit(rs):
    c = rs.start(keep=False)
    sid = c.create({})["id"]
    ident = Ident(c, sid)
    rs.term()
    assert wait_until(lambda: not procs_with_uids(ident), 10)
    assert not leftovers(rs.state, sid, ident)
    c = rs.start()
    assert c.list_ids() == []


def _free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def _tcp(port, key, method, path, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        h = {"Authorization": "Bearer " + key}
        data = None
        if body is not None:
            h["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_owners_survive_a_restart(rs):
    port = _free_port()
    c = rs.start(extra=["--listen", f"127.0.0.1:{port}"])
    ka = c.request("POST", "/v1/keys", {"name": "a"}).json()["key"]
    kb = c.request("POST", "/v1/keys", {"name": "b"}).json()["key"]
    st, body = _tcp(port, ka, "POST", "/v1/sandboxes", {})
    assert st == 201, body
    sid = json.loads(body)["id"]
    rs.crash()
    c = rs.start(extra=["--listen", f"127.0.0.1:{port}"])
    assert _tcp(port, ka, "GET", f"/v1/sandboxes/{sid}")[0] == 200
    assert _tcp(port, kb, "GET", f"/v1/sandboxes/{sid}")[0] == 404
    assert _tcp(port, kb, "DELETE", f"/v1/sandboxes/{sid}")[0] == 404
    st, body = _tcp(port, kb, "GET", "/v1/sandboxes")
    assert st == 200 and sid not in body.decode()
