"""File watch: GET /files/watch streams NDJSON events for create, write,
remove and rename (with new subdirectories of a recursive watch followed),
until the client disconnects; a disconnect frees the watcher, so the
per-sandbox limit is never used up by clients that went away."""

import json
import os
import socket
import time

import pytest

from runra_client import q

WATCHERS_MAX = 16


class Watch:
    """A raw streaming GET over the unix socket: the status line and
    headers, then chunked NDJSON read event by event."""

    def __init__(self, daemon, sid, path, recursive=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(daemon.socket)
        url = q(f"/v1/sandboxes/{sid}/files/watch", path=path, recursive=recursive)
        self.sock.sendall(f"GET {url} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        self.buf = b""
        head = self._until(b"\r\n\r\n")
        self.status = int(head.split(b" ")[1])
        self.chunked = b"chunked" in head.lower()
        self.body = b""
        self.lines = []
        if not self.chunked:
            # An error answer with a Content-Length.
            n = int([h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")][0]
                    .split(b":")[1])
            while len(self.buf) < n:
                self.buf += self.sock.recv(65536)
            self.body = self.buf[:n]
        else:
            self.events([lambda e: e == {"type": "ready"}])

    def _until(self, sep):
        while sep not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        i = self.buf.index(sep)
        out, self.buf = self.buf[:i], self.buf[i + len(sep):]
        return out

    def _chunk(self):
        size = int(self._until(b"\r\n"), 16)
        while len(self.buf) < size + 2:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError
            self.buf += d
        data, self.buf = self.buf[:size], self.buf[size + 2:]
        return data

    def events(self, want, timeout=10):
        """Reads events until pred-list want (callables) all matched."""
        deadline = time.monotonic() + timeout
        got = []
        pending = list(want)
        while pending and time.monotonic() < deadline:
            self.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                data = self._chunk()
            except socket.timeout:
                break
            self.body += data
            while b"\n" in self.body:
                line, self.body = self.body.split(b"\n", 1)
                if not line.strip():
                    continue
                ev = json.loads(line)
                got.append(ev)
                pending = [p for p in pending if not p(ev)]
        assert not pending, f"missing events; got {got}"
        return got

    def close(self):
        self.sock.close()


def ev(type_, path, is_dir=None, **extra):
    def match(e):
        return (e.get("type") == type_ and e.get("path") == path
                and (is_dir is None or e.get("isDir") == is_dir)
                and all(e.get(k) == v for k, v in extra.items()))
    match.__name__ = f"{type_} {path}"
    return match


def test_events_flat(daemon, client, sandbox):
    client.sh(sandbox, "mkdir -p /workspace/w1")
    w = Watch(daemon, sandbox, "/workspace/w1")
    assert w.status == 200
    try:
        client.sh(sandbox, "cd /workspace/w1 && echo a > f && echo b >> f && mkdir d && "
                           "mv f g && rm g && rmdir d")
        w.events([ev("create", "/workspace/w1/f", False),
                  ev("write", "/workspace/w1/f", False),
                  ev("create", "/workspace/w1/d", True),
                  ev("rename", "/workspace/w1/g", False, **{"from": "/workspace/w1/f"}),
                  ev("remove", "/workspace/w1/g", False),
                  ev("remove", "/workspace/w1/d", True)])
    finally:
        w.close()


def test_recursive_follows_new_subdirs(daemon, client, sandbox):
    client.sh(sandbox, "mkdir -p /workspace/w2/old/deep")
    w = Watch(daemon, sandbox, "/workspace/w2", recursive=True)
    assert w.status == 200
    try:
        client.sh(sandbox, "echo x > /workspace/w2/old/deep/f")
        w.events([ev("create", "/workspace/w2/old/deep/f")])
        # A new tree: its first file may land before the watch is added, and
        # is reported either way; later writes deep inside are seen.
        client.sh(sandbox, "mkdir -p /workspace/w2/new/a/b && echo 1 > /workspace/w2/new/a/b/x")
        w.events([ev("create", "/workspace/w2/new", True),
                  ev("create", "/workspace/w2/new/a/b/x", False)])
        client.sh(sandbox, "echo 2 >> /workspace/w2/new/a/b/x && mv /workspace/w2/new "
                           "/workspace/w2/renamed && echo 3 > /workspace/w2/renamed/a/y")
        w.events([ev("write", "/workspace/w2/new/a/b/x"),
                  ev("rename", "/workspace/w2/renamed", True),
                  ev("create", "/workspace/w2/renamed/a/y")])
    finally:
        w.close()


def test_non_recursive_ignores_subdirs(daemon, client, sandbox):
    client.sh(sandbox, "mkdir -p /workspace/w3/sub")
    w = Watch(daemon, sandbox, "/workspace/w3")
    try:
        client.sh(sandbox, "echo x > /workspace/w3/sub/hidden && echo y > /workspace/w3/top")
        got = w.events([ev("create", "/workspace/w3/top")])
        assert not any(e.get("path", "").endswith("hidden") for e in got)
    finally:
        w.close()


def test_errors(daemon, client, sandbox):
    w = Watch(daemon, sandbox, "/workspace/no-such")
    assert w.status == 404, w.body
    w.close()
    client.sh(sandbox, "touch /workspace/afile")
    w = Watch(daemon, sandbox, "/workspace/afile")
    assert w.status == 400, w.body
    w.close()
    r = client.get(q(f"/v1/sandboxes/{sandbox}/files/watch", path="/workspace", bogus=1))
    assert r.status == 400


def test_disconnect_frees_watchers_and_limit(daemon, client, sandbox):
    client.sh(sandbox, "mkdir -p /workspace/w4")
    for _round in range(2):
        # Watchers of earlier tests (or rounds) go within a moment of their
        # client's disconnect.
        deadline = time.monotonic() + 10
        while True:
            ws = [Watch(daemon, sandbox, "/workspace/w4") for _ in range(WATCHERS_MAX)]
            if all(w.status == 200 for w in ws) or time.monotonic() > deadline:
                break
            for w in ws:
                w.close()
            time.sleep(0.3)
        assert all(w.status == 200 for w in ws), [w.status for w in ws]
        extra = Watch(daemon, sandbox, "/workspace/w4")
        assert extra.status == 409, extra.body
        assert b"watchers" in extra.body
        extra.close()
        # Every watcher sees events while open.
        client.sh(sandbox, "touch /workspace/w4/ping")
        for w in ws:
            w.events([ev("create", "/workspace/w4/ping")])
        client.sh(sandbox, "rm /workspace/w4/ping")
        for w in ws:
            w.close()
    # The guest's inotify instances go with them (seen from the host: the
    # sandbox cannot read runra-init's fds, which is not dumpable).
    ws = [Watch(daemon, sandbox, "/workspace/w4") for _ in range(3)]
    assert inotify_fds(daemon) >= 3
    for w in ws:
        w.close()
    deadline = time.monotonic() + 10
    while inotify_fds(daemon) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert inotify_fds(daemon) == 0


def inotify_fds(daemon):
    """inotify fds held by the runra-init processes of this daemon."""
    n = 0
    for pid in os.listdir("/proc"):
        try:
            with open(f"/proc/{pid}/stat") as f:
                st = f.read()
            if "(runra-init)" not in st or int(st.rsplit(")", 1)[1].split()[1]) != daemon.pid:
                continue
            fd_dir = f"/proc/{pid}/fd"
            n += sum(os.readlink(os.path.join(fd_dir, fd)) == "anon_inode:inotify"
                     for fd in os.listdir(fd_dir))
        except (OSError, ValueError, IndexError):
            continue
    return n


def test_cli_files_watch(daemon, client, sandbox):
    import subprocess
    build = os.path.realpath(os.environ.get(
        "RUNRA_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build")))
    env = dict(os.environ, RUNRA_NO_AUTOSTART="1")
    env.pop("RUNRA_SOCKET", None)
    client.sh(sandbox, "mkdir -p /workspace/w5")
    p = subprocess.Popen([os.path.join(build, "src", "cli", "runra"), "--socket", daemon.socket,
                          "files", "watch", sandbox, "/workspace/w5", "-r"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert json.loads(p.stdout.readline()) == {"type": "ready"}
        client.sh(sandbox, "mkdir /workspace/w5/d && echo hi > /workspace/w5/d/f")
        seen = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            seen.append(json.loads(p.stdout.readline()))
            if {"type": "create", "path": "/workspace/w5/d/f", "isDir": False} in seen:
                break
        assert {"type": "create", "path": "/workspace/w5/d", "isDir": True} in seen, seen
        assert {"type": "create", "path": "/workspace/w5/d/f", "isDir": False} in seen, seen
    finally:
        p.kill()
        p.wait()
    # Killing the CLI frees its watcher in the guest.
    deadline = time.monotonic() + 10
    while inotify_fds(daemon) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert inotify_fds(daemon) == 0
