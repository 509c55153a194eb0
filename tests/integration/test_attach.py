"""PTY processes and the attach WebSocket, against a real runrad: a shell on
a pseudo-terminal sees its window size and gets resizes, keys reach it and
its exit comes back; a client that leaves detaches (or, asked to, kills);
broken frames and bad handshakes get the close code or HTTP error the RFC
and the API name. Then `runra exec -it` and `runra attach` driven through a
real terminal: a pty this test opens, whose size it changes the way a
terminal emulator does."""

import fcntl
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import termios
import time

import pytest

from conftest import BUILD_DIR
from runra_client import wait_until
from wsclient import WS, Closed, HandshakeRefused, frame

RUNRA = os.path.join(BUILD_DIR, "src", "cli", "runra")


def start(client, sid, body):
    r = client.request("POST", f"/v1/sandboxes/{sid}/processes", body)
    assert r.status == 201, r
    return r.json()


def proc_state(client, sid, pid):
    r = client.request("GET", f"/v1/sandboxes/{sid}/processes")
    assert r.status == 200, r
    return {p["pid"]: p for p in r.json()["processes"]}[pid]


def attach(daemon, sid, ref, **q):
    qs = "&".join(f"{k}={v}" for k, v in q.items())
    return WS(daemon.socket, f"/v1/sandboxes/{sid}/processes/{ref}/attach" + ("?" + qs if qs else ""))


@pytest.fixture(scope="module")
def sid(client):
    sb = client.create({})
    yield sb["id"]
    client.request("DELETE", f"/v1/sandboxes/{sb['id']}")


def test_pty_shell_size_resize_and_exit(client, daemon, sid):
    p = start(client, sid, {"argv": ["sh"], "pty": {"cols": 101, "rows": 33}, "tag": "tshell"})
    assert p["pty"] is True
    ws = attach(daemon, sid, "tshell")
    ws.send_stdin(b"stty size; tty; test -t 0 && test -t 2 && echo both-t''ty\n")
    out = ws.read_until(b"both-tty\r\n")
    assert b"33 101" in out and b"/dev/pts/" in out
    ws.send_json({"type": "resize", "cols": 120, "rows": 40})
    ws.send_stdin(b"stty size\n")
    assert b"40 120" in ws.read_until(b"40 120")
    # ^C reaches the remote line discipline and interrupts the foreground job.
    ws.send_stdin(b"sleep 300; echo after-s''leep\n")
    time.sleep(0.3)
    ws.send_stdin(b"\x03")
    ws.send_stdin(b"echo al''ive\n")
    out = ws.read_until(b"alive\r\n")
    assert b"after-sleep" not in out
    ws.send_stdin(b"exit 7\n")
    out, evs, code = ws.drain()
    assert code == 1000
    assert evs and evs[-1]["type"] == "exit" and evs[-1]["exitCode"] == 7, evs
    assert proc_state(client, sid, p["pid"])["state"] == "exited"


def test_pty_true_is_80x24_and_plain_processes_have_none(client, daemon, sid):
    p = start(client, sid, {"command": "stty size", "pty": True})
    ws = attach(daemon, sid, p["pid"])
    out, evs, code = ws.drain()
    assert b"24 80" in out and evs[-1]["exitCode"] == 0
    p = start(client, sid, {"command": "sleep 30"})
    assert p["pty"] is False
    r = client.request("POST", f"/v1/sandboxes/{sid}/processes/{p['pid']}/resize",
                       {"cols": 10, "rows": 10})
    assert r.status == 409 and r.error_code == "not_a_terminal", r
    client.request("POST", f"/v1/sandboxes/{sid}/processes/{p['pid']}/signal", {"signal": "KILL"})


def test_resize_route_and_bad_sizes(client, daemon, sid):
    p = start(client, sid, {"argv": ["sh"], "pty": {"cols": 50, "rows": 20}})
    url = f"/v1/sandboxes/{sid}/processes/{p['pid']}/resize"
    r = client.request("POST", url, {"cols": 77, "rows": 21})
    assert r.status == 200 and r.json() == {"cols": 77, "rows": 21}, r
    ws = attach(daemon, sid, p["pid"])
    ws.send_stdin(b"stty size\n")
    ws.read_until(b"21 77")
    for bad in ({"cols": 0, "rows": 10}, {"cols": 10, "rows": 5000}, {"cols": "x", "rows": 1},
                {"cols": 10}, {"cols": 10, "rows": 10, "extra": 1}):
        r = client.request("POST", url, bad)
        assert r.status == 400 and r.error_code == "invalid_argument", (bad, r)
    for bad in ({"cols": 0, "rows": 1}, {"cols": 1}, "yes", 3, {"cols": 9, "rows": 9, "x": 1}):
        r = client.request("POST", f"/v1/sandboxes/{sid}/processes",
                           {"command": "true", "pty": bad})
        assert r.status == 400 and r.error_code == "invalid_argument", (bad, r)
    # A bad resize inside the session is an error event; the session goes on.
    ws.send_json({"type": "resize", "cols": 0, "rows": 3})
    kind, ev = next(e for e in ws.events() if e[0] == "json")
    assert ev["type"] == "error" and "cols" in ev["message"], ev
    ws.send_stdin(b"exit 0\n")
    assert ws.drain()[2] == 1000


def test_plain_process_streams_stdin_and_eof(client, daemon, sid):
    p = start(client, sid, {"command": "echo started; cat; echo done >&2"})
    ws = attach(daemon, sid, p["pid"])
    ws.send_stdin(b"line one\n")
    seen = {"stdout": b"", "stderr": b""}
    for kind, data in ws.events():
        if kind in seen:
            seen[kind] += data
        if b"line one" in seen["stdout"]:
            break
    ws.send_json({"type": "eof"})
    evs = []
    with pytest.raises(Closed) as c:
        for kind, data in ws.events():
            if kind in seen:
                seen[kind] += data
            else:
                evs.append(data)
    assert c.value.code == 1000 and evs[-1]["exitCode"] == 0
    # Streams keep their channel: stderr never arrives as stdout.
    assert seen == {"stdout": b"started\nline one\n", "stderr": b"done\n"}, seen


def test_reattach_after_disconnect_replays_and_continues(client, daemon, sid):
    p = start(client, sid, {"argv": ["sh"], "pty": True, "tag": "reattach"})
    ws = attach(daemon, sid, "reattach")
    ws.send_stdin(b"echo first-$((40+2))\n")
    ws.read_until(b"first-42")
    ws.shutdown()  # no close frame: the client just goes
    time.sleep(0.3)
    assert proc_state(client, sid, p["pid"])["state"] == "running"
    ws = attach(daemon, sid, "reattach")
    assert b"first-42" in ws.read_until(b"first-42")  # the ring, replayed
    ws.send_stdin(b"echo second-$((50+5))\n")
    ws.read_until(b"second-55")
    ws.close()
    with pytest.raises(Closed) as c:
        for _ in ws.events():
            pass
    assert c.value.code == 1000
    assert proc_state(client, sid, p["pid"])["state"] == "running"
    client.request("POST", f"/v1/sandboxes/{sid}/processes/reattach/signal", {"signal": "KILL"})


def test_kill_on_close_ends_the_process(client, daemon, sid):
    p = start(client, sid, {"argv": ["sh"], "pty": True})
    ws = attach(daemon, sid, p["pid"], kill="true")
    ws.send_stdin(b"echo rea''dy\n")
    ws.read_until(b"ready")
    ws.shutdown()
    assert wait_until(lambda: proc_state(client, sid, p["pid"])["state"] == "exited", 10), \
        "the attached process was not killed when its client left"


def test_signal_control_and_ping(client, daemon, sid):
    p = start(client, sid, {"argv": ["sleep", "300"]})
    ws = attach(daemon, sid, p["pid"])
    ws.send_raw(frame(9, b"are-you-there"))
    assert next(ws.events()) == ("pong", b"are-you-there")
    ws.send_json({"type": "signal", "signal": "TERM"})
    out, evs, code = ws.drain()
    assert evs[-1]["signal"] == signal.SIGTERM and evs[-1]["exitCode"] == 128 + signal.SIGTERM


def test_attach_to_an_exited_process_gives_its_output_and_exit(client, daemon, sid):
    p = start(client, sid, {"command": "echo gone; exit 4"})
    assert wait_until(lambda: proc_state(client, sid, p["pid"])["state"] == "exited", 10)
    out, evs, code = attach(daemon, sid, p["pid"]).drain()
    assert out == b"gone\n" and evs[-1]["exitCode"] == 4 and code == 1000


def test_handshake_errors(client, daemon, sid):
    p = start(client, sid, {"command": "sleep 60"})
    base = f"/v1/sandboxes/{sid}/processes/{p['pid']}/attach"
    # A plain GET: 426 with a message saying what to send.
    r = client.request("GET", base)
    assert r.status == 426 and r.error_code == "upgrade_required", r
    with pytest.raises(HandshakeRefused) as e:
        WS(daemon.socket, base, headers={"Sec-WebSocket-Version": "8"})
    assert e.value.status == 426
    with pytest.raises(HandshakeRefused) as e:
        WS(daemon.socket, base, headers={"Sec-WebSocket-Key": "c2hvcnQ="})
    assert e.value.status == 400
    with pytest.raises(HandshakeRefused) as e:
        WS(daemon.socket, f"/v1/sandboxes/{sid}/processes/99999/attach")
    assert e.value.status == 404 and e.value.json()["error"]["code"] == "not_found"
    with pytest.raises(HandshakeRefused) as e:
        WS(daemon.socket, base + "?bogus=1")
    assert e.value.status == 400
    with pytest.raises(HandshakeRefused) as e:
        WS(daemon.socket, "/v1/sandboxes/nosuchbox/processes/1/attach")
    assert e.value.status == 404
    client.request("POST", f"/v1/sandboxes/{sid}/processes/{p['pid']}/signal", {"signal": "KILL"})


@pytest.mark.parametrize("raw,code", [
    (frame(2, b"\x00hi", mask=False), 1002),                 # unmasked client frame
    (frame(2, b"\x00hi", rsv=0x40), 1002),                   # reserved bit
    (frame(3, b"x"), 1002),                                  # unknown opcode
    (frame(9, b"p" * 126), 1002),                            # control frame over 125
    (frame(9, b"p", fin=False), 1002),                       # fragmented control frame
    (frame(0, b"x"), 1002),                                  # continuation of nothing
    (frame(2, b"\x05oops"), 1003),                           # binary on an unknown channel
    (frame(1, b"{not json"), 1007),                          # bad control message
    (frame(1, b'{"type":"launch"}'), 1007),                  # unknown control message
    (frame(1, b'{"type":"resize","cols":1,"rows":1,"x":2}'), 1007),
    (struct.pack("!BBQ", 0x82, 0xFF, 2 << 20) + b"mask", 1009),  # a 2 MiB frame, refused by its head
])
def test_broken_frames_get_their_close_code(client, daemon, sid, raw, code):
    p = start(client, sid, {"argv": ["sleep", "60"]})
    ws = attach(daemon, sid, p["pid"])
    ws.send_raw(raw)
    with pytest.raises(Closed) as c:
        for _ in ws.events():
            pass
    assert c.value.code == code, c.value
    ws.shutdown()
    # The process is untouched by a client's mistakes.
    assert proc_state(client, sid, p["pid"])["state"] == "running"
    client.request("POST", f"/v1/sandboxes/{sid}/processes/{p['pid']}/signal", {"signal": "KILL"})


def test_fragmented_stdin_and_big_message_under_the_limit(client, daemon, sid):
    p = start(client, sid, {"command": "head -c 700000 | wc -c"})
    ws = attach(daemon, sid, p["pid"])
    ws.send_raw(frame(2, b"\x00" + b"a" * 1000, fin=False))
    ws.send_raw(frame(9, b"mid"))  # a control frame between fragments is allowed
    ws.send_raw(frame(0, b"b" * 1000, fin=True))
    ws.send_stdin(b"c" * 698000)
    out, evs, code = ws.drain()
    assert out.strip() == b"700000" and evs[-1]["exitCode"] == 0, (out, evs)


def test_destroy_while_attached_ends_the_session(client, daemon):
    sb = client.create({})
    p = start(client, sb["id"], {"argv": ["sh"], "pty": True})
    ws = attach(daemon, sb["id"], p["pid"])
    ws.send_stdin(b"echo u''p\n")
    ws.read_until(b"up")
    t0 = time.monotonic()
    r = client.request("DELETE", f"/v1/sandboxes/{sb['id']}")
    assert r.status == 204, r
    out, evs, code = ws.drain(timeout=15)
    assert code in (1000, 1011), code
    assert time.monotonic() - t0 < 10


def test_process_limit_of_followers_applies_to_attaches(client, daemon, sid):
    p = start(client, sid, {"argv": ["sleep", "60"]})
    wss = [attach(daemon, sid, p["pid"]) for _ in range(16)]
    ws = attach(daemon, sid, p["pid"])  # the 17th: refused inside the guest
    with pytest.raises(Closed):
        for _ in ws.events():
            pass
    for w in wss:
        w.shutdown()
    client.request("POST", f"/v1/sandboxes/{sid}/processes/{p['pid']}/signal", {"signal": "KILL"})


# ---- the CLI through a real terminal --------------------------------------

class Term:
    """runra running on a pty this test owns, as a terminal emulator runs a
    program: keys in, screen bytes out, window size set on the master."""

    def __init__(self, argv, rows=24, cols=80):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                env = dict(os.environ, TERM="xterm-256color", RUNRA_NO_AUTOSTART="1")
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        self.resize(rows, cols)
        self.out = b""
        self.status = None

    def resize(self, rows, cols):
        # The kernel sends SIGWINCH to the terminal's foreground group: runra.
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, b):
        os.write(self.fd, b)

    def expect(self, needle, timeout=20):
        end = time.time() + timeout
        while needle not in self.out:
            left = end - time.time()
            assert left > 0, f"{needle!r} not on screen; got {self.out[-600:]!r}"
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    d = os.read(self.fd, 65536)
                except OSError:
                    d = b""
                if not d:
                    assert needle in self.out, f"EOF before {needle!r}; got {self.out[-600:]!r}"
                self.out += d
        return self.out

    def wait(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            try:
                r, _, _ = select.select([self.fd], [], [], 0.1)
                if r:
                    self.out += os.read(self.fd, 65536)
            except OSError:
                pass
            pid, st = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(st)
                return self.status
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"runra did not exit; screen: {self.out[-600:]!r}")

    def lflags(self):
        return termios.tcgetattr(self.fd)[3]


def test_cli_exec_it_is_a_real_terminal(daemon, sid):
    t = Term([RUNRA, "--socket", daemon.socket, "exec", "-it", sid, "--", "sh"], rows=31, cols=97)
    t.send(b"stty size; echo $TERM; tty\r")
    t.expect(b"31 97")
    t.expect(b"xterm-256color")
    # runra put its own terminal in raw mode: no local echo, no line editing.
    assert not t.lflags() & (termios.ECHO | termios.ICANON)
    t.resize(44, 132)
    time.sleep(0.3)
    t.send(b"stty size\r")
    t.expect(b"44 132")
    # ^C goes to the remote terminal, not to runra.
    t.send(b"sleep 300\r")
    time.sleep(0.3)
    t.send(b"\x03")
    t.send(b"echo still-$((1+1))\r")
    t.expect(b"still-2")
    t.send(b"exit 6\r")
    assert t.wait() == 6
    # ... and put it back on the way out.
    assert t.lflags() & termios.ECHO and t.lflags() & termios.ICANON
    os.close(t.fd)


def test_cli_start_tty_attach_detach_reattach(daemon, sid):
    e = dict(os.environ, RUNRA_NO_AUTOSTART="1")
    p = subprocess.run([RUNRA, "--socket", daemon.socket, "start", "-t", "--tag", "cli-sh", sid,
                        "--", "sh"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    assert p.returncode == 0, p
    t = Term([RUNRA, "--socket", daemon.socket, "attach", sid, "cli-sh"], rows=25, cols=90)
    t.send(b"stty size\r")
    t.expect(b"25 90")
    t.send(b"\x10\x11")  # ^P^Q: detach
    assert t.wait() == 0
    assert b"detached" in t.out
    os.close(t.fd)
    ps = subprocess.run([RUNRA, "--socket", daemon.socket, "ps", sid], stdout=subprocess.PIPE,
                        env=e).stdout
    assert any(b"cli-sh" in l and b"running" in l for l in ps.splitlines()), ps
    t = Term([RUNRA, "--socket", daemon.socket, "attach", sid, "cli-sh"])
    t.send(b"exit 5\r")
    assert t.wait() == 5
    os.close(t.fd)


def test_cli_exec_t_refuses_what_it_cannot_do(daemon, sid):
    e = dict(os.environ, RUNRA_NO_AUTOSTART="1")
    p = subprocess.run([RUNRA, "--socket", daemon.socket, "exec", "-t", "--json", sid, "true"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    assert p.returncode == 2 and b"-t" in p.stderr, p
    # Without a terminal on this side -t still runs the command on one there.
    p = subprocess.run([RUNRA, "--socket", daemon.socket, "exec", "-t", sid, "--", "sh", "-c",
                        "tty; exit 3"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=e, timeout=30)
    assert p.returncode == 3 and b"/dev/pts/" in p.stdout, p
