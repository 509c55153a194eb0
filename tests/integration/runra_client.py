"""A small client for runrad's HTTP/1.1 API over its unix socket, a handle on
a running daemon, and host-side probes for what a sandbox leaves behind.

Everything here talks to the real binaries; nothing is mocked. The probes
read /proc and /sys directly so the tests see what the host sees, not what
the daemon says about itself."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse

DEFAULT_TIMEOUT = 60.0
# The backend sandboxes are created with when a test names none: "vm" under
# `make check-vm`. VM daemons share a cache of the guest kernel and root
# disks (a host root disk takes a minute or more to build).
TEST_BACKEND = os.environ.get("RUNRA_TEST_BACKEND", "ns")
VM_CACHE = os.environ.get("RUNRA_VM_CACHE", "/var/cache/runra/vm-test")
VM = TEST_BACKEND == "vm"


# Every process forks forever and retries when fork fails, so the bomb
# keeps pressing on a pids limit until the exec's timeout.
FORK_BOMB = ("python3 -c \"\n"
             "import os, time\n"
             "while True:\n"
             "    try:\n"
             "        os.fork()\n"
             "    except OSError:\n"
             "        time.sleep(0.01)\n"
             "\"")


def ns_only(reason):
    """Marks a test that holds for the ns backend only (under `make
    check-vm` it is skipped, with the reason: a VM has its own kernel, and
    test_vm.py checks what the VM has instead)."""
    import pytest
    return pytest.mark.skipif(VM, reason=f"ns backend only: {reason}")


# Tests that find the sandbox's processes in the host's /proc.
HOST_PROCS = "it reads the sandbox's processes from the host's /proc; a VM's live in its own kernel"
# Put in every daemon's environment; no sandbox may ever see it.
CANARY = "host-env-canary-5521"


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over an AF_UNIX stream socket."""

    def __init__(self, path, timeout=DEFAULT_TIMEOUT):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise AssertionError(f"response {self.status} is not JSON: {self.body[:300]!r}") from e

    @property
    def error_code(self):
        """The error code of an error response, asserting the error shape."""
        j = self.json()
        assert isinstance(j, dict) and set(j) == {"error"}, f"not an error body: {j}"
        err = j["error"]
        assert isinstance(err.get("code"), str) and err["code"], f"error without code: {j}"
        assert isinstance(err.get("message"), str) and err["message"], f"error without message: {j}"
        return err["code"]

    def __repr__(self):
        return f"<Response {self.status} {self.body[:400]!r}>"


def q(_url, **params):
    """Builds a path with a query string (params left out when None)."""
    items = [(k, v if isinstance(v, str) else str(v).lower() if isinstance(v, bool) else str(v))
             for k, v in params.items() if v is not None]
    return _url + ("?" + urllib.parse.urlencode(items) if items else "")


class Client:
    def __init__(self, sock_path):
        self.sock_path = sock_path

    def request(self, method, path, body=None, headers=None, timeout=DEFAULT_TIMEOUT):
        hdrs = dict(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        conn = UnixHTTPConnection(self.sock_path, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def put(self, path, body, **kw):
        return self.request("PUT", path, body=body, **kw)

    # -- typed helpers that assert success --------------------------------

    def health(self):
        r = self.get("/v1/health")
        assert r.status == 200, r
        return r.json()

    def count(self):
        """Sandboxes in the table, once the daemon has finished tearing down
        the ones already deleted (DELETE answers before teardown ends)."""
        deadline = time.monotonic() + 10
        h = self.health()
        while h.get("destroying", 0) and time.monotonic() < deadline:
            time.sleep(0.01)
            h = self.health()
        return h["sandboxes"]

    def list_ids(self, **filters):
        r = self.get(q("/v1/sandboxes", **{f"metadata.{k}": v for k, v in filters.items()}))
        assert r.status == 200, r
        return [s["id"] for s in r.json()["sandboxes"]]

    def create(self, spec=None, timeout=DEFAULT_TIMEOUT):
        spec = dict(spec) if spec is not None else {}
        # `make check-vm` runs the black-box suites against the VM backend.
        if TEST_BACKEND != "ns" and "backend" not in spec:
            spec["backend"] = TEST_BACKEND
        r = self.post("/v1/sandboxes", spec, timeout=timeout)
        assert r.status == 201, f"create {spec}: {r}"
        return r.json()

    def destroy(self, sid):
        r = self.delete(f"/v1/sandboxes/{sid}")
        assert r.status == 204, f"delete {sid}: {r}"

    def exec_raw(self, sid, timeout=DEFAULT_TIMEOUT, **req):
        return self.post(f"/v1/sandboxes/{sid}/exec", req, timeout=timeout)

    def exec(self, sid, command=None, timeout=DEFAULT_TIMEOUT, **req):
        if command is not None:
            req["command"] = command
        r = self.exec_raw(sid, timeout=timeout, **req)
        assert r.status == 200, f"exec {req}: {r}"
        return r.json()

    def sh(self, sid, command, **req):
        """Runs a command that must succeed; returns its stdout."""
        res = self.exec(sid, command, **req)
        assert res["exitCode"] == 0, f"{command!r} failed: {res}"
        return res["stdout"]

    def files(self, sid, suffix=""):
        return f"/v1/sandboxes/{sid}/files{suffix}"

    def read(self, sid, path, **params):
        return self.get(q(self.files(sid), path=path, **params))

    def write(self, sid, path, data, **params):
        return self.put(q(self.files(sid), path=path, **params), data,
                        headers={"Content-Type": "application/octet-stream"})

    def stat(self, sid, path):
        return self.get(q(self.files(sid, "/stat"), path=path))

    def listdir(self, sid, path):
        return self.get(q(self.files(sid, "/list"), path=path))

    def remove(self, sid, path, **params):
        return self.delete(q(self.files(sid), path=path, **params))

    def mkdir(self, sid, **body):
        return self.post(self.files(sid, "/mkdir"), body)

    def move(self, sid, **body):
        return self.post(self.files(sid, "/move"), body)


def raw_request(sock_path, data, timeout=30.0, shut_write=False):
    """Sends raw bytes and returns everything the daemon answers (for
    requests http.client would refuse to build)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sock_path)
    try:
        try:
            s.sendall(data)
            if shut_write:
                s.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
            if b"\r\n\r\n" in out:
                head, _, rest = out.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if m and len(rest) >= int(m.group(1)):
                    break
        return out
    finally:
        s.close()


def parse_raw_response(out):
    head, _, body = out.partition(b"\r\n\r\n")
    line = head.split(b"\r\n", 1)[0].decode()
    status = int(line.split()[1])
    return Response(status, {}, body)


class Daemon:
    """A runrad process on a private state dir."""

    def __init__(self, build_dir, state_dir, extra_args=(), socket_path=None, wrap=()):
        self.wrap = list(wrap)  # e.g. nsenter into a test's network namespace
        self.build_dir = build_dir
        self.binary = os.path.join(build_dir, "src", "daemon", "runrad")
        self.state_dir = os.path.realpath(state_dir)
        self.socket = socket_path or os.path.join(self.state_dir, "runra.sock")
        if socket_path:
            extra_args = ["--socket", socket_path, *extra_args]
        self.log_path = self.state_dir + ".stderr.log"
        # Tests count sandboxes and dirs exactly, so the warm pool is off
        # unless a test asks for it.
        if "--pool" not in extra_args:
            extra_args = ["--pool", "0", *extra_args]
        # Sandbox networking changes the firewall of the daemon's network
        # namespace; only the egress tests (which run the daemon in a
        # namespace of their own, with --dns) turn it on.
        if "--dns" not in extra_args:
            extra_args = ["--no-network", *extra_args]
        # Tests own their sandboxes: a daemon they stop takes its sandboxes
        # with it unless the test is about keeping them.
        if "--keep-sandboxes" not in extra_args and "--no-keep-sandboxes" not in extra_args:
            extra_args = ["--no-keep-sandboxes", *extra_args]
        # The secrets key lives beside the state dir, never in it (the
        # default, /run/runra, would collect one file per test daemon).
        if "--secrets-key" not in extra_args:
            extra_args = ["--secrets-key", self.state_dir + ".secrets.key", *extra_args]
        # Tests send traffic only to loopback: an image name that would go
        # to Docker Hub (node:22) goes to the fixture registry a suite serves
        # ($RUNRA_TEST_REGISTRY, tests/images/serve_fixtures.py) or else to
        # a closed loopback port, unless the test brings a config of its own.
        if "--config" not in extra_args:
            self.config_path = self.state_dir + ".runrad.json"
            reg = os.environ.get("RUNRA_TEST_REGISTRY")
            regs = {"docker.io": {"mirrors": [f"http://{reg or '127.0.0.1:9'}"],
                                  "mirrorsOnly": True}}
            if reg:
                regs[reg] = {"insecure": True}
            with open(self.config_path, "w") as f:
                json.dump({"registries": regs}, f)
            extra_args = ["--config", self.config_path, *extra_args]
        # VM sandboxes share one cache of the guest kernel and root disks.
        if "--vm-cache" not in extra_args:
            extra_args = ["--vm-cache", VM_CACHE, *extra_args]
        self.extra_args = list(extra_args)
        self.proc = None
        self.client = Client(self.socket)

    def start(self, wait=20.0):
        if not os.access(self.binary, os.X_OK):
            raise AssertionError(f"runrad not built at {self.binary} (run `make`)")
        os.makedirs(self.state_dir, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [*self.wrap, self.binary, "--state-dir", self.state_dir, "--log-level", "debug",
             *self.extra_args],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
            env=dict(os.environ, RUNRA_IT_CANARY=CANARY))
        deadline = time.monotonic() + wait
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"runrad exited with {self.proc.returncode} during startup:\n{self.log()}")
            try:
                r = self.client.request("GET", "/v1/health", timeout=2)
                if r.status == 200:
                    return self
                last = r
            except OSError as e:
                last = e
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"runrad did not answer /v1/health within {wait}s ({last}):\n{self.log()}")

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self, tail=20000):
        try:
            with open(self.log_path, "rb") as f:
                data = f.read()
        except OSError:
            return "(no log)"
        return data[-tail:].decode(errors="replace")

    def stop(self, timeout=10.0):
        """SIGTERMs the daemon and returns its exit code (None: it hung and was killed)."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return None
        self._log.close()
        return self.proc.returncode

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# -- host-side probes ------------------------------------------------------

def _pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def mountinfo_mentions(needle):
    """Every (pid, line) of any process's mountinfo that contains needle."""
    hits = []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/mountinfo", "r", errors="replace") as f:
                for line in f:
                    if needle in line:
                        hits.append((pid, line.strip()))
        except OSError:
            continue
    return hits


def host_uid_ranges(client, sid):
    """The host uid ranges a sandbox's ids map to, read from inside."""
    out = client.sh(sid, "cat /proc/self/uid_map")
    ranges = []
    for line in out.splitlines():
        inner, outer, count = (int(x) for x in line.split())
        ranges.append((outer, outer + count))
    assert ranges, f"empty uid_map: {out!r}"
    return ranges


class Ident:
    """What identifies a sandbox's processes on the host: its mapped uids and
    its user namespace. (Two daemons on one host may hand out the same uids,
    so the namespace keeps one test from seeing another's sandboxes.)"""

    def __init__(self, client, sid):
        self.sid = sid
        self.ranges = host_uid_ranges(client, sid)
        self.userns = client.sh(sid, "readlink /proc/self/ns/user").strip()
        assert self.userns.startswith("user:["), self.userns

    def __repr__(self):
        return f"<sandbox {self.sid} uids {self.ranges} {self.userns}>"


def procs_with_uids(ranges, userns=None):
    """pids of host processes whose real, effective or saved uid is in a
    range (and, given userns, that live in that user namespace)."""
    if isinstance(ranges, Ident):
        ranges, userns = ranges.ranges, ranges.userns
    found = []
    for pid in _pids():
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("Uid:"):
                        uids = [int(x) for x in line.split()[1:]]
                        if any(lo <= u < hi for u in uids for lo, hi in ranges):
                            if userns is None or os.readlink(f"/proc/{pid}/ns/user") == userns:
                                found.append(pid)
                        break
        except OSError:
            continue
    return found


def procs_with_cmdline(marker):
    """pids of host processes whose command line contains marker."""
    found = []
    me = os.getpid()
    for pid in _pids():
        if pid == me:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if marker.encode() in cmd:
            found.append((pid, cmd.replace(b"\0", b" ").decode(errors="replace")))
    return found


CGROUP_ROOT = "/sys/fs/cgroup"


def cgroup_dirs_named(sid):
    """cgroup directories whose name contains the sandbox id, on any
    hierarchy (v1 controllers, the v2 mount, or a pure v2 root)."""
    hits = []
    bases = []
    for cand in [CGROUP_ROOT] + [os.path.join(CGROUP_ROOT, d) for d in os.listdir(CGROUP_ROOT)]:
        for sub in ("runra", "runra.slice"):
            p = os.path.join(cand, sub)
            if os.path.isdir(p):
                bases.append(p)
    for base in bases:
        for root, dirs, _ in os.walk(base):
            for d in dirs:
                if sid in d:
                    hits.append(os.path.join(root, d))
    return hits


def loop_devices_backed_by(prefix):
    hits = []
    try:
        names = os.listdir("/sys/block")
    except OSError:
        return hits
    for name in names:
        if not name.startswith("loop"):
            continue
        try:
            with open(f"/sys/block/{name}/loop/backing_file") as f:
                backing = f.read().strip()
        except OSError:
            continue
        if backing.startswith(prefix):
            hits.append((name, backing))
    return hits


def wait_until(pred, timeout, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def leftovers(state_dir, sid=None, ident=None):
    """Everything a sandbox (or, without sid, the daemon as a whole) may leak,
    as a dict of non-empty findings."""
    state_dir = os.path.realpath(state_dir)
    found = {}
    needle = os.path.join(state_dir, "sandboxes", sid) if sid else state_dir
    m = mountinfo_mentions(needle)
    if m:
        found["mounts"] = m[:10]
    if sid:
        c = cgroup_dirs_named(sid)
        if c:
            found["cgroups"] = c
        d = os.path.join(state_dir, "sandboxes", sid)
        if os.path.exists(d):
            found["dir"] = d
    else:
        sb = os.path.join(state_dir, "sandboxes")
        if os.path.isdir(sb) and os.listdir(sb):
            found["dirs"] = os.listdir(sb)
    if ident:
        p = procs_with_uids(ident)
        if p:
            found["processes"] = p
    lo = loop_devices_backed_by(state_dir)
    if lo:
        found["loop"] = lo
    return found


def state_tree(state_dir):
    """The set of directories and non-database files under the state dir (for
    'bad input changes nothing')."""
    out = set()
    for root, dirs, files in os.walk(state_dir):
        rel = os.path.relpath(root, state_dir)
        for d in dirs:
            out.add(("d", os.path.normpath(os.path.join(rel, d))))
        for f in files:
            if not f.startswith("runra.db") and f != "runra.sock":
                out.add(("f", os.path.normpath(os.path.join(rel, f))))
    return out
