"""Exec semantics: exit codes and signals, argv vs shell, stdin, env layering,
cwd, timeouts that kill the whole tree (checked from the host), output caps,
base64 output, concurrency, and strict request validation."""

import base64
import os
import threading
import time
import uuid

import pytest

from runra_client import CANARY, HOST_PROCS, ns_only, procs_with_cmdline, wait_until


@pytest.fixture(scope="module")
def envbox(client):
    sb = client.create({"env": {"FOO": "from-sandbox", "BAR": "bar-sandbox"}})
    yield sb["id"]
    client.destroy(sb["id"])


def test_echo(client, sandbox):
    res = client.exec(sandbox, "echo hello; echo oops >&2")
    assert res["exitCode"] == 0
    assert res["signal"] == 0
    assert res["stdout"] == "hello\n"
    assert res["stderr"] == "oops\n"
    assert res["timedOut"] is False and res["oomKilled"] is False and res["truncated"] is False
    assert res["encoding"] == "utf8"
    assert isinstance(res["durationMs"], int) and res["durationMs"] >= 0


@pytest.mark.parametrize("code", [0, 1, 3, 42, 255])
def test_exit_codes(client, sandbox, code):
    res = client.exec(sandbox, f"exit {code}")
    assert res["exitCode"] == code
    assert res["signal"] == 0


def test_killed_by_signal(client, sandbox):
    res = client.exec(sandbox, "kill -TERM $$; sleep 5")
    assert res["signal"] == 15, res
    assert res["exitCode"] == 128 + 15
    assert res["timedOut"] is False


def test_argv_is_not_a_shell(client, sandbox):
    res = client.exec(sandbox, argv=["/bin/echo", "a  b", "$HOME", ";", "`id`"])
    assert res["exitCode"] == 0
    assert res["stdout"] == "a  b $HOME ; `id`\n"


def test_argv_searches_path(client, sandbox):
    res = client.exec(sandbox, argv=["printf", "%s-%s", "x", "y"])
    assert res["stdout"] == "x-y"


def test_missing_command(client, sandbox):
    res = client.exec(sandbox, argv=["/no/such/binary"])
    assert res["exitCode"] == 127, res
    res = client.exec(sandbox, "no-such-command-xyz")
    assert res["exitCode"] == 127, res
    assert "not found" in res["stderr"]


def test_duration(client, sandbox):
    res = client.exec(sandbox, "sleep 0.4")
    assert 350 <= res["durationMs"] < 5000, res


def test_stdin(client, sandbox):
    res = client.exec(sandbox, "cat; echo; echo done", stdin="line1\nline2")
    assert res["stdout"] == "line1\nline2\ndone\n"


def test_large_stdin(client, sandbox):
    data = "0123456789abcdef" * (256 * 1024)  # 4 MiB, several frames
    res = client.exec(sandbox, "wc -c; true", stdin=data)
    assert res["stdout"].strip() == str(len(data))
    res = client.exec(sandbox, "sha256sum", stdin=data)
    import hashlib
    assert res["stdout"].split()[0] == hashlib.sha256(data.encode()).hexdigest()


def test_no_stdin_is_empty(client, sandbox):
    res = client.exec(sandbox, "cat | wc -c")
    assert res["stdout"].strip() == "0"


def test_sandbox_env_and_exec_override(client, envbox):
    out = client.sh(envbox, 'echo "$FOO|$BAR|$BAZ"')
    assert out == "from-sandbox|bar-sandbox|\n"
    out = client.sh(envbox, 'echo "$FOO|$BAR|$BAZ"', env={"FOO": "from-exec", "BAZ": "new"})
    assert out == "from-exec|bar-sandbox|new\n"
    # An override lasts for one exec only.
    assert client.sh(envbox, 'echo "$FOO"') == "from-sandbox\n"


def test_env_has_no_host_leak(client, sandbox):
    # The daemon was started with a canary in its environment (conftest).
    out = client.sh(sandbox, "env; cat /proc/1/environ | tr '\\0' '\\n'")
    assert CANARY not in out
    assert "RUNRA_IT_CANARY" not in out
    assert "PATH=" in out


def test_env_value_with_specials(client, sandbox):
    v = "a b\"c'$d\\e=f\nnewline ü"
    out = client.sh(sandbox, 'printf %s "$V"', env={"V": v})
    assert out == v


def test_default_cwd_and_cwd(client, sandbox):
    assert client.sh(sandbox, "pwd") == "/workspace\n"
    assert client.sh(sandbox, "pwd", cwd="/tmp") == "/tmp\n"
    client.sh(sandbox, "mkdir -p /workspace/sub/dir")
    assert client.sh(sandbox, "pwd", cwd="/workspace/sub/dir") == "/workspace/sub/dir\n"


def test_bad_cwd_fails(client, sandbox):
    r = client.exec_raw(sandbox, command="pwd", cwd="/no/such/dir")
    if r.status == 200:
        assert r.json()["exitCode"] != 0, r
        assert r.json()["stdout"] == ""
    else:
        assert r.status in (400, 404), r


def test_timeout_kills(client, sandbox):
    t0 = time.monotonic()
    res = client.exec(sandbox, "echo started; sleep 30; echo never", timeoutMs=500)
    assert time.monotonic() - t0 < 6
    assert res["timedOut"] is True
    assert res["exitCode"] == 137
    assert res["stdout"] == "started\n"
    assert res["durationMs"] < 6000


@ns_only(HOST_PROCS)
def test_timeout_kills_the_whole_tree_from_the_host(client, sandbox):
    """A setsid'd, TERM-ignoring grandchild must die with the exec."""
    marker = str(900000 + os.getpid() % 90000)  # a sleep length no one else uses
    cmd = (f"setsid sh -c 'trap \"\" TERM HUP; sleep {marker}' </dev/null >/dev/null 2>&1 & "
           f"(trap '' TERM; sleep {marker}.5) & sleep {marker}.25")
    result = {}
    t = threading.Thread(target=lambda: result.update(r=client.exec(sandbox, cmd, timeoutMs=2000)))
    t.start()
    try:
        want = {f"sleep {marker} ", f"sleep {marker}.5 ", f"sleep {marker}.25 "}
        seen = wait_until(lambda: want <= {c for _, c in procs_with_cmdline(marker)}, timeout=5)
        assert seen, f"the test's processes never appeared on the host: {procs_with_cmdline(marker)}"
    finally:
        t.join(20)
    res = result["r"]
    assert res["timedOut"] is True, res
    assert res["exitCode"] == 137
    survivors = wait_until(lambda: not procs_with_cmdline(f"sleep {marker}"), timeout=3)
    assert survivors, f"processes survived the exec timeout: {procs_with_cmdline(marker)}"
    inside = client.sh(sandbox, "cat /proc/[0-9]*/cmdline 2>/dev/null | tr '\\0' ' '; true")
    assert f"sleep {marker}" not in inside


def test_exit_does_not_wait_for_background_output_holders(client, sandbox):
    # A background child keeps stdout open; the exec must still end by its
    # timeout at the latest, not hang forever.
    t0 = time.monotonic()
    r = client.exec_raw(sandbox, command="sleep 20 & echo parent-done", timeoutMs=1500, timeout=30)
    assert r.status == 200, r
    assert time.monotonic() - t0 < 10
    assert "parent-done" in r.json()["stdout"]


def test_output_truncated(client, sandbox):
    res = client.exec(sandbox, "head -c 3000000 /dev/zero | tr '\\0' a; head -c 5000 /dev/zero | tr '\\0' b >&2",
                      maxOutputBytes=1000)
    assert res["exitCode"] == 0
    assert res["truncated"] is True
    assert res["stdout"] == "a" * 1000
    assert res["stderr"] == "b" * 1000


def test_output_default_cap_is_1mib(client, sandbox):
    res = client.exec(sandbox, "head -c 3000000 /dev/zero | tr '\\0' z")
    assert res["exitCode"] == 0
    assert res["truncated"] is True
    assert len(res["stdout"]) == 1 << 20


def test_output_under_cap_not_truncated(client, sandbox):
    res = client.exec(sandbox, "head -c 999 /dev/zero | tr '\\0' q", maxOutputBytes=1000)
    assert res["truncated"] is False
    assert res["stdout"] == "q" * 999


def test_big_output_within_cap(client, sandbox):
    res = client.exec(sandbox, "seq 1 400000", maxOutputBytes=8 << 20)
    assert res["truncated"] is False
    lines = res["stdout"].split("\n")
    assert lines[0] == "1" and lines[-2] == "400000" and len(lines) == 400001


def test_base64_binary_output(client, sandbox):
    payload = bytes(range(256)) * 4
    r = client.write(sandbox, "/tmp/bin.dat", payload)
    assert r.status == 200, r
    res = client.exec(sandbox, "cat /tmp/bin.dat; printf '\\377\\000' >&2", encoding="base64")
    assert res["encoding"] == "base64"
    assert base64.b64decode(res["stdout"]) == payload
    assert base64.b64decode(res["stderr"]) == b"\xff\x00"


def test_utf8_output_is_valid_json_text(client, sandbox):
    res = client.exec(sandbox, "printf 'ok \\303\\274 bad \\377 end'")
    assert res["encoding"] == "utf8"
    assert res["stdout"].startswith("ok ü bad ")
    assert res["stdout"].endswith(" end")
    assert "\udcff" not in res["stdout"]


def test_concurrent_execs(client, sandbox):
    n = 8
    results = [None] * n

    def run(i):
        results[i] = client.exec(sandbox, f"sleep 1; echo job-{i}")

    t0 = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    elapsed = time.monotonic() - t0
    for i, res in enumerate(results):
        assert res is not None, f"exec {i} did not finish"
        assert res["stdout"] == f"job-{i}\n"
        assert res["exitCode"] == 0
    assert elapsed < 6, f"{n} one-second execs took {elapsed:.1f}s: they ran one by one"


def test_concurrent_execs_keep_streams_apart(client, sandbox):
    n = 6
    results = [None] * n

    def run(i):
        results[i] = client.exec(sandbox, f"for k in $(seq 2000); do echo {i}-$k; done",
                                 maxOutputBytes=1 << 22)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i, res in enumerate(results):
        assert res["stdout"] == "".join(f"{i}-{k}\n" for k in range(1, 2001))


@pytest.mark.parametrize("req", [
    {},
    {"command": "true", "argv": ["true"]},
    {"command": ""},
    {"command": 5},
    {"argv": []},
    {"argv": "true"},
    {"argv": ["true", 5]},
    {"command": "true", "bogus": 1},
    {"command": "true", "encoding": "hex"},
    {"command": "true", "timeoutMs": 0},
    {"command": "true", "timeoutMs": -5},
    {"command": "true", "timeoutMs": "100"},
    {"command": "true", "maxOutputBytes": 0},
    {"command": "true", "maxOutputBytes": (64 << 20) + 1},
    {"command": "true", "env": {"1X": "y"}},
    {"command": "true", "env": {"X": 1}},
    {"command": "true", "env": {"A=B": "x"}},
    {"command": "true", "env": {"": "x"}},
    {"command": "true", "env": ["X=1"]},
    {"command": "true", "cwd": ""},
    {"command": "true", "cwd": 7},
    {"command": "true", "stdin": 7},
], ids=lambda r: str(r)[:50])
def test_bad_exec_requests(client, sandbox, req):
    marker = f"/tmp/should-not-exist-{uuid.uuid4().hex}"
    if "command" in req and isinstance(req["command"], str) and req["command"]:
        req = dict(req, command=f"touch {marker}")
    r = client.exec_raw(sandbox, **req)
    assert r.status == 400, (req, r)
    assert r.error_code == "invalid_argument"
    assert client.stat(sandbox, marker).status == 404


def test_exec_malformed_json(client, sandbox):
    for body in [b"{", b"[]", b'"command"', b'{"command":"true","command":"false"}']:
        r = client.request("POST", f"/v1/sandboxes/{sandbox}/exec", body=body)
        assert r.status == 400, (body, r)
        assert r.error_code == "invalid_argument"


def test_exec_unknown_sandbox(client):
    r = client.exec_raw("nosuchsandbox", command="true")
    assert r.status == 404 and r.error_code == "not_found"


def test_sandbox_still_healthy(client, sandbox):
    # After all of the above, the shared sandbox has no stray processes
    # (kernel threads, which a VM's guest has, have no command line).
    out = client.sh(sandbox, "grep -l . /proc/[0-9]*/cmdline 2>/dev/null | wc -l")
    assert int(out) < 10, client.sh(sandbox, "cat /proc/[0-9]*/cmdline | tr '\\0' ' '")


def test_path_search_follows_the_exec_env(client, sandbox):
    # The command's own PATH is searched (not runra-init's), a script without
    # a #! line runs under /bin/sh as with execvp, and a file that is found
    # but not executable is 126, not 127.
    client.sh(sandbox, "mkdir -p /workspace/bin && printf 'echo plain $1\\n' > /workspace/bin/plain"
                       " && chmod +x /workspace/bin/plain && printf x > /workspace/bin/noexec")
    r = client.exec(sandbox, argv=["plain", "ok"], env={"PATH": "/workspace/bin:/usr/bin:/bin"})
    assert r["exitCode"] == 0 and r["stdout"] == "plain ok\n", r
    r = client.exec(sandbox, argv=["plain"])
    assert r["exitCode"] == 127 and "command not found" in r["stderr"], r
    r = client.exec(sandbox, argv=["/workspace/bin/noexec"])
    assert r["exitCode"] == 126, r
    r = client.exec(sandbox, argv=["noexec"], env={"PATH": "/workspace/bin"})
    assert r["exitCode"] == 126, r
