"""Exposed ports: POST /ports opens a listener on the host's 127.0.0.1 whose
connections are relayed to 127.0.0.1:PORT inside the sandbox. HTTP and a
WebSocket echo go through unchanged; a refused connection closes promptly;
DELETE and destroying the sandbox close the listener; errors and the limit."""

import base64
import hashlib
import os
import socket
import struct
import time
import urllib.request

import pytest

PORTS_MAX = 16

WS_SERVER = r'''
import base64, hashlib, socket, struct
G = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 8765)); s.listen(4)
def rd(c, n):
    b = b""
    while len(b) < n:
        x = c.recv(n - len(b))
        if not x: raise EOFError
        b += x
    return b
while True:
    c, _ = s.accept()
    h = b""
    while b"\r\n\r\n" not in h:
        x = c.recv(4096)
        if not x: break
        h += x
    if b"\r\n\r\n" not in h:
        c.close(); continue
    key = [l.split(b":", 1)[1].strip() for l in h.split(b"\r\n") if l.lower().startswith(b"sec-websocket-key")][0]
    acc = base64.b64encode(hashlib.sha1(key + G).digest())
    c.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acc + b"\r\n\r\n")
    try:
        while True:
            b0, b1 = rd(c, 2)
            n = b1 & 127
            if n == 126: n = struct.unpack(">H", rd(c, 2))[0]
            elif n == 127: n = struct.unpack(">Q", rd(c, 8))[0]
            mask = rd(c, 4) if b1 & 128 else b"\0\0\0\0"
            data = bytes(x ^ mask[i % 4] for i, x in enumerate(rd(c, n)))
            if b0 & 15 == 8: break
            hdr = bytes([0x80 | (b0 & 15)]) + (bytes([n]) if n < 126 else b"\x7e" + struct.pack(">H", n))
            c.sendall(hdr + data)
    except EOFError:
        pass
    c.close()
'''


def P(sid, suffix=""):
    return f"/v1/sandboxes/{sid}/ports{suffix}"


def expose(client, sid, port):
    r = client.post(P(sid), {"port": port})
    assert r.status == 201, r
    j = r.json()
    assert j["port"] == port and j["url"] == f"http://127.0.0.1:{j['hostPort']}"
    return j


def start_bg(client, sid, command, tag):
    r = client.post(f"/v1/sandboxes/{sid}/processes", {"command": command, "tag": tag})
    assert r.status == 201, r


def wait_listening(client, sid, port):
    """Waits until something listens on port inside the sandbox."""
    code = (f"import socket,time\nfor i in range(200):\n  s=socket.socket()\n  try:\n"
            f"    s.connect(('127.0.0.1',{port})); break\n  except OSError: time.sleep(0.05)\n"
            f"  finally: s.close()\n")
    client.write(sid, "/tmp/wait.py", code)
    client.exec(sid, "python3 /tmp/wait.py")


def host_listening(port):
    """True while some socket listens on 127.0.0.1:port on the host."""
    want = f"0100007F:{port:04X}"
    for path in ("/proc/net/tcp",):
        with open(path) as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[1] == want and parts[3] == "0A":
                    return True
    return False


def refused(port):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
    except ConnectionRefusedError:
        return True
    finally:
        s.close()
    return False


@pytest.fixture(scope="module")
def web(client):
    sb = client.create({})
    sid = sb["id"]
    client.exec(sid, "mkdir -p /tmp/www && printf 'hello through the port\\n' > /tmp/www/index.html"
                " && head -c 3000000 /dev/urandom > /tmp/www/big.bin")
    start_bg(client, sid, "cd /tmp/www && exec python3 -m http.server 8000 --bind 127.0.0.1", "web")
    wait_listening(client, sid, 8000)
    yield sid
    client.destroy(sid)


def test_http_through_port(client, web):
    p = expose(client, web, 8000)
    with urllib.request.urlopen(p["url"] + "/index.html", timeout=10) as r:
        assert r.read() == b"hello through the port\n"
    big = client.read(web, "/tmp/www/big.bin").body
    with urllib.request.urlopen(p["url"] + "/big.bin", timeout=30) as r:
        got = r.read()
    assert hashlib.sha256(got).hexdigest() == hashlib.sha256(big).hexdigest()
    lst = client.get(P(web)).json()["ports"]
    assert [x["port"] for x in lst] == [8000] and lst[0]["hostPort"] == p["hostPort"]
    # Concurrent fetches.
    for _ in range(5):
        with urllib.request.urlopen(p["url"] + "/index.html", timeout=10) as r:
            assert r.status == 200
    r = client.delete(P(web, "/8000"))
    assert r.status == 204, r
    assert refused(p["hostPort"])
    assert client.get(P(web)).json()["ports"] == []


def test_websocket_echo(client, web):
    client.write(web, "/tmp/ws.py", WS_SERVER)
    start_bg(client, web, "exec python3 /tmp/ws.py", "ws")
    wait_listening(client, web, 8765)
    p = expose(client, web, 8765)
    s = socket.create_connection(("127.0.0.1", p["hostPort"]), timeout=10)
    key = base64.b64encode(os.urandom(16))
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        assert chunk
        head += chunk
    head, rest = head.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101")
    accept = base64.b64encode(hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest())
    assert b"Sec-WebSocket-Accept: " + accept in head
    msg = b"hello websocket"
    mask = os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
    buf = rest
    while len(buf) < 2 + len(msg):
        chunk = s.recv(4096)
        assert chunk
        buf += chunk
    assert buf[0] == 0x81 and buf[1] == len(msg) and buf[2:2 + len(msg)] == msg
    s.close()
    assert client.delete(P(web, "/8765")).status == 204


def test_refused_is_a_prompt_close(client, web):
    p = expose(client, web, 9)
    s = socket.create_connection(("127.0.0.1", p["hostPort"]), timeout=10)
    t0 = time.monotonic()
    s.sendall(b"GET / HTTP/1.0\r\n\r\n")
    try:
        data = s.recv(100)
    except ConnectionResetError:
        data = b""
    assert data == b"" and time.monotonic() - t0 < 5
    s.close()
    assert client.delete(P(web, "/9")).status == 204


def test_errors_and_limit(client, web):
    assert client.post(P(web), {"port": 0}).status == 400
    assert client.post(P(web), {"port": 65536}).status == 400
    assert client.post(P(web), {"port": "80"}).status == 400
    assert client.post(P(web), {"port": 80, "x": 1}).status == 400
    assert client.post(P("nosuchsandbox"), {"port": 80}).status == 404
    assert client.delete(P(web, "/4242")).status == 404
    assert client.delete(P(web, "/0")).status == 400
    assert client.delete(P(web, "/abc")).status == 400
    expose(client, web, 4242)
    r = client.post(P(web), {"port": 4242})
    assert r.status == 409, r
    for port in range(5000, 5000 + PORTS_MAX - 1):
        expose(client, web, port)
    r = client.post(P(web), {"port": 6000})
    assert r.status == 409 and "16" in r.json()["error"]["message"], r
    for port in [4242] + list(range(5000, 5000 + PORTS_MAX - 1)):
        assert client.delete(P(web, f"/{port}")).status == 204
    assert client.get(P(web)).json()["ports"] == []


def test_destroy_closes_everything(client):
    sid = client.create({})["id"]
    start_bg(client, sid, "exec python3 -m http.server 8000 --bind 127.0.0.1", "web")
    wait_listening(client, sid, 8000)
    p = expose(client, sid, 8000)
    hp = p["hostPort"]
    # An idle connection held open across the destroy.
    held = socket.create_connection(("127.0.0.1", hp), timeout=10)
    held.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert held.recv(12).startswith(b"HTTP/1.")
    assert host_listening(hp)
    client.destroy(sid)
    deadline = time.monotonic() + 10
    while host_listening(hp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not host_listening(hp)
    assert refused(hp)
    # The held connection is closed too.
    held.settimeout(10)
    try:
        while held.recv(65536):
            pass
    except ConnectionResetError:
        pass
    held.close()


RUNRA = os.path.join(os.path.realpath(os.environ.get(
    "RUNRA_BUILD_DIR", os.path.join(os.path.dirname(__file__), "..", "..", "build"))),
    "src", "cli", "runra")


def run_cli(daemon, *args):
    import subprocess
    env = dict(os.environ, RUNRA_NO_AUTOSTART="1")
    env.pop("RUNRA_SOCKET", None)
    return subprocess.run([RUNRA, "--socket", daemon.socket, *args], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60, env=env)


def test_cli_port(daemon, client, web):
    r = run_cli(daemon, "port", web, "8000")
    assert r.returncode == 0, r.stderr
    url = r.stdout.decode().strip()
    assert url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(url + "/index.html", timeout=10) as resp:
        assert resp.read() == b"hello through the port\n"
    r = run_cli(daemon, "port", "ls", web)
    assert r.returncode == 0 and url in r.stdout.decode(), r
    r = run_cli(daemon, "port", web, "8000")
    assert r.returncode != 0 and b"already" in r.stderr, r
    r = run_cli(daemon, "port", web, "70000")
    assert r.returncode != 0, r
    r = run_cli(daemon, "port", "rm", web, "8000")
    assert r.returncode == 0, r.stderr
    assert refused(int(url.rsplit(":", 1)[1]))
