"""Hand-built OCI and Docker images for the image tests.

Everything here is built in memory from Python's standard library (tarfile,
gzip, zlib, hashlib) plus the `zstd` command when present. Images are plain
data: blobs with their digests, an image config, a manifest, and optionally an
index, ready for registry.push_image() or the layout and archive writers below.
The fixtures trust nothing they produce except the host files they copy; the
hostile fixtures are built to be refused or confined by the code under test.
See README.md beside this file for what each fixture contains.
"""

import base64
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field

# Media types, as the OCI image spec and Docker's schema2 spec name them.
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MT_INTOTO = "application/vnd.in-toto+json"

# What a client pulling any of these images sends in Accept.
ALL_MANIFEST_TYPES = (MT_OCI_INDEX, MT_OCI_MANIFEST, MT_DOCKER_LIST, MT_DOCKER_MANIFEST)
INDEX_TYPES = (MT_OCI_INDEX, MT_DOCKER_LIST)

# Annotations buildkit puts on an attestation entry of an index.
ANN_REF_TYPE = "vnd.docker.reference.type"
ANN_REF_DIGEST = "vnd.docker.reference.digest"
ANN_REF_NAME = "org.opencontainers.image.ref.name"

# Every tar entry gets this mtime and every config this date, so a fixture
# built twice from the same host files has the same digests.
FIXTURE_MTIME = 1704067200
FIXTURE_CREATED = "2024-01-01T00:00:00Z"

# The default directory the hostile fixtures aim their escapes at. A layer
# unpacked correctly never creates anything in it.
DEFAULT_CANARY_DIR = "/tmp/runra-hostile-canary"

STD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def sha256_digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def zstd_available():
    return shutil.which("zstd") is not None


# ---------------------------------------------------------------------------
# Blobs, layers, images, indexes

@dataclass
class Blob:
    """Bytes with a media type; the digest is computed once."""
    media_type: str
    data: bytes
    annotations: dict = None
    _digest: str = field(default=None, repr=False)

    @property
    def digest(self):
        if self._digest is None:
            self._digest = sha256_digest(self.data)
        return self._digest

    @property
    def size(self):
        return len(self.data)

    def descriptor(self, **extra):
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        d.update(extra)
        return d


@dataclass
class Layer:
    """One layer: the compressed blob and the digest of its uncompressed tar.

    `tar` is the uncompressed stream when it was small enough to keep (None
    for the bombs, whose uncompressed form is never held in memory)."""
    blob: Blob
    diff_id: str
    compression: str
    tar: bytes = None
    uncompressed_size: int = None


@dataclass
class Image:
    """A single-platform image: config + layers + manifest.

    `overrides` maps a digest to the bytes a hostile source serves in its
    place (same length, different content): push_image() and the writers
    apply it, so the digest check of the code under test must fail."""
    name: str
    tag: str
    config: dict
    layers: list
    config_blob: Blob
    manifest_blob: Blob
    docker: bool = False
    platform: dict = None
    overrides: dict = field(default_factory=dict)

    @property
    def digest(self):
        return self.manifest_blob.digest

    @property
    def media_type(self):
        return self.manifest_blob.media_type

    @property
    def manifest(self):
        return json.loads(self.manifest_blob.data)

    @property
    def ref(self):
        return f"{self.name}:{self.tag}"

    def blobs(self):
        """The blobs the manifest references (config first), by digest."""
        out = {self.config_blob.digest: self.config_blob}
        for layer in self.layers:
            out[layer.blob.digest] = layer.blob
        return out

    def manifests(self):
        return [self]

    def descriptor(self, with_platform=True, annotations=None):
        d = self.manifest_blob.descriptor()
        if with_platform and self.platform:
            d["platform"] = dict(self.platform)
        if annotations:
            d["annotations"] = dict(annotations)
        return d


@dataclass
class Index:
    """An OCI index or Docker manifest list over some images."""
    name: str
    tag: str
    images: list
    index_blob: Blob
    docker: bool = False
    overrides: dict = field(default_factory=dict)

    @property
    def digest(self):
        return self.index_blob.digest

    @property
    def media_type(self):
        return self.index_blob.media_type

    @property
    def manifest(self):
        return json.loads(self.index_blob.data)

    @property
    def ref(self):
        return f"{self.name}:{self.tag}"

    def blobs(self):
        out = {}
        for img in self.images:
            out.update(img.blobs())
        return out

    def manifests(self):
        return list(self.images)

    def image_for(self, os_="linux", arch="amd64", variant=None):
        for img in self.images:
            p = img.platform or {}
            if p.get("os") == os_ and p.get("architecture") == arch and (
                    variant is None or p.get("variant") == variant):
                return img
        raise KeyError(f"no {os_}/{arch} image in {self.ref}")


# ---------------------------------------------------------------------------
# Tar entries. Each helper returns (TarInfo, data or None); build_tar() writes
# them in the order given, with no normalisation of names, so hostile names
# reach the archive exactly as written.

def _info(path, type_, mode, uid=0, gid=0, xattrs=None, mtime=FIXTURE_MTIME):
    ti = tarfile.TarInfo(path)
    ti.type = type_
    ti.mode = mode
    ti.uid, ti.gid = uid, gid
    ti.uname = ti.gname = ""
    ti.mtime = mtime
    if xattrs:
        ti.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in xattrs.items()}
    return ti


def tfile(path, data=b"", mode=0o644, uid=0, gid=0, xattrs=None):
    if isinstance(data, str):
        data = data.encode()
    ti = _info(path, tarfile.REGTYPE, mode, uid, gid, xattrs)
    ti.size = len(data)
    return ti, data


def tdir(path, mode=0o755, uid=0, gid=0, xattrs=None):
    return _info(path, tarfile.DIRTYPE, mode, uid, gid, xattrs), None


def tsymlink(path, target, uid=0, gid=0):
    ti = _info(path, tarfile.SYMTYPE, 0o777, uid, gid)
    ti.linkname = target
    return ti, None


def thardlink(path, target, mode=0o644, uid=0, gid=0):
    """A hardlink entry; `target` is an archive path (as tar writes it).
    Give it the target's mode and owner, as tar does: some extractors apply
    the header's attributes to the shared inode."""
    ti = _info(path, tarfile.LNKTYPE, mode, uid, gid)
    ti.linkname = target
    return ti, None


def twhiteout(path):
    """Deletes `path` of a lower layer: an empty file named DIR/.wh.NAME."""
    d, b = os.path.split(path.rstrip("/"))
    return tfile(os.path.join(d, ".wh." + b) if d else ".wh." + b)


def topaque(dirpath):
    """Hides everything a lower layer has under `dirpath`."""
    return tfile(os.path.join(dirpath.rstrip("/"), ".wh..wh..opq"))


def tchardev(path, major, minor, mode=0o666):
    ti = _info(path, tarfile.CHRTYPE, mode)
    ti.devmajor, ti.devminor = major, minor
    return ti, None


def tblockdev(path, major, minor, mode=0o660):
    ti = _info(path, tarfile.BLKTYPE, mode)
    ti.devmajor, ti.devminor = major, minor
    return ti, None


def tfifo(path, mode=0o644):
    return _info(path, tarfile.FIFOTYPE, mode), None


def build_tar(entries):
    """The uncompressed tar (PAX format, so xattrs and long names fit)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for ti, data in entries:
            tf.addfile(ti, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def compress(data, compression, level=6):
    if compression == "none":
        return data
    if compression == "gzip":
        return gzip.compress(data, compresslevel=level, mtime=0)
    if compression == "zstd":
        if not zstd_available():
            raise RuntimeError("zstd layers need the `zstd` command (Debian package zstd)")
        return subprocess.run(["zstd", "-q", "-c", f"-{min(max(level, 1), 19)}", "-"],
                              input=data, stdout=subprocess.PIPE, check=True).stdout
    raise ValueError(f"unknown compression {compression!r}")


def decompress(data, media_type):
    if media_type.endswith("+gzip") or media_type.endswith(".gzip"):
        return zlib.decompress(data, 31)
    if media_type.endswith("+zstd"):
        return subprocess.run(["zstd", "-q", "-d", "-c", "-"], input=data,
                              stdout=subprocess.PIPE, check=True).stdout
    return data


def layer_media_type(compression, docker=False):
    if docker:
        return {"gzip": MT_DOCKER_LAYER_GZIP, "none": MT_DOCKER_LAYER}[compression]
    return {"gzip": MT_OCI_LAYER_GZIP, "zstd": MT_OCI_LAYER_ZSTD, "none": MT_OCI_LAYER}[compression]


def make_layer(entries_or_tar, compression="gzip", level=6, docker=False):
    """A layer from a list of entries or from ready tar bytes."""
    tar = entries_or_tar if isinstance(entries_or_tar, (bytes, bytearray)) else build_tar(entries_or_tar)
    tar = bytes(tar)
    blob = Blob(layer_media_type(compression, docker), compress(tar, compression, level))
    return Layer(blob=blob, diff_id=sha256_digest(tar), compression=compression, tar=tar,
                 uncompressed_size=len(tar))


def make_image(name, tag, layers, config=None, docker=False, os_="linux", arch="amd64",
               variant=None, diff_ids=None, history=True, manifest_annotations=None,
               config_media_type=None, extra_config=None):
    """An image from layers. `config` is the image config's "config" object
    (Env, Entrypoint, Cmd, WorkingDir, User, Labels...). `diff_ids` replaces
    the true rootfs.diff_ids (for the diff-id mismatch fixture)."""
    cfg = {
        "created": FIXTURE_CREATED,
        "architecture": arch,
        "os": os_,
        "config": dict(config or {}),
        "rootfs": {"type": "layers",
                   "diff_ids": list(diff_ids) if diff_ids is not None else [l.diff_id for l in layers]},
    }
    if variant:
        cfg["variant"] = variant
    if history:
        cfg["history"] = [{"created": FIXTURE_CREATED, "created_by": f"runra test fixture: layer {i}"}
                          for i in range(len(layers))]
    if extra_config:
        cfg.update(extra_config)
    config_blob = Blob(config_media_type or (MT_DOCKER_CONFIG if docker else MT_OCI_CONFIG),
                       json.dumps(cfg, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_DOCKER_MANIFEST if docker else MT_OCI_MANIFEST,
        "config": config_blob.descriptor(),
        "layers": [l.blob.descriptor() for l in layers],
    }
    if manifest_annotations:
        manifest["annotations"] = dict(manifest_annotations)
    manifest_blob = Blob(manifest["mediaType"], json.dumps(manifest, indent=3).encode())
    platform = {"architecture": arch, "os": os_}
    if variant:
        platform["variant"] = variant
    return Image(name=name, tag=tag, config=cfg, layers=list(layers), config_blob=config_blob,
                 manifest_blob=manifest_blob, docker=docker, platform=platform)


def make_index(name, tag, entries, docker=False, annotations=None):
    """An index over `entries`: Images, or (Image, entry_annotations) pairs.
    The platform of each entry comes from its image."""
    images, descs = [], []
    for e in entries:
        img, ann = (e if isinstance(e, tuple) else (e, None))
        images.append(img)
        descs.append(img.descriptor(annotations=ann))
    idx = {"schemaVersion": 2, "mediaType": MT_DOCKER_LIST if docker else MT_OCI_INDEX,
           "manifests": descs}
    if annotations:
        idx["annotations"] = dict(annotations)
    blob = Blob(idx["mediaType"], json.dumps(idx, indent=3).encode())
    return Index(name=name, tag=tag, images=images, index_blob=blob, docker=docker)


# ---------------------------------------------------------------------------
# Host files copied into images

def _ldd(path):
    """Absolute paths of the shared libraries `path` needs (empty for static
    binaries and for files ldd does not understand)."""
    r = subprocess.run(["ldd", path], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                       text=True)
    out = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if "=>" in line:
            rhs = line.split("=>", 1)[1].strip()
            if rhs.startswith("/"):
                out.append(rhs.split(" (", 1)[0])
        elif line.startswith("/"):
            out.append(line.split(" (", 1)[0])
    return out


class HostTree:
    """Collects host paths into tar entries, keeping every symlink met on
    the way (so /lib64/ld-linux-x86-64.so.2 resolves in the image as on a
    merged-/usr Debian host). Ownership is always root; modes are the host's."""

    def __init__(self):
        self.entries = {}  # archive path -> (TarInfo, data)

    def _add_dirs(self, host_dir):
        parts = [p for p in host_dir.split("/") if p]
        cur = ""
        for p in parts:
            cur = cur + "/" + p
            arc = cur.lstrip("/")
            if arc not in self.entries:
                st = os.lstat(cur)
                self.entries[arc] = tdir(arc, stat.S_IMODE(st.st_mode))

    def add(self, path, with_libs=True):
        """Adds `path` (file, symlink chain or directory entry alone) and, for
        ELF files, the libraries ldd lists."""
        seen = 0
        while True:
            seen += 1
            if seen > 40:
                raise RuntimeError(f"symlink loop at {path}")
            parts = [p for p in path.split("/") if p]
            cur = ""
            redirected = False
            for i, p in enumerate(parts):
                nxt = cur + "/" + p
                if os.path.islink(nxt):
                    target = os.readlink(nxt)
                    arc = nxt.lstrip("/")
                    self._add_dirs(cur)
                    self.entries.setdefault(arc, tsymlink(arc, target))
                    base = target if target.startswith("/") else os.path.join(cur or "/", target)
                    path = os.path.normpath("/".join([base] + parts[i + 1:]))
                    redirected = True
                    break
                cur = nxt
            if redirected:
                if not os.path.lexists(path):
                    return  # a dangling link stays dangling, as on the host
                continue
            break
        st = os.lstat(path)
        arc = path.lstrip("/")
        self._add_dirs(os.path.dirname(path))
        if stat.S_ISDIR(st.st_mode):
            self.entries.setdefault(arc, tdir(arc, stat.S_IMODE(st.st_mode)))
            return
        if arc in self.entries:
            return
        with open(path, "rb") as f:
            data = f.read()
        self.entries[arc] = tfile(arc, data, stat.S_IMODE(st.st_mode))
        if with_libs and data[:4] == b"\x7fELF":
            for lib in _ldd(path):
                self.add(lib, with_libs=False)
                # A library's own dependencies are already in ldd's list.

    def add_tree(self, top, exclude=()):
        """Adds a directory tree as it is (symlinks inside it kept as links),
        skipping names in `exclude` at any depth, and ELF libraries' deps."""
        self.add(top, with_libs=False)
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d not in exclude)
            for d in dirnames:
                full = os.path.join(dirpath, d)
                arc = full.lstrip("/")
                if os.path.islink(full):
                    self.entries.setdefault(arc, tsymlink(arc, os.readlink(full)))
                else:
                    self.entries.setdefault(arc, tdir(arc, stat.S_IMODE(os.lstat(full).st_mode)))
            for fn in sorted(filenames):
                if fn in exclude:
                    continue
                full = os.path.join(dirpath, fn)
                arc = full.lstrip("/")
                if os.path.islink(full):
                    self.entries.setdefault(arc, tsymlink(arc, os.readlink(full)))
                    continue
                st = os.lstat(full)
                if not stat.S_ISREG(st.st_mode):
                    continue
                with open(full, "rb") as f:
                    data = f.read()
                self.entries.setdefault(arc, tfile(arc, data, stat.S_IMODE(st.st_mode)))
                if fn.endswith(".so") or ".so." in fn:
                    for lib in _ldd(full):
                        self.add(lib, with_libs=False)

    def take(self, exclude_from=None):
        """The collected entries in path order (parents before children),
        minus those already present in `exclude_from` (another HostTree), so
        an upper layer does not repeat what a lower one has."""
        skip = set(exclude_from.entries) if exclude_from else set()
        return [self.entries[k] for k in sorted(self.entries) if k not in skip]


def _etc_entries(users, groups, extra=()):
    passwd = "".join(f"{n}:x:{u}:{g}:{n}:{h}:{s}\n" for n, u, g, h, s in users)
    group = "".join(f"{n}:x:{g}:\n" for n, g in groups)
    return [
        tdir("etc"),
        tfile("etc/passwd", passwd),
        tfile("etc/group", group),
        tfile("etc/nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n"),
        tfile("etc/hosts", "127.0.0.1 localhost\n"),
        tfile("etc/os-release", 'ID=runra-fixture\nNAME="runra test fixture"\n'),
        *extra,
        tdir("tmp", 0o1777),
        tdir("root", 0o700),
    ]


# Small host tools every rootfs fixture carries, so an exec in a sandbox made
# from it can look around. /bin/sh is Debian's dash.
BASE_TOOLS = ("/bin/sh", "/usr/bin/dash", "/usr/bin/env", "/usr/bin/cat", "/usr/bin/ls",
              "/usr/bin/id", "/usr/bin/mkdir", "/usr/bin/rm", "/usr/bin/sleep", "/usr/bin/true",
              "/usr/bin/touch", "/usr/bin/wc", "/usr/bin/head", "/usr/bin/tail",
              "/usr/bin/grep", "/usr/bin/sed", "/usr/bin/cp", "/usr/bin/mv", "/usr/bin/chmod",
              "/usr/bin/ln", "/usr/bin/sort", "/usr/bin/tr", "/usr/bin/cut", "/usr/bin/uname",
              "/usr/bin/bash", "/usr/bin/hostname", "/usr/bin/which")


def _libc_libraries():
    """The shared objects of Debian's libc6 (librt, libdl, libpthread, ... as
    every Debian-based image has them, for programs that ship their own
    binary, like the agent CLIs), or none where dpkg cannot say."""
    try:
        out = subprocess.run(["dpkg", "-L", "libc6"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [p for p in out.split()
            if re.fullmatch(r"/(usr/)?lib/x86_64-linux-gnu/[^/]+\.so[.0-9]*", p)]


def _base_tree():
    base = HostTree()
    for p in BASE_TOOLS + tuple(_libc_libraries()):
        if os.path.lexists(p):
            base.add(p)
    return base


def node_image(name="library/node", tag="22", node="/usr/bin/node", with_npm=True,
               compression="gzip", level=1, docker=False):
    """A node image with the host's node binary (Node 20 here; the tag is what
    the tests use). Three layers: base (etc, dash, tools, libc), node (+npm),
    app (/app/hello.js). Config: Env PATH and NODE_VERSION, WorkingDir /app,
    Cmd ["node"], runs as root like the official image; user `node` is uid 1000."""
    version = subprocess.run([node, "--version"], stdout=subprocess.PIPE, text=True,
                             check=True).stdout.strip().lstrip("v")
    base = _base_tree()
    etc = _etc_entries(
        users=[("root", 0, 0, "/root", "/bin/sh"), ("node", 1000, 1000, "/home/node", "/bin/sh")],
        groups=[("root", 0), ("node", 1000)],
        extra=[tdir("home"), tdir("home/node", 0o755, 1000, 1000)])
    l1 = make_layer(etc + base.take(), compression, level, docker)
    nt = HostTree()
    nt.add(node)
    nt.entries.setdefault("usr/local", tdir("usr/local"))
    nt.entries.setdefault("usr/local/bin", tdir("usr/local/bin"))
    nt.entries["usr/local/bin/node"] = tsymlink("usr/local/bin/node", "/usr/bin/node")
    if with_npm and os.path.isdir("/usr/lib/node_modules/npm"):
        nt.add_tree("/usr/lib/node_modules/npm", exclude=("man", "docs"))
        nt.entries["usr/bin/npm"] = tsymlink("usr/bin/npm", "../lib/node_modules/npm/bin/npm-cli.js")
        nt.entries["usr/bin/npx"] = tsymlink("usr/bin/npx", "../lib/node_modules/npm/bin/npx-cli.js")
    l2 = make_layer(nt.take(exclude_from=base), compression, level, docker)
    l3 = make_layer([tdir("app", 0o755),
                     tfile("app/hello.js", "console.log('hello from node ' + process.version);\n")],
                    compression, level, docker)
    cfg = {"Env": [f"PATH={STD_PATH}", f"NODE_VERSION={version}"],
           "Cmd": ["node"], "WorkingDir": "/app",
           "Labels": {"org.opencontainers.image.title": "runra test node"}}
    return make_image(name, tag, [l1, l2, l3], cfg, docker=docker)


PYTHON_STDLIB_EXCLUDE = ("__pycache__", "test", "tests", "idlelib", "tkinter", "turtledemo",
                         "lib2to3", "pydoc_data", "ensurepip",
                         "config-3.11-x86_64-linux-gnu", "config-3.12-x86_64-linux-gnu")


def python_image(name="library/python", tag="3.12", python="/usr/bin/python3",
                 compression="gzip", level=1, docker=False):
    """A python image with the host's Debian python3 (3.11 on Debian 12) and
    its stdlib (no tests, no __pycache__). Two layers: base, python.
    Config: Env PATH, LANG, PYTHON_VERSION; Cmd ["python3"]; no WorkingDir."""
    out = subprocess.run([python, "-c", "import sys, sysconfig; print(sys.version.split()[0]);"
                          "print(sysconfig.get_paths()['stdlib'])"],
                         stdout=subprocess.PIPE, text=True, check=True).stdout.split()
    version, stdlib = out[0], out[1]
    base = _base_tree()
    etc = _etc_entries(users=[("root", 0, 0, "/root", "/bin/sh")], groups=[("root", 0)])
    l1 = make_layer(etc + base.take(), compression, level, docker)
    pt = HostTree()
    pt.add(python)
    pt.add_tree(stdlib, exclude=PYTHON_STDLIB_EXCLUDE)
    pyver = os.path.basename(stdlib)  # python3.11
    etc_site = f"/etc/{pyver}/sitecustomize.py"
    if os.path.exists(etc_site):
        pt.add(etc_site)
    l2 = make_layer(pt.take(exclude_from=base), compression, level, docker)
    cfg = {"Env": [f"PATH={STD_PATH}", "LANG=C.UTF-8", f"PYTHON_VERSION={version}"],
           "Cmd": ["python3"]}
    return make_image(name, tag, [l1, l2], cfg, docker=docker)


def config_image(name="runra-test/config", tag="latest", compression="gzip", docker=False):
    """A small image whose config exercises Env, WorkingDir, User and
    Entrypoint+Cmd: User is the name `app` (uid 1234, gid 2345 through
    /etc/passwd), WorkingDir /work/dir exists in no layer (the runtime
    creates it, as docker does), Entrypoint ["/bin/sh","-c"], Cmd ["echo \"$GREETING\""]."""
    base = _base_tree()
    etc = _etc_entries(users=[("root", 0, 0, "/root", "/bin/sh"), ("app", 1234, 2345, "/home/app", "/bin/sh")],
                       groups=[("root", 0), ("app", 2345)],
                       extra=[tdir("home"), tdir("home/app", 0o750, 1234, 2345)])
    l1 = make_layer(etc + base.take(), compression, 6, docker)
    cfg = {"Env": [f"PATH={STD_PATH}", "GREETING=hello from the image", "EMPTY=",
                   "WITH_EQUALS=a=b=c", "OVERRIDE_ME=image"],
           "Entrypoint": ["/bin/sh", "-c"], "Cmd": ['echo "$GREETING"'],
           "WorkingDir": "/work/dir", "User": "app",
           "Labels": {"runra.test": "config"}}
    return make_image(name, tag, [l1], cfg, docker=docker)


def hang_sh_image(name="runra-test/hang-sh", tag="latest"):
    """The base image whose /bin/sh never ends: it sleeps, and leaves a
    second sleep behind. For a VM template's warm-up (`sh -c true`), which
    must give up on it and leave nothing running; bash is there to look."""
    base = _base_tree()
    etc = _etc_entries(users=[("root", 0, 0, "/root", "/bin/bash")], groups=[("root", 0)])
    l1 = make_layer(etc + base.take(), "gzip", 1)
    l2 = make_layer([tfile("usr/bin/sh", b"#!/usr/bin/dash\nsleep 1000 &\nexec sleep 1000\n",
                           0o755)], "gzip", 1)
    return make_image(name, tag, [l1, l2], {"Env": [f"PATH={STD_PATH}"], "Cmd": ["/bin/bash"]})


def tiny_image(name, tag, marker, os_="linux", arch="amd64", variant=None,
               compression="gzip", docker=False):
    """A one-layer image whose only content is /platform.txt = `marker`, so
    a test sees which manifest of an index was picked."""
    layer = make_layer([tfile("platform.txt", marker + "\n")], compression, 6, docker)
    return make_image(name, tag, [layer], {"Env": [f"PATH={STD_PATH}"], "Cmd": ["/bin/sh"]},
                      docker=docker, os_=os_, arch=arch, variant=variant)


def attestation_image(subject, name, tag):
    """An attestation manifest as buildkit writes next to each platform image:
    platform unknown/unknown, one in-toto statement layer (uncompressed JSON)
    whose subject is the platform manifest."""
    statement = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": f"pkg:docker/{subject.name}@{subject.tag}",
                     "digest": {"sha256": subject.digest.split(":", 1)[1]}}],
        "predicate": {"builder": {"id": "runra-test-fixture"}},
    }
    data = json.dumps(statement, sort_keys=True).encode()
    blob = Blob(MT_INTOTO, data, annotations={"in-toto.io/predicate-type": statement["predicateType"]})
    layer = Layer(blob=blob, diff_id=sha256_digest(data), compression="none", tar=None,
                  uncompressed_size=len(data))
    return make_image(name, tag, [layer], {}, os_="unknown", arch="unknown", history=False)


def multiplatform_index(name="runra-test/multi", tag="latest", attestations=True, docker=False):
    """An index with linux/amd64 and linux/arm64/v8 images (each holding
    /platform.txt = "linux/amd64" or "linux/arm64/v8") and, for an OCI index,
    one attestation manifest per platform (platform unknown/unknown,
    annotations vnd.docker.reference.type=attestation-manifest and
    vnd.docker.reference.digest=<platform manifest>), in the order buildkit
    writes: platform images first, then attestations. A Docker manifest list
    carries no attestations."""
    amd = tiny_image(name, tag, "linux/amd64", arch="amd64", docker=docker)
    arm = tiny_image(name, tag, "linux/arm64/v8", arch="arm64", variant="v8", docker=docker)
    entries = [amd, arm]
    if attestations and not docker:
        for img in (amd, arm):
            att = attestation_image(img, name, tag)
            entries.append((att, {ANN_REF_TYPE: "attestation-manifest", ANN_REF_DIGEST: img.digest}))
    return make_index(name, tag, entries, docker=docker)


# ---------------------------------------------------------------------------
# The whiteout fixture

def whiteout_image(name="runra-test/whiteout", tag="latest", compression="gzip", docker=False):
    """Three layers exercising the layer-application rules; the final tree is
    WHITEOUT_EXPECTED. What each layer does:

    layer 1: /etc with keep.conf, remove.conf, recreate; /opq with a, b,
      sub/c; /gone (a directory with files); /f2d a file; /d2f a directory
      with d2f/x; /home/user owned 1000:1000 mode 0750 and a file in it 0640;
      /usr/bin/suid 04755 root and /usr/bin/sgid 02755 group 50;
      /data/orig with xattr user.runra=hello, /data/hl a hardlink to it,
      /data/rel -> orig, /data/abs -> /etc/keep.conf.
    layer 2: /etc/.wh.remove.conf; /etc/.wh.recreate and a new /etc/recreate
      in the same layer (the whiteout hides only the lower one); an opaque
      /opq with /opq/new; /.wh.gone; /f2d becomes a directory with f2d/inner;
      /data/hl2 another hardlink to /data/orig2 (both in this layer).
    layer 3: /d2f becomes a file; /etc/keep.conf gets new content and mode
      0600; /home/user/.wh.file removes the file, /home/user/new is 1000:1000.
    """
    l1 = [
        tdir("etc"),
        tfile("etc/keep.conf", "keep v1\n"),
        tfile("etc/remove.conf", "remove me\n"),
        tfile("etc/recreate", "old\n"),
        tdir("opq", 0o755),
        tfile("opq/a", "a\n"),
        tfile("opq/b", "b\n"),
        tdir("opq/sub"),
        tfile("opq/sub/c", "c\n"),
        tdir("gone"),
        tfile("gone/x", "x\n"),
        tdir("gone/deeper"),
        tfile("gone/deeper/y", "y\n"),
        tfile("f2d", "i am a file\n"),
        tdir("d2f"),
        tfile("d2f/x", "x\n"),
        tdir("home"),
        tdir("home/user", 0o750, 1000, 1000),
        tfile("home/user/file", "owned by 1000\n", 0o640, 1000, 1000),
        tdir("usr"),
        tdir("usr/bin"),
        tfile("usr/bin/suid", "#!/bin/sh\necho suid\n", 0o4755),
        tfile("usr/bin/sgid", "#!/bin/sh\necho sgid\n", 0o2755, 0, 50),
        tdir("data"),
        tfile("data/orig", "linked content\n", 0o644, xattrs={"user.runra": "hello"}),
        thardlink("data/hl", "data/orig"),
        tsymlink("data/rel", "orig"),
        tsymlink("data/abs", "/etc/keep.conf"),
    ]
    l2 = [
        twhiteout("etc/remove.conf"),
        tfile("etc/recreate", "new\n"),
        twhiteout("etc/recreate"),
        tdir("opq", 0o755),
        topaque("opq"),
        tfile("opq/new", "new\n"),
        twhiteout("gone"),
        tdir("f2d", 0o755),
        tfile("f2d/inner", "inside\n"),
        tfile("data/orig2", "second linked content\n", 0o600),
        thardlink("data/hl2", "data/orig2", mode=0o600),
    ]
    l3 = [
        tfile("d2f", "i was a directory\n"),
        tfile("etc/keep.conf", "keep v2\n", 0o600),
        twhiteout("home/user/file"),
        tfile("home/user/new", "new and owned by 1000\n", 0o644, 1000, 1000),
    ]
    layers = [make_layer(l, compression, 6, docker) for l in (l1, l2, l3)]
    return make_image(name, tag, layers, {"Env": [f"PATH={STD_PATH}"], "Cmd": ["/bin/sh"]},
                      docker=docker)


def _f(content, mode=0o644, uid=0, gid=0, xattrs=None, link_group=None):
    d = {"type": "file", "mode": mode, "uid": uid, "gid": gid, "content": content.encode()}
    if xattrs:
        d["xattrs"] = xattrs
    if link_group:
        d["link_group"] = link_group
    return d


def _d(mode=0o755, uid=0, gid=0):
    return {"type": "dir", "mode": mode, "uid": uid, "gid": gid}


def _l(target):
    return {"type": "symlink", "target": target}


# The complete tree the whiteout fixture leaves, relative to the rootfs.
# type: file|dir|symlink; mode: permission bits with setuid/setgid/sticky;
# files that share a link_group are hardlinks of each other (same inode);
# xattrs lists the user.* attributes a file must carry (others are ignored).
WHITEOUT_EXPECTED = {
    "etc": _d(),
    "etc/keep.conf": _f("keep v2\n", 0o600),
    "etc/recreate": _f("new\n"),
    "opq": _d(),
    "opq/new": _f("new\n"),
    "f2d": _d(),
    "f2d/inner": _f("inside\n"),
    "d2f": _f("i was a directory\n"),
    "home": _d(),
    "home/user": _d(0o750, 1000, 1000),
    "home/user/new": _f("new and owned by 1000\n", 0o644, 1000, 1000),
    "usr": _d(),
    "usr/bin": _d(),
    "usr/bin/suid": _f("#!/bin/sh\necho suid\n", 0o4755),
    "usr/bin/sgid": _f("#!/bin/sh\necho sgid\n", 0o2755, 0, 50),
    "data": _d(),
    "data/orig": _f("linked content\n", xattrs={"user.runra": b"hello"}, link_group="orig"),
    "data/hl": _f("linked content\n", xattrs={"user.runra": b"hello"}, link_group="orig"),
    "data/rel": _l("orig"),
    "data/abs": _l("/etc/keep.conf"),
    "data/orig2": _f("second linked content\n", 0o600, link_group="orig2"),
    "data/hl2": _f("second linked content\n", 0o600, link_group="orig2"),
}


def scan_tree(root, xattr_prefix="user."):
    """Describes the tree under `root` in the same shape as WHITEOUT_EXPECTED
    (plus 'ino' for files), without following symlinks."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in sorted(dirnames + filenames):
            full = os.path.join(dirpath, n)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = {"type": "symlink", "target": os.readlink(full)}
                continue
            d = {"mode": stat.S_IMODE(st.st_mode), "uid": st.st_uid, "gid": st.st_gid}
            if stat.S_ISDIR(st.st_mode):
                d["type"] = "dir"
            elif stat.S_ISREG(st.st_mode):
                d["type"] = "file"
                with open(full, "rb") as f:
                    d["content"] = f.read()
                d["ino"] = (st.st_dev, st.st_ino)
                d["nlink"] = st.st_nlink
                try:
                    names = [x for x in os.listxattr(full, follow_symlinks=False)
                             if x.startswith(xattr_prefix)]
                    d["xattrs"] = {x: os.getxattr(full, x, follow_symlinks=False) for x in names}
                except OSError:
                    d["xattrs"] = {}
            elif stat.S_ISCHR(st.st_mode):
                d["type"] = "chardev"
            elif stat.S_ISBLK(st.st_mode):
                d["type"] = "blockdev"
            elif stat.S_ISFIFO(st.st_mode):
                d["type"] = "fifo"
            else:
                d["type"] = "other"
            out[rel] = d
    return out


def compare_tree(root, expected=None, ignore=()):
    """Differences between the tree at `root` and `expected` (default
    WHITEOUT_EXPECTED), as a list of readable strings; empty means equal.
    Paths in `ignore` (and below them) are not compared."""
    expected = WHITEOUT_EXPECTED if expected is None else expected
    got = scan_tree(root)

    def ignored(p):
        return any(p == i or p.startswith(i.rstrip("/") + "/") for i in ignore)

    diffs = []
    for p in sorted(set(got) | set(expected)):
        if ignored(p):
            continue
        if p not in got:
            diffs.append(f"{p}: missing")
            continue
        if p not in expected:
            diffs.append(f"{p}: unexpected {got[p]['type']}")
            continue
        g, e = got[p], expected[p]
        for k in ("type", "mode", "uid", "gid", "content", "target"):
            if k in e and g.get(k) != e[k]:
                diffs.append(f"{p}: {k} is {g.get(k)!r}, expected {e[k]!r}")
        for k, v in (e.get("xattrs") or {}).items():
            have = g.get("xattrs", {}).get(k)
            if have != v:
                diffs.append(f"{p}: xattr {k} is {have!r}, expected {v!r}")
    groups = {}
    for p, e in expected.items():
        if e.get("link_group") and p in got and not ignored(p):
            groups.setdefault(e["link_group"], []).append(p)
    for name, paths in groups.items():
        inos = {got[p].get("ino") for p in paths}
        if len(inos) != 1:
            diffs.append(f"hardlinks {paths}: not the same inode")
    return diffs


# ---------------------------------------------------------------------------
# Hostile layers. Every escape aims at `canary_dir` (an absolute host path the
# test controls): a correct unpacker leaves that directory untouched, a broken
# one writes a file there, which the test sees, instead of damaging the host.

def _up(n=32):
    return "../" * n


def hostile_layer_entries(kind, canary_dir=DEFAULT_CANARY_DIR):
    """The tar entries of one hostile layer. `canary_dir` must be absolute."""
    c = canary_dir.strip("/")
    if kind == "dotdot":
        # Plain climbing names, one at the top and one after a real directory.
        return [tfile(_up() + c + "/dotdot", "escaped via ../\n"),
                tdir("sub"),
                tfile("sub/" + _up() + c + "/dotdot-sub", "escaped via sub/../\n")]
    if kind == "absolute":
        return [tfile("/" + c + "/absolute", "escaped via an absolute name\n"),
                tdir("/" + c + "/absdir")]
    if kind == "symlink-root":
        # link -> /, then a file written through it.
        return [tsymlink("link", "/"),
                tfile("link/" + c + "/symlink-root", "escaped through link -> /\n")]
    if kind == "symlink-relative":
        # a -> ../../.. (deep enough to reach / from anywhere), then through it.
        return [tsymlink("a", _up().rstrip("/")),
                tfile("a/" + c + "/symlink-relative", "escaped through a -> ../..\n")]
    if kind == "symlink-dir-chain":
        # A symlinked directory made first, then a directory and file below it.
        return [tdir("d"), tsymlink("d/up", "../" + _up() + c),
                tdir("d/up/sub"), tfile("d/up/sub/symlink-chain", "escaped through d/up\n")]
    if kind == "hardlink-outside":
        # Hardlink targets outside the layer: absolute, climbing, and then a
        # write through the link (which would modify the outside file).
        return [thardlink("shadow", "/etc/shadow"),
                thardlink("shadow2", _up() + "etc/shadow"),
                thardlink("canary-link", _up() + c + "/hardlink-target"),
                tfile("canary-link", "written through a hardlink\n")]
    if kind == "hardlink-via-symlink":
        # A hardlink whose target path goes through a symlink to the host /etc.
        return [tsymlink("s", "/etc"), thardlink("h", "s/shadow"),
                tsymlink("cs", canary_dir), thardlink("h2", "cs/hardlink-target")]
    if kind == "devices":
        return [tdir("dev"), tchardev("dev/evil-null", 1, 3), tchardev("dev/evil-mem", 1, 1, 0o666),
                tblockdev("dev/evil-sda", 8, 0, 0o666)]
    if kind == "fifo":
        return [tfifo("evil-fifo")]
    if kind == "setuid-root":
        # The host's `id` made setuid root (and setgid): running it from the
        # sandbox as a non-root user shows whether it gained privilege.
        t = HostTree()
        t.add("/usr/bin/id")
        ents = t.take()
        for i, (ti, data) in enumerate(ents):
            if ti.name == "usr/bin/id":
                ti.mode = 0o6755
        ents.append(tfile("usr/bin/suid-script", "#!/bin/sh\nid\n", 0o4755))
        return ents
    raise ValueError(f"unknown hostile kind {kind!r}")


HOSTILE_TAR_KINDS = ("dotdot", "absolute", "symlink-root", "symlink-relative", "symlink-dir-chain",
                     "hardlink-outside", "hardlink-via-symlink", "devices", "fifo", "setuid-root")
HOSTILE_KINDS = HOSTILE_TAR_KINDS + ("gzip-bomb", "entries-bomb", "truncated-gzip",
                                     "digest-mismatch", "diffid-mismatch")


def _hostile_config():
    return {"Env": [f"PATH={STD_PATH}"], "Cmd": ["/bin/sh"]}


def hostile_image(kind, canary_dir=DEFAULT_CANARY_DIR, name=None, tag="latest", **kw):
    """One image per hostile kind (see HOSTILE_KINDS), named hostile/<kind>.
    Bomb sizes: gzip-bomb takes `size` (uncompressed bytes of its one file,
    default 4 GiB), entries-bomb takes `count` (default 2,000,000)."""
    name = name or f"hostile/{kind}"
    if kind in HOSTILE_TAR_KINDS:
        layer = make_layer(hostile_layer_entries(kind, canary_dir), "gzip")
        return make_image(name, tag, [layer], _hostile_config())
    if kind == "gzip-bomb":
        layer = gzip_bomb_layer(kw.get("size", 4 << 30))
        return make_image(name, tag, [layer], _hostile_config())
    if kind == "entries-bomb":
        layer = entries_bomb_layer(kw.get("count", 2_000_000))
        return make_image(name, tag, [layer], _hostile_config())
    if kind == "truncated-gzip":
        # A valid layer cut in the middle of its gzip stream. The blob digest
        # is that of the truncated bytes (so it verifies); the config carries
        # the diff-id of the full tar, which cannot be reached.
        full = make_layer([tfile(f"file{i}", os.urandom(4096).hex()) for i in range(16)], "gzip")
        cut = full.blob.data[: len(full.blob.data) // 2]
        layer = Layer(blob=Blob(MT_OCI_LAYER_GZIP, cut), diff_id=full.diff_id, compression="gzip")
        return make_image(name, tag, [layer], _hostile_config())
    if kind == "digest-mismatch":
        # The manifest names the true digest; the source serves other bytes of
        # the same length (push_image and the writers apply `overrides`).
        layer = make_layer([tfile("hello", "the real content\n")], "gzip")
        img = make_image(name, tag, [layer], _hostile_config())
        bad = bytearray(layer.blob.data)
        bad[len(bad) // 2] ^= 0xFF
        img.overrides[layer.blob.digest] = bytes(bad)
        return img
    if kind == "diffid-mismatch":
        # A sound blob whose uncompressed digest is not the config's diff-id.
        layer = make_layer([tfile("hello", "content whose diff-id is not in the config\n")], "gzip")
        return make_image(name, tag, [layer], _hostile_config(),
                          diff_ids=[sha256_digest(b"not the layer")])
    raise ValueError(f"unknown hostile kind {kind!r}")


# CRC-32 of appended zero bytes, in O(log n): the CRC register update for one
# zero byte is linear over GF(2), so n zero bytes are that 32x32 matrix to the
# power n, applied by repeated squaring. Lets the gzip bomb carry a correct
# trailer without running CRC-32 over gigabytes.

def _gf2_apply(mat, vec):
    out, i = 0, 0
    while vec:
        if vec & 1:
            out ^= mat[i]
        vec >>= 1
        i += 1
    return out


def _gf2_mul(a, b):
    return [_gf2_apply(a, col) for col in b]


def crc32_extend_zeros(crc, n):
    """zlib.crc32(b"\\0" * n, crc) without the n bytes."""
    one_zero_byte = []
    for bit in range(32):
        r = 1 << bit
        for _ in range(8):
            r = (r >> 1) ^ (0xEDB88320 if r & 1 else 0)
        one_zero_byte.append(r)
    result = [1 << i for i in range(32)]  # identity
    power = one_zero_byte
    while n:
        if n & 1:
            result = _gf2_mul(power, result)
        power = _gf2_mul(power, power)
        n >>= 1
    reg = _gf2_apply(result, crc ^ 0xFFFFFFFF)
    return reg ^ 0xFFFFFFFF


def _repeat_deflate(prefix, zeros, chunk=1 << 20, level=9):
    """A raw deflate stream of `prefix` followed by `zeros` zero bytes, made
    by compressing one chunk of zeros after a full flush and repeating it:
    after a full flush no block refers back, so the copies decode alone."""
    co = zlib.compressobj(level, zlib.DEFLATED, -15)
    out = [co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH)]
    n, rem = divmod(zeros, chunk)
    if n:
        piece = co.compress(b"\0" * chunk) + co.flush(zlib.Z_FULL_FLUSH)
        out.append(piece * n)
    out.append(co.compress(b"\0" * rem) + co.flush())
    return b"".join(out)


def _zeros_sha256(prefix, zeros, chunk=1 << 22):
    h = hashlib.sha256(prefix)
    z = b"\0" * chunk
    n, rem = divmod(zeros, chunk)
    for _ in range(n):
        h.update(z)
    h.update(b"\0" * rem)
    return "sha256:" + h.hexdigest()


def gzip_bomb_layer(size=4 << 30, name="bomb"):
    """A gzip layer of one regular file of `size` zero bytes (a well-formed
    tar and gzip stream, correct CRC and diff-id), about size/1000 bytes
    compressed. Computing the diff-id reads `size` zero bytes through
    SHA-256 once (about 2 s for 4 GiB)."""
    ti, _ = tfile(name)
    ti.size = size
    header = ti.tobuf(tarfile.PAX_FORMAT)
    pad = (-size) % 512
    zeros = size + pad + 1024  # file data, padding, end-of-archive blocks
    total = len(header) + zeros
    deflate = _repeat_deflate(header, zeros)
    crc = crc32_extend_zeros(zlib.crc32(header), zeros)
    gz = (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + deflate
          + crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little"))
    return Layer(blob=Blob(MT_OCI_LAYER_GZIP, gz), diff_id=_zeros_sha256(header, zeros),
                 compression="gzip", tar=None, uncompressed_size=total)


def _ustar_empty_file_headers(count, dirname="many"):
    """`count` 512-byte ustar headers of empty files dirname/f0000000...,
    preceded by the directory, built from one template with the checksum
    adjusted per name (much faster than tarfile for millions of entries)."""
    d, _ = tdir(dirname)
    yield d.tobuf(tarfile.USTAR_FORMAT)
    width = max(7, len(str(count - 1)))
    ti, _ = tfile(f"{dirname}/f" + "0" * width)
    tmpl = bytearray(ti.tobuf(tarfile.USTAR_FORMAT))
    # The checksum field is 8 bytes at offset 148; it counts as spaces.
    base = sum(tmpl[:148]) + 8 * 32 + sum(tmpl[156:])
    prefix = len(dirname) + 2
    zero_sum = ord("0") * width
    for i in range(count):
        digits = str(i).zfill(width).encode()
        tmpl[prefix:prefix + width] = digits
        chk = base - zero_sum + sum(digits)
        tmpl[148:156] = b"%06o\0 " % chk
        yield bytes(tmpl)


def entries_bomb_layer(count=2_000_000, level=1):
    """A gzip layer of `count` empty files in one directory: small compressed,
    `count` inodes when unpacked. Built streaming, about 1 s per million."""
    co = zlib.compressobj(level, zlib.DEFLATED, 31)
    h = hashlib.sha256()
    out, batch, total = [], [], 0
    for hdr in _ustar_empty_file_headers(count):
        batch.append(hdr)
        if len(batch) >= 8192:
            b = b"".join(batch)
            batch = []
            h.update(b)
            total += len(b)
            out.append(co.compress(b))
    batch.append(b"\0" * 1024)
    b = b"".join(batch)
    h.update(b)
    total += len(b)
    out.append(co.compress(b))
    out.append(co.flush())
    return Layer(blob=Blob(MT_OCI_LAYER_GZIP, b"".join(out)), diff_id="sha256:" + h.hexdigest(),
                 compression="gzip", tar=None, uncompressed_size=total)


# ---------------------------------------------------------------------------
# Layouts and archives

def _all_blobs(obj):
    """Every blob an Image or Index needs in a layout: manifests and index
    included, by digest."""
    out = {}
    for img in obj.manifests():
        out.update(img.blobs())
        out[img.manifest_blob.digest] = img.manifest_blob
    if isinstance(obj, Index):
        out[obj.index_blob.digest] = obj.index_blob
    return out


def write_oci_layout(path, objs, ref_names=None, overrides=None):
    """Writes an OCI image layout directory at `path` holding `objs` (Images
    or Indexes). index.json lists each with the annotation
    org.opencontainers.image.ref.name = its tag (or `ref_names[i]`). Bytes in
    `overrides` (and each object's own) replace a blob's content under its
    digest. Returns `path`."""
    objs = objs if isinstance(objs, (list, tuple)) else [objs]
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    manifests = []
    for i, obj in enumerate(objs):
        ov = dict(obj.overrides)
        ov.update(overrides or {})
        for digest, blob in _all_blobs(obj).items():
            p = os.path.join(path, "blobs", "sha256", digest.split(":", 1)[1])
            with open(p, "wb") as f:
                f.write(ov.get(digest, blob.data))
        ref = ref_names[i] if ref_names else obj.tag
        desc = (obj.index_blob if isinstance(obj, Index) else obj.manifest_blob).descriptor()
        if isinstance(obj, Image) and obj.platform and obj.platform.get("os") != "unknown":
            desc["platform"] = dict(obj.platform)
        desc["annotations"] = {ANN_REF_NAME: ref}
        manifests.append(desc)
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": manifests}, f, indent=2)
    return path


def _tar_add_bytes(tf, name, data, mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.size, ti.mode, ti.mtime = len(data), mode, FIXTURE_MTIME
    tf.addfile(ti, io.BytesIO(data))


def _tar_add_dir(tf, name):
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, FIXTURE_MTIME
    tf.addfile(ti)


def write_oci_archive(path, objs, ref_names=None, overrides=None):
    """An `oci-archive:` tarball: the OCI layout of write_oci_layout() as a
    tar (what `skopeo copy ... oci-archive:PATH` writes). Returns `path`."""
    objs = objs if isinstance(objs, (list, tuple)) else [objs]
    with tempfile.TemporaryDirectory(prefix="runra-ocilayout-") as d:
        write_oci_layout(d, objs, ref_names, overrides)
        with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
            for name in ("oci-layout", "index.json"):
                with open(os.path.join(d, name), "rb") as f:
                    _tar_add_bytes(tf, name, f.read())
            _tar_add_dir(tf, "blobs")
            _tar_add_dir(tf, "blobs/sha256")
            for fn in sorted(os.listdir(os.path.join(d, "blobs", "sha256"))):
                with open(os.path.join(d, "blobs", "sha256", fn), "rb") as f:
                    _tar_add_bytes(tf, f"blobs/sha256/{fn}", f.read())
    return path


def write_docker_archive(path, images, repo_tags=None):
    """A `docker-archive:` tarball in the classic `docker save` format:
    manifest.json ([{Config, RepoTags, Layers}]), repositories, one
    directory per layer with layer.tar (uncompressed, as docker save writes),
    VERSION and json, and the config as <hex>.json. An Index is saved as its
    linux/amd64 image. `repo_tags[i]` defaults to "name:tag". Returns `path`."""
    images = images if isinstance(images, (list, tuple)) else [images]
    images = [i.image_for("linux", "amd64") if isinstance(i, Index) else i for i in images]
    manifest, repositories, files = [], {}, {}
    for n, img in enumerate(images):
        tag = repo_tags[n] if repo_tags else f"{img.name}:{img.tag}"
        config_name = img.config_blob.digest.split(":", 1)[1] + ".json"
        files[config_name] = img.config_blob.data
        layer_paths, parent = [], ""
        for layer in img.layers:
            tar = layer.tar if layer.tar is not None else decompress(layer.blob.data, layer.blob.media_type)
            # A v1 layer id chained over the diff-ids, as docker save derives it.
            layer_id = hashlib.sha256((parent + " " + layer.diff_id).encode()).hexdigest()
            files[f"{layer_id}/layer.tar"] = tar
            files[f"{layer_id}/VERSION"] = b"1.0"
            v1 = {"id": layer_id, "created": FIXTURE_CREATED, "container_config": {}}
            if parent:
                v1["parent"] = parent
            files[f"{layer_id}/json"] = json.dumps(v1).encode()
            layer_paths.append(f"{layer_id}/layer.tar")
            parent = layer_id
        manifest.append({"Config": config_name, "RepoTags": [tag], "Layers": layer_paths})
        repo, _, t = tag.rpartition(":")
        repositories.setdefault(repo, {})[t] = parent
    files["manifest.json"] = json.dumps(manifest).encode()
    files["repositories"] = json.dumps(repositories).encode()
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tf:
        made = set()
        for name in sorted(files):
            d = os.path.dirname(name)
            if d and d not in made:
                _tar_add_dir(tf, d)
                made.add(d)
            _tar_add_bytes(tf, name, files[name])
    return path


def unpack_trusted(image, dest):
    """Extracts an image's layers into `dest` with tarfile, honouring plain
    and opaque whiteouts. For the harness's own trusted fixtures only (the
    fallback when umoci is missing); never for hostile layers."""
    os.makedirs(dest, exist_ok=True)
    for layer in image.layers:
        tar = layer.tar if layer.tar is not None else decompress(layer.blob.data, layer.blob.media_type)
        with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
            members = tf.getmembers()
            for m in members:
                d, b = os.path.split(m.name)
                if b == ".wh..wh..opq":
                    target = os.path.join(dest, d)
                    for x in os.listdir(target) if os.path.isdir(target) else []:
                        p = os.path.join(target, x)
                        shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
                elif b.startswith(".wh."):
                    p = os.path.join(dest, d, b[4:])
                    if os.path.isdir(p) and not os.path.islink(p):
                        shutil.rmtree(p)
                    elif os.path.lexists(p):
                        os.unlink(p)
            for m in members:
                if os.path.basename(m.name).startswith(".wh."):
                    continue
                p = os.path.join(dest, m.name)
                if os.path.lexists(p) and not (m.isdir() and os.path.isdir(p) and not os.path.islink(p)):
                    shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
                tf.extract(m, dest, set_attrs=True, numeric_owner=True)
    return dest


def b64(data):
    return base64.b64encode(data).decode()
