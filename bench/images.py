#!/usr/bin/env python3
"""Images, side by side in one run (issue 7's speed goals):

1. A cold pull and unpack of a ~90 MB (gzip) three-layer image from a
   loopback registry: `runra pull` into a fresh runrad state directory,
   against `skopeo copy` into an OCI layout followed by `umoci unpack`
   (Debian's tools, as root), the two alternating, every run from empty,
   both writing to one ext4 filesystem made for the run.
2. A create from an image already in the store against a create of
   `{"image": "host"}`, one runrad without a warm pool, the two alternating,
   timed from request to answer by one raw HTTP client on the unix socket.

The image is made of this host's own files (libraries, Python's standard
library and data, node with npm), gzip level 6 like docker's default. It is
built once and kept as an OCI layout under $BENCH_IMAGE_CACHE (default
/var/cache/runra/bench-images) so later runs only push it.

usage: bench/images.py BUILD_DIR
env: BENCH_IMAGE_RUNS (cold pulls per tool, 5), BENCH_IMAGE_CREATES (creates
per kind, 40), BENCH_IMAGE_CACHE, BENCH_IMAGE_FS (fresh or host, see FS)."""

import http.client
import json
import os
import re
import resource
import shutil
import signal
import socket
import stat
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(top, "tests", "images"))
import fixtures as fx  # noqa: E402
from registry import Registry  # noqa: E402

RUNS = int(os.environ.get("BENCH_IMAGE_RUNS", "5"))
CREATES = int(os.environ.get("BENCH_IMAGE_CREATES", "40"))
CACHE = os.environ.get("BENCH_IMAGE_CACHE", "/var/cache/runra/bench-images")
# Where the cold pulls write: "fresh" (a journaled ext4 made for this run on
# a loop device, mkfs.ext4's defaults) or "host" (the temporary directory,
# on whatever filesystem /tmp is).
FS = os.environ.get("BENCH_IMAGE_FS", "fresh")
# Bump when the recipe below changes: the cache is keyed by it.
RECIPE = "v1"
REPO, TAG = "bench/node", "22"
# Pause (not timed) after every destroy in the create loop, the same for
# both kinds, so the janitor's teardown of the last sandbox is not timed.
PAUSE = 0.3


# ---------------------------------------------------------------------------
# The image

def _walk_files(roots, budget, exclude=(), max_file=None, skip=None):
    """Tar entries for regular files, symlinks and their directories under
    `roots`, in sorted order, until `budget` bytes of file data are taken.
    Directories and files named in `exclude` are skipped at any depth, as are
    files over `max_file` bytes and archive paths in `skip`."""
    entries, dirs, used = [], set(), 0
    skip = skip or set()

    def add_dirs(path):
        parts = path.strip("/").split("/")
        for i in range(1, len(parts) + 1):
            arc = "/".join(parts[:i])
            if arc not in dirs and arc not in skip:
                dirs.add(arc)
                entries.append(fx.tdir(arc, stat.S_IMODE(os.lstat("/" + arc).st_mode)))

    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if d not in exclude)
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                arc = full.lstrip("/")
                if fn in exclude or arc in skip:
                    continue
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    add_dirs(dirpath)
                    entries.append(fx.tsymlink(arc, os.readlink(full)))
                    continue
                if not stat.S_ISREG(st.st_mode) or (max_file and st.st_size > max_file):
                    continue
                if used + st.st_size > budget:
                    return entries
                with open(full, "rb") as f:
                    data = f.read()
                used += len(data)
                add_dirs(dirpath)
                entries.append(fx.tfile(arc, data, stat.S_IMODE(st.st_mode)))
    return entries


def build_image():
    """Three layers, as a node image on a Debian base has them:
    1. base: /etc, dash and core tools with their libraries, then /usr/bin
       and the shared libraries of /usr/lib/x86_64-linux-gnu (no LLVM-sized
       ones): about 80 MB of files, 30 MB gzip;
    2. runtime data: Python's standard library without tests and caches,
       zoneinfo, locales' i18n data, mime and perl modules;
    3. node and npm (/usr/bin/node, /usr/lib/node_modules/npm)."""
    base = fx.HostTree()
    for p in ("/bin/sh", "/usr/bin/dash", "/usr/bin/env", "/usr/bin/cat", "/usr/bin/ls",
              "/usr/bin/id", "/usr/bin/mkdir", "/usr/bin/rm", "/usr/bin/true"):
        if os.path.lexists(p):
            base.add(p)
    etc = [fx.tdir("etc"),
           fx.tfile("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000::/home/node:/bin/sh\n"),
           fx.tfile("etc/group", "root:x:0:\nnode:x:1000:\n"),
           fx.tfile("etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n"),
           fx.tfile("etc/os-release", 'ID=runra-bench\nNAME="runra bench image"\n'),
           fx.tdir("home"), fx.tdir("home/node", 0o755, 1000, 1000),
           fx.tdir("tmp", 0o1777), fx.tdir("root", 0o700)]
    taken = set(base.entries)
    l1 = etc + base.take()
    l1 += _walk_files(["/usr/bin"], 20 << 20, max_file=4 << 20, skip=taken)
    l1 += _walk_files(["/usr/lib/x86_64-linux-gnu"], 60 << 20, max_file=12 << 20, skip=taken,
                      exclude=("fpc", "dri", "valgrind", "lapack", "blas", "perl", "gconv"))
    l2 = _walk_files([sysconfig.get_paths()["stdlib"], "/usr/share/zoneinfo", "/usr/share/i18n",
                      "/usr/share/mime", "/usr/share/perl"], 130 << 20,
                     exclude=("test", "tests", "__pycache__", "idlelib", "tkinter", "lib2to3",
                              "ensurepip"))
    nt = fx.HostTree()
    nt.add("/usr/bin/node")
    if os.path.isdir("/usr/lib/node_modules/npm"):
        nt.add_tree("/usr/lib/node_modules/npm", exclude=("man", "docs"))
        nt.entries["usr/bin/npm"] = fx.tsymlink("usr/bin/npm", "../lib/node_modules/npm/bin/npm-cli.js")
    l3 = nt.take(exclude_from=base)
    layers = [fx.make_layer(e, "gzip", 6) for e in (l1, l2, l3)]
    version = subprocess.run(["/usr/bin/node", "--version"], stdout=subprocess.PIPE, text=True).stdout
    cfg = {"Env": [f"PATH={fx.STD_PATH}", f"NODE_VERSION={version.strip().lstrip('v')}"],
           "Cmd": ["node"], "WorkingDir": "/"}
    img = fx.make_image(REPO, TAG, layers, cfg)
    stats = [{"gz": len(l.blob.data), "tar": l.uncompressed_size,
              "entries": len(e)} for l, e in zip(layers, (l1, l2, l3))]
    return img, stats


def load_or_build_image():
    """(manifest Blob, {digest: Blob}, layer stats) from the cache, building
    and caching the image when it is not there."""
    d = os.path.join(CACHE, RECIPE)
    if not os.path.isfile(os.path.join(d, "stats.json")):
        t0 = time.monotonic()
        img, stats = build_image()
        os.makedirs(CACHE, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{RECIPE}-", dir=CACHE)
        fx.write_oci_layout(tmp, [img])
        with open(os.path.join(tmp, "stats.json"), "w") as f:
            json.dump(stats, f)
        shutil.rmtree(d, ignore_errors=True)
        os.rename(tmp, d)
        print(f"(built the image in {time.monotonic() - t0:.1f} s, cached in {d})")

    def blob(digest, mt):
        with open(os.path.join(d, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
            b = fx.Blob(mt, f.read())
        if b.digest != digest:
            raise RuntimeError(f"{d}: blob {digest} is damaged; remove {d} to rebuild")
        return b

    with open(os.path.join(d, "index.json")) as f:
        desc = json.load(f)["manifests"][0]
    manifest = blob(desc["digest"], desc["mediaType"])
    m = json.loads(manifest.data)
    blobs = {x["digest"]: blob(x["digest"], x["mediaType"]) for x in [m["config"]] + m["layers"]}
    with open(os.path.join(d, "stats.json")) as f:
        stats = json.load(f)
    return manifest, blobs, stats


def push(reg, manifest, blobs):
    c = reg.client()
    for digest, b in blobs.items():
        c.push_blob(REPO, b.data, digest)
    c.push_manifest(REPO, TAG, manifest.data, manifest.media_type)


# ---------------------------------------------------------------------------
# Processes, directories, the API

class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path, timeout=900):
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout)
        s.connect(self.unix_path)
        self.sock = s


def call(conn, method, path, body=None):
    """(status, body bytes); one keep-alive connection for every call."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"} if data is not None else {}
    conn.request(method, path, data, headers)
    r = conn.getresponse()
    return r.status, r.read()


def mounts_under(path):
    path = os.path.realpath(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def remove_tree(path):
    """rm -rf, after unmounting whatever runrad may have left mounted inside
    (deepest first); a tree that still holds a mount is left alone."""
    if not os.path.lexists(path):
        return
    for mp in sorted(mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], stderr=subprocess.DEVNULL)
    left = mounts_under(path)
    if left:
        print(f"warning: {path} still holds mounts {left}; not removed", file=sys.stderr)
        return
    subprocess.run(["rm", "-rf", "--one-file-system", path])


class Daemon:
    """One runrad on its own state directory, without a warm pool."""

    def __init__(self, build, state, config, procs):
        self.state, self.sock = state, os.path.join(state, "runra.sock")
        self.log = state + ".log"
        os.makedirs(state)
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(
                [os.path.join(build, "src", "daemon", "runrad"), "--state-dir", state,
                 "--socket", self.sock, "--pool", "0", "--no-keep-sandboxes", "--config", config,
                 # Beside the state dir, so it goes with it (the default
                 # is a file per state dir in /run/runra, left behind).
                 "--secrets-key", state + ".secrets.key", "--log-level", "info"], stdout=subprocess.DEVNULL, stderr=logf)
        procs.append(self.proc)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"runrad exited {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                self.conn = UnixHTTP(self.sock)
                if call(self.conn, "GET", "/v1/health")[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("runrad did not answer /v1/health")
            time.sleep(0.05)

    def log_text(self):
        try:
            with open(self.log, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        self.conn.close()
        stop_proc(self.proc)


def stop_proc(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr[-1500:]}")


def du(path):
    r = subprocess.run(["du", "-s", "--block-size=1", path], stdout=subprocess.PIPE, text=True)
    return int(r.stdout.split()[0]) if r.returncode == 0 else 0


def proc_cpu(pid):
    """User + system CPU seconds a live process has used."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


# ---------------------------------------------------------------------------
# The measurements

def fresh_fs(work, mounted):
    """A new ext4 filesystem (a sparse file, loop-mounted) for the cold pulls:
    the same clean, ordinary filesystem under both tools, whatever the
    host's root is (this machine's has no journal, and without one ext4
    skips inodes deleted in the last minutes at a cost on every create)."""
    img, mnt = os.path.join(work, "fs.img"), os.path.join(work, "fs")
    with open(img, "wb") as f:
        f.truncate(16 << 30)
    run(["mkfs.ext4", "-q", "-F", img])
    os.makedirs(mnt)
    run(["mount", "-o", "loop", img, mnt])
    mounted.append(mnt)
    return mnt


def cold_pulls(build, work, cfg, ref, procs):
    runra = os.path.join(build, "src", "cli", "runra")
    res = {"runra": [], "skopeo": [], "umoci": [], "reference": [], "runrad_ms": [], "store": [],
           "runra_cpu": [], "reference_cpu": []}

    def one_runra(i):
        d = Daemon(build, os.path.join(work, f"pull-{i}"), cfg, procs)
        try:
            subprocess.run(["sync"])
            c0, cc0 = proc_cpu(d.proc.pid), children_cpu()
            t0 = time.monotonic()
            r = subprocess.run([runra, "--socket", d.sock, "pull", ref], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            t = time.monotonic() - t0
            res["runra_cpu"].append(proc_cpu(d.proc.pid) - c0 + children_cpu() - cc0)
            if r.returncode != 0:
                raise RuntimeError(f"runra pull exited {r.returncode}: {r.stderr[-1500:]}")
            res["runra"].append(t)
            m = re.findall(r"event=image_pull .*?ms=(\d+)", d.log_text())
            if m:
                res["runrad_ms"].append(int(m[-1]) / 1e3)
            res["store"].append(du(d.state))
        finally:
            d.stop()
            remove_tree(d.state)

    def one_reference(i):
        layout, bundle = os.path.join(work, f"oci-{i}"), os.path.join(work, f"bundle-{i}")
        try:
            subprocess.run(["sync"])
            cc0 = children_cpu()
            t0 = time.monotonic()
            run(["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}",
                 f"oci:{layout}:{TAG}"])
            t1 = time.monotonic()
            run(["umoci", "unpack", "--image", f"{layout}:{TAG}", bundle])
            t2 = time.monotonic()
            res["skopeo"].append(t1 - t0)
            res["umoci"].append(t2 - t1)
            res["reference"].append(t2 - t0)
            res["reference_cpu"].append(children_cpu() - cc0)
        finally:
            remove_tree(layout)
            remove_tree(bundle)

    for i in range(RUNS):
        # Alternate which tool goes first, so neither always follows the
        # other's writeback.
        for f in ((one_runra, one_reference) if i % 2 == 0 else (one_reference, one_runra)):
            f(i)
    return res


def pull_phases(build, work, cfg, ref, procs):
    """One more cold pull (not in the medians), streamed, each event
    stamped as it arrives: where the time of a pull goes."""
    d = Daemon(build, os.path.join(work, "pull-phases"), cfg, procs)
    try:
        subprocess.run(["sync"])
        stamps = []
        t0 = time.monotonic()
        d.conn.request("POST", "/v1/images/pull", json.dumps({"image": ref, "stream": True}).encode(),
                       {"Content-Type": "application/json"})
        r = d.conn.getresponse()
        for line in r:
            if line.strip():
                stamps.append((time.monotonic() - t0, json.loads(line)))
        total = time.monotonic() - t0
    finally:
        d.stop()
        remove_tree(d.state)

    def first(pred):
        return next((t for t, e in stamps if pred(e)), None)

    def last(pred):
        return next((t for t, e in reversed(stamps) if pred(e)), None)

    st = lambda s: (lambda e: e.get("event") == "layer" and e.get("status") == s)  # noqa: E731
    layers = {}
    for t, e in stamps:
        if e.get("event") == "layer" and e.get("status") in ("extracting", "done"):
            layers.setdefault(e["digest"], {})[e["status"]] = t
    return {"layers": layers, "total": total,
            "resolved": first(lambda e: e.get("event") == "resolved"),
            "download_start": first(st("downloading")),
            "download_end": last(st("downloaded")),
            "unpack_start": first(st("extracting")),
            "unpack_end": last(st("done")),
            "events": len(stamps),
            "errors": [e for _, e in stamps if "error" in e]}


def creates(build, work, cfg, ref, procs):
    d = Daemon(build, os.path.join(work, "creates"), cfg, procs)
    try:
        st, body = call(d.conn, "POST", "/v1/images/pull", {"image": ref})
        if st != 200:
            raise RuntimeError(f"pull: {st} {body[:500]!r}")
        lat = {"host": [], "image": []}
        dlat = {"host": [], "image": []}

        def one(kind, keep=True):
            t0 = time.monotonic()
            st, body = call(d.conn, "POST", "/v1/sandboxes", {"image": "host" if kind == "host" else ref})
            t1 = time.monotonic()
            if st not in (200, 201):
                raise RuntimeError(f"create ({kind}): {st} {body[:500]!r}")
            sid = json.loads(body)["id"]
            st, body = call(d.conn, "DELETE", f"/v1/sandboxes/{sid}")
            t2 = time.monotonic()
            if st not in (200, 202, 204):
                raise RuntimeError(f"destroy ({kind}): {st} {body[:500]!r}")
            if keep:
                lat[kind].append(t1 - t0)
                dlat[kind].append(t2 - t1)
            time.sleep(PAUSE)

        # Once, not timed: the sandbox really is the image's.
        st, body = call(d.conn, "POST", "/v1/sandboxes", {"image": ref})
        if st not in (200, 201):
            raise RuntimeError(f"create ({ref}): {st} {body[:500]!r}")
        sid = json.loads(body)["id"]
        st2, out = call(d.conn, "POST", f"/v1/sandboxes/{sid}/exec", {"command": "cat /etc/os-release"})
        call(d.conn, "DELETE", f"/v1/sandboxes/{sid}")
        if b"runra-bench" not in out:
            raise RuntimeError(f"a sandbox of {ref} does not show the image: {st} {body[:300]!r} "
                               f"exec {st2} {out[:300]!r}")
        time.sleep(PAUSE)
        for _ in range(3):  # warm-ups, not kept
            one("host", False)
            one("image", False)
        for i in range(CREATES):
            for kind in (("host", "image") if i % 2 == 0 else ("image", "host")):
                one(kind)
        return lat, dlat
    finally:
        d.stop()
        remove_tree(d.state)


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "build"))
    for tool in ("skopeo", "umoci", "docker-registry", "mkfs.ext4"):
        if not shutil.which(tool):
            print(f"images: {tool} is not installed (scripts/deps.sh bench): skipped")
            return 0
    if not os.path.isfile("/usr/bin/node") and not os.path.isfile(os.path.join(CACHE, RECIPE, "stats.json")):
        print("images: the bench image is built from the host's /usr/bin/node and npm (nodejs): skipped")
        return 0
    # A SIGTERM (make bench stopped) still runs the clean-up below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    manifest, blobs, stats = load_or_build_image()
    work = tempfile.mkdtemp(prefix="runra-bench-images-")
    procs, mounted = [], []
    reg = None
    try:
        reg = Registry(auth="none").start()
        push(reg, manifest, blobs)
        ref = f"{reg.host}/{REPO}:{TAG}"
        cfg = os.path.join(work, "runrad.json")
        with open(cfg, "w") as f:
            json.dump({"registries": {reg.host: {"insecure": True}}}, f)

        gz = sum(s["gz"] for s in stats)
        tar = sum(s["tar"] for s in stats)
        print(f"(load average at the start: {os.getloadavg()[0]:.2f})")
        print(f"== images: cold pull + unpack of a {gz / 1e6:.1f} MB gzip image "
              f"({tar / 1e6:.0f} MB of tar, {sum(s['entries'] for s in stats)} entries) in "
              f"{len(stats)} layers "
              f"({', '.join('%.1f' % (s['gz'] / 1e6) for s in stats)} MB), loopback registry, "
              f"{RUNS} runs each, alternating, every run from empty")
        if FS == "fresh":
            where = fresh_fs(work, mounted)
            print("both write to one ext4 filesystem made for this run (mkfs.ext4 defaults, "
                  "loop device); each run's tree is removed before the next")
        else:
            where = work
            print(f"both write to {work} (BENCH_IMAGE_FS=host)")
        res = cold_pulls(build, where, cfg, ref, procs)
        med = {k: statistics.median(v) for k, v in res.items() if v}
        rng = lambda k: f"{min(res[k]):.2f}-{max(res[k]):.2f} s"  # noqa: E731
        print(f"{'skopeo copy':34s} median {med['skopeo']:7.2f} s   ({rng('skopeo')})")
        print(f"{'umoci unpack':34s} median {med['umoci']:7.2f} s   ({rng('umoci')})")
        print(f"{'skopeo copy + umoci unpack':34s} median {med['reference']:7.2f} s   ({rng('reference')})")
        print(f"{'runra pull':34s} median {med['runra']:7.2f} s   ({rng('runra')})")
        if "runrad_ms" in med:
            print(f"{'  of which runrad (its log)':34s} median {med['runrad_ms']:7.2f} s")
        print(f"{'CPU time (user+system), median':34s} runra {med['runra_cpu']:.2f} s, "
              f"skopeo + umoci {med['reference_cpu']:.2f} s")
        print(f"{'runra / reference':34s} {med['runra'] / med['reference']:7.2f}   (goal: at most 0.50)")
        print(f"{'runrad state dir after a pull':34s} {statistics.median(res['store']) / 1e6:7.1f} MB")

        ph = pull_phases(build, where, cfg, ref, procs)
        f = lambda t: "-" if t is None else f"{t:.2f}"  # noqa: E731
        print(f"one more runra pull, streamed, events stamped on arrival (s from the request): "
              f"resolved {f(ph['resolved'])}, downloads {f(ph['download_start'])}-"
              f"{f(ph['download_end'])}, unpacking {f(ph['unpack_start'])}-{f(ph['unpack_end'])}, "
              f"answer done {f(ph['total'])} ({ph['events']} events)")
        order = [x["digest"] for x in json.loads(manifest.data)["layers"]]
        spans = []
        for i, dg in enumerate(order):
            sp = ph["layers"].get(dg, {})
            if "extracting" in sp and "done" in sp:
                spans.append(f"layer {i + 1} ({stats[i]['tar'] / 1e6:.0f} MB tar, "
                             f"{stats[i]['entries']} entries) {sp['extracting']:.2f}-{sp['done']:.2f}")
        if spans:
            print("  unpacking, per layer (s): " + "; ".join(spans))
        if ph["errors"]:
            print(f"  errors in the stream: {ph['errors'][:3]}")

        print()
        print(f"== images: create from an image already pulled against `host` (runrad --pool 0, "
              f"{CREATES} creates each, alternating, raw HTTP on the unix socket, {PAUSE * 1e3:.0f} ms "
              f"pause after each destroy)")
        lat, dlat = creates(build, work, cfg, ref, procs)
        for k, name in (("host", '{"image": "host"}'), ("image", '{"image": "<the image>"}')):
            v = lat[k]
            print(f"{'create ' + name:34s} median {statistics.median(v) * 1e3:7.2f} ms   "
                  f"p90 {pct(v, 0.9) * 1e3:7.2f} ms   (destroy answered in "
                  f"{statistics.median(dlat[k]) * 1e3:.2f} ms)")
        dm = (statistics.median(lat["image"]) - statistics.median(lat["host"])) * 1e3
        dp = (pct(lat["image"], 0.9) - pct(lat["host"], 0.9)) * 1e3
        print(f"{'image over host':34s} median {dm:+7.2f} ms   p90 {dp:+7.2f} ms   (goal: at most +10 ms)")
        print(f"(load average at the end: {os.getloadavg()[0]:.2f})")
    finally:
        for p in procs:
            stop_proc(p)
        if reg:
            reg.stop()
        for mnt in mounted:
            subprocess.run(["umount", mnt])
        remove_tree(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
