#!/usr/bin/env python3
"""VM sandboxes (issue 8's figures), in one run, with the acceleration named:

1. boot to first exec: a create that boots the guest kernel (a daemon run
   with --no-vm-templates) and its first `true`;
2. create from the template, and its first `true`: the same shape again;
3. pause (the VM written to a file, QEMU ended) and resume (QEMU from that
   file, up to runra-init's HELLO), timed by the API call;
4. RSS of one idle VM's QEMU (its cgroup's processes), booted and restored,
   and the size of a paused VM's file;
5. side by side: an ns sandbox's create and first `true` on the same daemon.

The goals (docs/benchmarks.md): with KVM, boot to first exec <= 150 ms and
a template restore <= 30 ms; under TCG, a template create at least 10x
faster than a cold boot.

usage: bench/vm.py BUILD_DIR
env: BENCH_VM_RUNS (creates of each kind, 10), RUNRA_VM_CACHE (the shared
cache the tests use, /var/cache/runra/vm-test)."""

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

RUNS = int(os.environ.get("BENCH_VM_RUNS", "10"))
CACHE = os.environ.get("RUNRA_VM_CACHE", "/var/cache/runra/vm-test")


class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=300)
        self.path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(300)
        s.connect(self.path)
        self.sock = s


def call(sock, method, path, body=None):
    c = UnixHTTP(sock)
    data = json.dumps(body).encode() if body is not None else None
    c.request(method, path, body=data, headers={"Content-Type": "application/json"} if data else {})
    r = c.getresponse()
    out = r.read()
    c.close()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {out[:300]!r}")
    return json.loads(out) if out else None


def timed(fn):
    t = time.monotonic()
    v = fn()
    return (time.monotonic() - t) * 1000, v


def stats(xs):
    xs = sorted(xs)
    return (f"median {statistics.median(xs):9.1f} ms   min {xs[0]:9.1f} ms   "
            f"max {xs[-1]:9.1f} ms   (n={len(xs)})")


def qemu_rss_kb(sid):
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if sid not in open(f"/proc/{pid}/cgroup").read():
                continue
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    if not os.access("/usr/bin/qemu-system-x86_64", os.X_OK):
        print("VM sandboxes: no QEMU (scripts/deps.sh bench): skipped")
        return 0
    kernel = subprocess.run([os.path.join(build, "src", "guest", "runra-vm-kernel"),
                             os.path.join(CACHE, "kernel")], capture_output=True, text=True)
    if kernel.returncode != 0:
        print(f"VM sandboxes: no guest kernel: {kernel.stderr.strip()[-300:]}")
        return 1
    work = tempfile.mkdtemp(prefix="runra-bench-vm.")
    sock = os.path.join(work, "runra.sock")
    log = open(os.path.join(work, "runrad.log"), "w")
    d = subprocess.Popen([os.path.join(build, "src", "daemon", "runrad"), "--state-dir",
                          os.path.join(work, "state"), "--socket", sock, "--pool", "0",
                          "--no-network", "--no-keep-sandboxes", "--vm-cache", CACHE],
                         stdout=log, stderr=log)
    try:
        for _ in range(200):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        spec = {"backend": "vm", "resources": {"memoryMb": 512}}
        # Warm up: the kernel, the initramfs, the acceleration probe, the
        # host's root disk (built once per host), the template (a shape's
        # first create boots, its second builds the template).
        for _ in range(2):
            sid = call(sock, "POST", "/v1/sandboxes", spec)["id"]
            call(sock, "DELETE", f"/v1/sandboxes/{sid}")
        accel = call(sock, "GET", "/v1/health")["backends"]["vm"]["accel"]
        print(f"VM sandboxes ({accel.upper()}; guest {512 + 128} MiB, 1 vCPU; "
              f"host image; {RUNS} of each):")

        # A second daemon on the same cache that boots every VM.
        csock = os.path.join(work, "cold.sock")
        clog = open(os.path.join(work, "cold.log"), "w")
        cd = subprocess.Popen([os.path.join(build, "src", "daemon", "runrad"), "--state-dir",
                               os.path.join(work, "cold"), "--socket", csock, "--pool", "0",
                               "--no-network", "--no-keep-sandboxes", "--vm-cache", CACHE,
                               "--no-vm-templates"], stdout=clog, stderr=clog)
        for _ in range(200):
            if os.path.exists(csock):
                break
            time.sleep(0.05)
        cold, warm, ns, pauses, resumes = [], [], [], [], []
        rss_boot = rss_restored = snap = 0
        for i in range(RUNS):
            # A cold boot: the daemon without templates.
            ms, sb = timed(lambda: call(csock, "POST", "/v1/sandboxes", spec))
            sid = sb["id"]
            ms2, _ = timed(lambda: call(csock, "POST", f"/v1/sandboxes/{sid}/exec",
                                        {"argv": ["true"]}))
            cold.append(ms + ms2)
            if i == 0:
                time.sleep(1)
                rss_boot = qemu_rss_kb(sid)
            call(csock, "DELETE", f"/v1/sandboxes/{sid}")
            # From the template.
            ms, sb = timed(lambda: call(sock, "POST", "/v1/sandboxes", spec))
            sid = sb["id"]
            ms2, _ = timed(lambda: call(sock, "POST", f"/v1/sandboxes/{sid}/exec",
                                        {"argv": ["true"]}))
            warm.append(ms + ms2)
            if i == 0:
                time.sleep(1)
                rss_restored = qemu_rss_kb(sid)
            ms, _ = timed(lambda: call(sock, "POST", f"/v1/sandboxes/{sid}/pause"))
            pauses.append(ms)
            if i == 0:
                snap = os.path.getsize(os.path.join(work, "state", "sandboxes", sid, "snapshot"))
            ms, _ = timed(lambda: call(sock, "POST", f"/v1/sandboxes/{sid}/resume"))
            resumes.append(ms)
            call(sock, "DELETE", f"/v1/sandboxes/{sid}")
            # The ns backend on the same daemon.
            ms, sb = timed(lambda: call(sock, "POST", "/v1/sandboxes", {}))
            sid = sb["id"]
            ms2, _ = timed(lambda: call(sock, "POST", f"/v1/sandboxes/{sid}/exec",
                                        {"argv": ["true"]}))
            ns.append(ms + ms2)
            call(sock, "DELETE", f"/v1/sandboxes/{sid}")
            time.sleep(0.3)

        print(f"  {'boot to first exec':34s} {stats(cold)}")
        print(f"  {'template create to first exec':34s} {stats(warm)}")
        print(f"  {'pause (to a file)':34s} {stats(pauses)}")
        print(f"  {'resume (from the file)':34s} {stats(resumes)}")
        print(f"  {'ns create to first exec':34s} {stats(ns)}")
        print(f"  template create is {statistics.median(cold) / statistics.median(warm):.1f}x "
              f"faster than a boot")
        cd.terminate()
        cd.wait(30)
        print(f"  idle QEMU RSS: {rss_boot / 1024:.0f} MiB booted, "
              f"{rss_restored / 1024:.0f} MiB restored from the template; "
              f"a paused VM's file: {snap / (1 << 20):.0f} MiB")
    finally:
        d.terminate()
        try:
            d.wait(30)
        except subprocess.TimeoutExpired:
            d.kill()
        log.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
