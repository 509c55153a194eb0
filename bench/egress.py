#!/usr/bin/env python3
"""Egress proxy cost, side by side in one run: an HTTPS download and small
HTTPS requests from a sandbox through runrad's transparent proxy, against
the same transfers made directly from the namespace runrad runs in, to the
same server on the test's fake internet (tests/integration/fakenet.py).
curl measures itself (-w), so process start-up is not in the figures.

usage: bench/egress.py BUILD_DIR"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(top, "tests", "integration"))
from fakenet import DNS_ADDR, FakeNet  # noqa: E402
from runra_client import Client  # noqa: E402

SIZE = 100 * 1024 * 1024
ROUNDS = int(os.environ.get("BENCH_EGRESS_ROUNDS", "9"))
SMALL = int(os.environ.get("BENCH_EGRESS_SMALL", "60"))
CURL = "curl -sk --noproxy '*' -o /dev/null -w '%{speed_download} %{time_appconnect} %{time_starttransfer}\\n'"


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "build"))
    net = FakeNet().up()
    state = tempfile.mkdtemp(prefix="runra-bench-egress-")
    sock = os.path.join(state, "runra.sock")
    d = subprocess.Popen(["nsenter", f"--net=/run/netns/{net.router}",
                          os.path.join(build, "src", "daemon", "runrad"), "--state-dir", state,
                          "--pool", "0", "--dns", DNS_ADDR, "--net-range", "10.90.0.0/16"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        c = Client(sock)
        for _ in range(200):
            try:
                if c.request("GET", "/v1/health").status == 200:
                    break
            except OSError:
                time.sleep(0.05)
        # The download comes from openssl's own server (a file, 64 KiB
        # writes): fast and steady, so the proxy's cost is what shows.
        with open(os.path.join(net.dir, "big.bin"), "wb") as f:
            f.truncate(SIZE)
        srv = subprocess.Popen(["ip", "netns", "exec", net.inet, "openssl", "s_server", "-WWW",
                                "-quiet", "-accept", "198.51.100.10:8443", "-cert",
                                os.path.join(net.dir, "cert.pem"), "-key",
                                os.path.join(net.dir, "key.pem")], cwd=net.dir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        net.procs.append(srv)
        time.sleep(0.5)
        sid = c.request("POST", "/v1/sandboxes",
                        {"network": {"mode": "allowlist", "allow": ["allowed.test"]}}).json()["id"]

        def direct(cmd):
            cmd = cmd.replace("curl ", "curl --resolve allowed.test:443:198.51.100.10 "
                              "--resolve allowed.test:8443:198.51.100.10 ")
            r = subprocess.run(["ip", "netns", "exec", net.router, "sh", "-c", cmd],
                               stdout=subprocess.PIPE, check=True)
            return r.stdout.decode()

        def proxied(cmd):
            # The same --resolve as the direct side: neither pays for a
            # lookup in curl; the proxy still resolves the name itself.
            cmd = cmd.replace("curl ", "curl --resolve allowed.test:443:198.51.100.10 "
                              "--resolve allowed.test:8443:198.51.100.10 ")
            r = c.request("POST", f"/v1/sandboxes/{sid}/exec", {"command": cmd, "timeoutMs": 600000},
                          timeout=700)
            j = r.json()
            assert j["exitCode"] == 0, j
            return j["stdout"]

        def floats(text):
            return [[float(x) for x in l.split()] for l in text.strip().splitlines()]

        big = f"{CURL} https://allowed.test:8443/big.bin"
        print(f"== egress: a {SIZE >> 20} MiB HTTPS download, {ROUNDS} rounds, the two "
              "alternating (median, best)")
        res = {"direct": [], "through runra's proxy": []}
        for _ in range(ROUNDS):
            res["direct"].append(floats(direct(big))[0][0] / 1e6)
            res["through runra's proxy"].append(floats(proxied(big))[0][0] / 1e6)
        for name, speeds in res.items():
            print(f"{name:34s} {statistics.median(speeds):8.1f} MB/s   best {max(speeds):8.1f} MB/s")
        prox, dire = res["through runra's proxy"], res["direct"]
        best = 1 - max(prox) / max(dire)
        med = 1 - statistics.median(prox) / statistics.median(dire)
        print(f"{'throughput lost':34s} {best * 100:7.1f} % of the best, "
              f"{med * 100:.1f} % of the median (negative: none measurable)")

        small = "for i in $(seq %d); do %s https://allowed.test/; done" % (SMALL, CURL)
        print(f"== egress: {SMALL} small HTTPS requests, each on a new connection (curl's own timing)")
        med = {}
        for name, run in (("direct", direct), ("through runra's proxy", proxied)):
            rows = floats(run(small))
            tls = statistics.median(r[1] for r in rows) * 1e3
            ttfb = statistics.median(r[2] for r in rows) * 1e3
            med[name] = (tls, ttfb)
            print(f"{name:34s} TLS done {tls:7.3f} ms   first byte {ttfb:7.3f} ms (medians)")
        added = med["through runra's proxy"][0] - med["direct"][0]
        print(f"{'added to connection setup':34s} {added:7.3f} ms (TLS handshake done, median)")
        c.request("DELETE", f"/v1/sandboxes/{sid}")
    finally:
        d.terminate()
        try:
            d.wait(15)
        except subprocess.TimeoutExpired:
            d.kill()
        net.down()
        subprocess.run(["rm", "-rf", state])


if __name__ == "__main__":
    main()
