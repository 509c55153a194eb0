"""--otlp-endpoint: audit events reach an OpenTelemetry collector as OTLP/HTTP
JSON logs. The collector here is the test's own HTTP server on loopback,
which records what arrives and, for a while, answers 503 to check that the
exporter retries rather than loses the batch."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from conftest import finish_daemon, start_daemon
from runra_client import wait_until


class Collector:
    def __init__(self):
        self.posts = []
        self.paths = []
        self.fail_first = 1
        col = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                col.paths.append((self.path, self.headers.get("Content-Type")))
                if col.fail_first > 0:
                    col.fail_first -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                col.posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.srv = HTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def records(self):
        out = []
        for p in self.posts:
            for rl in p["resourceLogs"]:
                res = {a["key"]: a["value"] for a in rl["resource"]["attributes"]}
                for sl in rl["scopeLogs"]:
                    for r in sl["logRecords"]:
                        out.append((res, sl["scope"], r))
        return out


def attrs(rec):
    return {a["key"]: a["value"] for a in rec["attributes"]}


def test_events_arrive_as_otlp_logs():
    col = Collector()
    d = start_daemon(["--otlp-endpoint", f"http://127.0.0.1:{col.port}/base/"])
    try:
        c = d.client
        sid = c.create({"env": {"K": "secret-otlp-value"}})["id"]
        c.sh(sid, "exit 0")
        c.request("DELETE", f"/v1/sandboxes/{sid}")

        def kinds():
            return [attrs(r)["event.name"]["stringValue"] for _, _, r in col.records()
                    if attrs(r).get("runra.sandbox.id", {}).get("stringValue") == sid]
        assert wait_until(lambda: "sandbox.destroyed" in kinds(), 20), (kinds(), col.paths)
        assert kinds() == ["sandbox.created", "exec", "sandbox.destroyed"], kinds()
        # The first POST got a 503 and was retried: nothing was lost.
        assert col.paths[0] == ("/base/v1/logs", "application/json")
        res, scope, rec = [x for x in col.records()
                           if attrs(x[2])["event.name"]["stringValue"] == "exec"][0]
        assert res["service.name"] == {"stringValue": "runrad"} and "host.name" in res
        assert scope["name"] == "runra.audit"
        a = attrs(rec)
        assert a["runra.exitCode"] == {"intValue": "0"}
        assert a["runra.argv"]["stringValue"].startswith("[")
        assert rec["severityText"] == "INFO" and rec["body"] == {"stringValue": "exec"}
        assert int(rec["timeUnixNano"]) > 1_600_000_000 * 10**9
        assert "secret-otlp-value" not in json.dumps(col.posts)
    finally:
        finish_daemon(d)
        col.srv.shutdown()


def test_a_dead_collector_does_not_block_the_api():
    # Nothing listens there: creates and execs answer as fast as ever.
    d = start_daemon(["--otlp-endpoint", "http://127.0.0.1:9/"])
    try:
        c = d.client
        sid = c.create({})["id"]
        t0 = time.monotonic()
        for _ in range(20):
            c.sh(sid, "true")
        assert time.monotonic() - t0 < 10
        c.request("DELETE", f"/v1/sandboxes/{sid}")
    finally:
        finish_daemon(d)


def test_bad_endpoint_is_refused_at_start():
    import subprocess
    from conftest import RUNRAD
    p = subprocess.run([RUNRAD, "--otlp-endpoint", "https://collector:4318", "--state-dir",
                        "/tmp/runra-otlp-bad", "--no-network"], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    assert p.returncode == 2 and b"otlp-endpoint" in p.stderr, p
