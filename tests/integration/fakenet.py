"""A fake internet for the egress tests, built from network namespaces on
this machine, so no test traffic ever leaves it.

    [router netns]  runrad, its sandboxes' veths, nftables  --- veth ---  [internet netns]
                    198.18.0.1/30, default route ->                       198.18.0.2/30
                                                                           services on lo:
        198.51.100.10  allowed.test, sub.wild.test   HTTP 80, HTTPS 443, banner 2222, UDP 9999
        198.51.100.11  denied.test                   (same services)
        203.0.113.5    (reached by CIDR rules)       (same services)
        169.254.169.254  the "metadata" address      (same services)
        198.51.100.53  dnsmasq, the daemon's upstream resolver (queries logged)

Every address a test aims at lives in the internet namespace and the
router's only route leads there, so even a leak stays on this machine.
Each HTTP(S) answer names the host it was asked for and the address that
served it, so a test can tell where a connection really went."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

HOSTS = ["198.51.100.10", "198.51.100.11", "203.0.113.5", "169.254.169.254"]
DNS_ADDR = "198.51.100.53"
NAMES = {
    "allowed.test": "198.51.100.10",
    "sub.wild.test": "198.51.100.10",
    "wild.test": "198.51.100.10",
    "denied.test": "198.51.100.11",
    "cidr.test": "203.0.113.5",
    "rebind.test": "10.1.2.3",
    "meta.test": "169.254.169.254",
}

SERVER = r'''
import socket, ssl, sys, threading
addrs = sys.argv[1].split(",")
cert, key = sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)

def http_answer(c, local):
    c.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        d = c.recv(65536)
        if not d:
            return
        data += d
    host = b"-"
    for line in data.split(b"\r\n")[1:]:
        if line.lower().startswith(b"host:"):
            host = line.split(b":", 1)[1].strip()
    path = data.split(b" ")[1]
    if path.startswith(b"/bytes/"):
        n = int(path[7:])
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % n)
        chunk = b"x" * 65536
        while n > 0:
            c.sendall(chunk[:min(n, len(chunk))])
            n -= min(n, len(chunk))
        return
    body = b"host=" + host + b" addr=" + local.encode() + b"\n"
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)

def serve(addr, port, tls):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(128)
    while True:
        c, _ = s.accept()
        def run(c=c):
            try:
                if tls:
                    c = ctx.wrap_socket(c, server_side=True)
                if port == 2222:
                    c.sendall(b"banner " + addr.encode() + b"\n")
                else:
                    http_answer(c, addr)
            except Exception:
                pass
            finally:
                try:
                    c.close()
                except Exception:
                    pass
        threading.Thread(target=run, daemon=True).start()

def udp(addr):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((addr, 9999))
    while True:
        d, peer = s.recvfrom(65536)
        with open("/tmp/fakenet-udp-" + addr, "ab") as f:
            f.write(d + b"\n")

for a in addrs:
    for port, tls in ((80, False), (443, True), (2222, False)):
        threading.Thread(target=serve, args=(a, port, tls), daemon=True).start()
    threading.Thread(target=udp, args=(a,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
'''


def sh(*args, check=True):
    return subprocess.run(args, check=check, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


class FakeNet:
    def __init__(self):
        tag = os.urandom(3).hex()
        self.router = f"rrt-{tag}"
        self.inet = f"rri-{tag}"
        self.dir = tempfile.mkdtemp(prefix="runra-fakenet-")
        self.procs = []
        self.dns_log = os.path.join(self.dir, "dnsmasq.log")

    def ns(self, name, *cmd, check=True):
        return sh("ip", "netns", "exec", name, *cmd, check=check)

    def up(self):
        """Builds it all; on any failure takes down what was built."""
        try:
            return self._up()
        except BaseException:
            self.down()
            raise

    def _up(self):
        for n in (self.router, self.inet):
            sh("ip", "netns", "add", n)
            self.ns(n, "ip", "link", "set", "lo", "up")
        sh("ip", "link", "add", "rrup0", "netns", self.router, "type", "veth", "peer", "name",
           "rrdn0", "netns", self.inet)
        self.ns(self.router, "ip", "addr", "add", "198.18.0.1/30", "dev", "rrup0")
        self.ns(self.router, "ip", "link", "set", "rrup0", "up")
        self.ns(self.router, "ip", "route", "add", "default", "via", "198.18.0.2")
        self.ns(self.inet, "ip", "addr", "add", "198.18.0.2/30", "dev", "rrdn0")
        self.ns(self.inet, "ip", "link", "set", "rrdn0", "up")
        for a in HOSTS + [DNS_ADDR]:
            self.ns(self.inet, "ip", "addr", "add", a + "/32", "dev", "lo")
        # A certificate for every test name (clients here skip verification
        # anyway; SNI is what matters).
        cert, key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
           "/CN=allowed.test", "-keyout", key, "-out", cert)
        script = os.path.join(self.dir, "server.py")
        with open(script, "w") as f:
            f.write(SERVER)
        p = subprocess.Popen(["ip", "netns", "exec", self.inet, "python3", script, ",".join(HOSTS),
                              cert, key], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        assert p.stdout.readline().strip() == b"ready"
        dns = ["ip", "netns", "exec", self.inet, "dnsmasq", "--keep-in-foreground", "--no-resolv",
               "--no-hosts", "--bind-interfaces", "--listen-address=" + DNS_ADDR,
               "--except-interface=rrdn0", "--log-queries", "--log-facility=" + self.dns_log,
               "--pid-file=" + os.path.join(self.dir, "dnsmasq.pid"), "--user=root",
               "--txt-record=txt.allowed.test,hello"]
        for name, addr in NAMES.items():
            dns.append(f"--address=/{name}/{addr}")
        p = subprocess.Popen(dns, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.procs.append(p)
        deadline = time.time() + 10
        while time.time() < deadline:
            r = self.ns(self.inet, "python3", "-c",
                        "import socket;s=socket.socket(2,2);s.settimeout(0.2);"
                        "s.sendto(bytes.fromhex('12340100000100000000000007616c6c6f776564"
                        f"04746573740000010001'),('{DNS_ADDR}',53));s.recv(512)",
                        check=False)
            if r.returncode == 0:
                break
            time.sleep(0.1)
        return self

    def dns_queries(self):
        try:
            with open(self.dns_log) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def udp_seen(self, addr):
        path = f"/tmp/fakenet-udp-{addr}"
        try:
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            return b""

    def down(self):
        for p in self.procs:
            p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
        for n in (self.router, self.inet):
            sh("ip", "netns", "del", n, check=False)
        for a in HOSTS:
            try:
                os.unlink(f"/tmp/fakenet-udp-{a}")
            except FileNotFoundError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
