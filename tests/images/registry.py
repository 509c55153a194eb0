"""A real OCI registry on loopback for the image tests.

Starts Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with a config
of its own and storage in a temporary directory, in these setups: no auth,
Basic auth (bcrypt htpasswd), bearer tokens from a small token server in this
file, and optionally blob redirects to a second local HTTP server that records
the headers it receives. Also a small distribution-API client (stdlib
http.client) that does the Basic and bearer flows, used by push_image() and
the fetch helpers. Trusts nothing but the binaries it starts; listens only on
127.0.0.1.
"""

import base64
import hashlib
import http.client
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
import warnings

try:
    from . import fixtures as _fx  # noqa: F401  (when imported as a package)
except ImportError:  # pragma: no cover
    import fixtures as _fx

ALL_MANIFEST_TYPES = _fx.ALL_MANIFEST_TYPES

REGISTRY_BIN = "docker-registry"
SERVICE = "runra-test-registry"
ISSUER = "runra-test-token-issuer"
DEFAULT_USERS = {"runra": "s3cret-pass"}

LOOPBACK = "127.0.0.1"


class HarnessError(RuntimeError):
    pass


def docker_registry_binary():
    return shutil.which(REGISTRY_BIN)


def registry_version():
    """The version string `docker-registry --version` prints, or None."""
    b = docker_registry_binary()
    if not b:
        return None
    out = subprocess.run([b, "--version"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True).stdout.strip()
    return out.split()[-1] if out else None


# ---------------------------------------------------------------------------
# Password hashing for htpasswd. The registry accepts only bcrypt entries.

def bcrypt_hash(password, tool="auto"):
    """A bcrypt hash for an htpasswd line. tool="htpasswd" runs `htpasswd -nbB`
    from apache2-utils ($2y$); tool="crypt" uses Python's crypt module, which
    has bcrypt here through Debian 12's libxcrypt ($2b$; crypt is deprecated
    and gone in Python 3.13); "auto" prefers htpasswd. The registry (Go's
    bcrypt) accepts both prefixes."""
    hp = shutil.which("htpasswd")
    if tool == "htpasswd" or (tool == "auto" and hp):
        if not hp:
            raise HarnessError("htpasswd missing (Debian package apache2-utils)")
        out = subprocess.run([hp, "-nbB", "-C", "5", "u", password], stdout=subprocess.PIPE,
                             check=True, text=True).stdout.strip()
        return out.split(":", 1)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # noqa: E402
    if crypt.METHOD_BLOWFISH not in crypt.methods:
        raise HarnessError("no bcrypt in crypt(3): install apache2-utils (htpasswd)")
    return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 5))


# ---------------------------------------------------------------------------
# Small HTTP servers

class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Base:
    """A threaded HTTP server on 127.0.0.1 with a recorded request log."""

    def __init__(self):
        self.requests = []
        self._lock = threading.Lock()
        self._httpd = None
        self._thread = None

    def _record(self, entry):
        with self._lock:
            self.requests.append(entry)

    def _serve(self, handler_cls):
        self._httpd = _Server((LOOPBACK, 0), handler_cls)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def stop(self):
        if self._httpd:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def clear(self):
        with self._lock:
            self.requests.clear()


class _QuietHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, code, body=b"", ctype="application/json", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_key_id(spki_der):
    """The key id distribution 2.8 (docker/libtrust) gives a public key: the
    SHA-256 of its DER SubjectPublicKeyInfo, first 240 bits, base32 without
    padding, in twelve groups of four joined by ':'."""
    s = base64.b32encode(hashlib.sha256(spki_der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


class TokenServer(_Base):
    """Issues registry bearer tokens (RS256 JWTs signed with `openssl dgst`).

    GET /token?service=S&scope=repository:NAME:pull,push[&scope=...] with
    Basic credentials (or POST with an OAuth2 password-grant form). Users in
    `users` get every action they ask for; a request without credentials
    gets pull-only access if `anonymous_pull`, else a token granting nothing
    (as Docker Hub does); wrong credentials get 401.

    The JWT header carries `x5c` (the signing certificate, which is the
    registry's rootcertbundle) or, with key_header="kid", the libtrust key id
    of that certificate's key; distribution 2.8 accepts either. Claims: iss,
    sub, aud (= the service), exp, nbf, iat, jti, access.
    Every request is recorded in `requests` (path, query, authorization,
    granted access)."""

    def __init__(self, workdir, users, anonymous_pull=False, key_header="x5c", ttl=300,
                 service=SERVICE, issuer=ISSUER):
        super().__init__()
        self.users = dict(users)
        self.anonymous_pull = anonymous_pull
        self.key_header = key_header
        self.ttl = ttl
        self.service = service
        self.issuer = issuer
        self.key_path = os.path.join(workdir, "token-key.pem")
        self.cert_path = os.path.join(workdir, "token-cert.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                        "-keyout", self.key_path, "-out", self.cert_path, "-days", "7",
                        "-subj", "/CN=runra-test-token-issuer"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cert_der = subprocess.run(["openssl", "x509", "-in", self.cert_path, "-outform", "DER"],
                                  check=True, stdout=subprocess.PIPE).stdout
        spki_der = subprocess.run(["openssl", "pkey", "-in", self.key_path, "-pubout", "-outform",
                                   "DER"], check=True, stdout=subprocess.PIPE).stdout
        self.x5c = [base64.b64encode(cert_der).decode()]
        self.kid = libtrust_key_id(spki_der)

    @property
    def realm(self):
        return f"http://{LOOPBACK}:{self.port}/token"

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256"}
        if self.key_header == "x5c":
            header["x5c"] = self.x5c
        elif self.key_header == "kid":
            header["kid"] = self.kid
        signing_input = (_b64url(json.dumps(header, separators=(",", ":")).encode()) + "." +
                         _b64url(json.dumps(claims, separators=(",", ":")).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", self.key_path],
                             input=signing_input.encode(), stdout=subprocess.PIPE, check=True).stdout
        return signing_input + "." + _b64url(sig)

    def issue(self, subject, scopes, authenticated):
        access = []
        for scope in scopes:
            parts = scope.split(":")
            if len(parts) < 3:
                continue
            rtype, name, actions = parts[0], ":".join(parts[1:-1]), parts[-1].split(",")
            if authenticated:
                granted = actions
            elif self.anonymous_pull and rtype == "repository":
                granted = [a for a in actions if a == "pull"]
            else:
                granted = []
            if granted:
                access.append({"type": rtype, "name": name, "actions": granted})
        now = int(time.time())
        claims = {"iss": self.issuer, "sub": subject, "aud": self.service, "exp": now + self.ttl,
                  "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access}
        return self.sign(claims), access

    def start(self):
        server = self

        class H(_QuietHandler):
            def _handle(self, params):
                auth = self.headers.get("Authorization")
                user, ok = "", False
                if "username" in params:  # OAuth2 password grant
                    user = params["username"][0]
                    ok = server.users.get(user) == params.get("password", [None])[0]
                    if not ok:
                        return self._deny(auth, params)
                elif auth:
                    if not auth.startswith("Basic "):
                        return self._deny(auth, params)
                    try:
                        user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
                    except Exception:
                        return self._deny(auth, params)
                    ok = server.users.get(user) == pw
                    if not ok:
                        return self._deny(auth, params)
                if params.get("service", [server.service])[0] != server.service:
                    return self._send(400, b'{"error":"unknown service"}')
                scopes = []
                for s in params.get("scope", []):
                    scopes.extend(s.split(" "))
                token, access = server.issue(user, scopes, ok)
                server._record({"method": self.command, "path": self.path, "params": params,
                                "authorization": auth, "user": user, "access": access})
                body = json.dumps({"token": token, "access_token": token, "expires_in": server.ttl,
                                   "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                              time.gmtime())}).encode()
                self._send(200, body)

            def _deny(self, auth, params):
                server._record({"method": self.command, "path": self.path, "params": params,
                                "authorization": auth, "user": None, "access": None})
                self._send(401, b'{"details":"bad credentials"}',
                           headers={"WWW-Authenticate": 'Basic realm="runra-test-token"'})

            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                if u.path != "/token":
                    return self._send(404, b"{}")
                self._handle(urllib.parse.parse_qs(u.query))

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                form = urllib.parse.parse_qs(self.rfile.read(n).decode())
                self._handle(form)

        self._serve(H)
        return self


class BlobRedirectTarget(_Base):
    """The host the registry redirects blob GETs to (the role S3 or a CDN
    plays): serves the registry's own storage files read-only, supports a
    single `Range: bytes=a-b`, and records every request's headers so a test
    can check that no Authorization header arrived."""

    def __init__(self, storage_dir):
        super().__init__()
        self.root = os.path.realpath(storage_dir)

    def start(self):
        server = self

        class H(_QuietHandler):
            def _serve_file(self):
                server._record({"method": self.command, "path": self.path,
                                "headers": {k.lower(): v for k, v in self.headers.items()}})
                rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
                p = os.path.realpath(os.path.join(server.root, rel))
                if not p.startswith(server.root + "/") or not os.path.isfile(p):
                    return self._send(404, b"not found", "text/plain")
                with open(p, "rb") as f:
                    data = f.read()
                rng = self.headers.get("Range")
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", rng or "")
                if m:
                    a = int(m.group(1))
                    b = int(m.group(2)) if m.group(2) else len(data) - 1
                    if a >= len(data) or b < a:
                        return self._send(416, b"", "application/octet-stream",
                                          {"Content-Range": f"bytes */{len(data)}"})
                    b = min(b, len(data) - 1)
                    return self._send(206, data[a:b + 1], "application/octet-stream",
                                      {"Content-Range": f"bytes {a}-{b}/{len(data)}",
                                       "Accept-Ranges": "bytes"})
                self._send(200, data, "application/octet-stream", {"Accept-Ranges": "bytes"})

            do_GET = _serve_file
            do_HEAD = _serve_file

        self._serve(H)
        return self

    def authorization_headers(self):
        """The Authorization values the target received (should be empty)."""
        return [r["headers"]["authorization"] for r in self.requests if "authorization" in r["headers"]]


class FaultProxy(_Base):
    """A reverse proxy on 127.0.0.1 in front of the registry that records
    every request and injects faults, for retry, resume and pull-once tests.

    add_fault(path_re, kind, times=1, method="GET", ...) arms a fault for the
    next `times` requests whose method matches and whose path matches the
    regular expression: kind="status" answers `status` (default 503) without
    asking the registry; kind="drop" sends the registry's status line and
    headers (full Content-Length) and `after_bytes` bytes of the body, then
    closes the connection; kind="delay" waits `seconds` before forwarding.
    The Host header is passed through, so the registry's Location headers
    point back at the proxy. `requests` holds {method, path, headers, status,
    fault} per request."""

    def __init__(self, upstream_url):
        super().__init__()
        u = urllib.parse.urlsplit(upstream_url)
        self.up_host, self.up_port = u.hostname, u.port
        self.faults = []

    @property
    def host(self):
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self):
        return f"http://{self.host}"

    def add_fault(self, path_re, kind, times=1, method="GET", status=503, after_bytes=0, seconds=0.0):
        if kind not in ("status", "drop", "delay"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self.faults.append({"re": re.compile(path_re), "kind": kind, "left": times,
                                "method": method, "status": status, "after": after_bytes,
                                "seconds": seconds})

    def _take_fault(self, method, path):
        with self._lock:
            for f in self.faults:
                if f["left"] > 0 and f["method"] in (method, "*") and f["re"].search(path):
                    f["left"] -= 1
                    return dict(f)
        return None

    def count(self, method, path_re, status=None):
        rx = re.compile(path_re)
        return sum(1 for r in self.requests if r["method"] == method and rx.search(r["path"])
                   and (status is None or r["status"] == status))

    def start(self):
        proxy = self

        class H(_QuietHandler):
            def _forward(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else None
                fault = proxy._take_fault(self.command, self.path)
                entry = {"method": self.command, "path": self.path,
                         "headers": {k.lower(): v for k, v in self.headers.items()},
                         "status": None, "fault": fault and fault["kind"]}
                proxy._record(entry)
                if fault and fault["kind"] == "delay":
                    time.sleep(fault["seconds"])
                if fault and fault["kind"] == "status":
                    entry["status"] = fault["status"]
                    return self._send(fault["status"], b'{"errors":[{"code":"UNAVAILABLE",'
                                      b'"message":"injected by the test proxy"}]}')
                hdrs = {k: v for k, v in self.headers.items()
                        if k.lower() not in ("connection", "keep-alive", "proxy-connection",
                                             "transfer-encoding", "content-length")}
                conn = http.client.HTTPConnection(proxy.up_host, proxy.up_port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=hdrs)
                    r = conn.getresponse()
                    data = r.read() if self.command != "HEAD" else b""
                    rh = r.getheaders()
                    status = r.status
                finally:
                    conn.close()
                entry["status"] = status
                self.send_response(status)
                clen = None
                for k, v in rh:
                    kl = k.lower()
                    if kl in ("connection", "keep-alive", "transfer-encoding"):
                        continue
                    if kl == "content-length":
                        clen = v
                    self.send_header(k, v)
                if clen is None and self.command != "HEAD":
                    self.send_header("Content-Length", str(len(data)))
                if fault and fault["kind"] == "drop":
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(data[:fault["after"]])
                    self.wfile.flush()
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self._serve(H)
        return self


# ---------------------------------------------------------------------------
# A distribution API client

class Response:
    def __init__(self, method, url, status, reason, headers, body):
        self.method, self.url, self.status, self.reason = method, url, status, reason
        self.header_list = headers
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.method} {self.url} {self.status}>"


def parse_challenge(value):
    """('bearer'|'basic', {realm, service, scope, error...}) from a
    WWW-Authenticate value."""
    scheme, _, rest = value.strip().partition(" ")
    params = dict(re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


class RegistryClient:
    """Speaks the distribution API to one registry with Basic or bearer auth.

    Tokens are cached per scope. `history` records (method, url, status,
    sent Authorization or None) for every HTTP request made, including token
    fetches and redirects; `token_fetches` the scopes tokens were fetched for."""

    def __init__(self, base_url, username=None, password=None, timeout=60):
        self.base = base_url.rstrip("/")
        self.netloc = urllib.parse.urlsplit(self.base).netloc
        self.username, self.password = username, password
        self.timeout = timeout
        self.tokens = {}
        self.basic_ok = False
        self.history = []
        self.token_fetches = []

    def _basic(self):
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()

    def _raw(self, method, url, body=None, headers=None):
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=self.timeout)
        try:
            path = u.path + ("?" + u.query if u.query else "")
            conn.request(method, path or "/", body=body, headers=headers or {})
            r = conn.getresponse()
            data = r.read() if method != "HEAD" else b""
            resp = Response(method, url, r.status, r.reason, r.getheaders(), data)
        finally:
            conn.close()
        self.history.append((method, url, resp.status, (headers or {}).get("Authorization")))
        return resp

    def fetch_token(self, realm, service, scope):
        q = {"service": service}
        if scope:
            q["scope"] = scope
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(q)
        hdrs = {"Authorization": self._basic()} if self.username is not None else {}
        r = self._raw("GET", url, headers=hdrs)
        self.token_fetches.append(scope)
        if r.status != 200:
            raise HarnessError(f"token fetch {url}: {r.status} {r.body[:200]!r}")
        j = r.json()
        return j.get("token") or j.get("access_token")

    def request(self, method, path, body=None, headers=None, scope=None, follow_redirects=True,
                max_redirects=5):
        """One API call; `path` is /v2/... or an absolute URL on the registry.
        Answers a 401 once (Basic, or bearer: token fetch then retry) and
        follows redirects, sending Authorization only to the registry itself."""
        url = path if path.startswith("http") else self.base + path
        hdrs = dict(headers or {})
        auth = None
        if scope and scope in self.tokens:
            auth = "Bearer " + self.tokens[scope]
        elif self.basic_ok:
            auth = self._basic()
        for attempt in range(2):
            h = dict(hdrs)
            if auth:
                h["Authorization"] = auth
            r = self._raw(method, url, body, h)
            if r.status != 401 or attempt == 1:
                break
            challenge = r.header("WWW-Authenticate")
            if not challenge:
                break
            kind, params = parse_challenge(challenge)
            if kind == "basic":
                if self.username is None:
                    break
                self.basic_ok = True
                auth = self._basic()
            elif kind == "bearer":
                ch_scope = params.get("scope", "")
                token = self.tokens.get(ch_scope) if ch_scope else None
                if token is None or auth == "Bearer " + token:
                    token = self.fetch_token(params["realm"], params.get("service", ""), ch_scope)
                    self.tokens[ch_scope] = token
                if scope:
                    self.tokens[scope] = token
                auth = "Bearer " + token
            else:
                break
        hops = 0
        while follow_redirects and r.status in (301, 302, 303, 307, 308) and hops < max_redirects:
            hops += 1
            nxt = urllib.parse.urljoin(r.url, r.header("Location"))
            same = urllib.parse.urlsplit(nxt).netloc == self.netloc
            h = dict(hdrs)
            if same and auth:
                h["Authorization"] = auth
            m = "GET" if r.status == 303 else method
            r = self._raw(m, nxt, body if r.status in (307, 308) else None, h)
        return r

    def _check(self, r, *ok):
        if r.status not in ok:
            raise HarnessError(f"{r.method} {r.url}: {r.status} {r.body[:300]!r}")
        return r

    # -- API helpers -----------------------------------------------------

    def ping(self):
        return self.request("GET", "/v2/")

    def blob_exists(self, repo, digest):
        r = self.request("HEAD", f"/v2/{repo}/blobs/{digest}", scope=f"repository:{repo}:pull")
        return r.status == 200

    def push_blob(self, repo, data, digest=None, upload="put", chunk_size=1 << 20):
        """Uploads a blob. upload="put": POST then one PUT with the body;
        "post": a single POST with ?digest= (monolithic); "chunked": POST,
        PATCHes of chunk_size with Content-Range, then PUT ?digest=."""
        digest = digest or _fx.sha256_digest(data)
        scope = f"repository:{repo}:pull,push"
        if self.blob_exists(repo, digest):
            return digest
        start = f"/v2/{repo}/blobs/uploads/"
        if upload == "post":
            r = self.request("POST", start + "?" + urllib.parse.urlencode({"digest": digest}), data,
                             {"Content-Type": "application/octet-stream"}, scope=scope)
            if r.status == 201:
                return digest
            # A registry without single-POST uploads answers 202: finish with PUT.
            self._check(r, 202)
            loc = r.header("Location")
            r = self.request("PUT", _add_query(loc, digest=digest), data,
                             {"Content-Type": "application/octet-stream"}, scope=scope)
            self._check(r, 201)
            return digest
        r = self._check(self.request("POST", start, b"", {"Content-Length": "0"}, scope=scope), 202)
        loc = r.header("Location")
        if upload == "put":
            r = self.request("PUT", _add_query(loc, digest=digest), data,
                             {"Content-Type": "application/octet-stream"}, scope=scope)
            self._check(r, 201)
            return digest
        if upload != "chunked":
            raise ValueError(f"unknown upload mode {upload!r}")
        off = 0
        while off < len(data) or off == 0:
            chunk = data[off:off + chunk_size]
            r = self.request("PATCH", loc, chunk,
                             {"Content-Type": "application/octet-stream",
                              "Content-Range": f"{off}-{off + len(chunk) - 1}"}, scope=scope)
            self._check(r, 202)
            loc = r.header("Location")
            off += len(chunk)
            if not chunk:
                break
        r = self.request("PUT", _add_query(loc, digest=digest), b"", {"Content-Length": "0"},
                         scope=scope)
        self._check(r, 201)
        return digest

    def mount_blob(self, repo, digest, from_repo):
        r = self.request("POST", f"/v2/{repo}/blobs/uploads/?" +
                         urllib.parse.urlencode({"mount": digest, "from": from_repo}), b"",
                         scope=f"repository:{repo}:pull,push")
        return r.status == 201

    def push_manifest(self, repo, ref, data, media_type):
        r = self.request("PUT", f"/v2/{repo}/manifests/{ref}", data, {"Content-Type": media_type},
                         scope=f"repository:{repo}:pull,push")
        self._check(r, 201)
        return r.header("Docker-Content-Digest")

    def get_manifest(self, repo, ref, accept=ALL_MANIFEST_TYPES):
        """(media type, body, digest) of a manifest, accepting all four types."""
        r = self.request("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": ", ".join(accept)},
                         scope=f"repository:{repo}:pull")
        self._check(r, 200)
        return r.header("Content-Type"), r.body, r.header("Docker-Content-Digest")

    def get_blob(self, repo, digest, headers=None):
        r = self.request("GET", f"/v2/{repo}/blobs/{digest}", headers=headers,
                         scope=f"repository:{repo}:pull")
        self._check(r, 200, 206)
        return r.body

    def tags(self, repo):
        r = self._check(self.request("GET", f"/v2/{repo}/tags/list", scope=f"repository:{repo}:pull"), 200)
        return r.json().get("tags") or []

    def catalog(self):
        r = self._check(self.request("GET", "/v2/_catalog", scope="registry:catalog:*"), 200)
        return r.json().get("repositories") or []

    def delete_manifest(self, repo, digest):
        r = self.request("DELETE", f"/v2/{repo}/manifests/{digest}", scope=f"repository:{repo}:*")
        return r.status == 202


def _add_query(url, **params):
    sep = "&" if "?" in url else "?"
    return url + sep + urllib.parse.urlencode(params)


# ---------------------------------------------------------------------------
# The registry process

class Registry:
    """A docker-registry process on 127.0.0.1 with one of these setups:

    auth="none" | "basic" | "token"; redirect=True adds a BlobRedirectTarget
    that blob GETs and HEADs are redirected to (through the registry's own
    `redirect` storage middleware) at http://<redirect_host>:<port>/...;
    redirect_host defaults to "localhost", a different host name that still
    reaches 127.0.0.1, so a client must treat it as another host.

    Use as a context manager (start on enter, stop and remove everything on
    exit) or call start()/stop(). Attributes once started: url, host (the
    "127.0.0.1:PORT" a reference names), port, users, username, password,
    token_server, redirect_target, storage_dir, log_path."""

    def __init__(self, auth="none", redirect=False, users=None, anonymous_pull=False,
                 token_key_header="x5c", token_ttl=300, redirect_host="localhost", workdir=None,
                 keep=None, hasher="auto"):
        if auth not in ("none", "basic", "token"):
            raise ValueError(f"unknown auth setup {auth!r}")
        self.auth = auth
        self.redirect = redirect
        self.users = dict(users or DEFAULT_USERS)
        self.anonymous_pull = anonymous_pull
        self.token_key_header = token_key_header
        self.token_ttl = token_ttl
        self.redirect_host = redirect_host
        self.hasher = hasher
        self._workdir_given = workdir
        self.keep = os.environ.get("RUNRA_KEEP_REGISTRY") == "1" if keep is None else keep
        self.proc = None
        self.token_server = None
        self.redirect_target = None
        self.proxies = []
        self.tmpdir = None
        self.port = None

    # -- lifecycle ---------------------------------------------------------

    def start(self, timeout=15):
        binary = docker_registry_binary()
        if not binary:
            raise HarnessError("docker-registry not found (Debian package docker-registry)")
        self.tmpdir = self._workdir_given or tempfile.mkdtemp(prefix="runra-registry-")
        self.storage_dir = os.path.join(self.tmpdir, "storage")
        os.makedirs(self.storage_dir, exist_ok=True)
        self.config_path = os.path.join(self.tmpdir, "config.yml")
        self.log_path = os.path.join(self.tmpdir, "registry.log")
        try:
            cfg = self._config()
            # JSON is YAML: the registry's YAML parser reads it as is, and
            # json.dumps quotes every value safely.
            with open(self.config_path, "w") as f:
                json.dump(cfg, f, indent=2)
            self._log = open(self.log_path, "wb")
            env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": self.tmpdir}
            self.proc = subprocess.Popen([binary, "serve", self.config_path], stdin=subprocess.DEVNULL,
                                         stdout=self._log, stderr=subprocess.STDOUT, env=env,
                                         start_new_session=True)
            self.port = self._wait_listening(timeout)
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _config(self):
        cfg = {
            "version": "0.1",
            "log": {"level": "info", "formatter": "text"},
            "storage": {"filesystem": {"rootdirectory": self.storage_dir},
                        "delete": {"enabled": True},
                        "maintenance": {"uploadpurging": {"enabled": False}}},
            "http": {"addr": f"{LOOPBACK}:0", "secret": secrets.token_hex(16),
                     "headers": {"X-Content-Type-Options": ["nosniff"]}},
        }
        if self.auth == "basic":
            htp = os.path.join(self.tmpdir, "htpasswd")
            with open(htp, "w") as f:
                for u, p in self.users.items():
                    f.write(f"{u}:{bcrypt_hash(p, self.hasher)}\n")
            cfg["auth"] = {"htpasswd": {"realm": "runra-test", "path": htp}}
        elif self.auth == "token":
            self.token_server = TokenServer(self.tmpdir, self.users, self.anonymous_pull,
                                            self.token_key_header, self.token_ttl).start()
            cfg["auth"] = {"token": {"realm": self.token_server.realm, "service": SERVICE,
                                     "issuer": ISSUER, "rootcertbundle": self.token_server.cert_path}}
        if self.redirect:
            self.redirect_target = BlobRedirectTarget(self.storage_dir).start()
            cfg["middleware"] = {"storage": [{"name": "redirect", "options": {
                "baseurl": f"http://{self.redirect_host}:{self.redirect_target.port}"}}]}
        return cfg

    def _wait_listening(self, timeout):
        deadline = time.monotonic() + timeout
        pat = re.compile(rb"listening on 127\.0\.0\.1:(\d+)")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise HarnessError(f"docker-registry exited {self.proc.returncode}:\n{self.log_text()}")
            with open(self.log_path, "rb") as f:
                m = pat.search(f.read())
            if m:
                return int(m.group(1))
            time.sleep(0.02)
        raise HarnessError(f"docker-registry did not listen in {timeout}s:\n{self.log_text()}")

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                r = RegistryClient(self.url, timeout=2)._raw("GET", self.url + "/v2/")
                if r.status in (200, 401):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise HarnessError("docker-registry did not answer /v2/")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        for s in [self.token_server, self.redirect_target] + self.proxies:
            if s:
                s.stop()
        self.proxies = []
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self.tmpdir and not self.keep and not self._workdir_given:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- facts and helpers ---------------------------------------------------

    @property
    def host(self):
        return f"{LOOPBACK}:{self.port}"

    @property
    def url(self):
        return f"http://{self.host}"

    @property
    def username(self):
        return next(iter(self.users))

    @property
    def password(self):
        return self.users[self.username]

    def client(self, username=None, password=None, anonymous=False):
        """A RegistryClient; by default with this registry's first user's
        credentials when auth is on."""
        if anonymous or self.auth == "none" and username is None:
            return RegistryClient(self.url)
        return RegistryClient(self.url, username or self.username,
                              password if password is not None else self.users.get(username or self.username))

    def docker_config(self, username=None):
        """A ~/.docker/config.json dict with this registry's credentials."""
        u = username or self.username
        auth = base64.b64encode(f"{u}:{self.users[u]}".encode()).decode()
        return {"auths": {self.host: {"auth": auth}}}

    def write_docker_config(self, path, username=None):
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w") as f:
            json.dump(self.docker_config(username), f)
        return path

    def blob_path(self, digest):
        algo, hexd = digest.split(":", 1)
        return os.path.join(self.storage_dir, "docker", "registry", "v2", "blobs", algo, hexd[:2],
                            hexd, "data")

    def corrupt_blob(self, digest, data=None):
        """Replaces a stored blob's bytes (default: one byte flipped, same
        length); the registry then serves content that does not match its
        digest, as a broken mirror or disk would."""
        p = self.blob_path(digest)
        if data is None:
            with open(p, "rb") as f:
                data = bytearray(f.read())
            data[len(data) // 2] ^= 0xFF
        with open(p, "wb") as f:
            f.write(bytes(data))

    def fault_proxy(self):
        """A started FaultProxy in front of this registry (stopped with it)."""
        p = FaultProxy(self.url).start()
        self.proxies.append(p)
        return p

    _ACCESS = re.compile(r'^\S+ - \S+ \[[^\]]*\] "(\S+) (\S+) [^"]*" (\d+) (\d+|-) "[^"]*" "([^"]*)"')

    def access_log(self):
        """The requests the registry has answered, from its access log lines:
        [{method, path, status, size, user_agent}]. A line is written once the
        response is complete, so a request just answered may lag a moment."""
        out = []
        for line in self.log_text().splitlines():
            m = self._ACCESS.match(line)
            if m:
                out.append({"method": m.group(1), "path": m.group(2), "status": int(m.group(3)),
                            "size": 0 if m.group(4) == "-" else int(m.group(4)),
                            "user_agent": m.group(5)})
        return out

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""


def start_registry(**kw):
    """Registry(**kw), started. Use it in a `with` block."""
    return Registry(**kw).start()


# ---------------------------------------------------------------------------
# Pushing and fetching images

def push_image(registry, name, tag, image, upload="put", chunk_size=1 << 20, client=None):
    """Pushes an Image or Index from fixtures.py as NAME:TAG, blobs first,
    then each platform manifest by digest, then the top manifest by tag.
    `upload` is "put" (POST + PUT), "post" (single POST) or "chunked"
    (PATCHes of chunk_size). Blobs in image.overrides are then replaced in
    storage by their hostile bytes. Returns the top manifest digest."""
    c = client or registry.client()
    for digest, blob in image.blobs().items():
        c.push_blob(name, blob.data, digest, upload=upload, chunk_size=chunk_size)
    if isinstance(image, _fx.Index):
        for img in image.images:
            c.push_manifest(name, img.digest, img.manifest_blob.data, img.media_type)
        top = c.push_manifest(name, tag, image.index_blob.data, image.media_type)
    else:
        top = c.push_manifest(name, tag, image.manifest_blob.data, image.media_type)
    if top != image.digest:
        raise HarnessError(f"registry stored {top}, expected {image.digest}")
    for digest, bad in getattr(image, "overrides", {}).items():
        registry.corrupt_blob(digest, bad)
    return top


def fetch_manifest(registry, name, ref, accept=ALL_MANIFEST_TYPES, client=None):
    """(media type, body bytes, digest) of NAME:REF as the registry serves it."""
    return (client or registry.client()).get_manifest(name, ref, accept)


def fetch_blob(registry, name, digest, client=None):
    return (client or registry.client()).get_blob(name, digest)


def free_port():
    """A currently unused 127.0.0.1 TCP port (racy; for 'nothing listens
    here' tests only)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]
