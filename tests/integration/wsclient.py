"""A minimal RFC 6455 client for the attach endpoint, over runrad's unix
socket: the handshake (checked against the accept key the RFC defines),
masked frames out, frames in. Raw enough that tests can also send what a
broken client would."""

import base64
import hashlib
import json
import os
import socket
import struct
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__(f"closed {code} {reason!r}")
        self.code = code
        self.reason = reason


class HandshakeRefused(Exception):
    def __init__(self, status, head, body):
        super().__init__(f"handshake refused: {status} {body[:300]!r}")
        self.status = status
        self.head = head
        self.body = body

    def json(self):
        return json.loads(self.body)


def frame(op, payload, fin=True, mask=True, rsv=0):
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        head = struct.pack("!BBH", b0, m | 126, n)
    else:
        head = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(c ^ key[i & 3] for i, c in enumerate(payload))


class WS:
    def __init__(self, sock_path, path, timeout=30.0, headers=None):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(sock_path)
        self.buf = b""
        key = base64.b64encode(os.urandom(16))
        hdrs = {"Host": "localhost", "Upgrade": "websocket", "Connection": "Upgrade",
                "Sec-WebSocket-Key": key.decode(), "Sec-WebSocket-Version": "13"}
        hdrs.update(headers or {})
        req = f"GET {path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items() if v is not None) + "\r\n"
        self.sock.sendall(req.encode())
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {}
        for l in lines[1:]:
            k, v = l.split(":", 1)
            fields[k.strip().lower()] = v.strip()
        if status != 101:
            n = int(fields.get("content-length", "0"))
            while len(self.buf) < n:
                self._fill()
            body = self.buf[:n]
            self.sock.close()
            raise HandshakeRefused(status, fields, body)
        want = base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()
        assert fields.get("sec-websocket-accept") == want, fields
        assert fields.get("upgrade", "").lower() == "websocket", fields
        self.fields = fields

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed")
        self.buf += d

    def _need(self, n):
        while len(self.buf) < n:
            self._fill()

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_stdin(self, data):
        self.sock.sendall(frame(2, b"\x00" + data))

    def send_json(self, obj):
        self.sock.sendall(frame(1, json.dumps(obj).encode()))

    def close(self, code=1000):
        try:
            self.sock.sendall(frame(8, struct.pack("!H", code)))
        except OSError:
            pass

    def recv_frame(self):
        """(fin, op, payload) of the next frame; asserts it is unmasked."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        assert not b1 & 0x80, "server frames must not be masked"
        n = b1 & 0x7F
        off = 2
        if n == 126:
            self._need(4)
            n = struct.unpack("!H", self.buf[2:4])[0]
            off = 4
        elif n == 127:
            self._need(10)
            n = struct.unpack("!Q", self.buf[2:10])[0]
            off = 10
        self._need(off + n)
        payload = self.buf[off:off + n]
        self.buf = self.buf[off + n:]
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def events(self):
        """Yields ("stdout"|"stderr", bytes), ("json", obj), ("pong", bytes);
        raises Closed at the server's close frame."""
        while True:
            fin, op, p = self.recv_frame()
            assert fin
            if op == 2:
                assert p[:1] in (b"\x01", b"\x02"), p[:10]
                yield ("stdout" if p[0] == 1 else "stderr"), p[1:]
            elif op == 1:
                yield "json", json.loads(p)
            elif op == 10:
                yield "pong", p
            elif op == 8:
                code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
                raise Closed(code, p[2:].decode(errors="replace"))
            else:
                raise AssertionError(f"unexpected opcode {op}")

    def read_until(self, needle, timeout=20.0):
        """Output (stdout+stderr) until needle appears; returns all of it."""
        out = b""
        end = time.time() + timeout
        self.sock.settimeout(timeout)
        for kind, data in self.events():
            if kind in ("stdout", "stderr"):
                out += data
                if needle in out:
                    return out
            if time.time() > end:
                break
        raise AssertionError(f"{needle!r} not seen in {out[-500:]!r}")

    def drain(self, timeout=20.0):
        """Everything until the close: (output, json events, close code)."""
        out, evs = b"", []
        self.sock.settimeout(timeout)
        try:
            for kind, data in self.events():
                if kind in ("stdout", "stderr"):
                    out += data
                elif kind == "json":
                    evs.append(data)
        except Closed as c:
            return out, evs, c.code
        raise AssertionError("no close")

    def shutdown(self):
        self.sock.close()
