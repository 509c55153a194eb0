"""A small client for the runra guest protocol, for integration tests.

Frames are a 12-byte little-endian header (payload length, call id, type,
flags) and a payload. Guest starts runra-init on a listening unix socket in a
temporary directory; Conn speaks frames and sorts the ones it receives by
call id, so tests can run several calls at once.
"""

import json
import os
import signal
import socket
import struct
import subprocess
import time
from collections import defaultdict, deque
from pathlib import Path

HDR = struct.Struct("<IIHH")
MAX_PAYLOAD = 1 << 20

HELLO, ERROR, RESULT = 1, 2, 3
EXEC, STDIN, STDOUT, STDERR, EXIT, SIGNAL, CANCEL = 10, 11, 12, 13, 14, 15, 16
FILE_READ, FILE_WRITE, DATA, FILE_LIST, FILE_STAT = 20, 21, 22, 23, 24
FILE_MKDIR, FILE_REMOVE, FILE_MOVE, PING = 25, 26, 27, 30

ENDS_CALL = (ERROR, RESULT, EXIT)


def build_dir():
    env = os.environ.get("RUNRA_BUILD_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "build"


def init_binary():
    return build_dir() / "src" / "guest" / "runra-init"


class GuestError(Exception):
    def __init__(self, errno_, message):
        super().__init__(f"[{errno_}] {message}")
        self.errno = errno_
        self.message = message


class Conn:
    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.pending = defaultdict(deque)
        self.next_id = 1
        self.hello = self.expect(0, HELLO)

    def close(self):
        self.sock.close()

    def new_id(self):
        i = self.next_id
        self.next_id += 1
        return i

    # Raw frames.
    def send(self, ftype, cid, payload=b"", flags=0):
        if isinstance(payload, str):
            payload = payload.encode()
        self.sock.sendall(HDR.pack(len(payload), cid, ftype, flags) + payload)

    def send_json(self, ftype, cid, obj):
        self.send(ftype, cid, json.dumps(obj).encode())

    def _recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError("connection closed by runra-init")
            buf += chunk
        return bytes(buf)

    def recv_frame(self):
        ln, cid, ftype, flags = HDR.unpack(self._recv_exact(HDR.size))
        assert flags == 0
        assert ln <= MAX_PAYLOAD
        return ftype, cid, self._recv_exact(ln) if ln else b""

    def next(self, cid):
        """The next frame for call cid, as (type, payload)."""
        while not self.pending[cid]:
            ftype, fid, payload = self.recv_frame()
            self.pending[fid].append((ftype, payload))
        return self.pending[cid].popleft()

    def expect(self, cid, ftype):
        t, p = self.next(cid)
        if t == ERROR and ftype != ERROR:
            e = json.loads(p)
            raise GuestError(e["errno"], e["message"])
        assert t == ftype, f"expected frame type {ftype}, got {t}: {p[:200]!r}"
        return json.loads(p) if p else None

    # Calls.
    def call(self, ftype, obj, cid=None):
        cid = cid or self.new_id()
        if obj is None:
            self.send(ftype, cid)
        else:
            self.send_json(ftype, cid, obj)
        return self.expect(cid, RESULT)

    def exec_start(self, argv, cid=None, **kw):
        cid = cid or self.new_id()
        req = {"argv": argv}
        for k, v in kw.items():
            req[k] = v
        self.send_json(EXEC, cid, req)
        return cid

    def exec_wait(self, cid):
        out, err = bytearray(), bytearray()
        while True:
            t, p = self.next(cid)
            if t == STDOUT:
                out += p
            elif t == STDERR:
                err += p
            elif t == EXIT:
                res = json.loads(p)
                res["stdout"] = bytes(out)
                res["stderr"] = bytes(err)
                return res
            elif t == ERROR:
                e = json.loads(p)
                raise GuestError(e["errno"], e["message"])
            else:
                raise AssertionError(f"unexpected frame {t} in exec")

    def exec(self, argv, stdin=None, **kw):
        if stdin is not None:
            kw["stdin"] = True
        cid = self.exec_start(argv, **kw)
        if stdin is not None:
            for i in range(0, len(stdin), MAX_PAYLOAD):
                self.send(STDIN, cid, stdin[i:i + MAX_PAYLOAD])
            self.send(STDIN, cid, b"")
        return self.exec_wait(cid)

    def write_file(self, path, data, chunk=MAX_PAYLOAD, **kw):
        cid = self.new_id()
        req = {"path": path}
        req.update(kw)
        self.send_json(FILE_WRITE, cid, req)
        for i in range(0, len(data), chunk):
            self.send(DATA, cid, data[i:i + chunk])
        self.send(DATA, cid, b"")
        return self.expect(cid, RESULT)

    def read_file(self, path, **kw):
        cid = self.new_id()
        req = {"path": path}
        req.update(kw)
        self.send_json(FILE_READ, cid, req)
        data = bytearray()
        while True:
            t, p = self.next(cid)
            if t == DATA:
                assert 0 < len(p) <= MAX_PAYLOAD
                data += p
            elif t == RESULT:
                res = json.loads(p)
                assert res["size"] == len(data)
                return bytes(data)
            elif t == ERROR:
                e = json.loads(p)
                raise GuestError(e["errno"], e["message"])
            else:
                raise AssertionError(f"unexpected frame {t} in read")


class Guest:
    """runra-init serving on a unix socket in tmpdir, with --workdir."""

    def __init__(self, tmpdir, workdir):
        self.sock_path = Path(tmpdir) / "init.sock"
        self.workdir = Path(workdir)
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(str(self.sock_path))
        lsock.listen(4)
        self.proc = subprocess.Popen(
            [str(init_binary()), "--listen-fd", str(lsock.fileno()), "--workdir",
             str(self.workdir)],
            pass_fds=(lsock.fileno(),), stdin=subprocess.DEVNULL)
        lsock.close()

    @property
    def pid(self):
        return self.proc.pid

    def connect(self, timeout=30.0):
        return Conn(self.sock_path, timeout)

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def proc_stat(pid):
    """(state, ppid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1])


def children(pid):
    """[(child pid, state)] of pid, from /proc."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == pid:
                out.append((int(d), st[0]))
    return out


def wait_until(pred, timeout=5.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(step)
    return pred()
