"""Per-sandbox secrets: they reach the sandbox's processes like env, and
nowhere else: not in inspect or list, not in events or the daemon's log,
not in any file of the state dir (the store keeps the spec without them;
they live only in the daemon's memory)."""

import os

import pytest

SECRET = "tok-" + os.urandom(8).hex()


def test_secrets_reach_processes_and_nothing_else(daemon, client):
    c = client
    sid = c.create({"env": {"PLAIN": "visible"}, "secrets": {"API_TOKEN": SECRET,
                                                             "PLAIN": "secret-wins"}})["id"]
    try:
        assert c.sh(sid, "echo $API_TOKEN") == SECRET + "\n"
        assert c.sh(sid, "echo $PLAIN") == "secret-wins\n"
        # An exec's own env still overrides.
        r = c.request("POST", f"/v1/sandboxes/{sid}/exec",
                      {"command": "echo $API_TOKEN", "env": {"API_TOKEN": "mine"}})
        assert r.json()["stdout"] == "mine\n"
        r = c.request("POST", f"/v1/sandboxes/{sid}/processes", {"command": "echo $API_TOKEN"})
        assert r.status == 201
        for path in (f"/v1/sandboxes/{sid}", "/v1/sandboxes", f"/v1/sandboxes/{sid}/processes",
                     "/v1/events", "/metrics"):
            body = c.request("GET", path).body.decode()
            assert SECRET not in body, path
        assert SECRET not in daemon.log()
        state = daemon.state_dir
        for root, _, files in os.walk(state):
            for f in files:
                p = os.path.join(root, f)
                if not os.path.isfile(p) or os.path.getsize(p) > 64 << 20:
                    continue
                with open(p, "rb") as fh:
                    assert SECRET.encode() not in fh.read(), p
    finally:
        c.request("DELETE", f"/v1/sandboxes/{sid}")


def test_bad_secrets_are_refused(client):
    for bad in ({"secrets": {"1BAD": "x"}}, {"secrets": {"A": 1}}, {"secrets": "A=b"},
                {"secrets": {"": "x"}}):
        r = client.request("POST", "/v1/sandboxes", bad)
        assert r.status == 400, (bad, r)
