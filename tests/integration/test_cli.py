"""End-to-end tests of the `runra` CLI (and librunra under it) against a real
runrad: every command, its exit codes and output, byte-exact exec output,
50 MB copies both ways, cleanup on ^C, and starting runrad on demand."""

import hashlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time

import pytest

from conftest import BUILD_DIR
from runra_client import leftovers, procs_with_cmdline, wait_until

RUNRA = os.path.join(BUILD_DIR, "src", "cli", "runra")
ID_RE = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.fixture(scope="module")
def cli(daemon):
    """Runs runra against the module's daemon; returns CompletedProcess
    (bytes). RUNRA_NO_AUTOSTART keeps a broken test from starting a second
    daemon on the default socket."""
    if not os.access(RUNRA, os.X_OK):
        pytest.fail(f"runra not built at {RUNRA}")

    def run(*args, input=None, timeout=60, env=None):
        e = dict(os.environ, RUNRA_NO_AUTOSTART="1")
        e.pop("RUNRA_SOCKET", None)
        e.update(env or {})
        return subprocess.run([RUNRA, "--socket", daemon.socket, *args], input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=e)
    return run


def ok(p):
    assert p.returncode == 0, f"rc={p.returncode} stdout={p.stdout[:500]!r} stderr={p.stderr[:500]!r}"
    return p.stdout


def one_line_error(p, rc=1):
    """The CLI's error shape: the exit code, and stderr's first line "runra: ..."."""
    assert p.returncode == rc, f"rc={p.returncode} stderr={p.stderr!r}"
    err = p.stderr.decode()
    assert err.startswith("runra: "), err
    return err.splitlines()[0]


@pytest.fixture
def sb(cli):
    sid = ok(cli("create", "--meta", "suite=cli")).decode().strip()
    yield sid
    cli("rm", sid)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- usage -------------------------------------------------------------


def test_help_and_version(cli):
    out = ok(cli("help")).decode()
    for cmd in ("create", "ls", "inspect", "rm", "exec", "run", "cp", "files", "health"):
        assert f"  {cmd} " in out
    assert "Usage: runra exec" in ok(cli("exec", "--help")).decode()
    assert "Usage: runra files" in ok(cli("help", "files")).decode()
    v = json.loads(ok(cli("version", "--json")))
    assert v["client"] == "0.1.0" and v["server"]


@pytest.mark.parametrize("args", [
    ["create", "--bogus"],
    ["create", "--cpu", "lots"],
    ["create", "--memory"],
    ["frob"],
    ["exec"],
    ["exec", "someid"],
    ["run", "--cpu", "1"],
    ["cp", "a", "b"],
    ["cp", "x:/a", "y:/b"],
    ["files", "frob", "id", "/x"],
    ["files", "cat", "id"],
    ["ls", "extra"],
    ["inspect"],
])
def test_bad_usage_exits_2(cli, args):
    p = cli(*args)
    assert p.returncode == 2, p
    assert p.stderr.decode().startswith("runra: "), p.stderr
    assert p.stdout == b""


# ---- lifecycle ---------------------------------------------------------


def test_health(cli):
    h = json.loads(ok(cli("health", "--json")))
    assert h["status"] == "ok" and h["version"]
    assert "status: ok" in ok(cli("health")).decode()


def test_create_ls_inspect_rm(cli):
    out = ok(cli("create", "--cpu", "0.5", "--memory", "256", "--pids", "64",
                 "--timeout", "10m", "--meta", "suite=cli", "--meta", "case=lifecycle",
                 "-e", "GREETING=hi")).decode()
    assert out.endswith("\n") and out.count("\n") == 1
    sid = out.strip()
    assert ID_RE.match(sid), sid
    try:
        table = ok(cli("ls")).decode().splitlines()
        assert table[0].split() == ["ID", "STATE", "IMAGE", "CPU", "MEMORY", "CREATED"]
        row = next(line for line in table if line.startswith(sid))
        assert "running" in row and "0.5" in row and "256M" in row

        listed = json.loads(ok(cli("ls", "--json", "--meta", "case=lifecycle")))
        assert [s["id"] for s in listed["sandboxes"]] == [sid]
        none = json.loads(ok(cli("--json", "ls", "--meta", "case=nothing-matches")))
        assert none["sandboxes"] == []

        info = json.loads(ok(cli("inspect", sid)))
        assert info["id"] == sid and info["state"] == "running"
        assert info["resources"]["memoryMb"] == 256 and info["resources"]["pids"] == 64
        assert info["metadata"] == {"suite": "cli", "case": "lifecycle"}
        assert info["timeoutMs"] == 600000

        # The sandbox env reaches commands.
        assert ok(cli("exec", sid, "--", "sh", "-c", "echo $GREETING")) == b"hi\n"

        both = json.loads(ok(cli("inspect", sid, sid)))
        assert isinstance(both, list) and len(both) == 2
    finally:
        ok(cli("rm", sid))
    line = one_line_error(cli("inspect", sid))
    assert sid in line
    one_line_error(cli("rm", sid))


def test_create_json(cli):
    sb = json.loads(ok(cli("create", "--json", "--meta", "suite=cli")))
    try:
        assert sb["state"] == "running" and ID_RE.match(sb["id"])
    finally:
        ok(cli("rm", sb["id"]))


def test_rm_many_reports_each_failure(cli):
    a = ok(cli("create")).decode().strip()
    b = ok(cli("create")).decode().strip()
    p = cli("rm", a, "no-such-sandbox", b)
    assert p.returncode == 1
    errs = p.stderr.decode().splitlines()
    assert len(errs) == 1 and "no-such-sandbox" in errs[0]
    ids = [s["id"] for s in json.loads(ok(cli("ls", "--json")))["sandboxes"]]
    assert a not in ids and b not in ids


def test_unknown_id_errors(cli):
    for args in (["exec", "nope-123", "true"], ["inspect", "nope-123"],
                 ["files", "ls", "nope-123", "/"], ["cp", "nope-123:/etc/hostname", "-"]):
        line = one_line_error(cli(*args))
        assert "nope-123" in line, line


# ---- exec --------------------------------------------------------------


def test_exec_output_is_byte_exact(cli, sb):
    script = r"printf '\377\000\001text\n\200'; printf 'err\000\376' >&2"
    p = cli("exec", sb, "--", "sh", "-c", script)
    assert p.returncode == 0, p
    assert p.stdout == b"\xff\x00\x01text\n\x80"
    assert p.stderr == b"err\x00\xfe"


def test_exec_sends_argv_not_a_shell_string(cli, sb):
    assert ok(cli("exec", sb, "echo", "$HOME;", "a  b", "*")) == b"$HOME; a  b *\n"


def test_exec_exit_codes(cli, sb):
    assert cli("exec", sb, "--", "sh", "-c", "exit 42").returncode == 42
    assert cli("exec", sb, "false").returncode == 1
    # Killed by a signal: 128 + the signal, like a shell.
    assert cli("exec", sb, "--", "sh", "-c", "kill -9 $$").returncode == 137


def test_exec_timeout_is_124(cli, sb):
    t = time.monotonic()
    p = cli("exec", "--timeout", "500ms", sb, "sleep", "30")
    assert p.returncode == 124, p
    assert time.monotonic() - t < 20
    assert b"timed out" in p.stderr


def test_exec_env_cwd_and_flags_after_id(cli, sb):
    out = ok(cli("exec", "-e", "A=1", sb, "-e", "B=two words", "-w", "/tmp", "--",
                 "sh", "-c", 'echo "$A|$B|$(pwd)"'))
    assert out == b"1|two words|/tmp\n"


def test_exec_stdin(cli, sb):
    assert ok(cli("exec", "-i", sb, "cat", input=b"line one\nline two\n")) == b"line one\nline two\n"
    # Without -i the command's stdin is empty.
    assert ok(cli("exec", sb, "cat", input=b"ignored")) == b""


def test_exec_json(cli, sb):
    p = cli("exec", "--json", sb, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert p.returncode == 3
    j = json.loads(p.stdout)
    assert j["exitCode"] == 3 and j["encoding"] == "base64"


def test_exec_truncation_note(cli, sb):
    p = cli("exec", "--max-output", "100", sb, "--", "sh", "-c", "head -c 5000 /dev/zero")
    assert p.returncode == 0
    assert len(p.stdout) <= 100
    assert b"truncated" in p.stderr


# ---- run ---------------------------------------------------------------


def _ids(cli):
    return {s["id"] for s in json.loads(ok(cli("ls", "--json")))["sandboxes"]}


def test_run_creates_execs_destroys(cli):
    before = _ids(cli)
    p = cli("run", "--memory", "256", "-e", "X=from-run", "--", "sh", "-c", 'echo "$X"; echo e >&2; exit 3')
    assert p.returncode == 3, p
    assert p.stdout == b"from-run\n" and p.stderr == b"e\n"
    assert _ids(cli) == before


def test_run_stdin_and_failure_cleanup(cli):
    before = _ids(cli)
    assert ok(cli("run", "-i", "--", "wc", "-c", input=b"12345")).strip() == b"5"
    # A command that cannot start still leaves nothing behind.
    p = cli("run", "--", "/no/such/binary")
    assert p.returncode != 0
    assert _ids(cli) == before


def test_run_destroys_on_sigint(cli, daemon):
    before = _ids(cli)
    e = dict(os.environ, RUNRA_NO_AUTOSTART="1")
    proc = subprocess.Popen([RUNRA, "--socket", daemon.socket, "run", "--meta", "case=sigint",
                             "--", "sleep", "60"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    try:
        assert wait_until(lambda: len(_ids(cli) - before) == 1, 20), "run never created its sandbox"
        time.sleep(0.3)  # let the exec start
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert rc == 130, (rc, proc.stderr.read())
    assert _ids(cli) == before


# ---- files -------------------------------------------------------------


def test_cp_50mb_both_ways(cli, sb, tmp_path):
    src = tmp_path / "big.bin"
    with open(src, "wb") as f:
        f.write(os.urandom(50 * 1024 * 1024))
    os.chmod(src, 0o750)
    t = time.monotonic()
    ok(cli("cp", str(src), f"{sb}:/tmp/big.bin", timeout=120))
    up = time.monotonic() - t
    inside = ok(cli("exec", sb, "sha256sum", "/tmp/big.bin")).split()[0].decode()
    assert inside == sha256(src)
    st = json.loads(ok(cli("files", "stat", "--json", sb, "/tmp/big.bin")))
    assert st["size"] == 50 * 1024 * 1024 and st["type"] == "file"
    assert st["mode"] & 0o777 == 0o750

    dst = tmp_path / "back.bin"
    t = time.monotonic()
    ok(cli("cp", f"{sb}:/tmp/big.bin", str(dst), timeout=120))
    down = time.monotonic() - t
    assert sha256(dst) == sha256(src)
    # Streaming, not buffering through JSON: far below a second per 50 MB here.
    assert up < 30 and down < 30, (up, down)
    # No temporary left next to the destination.
    assert sorted(os.listdir(tmp_path)) == ["back.bin", "big.bin"]


def test_cp_stdin_stdout_and_dirs(cli, sb, tmp_path):
    data = bytes(range(256)) * 100
    ok(cli("cp", "-", f"{sb}:/tmp/from-stdin.bin", input=data))
    assert ok(cli("cp", f"{sb}:/tmp/from-stdin.bin", "-")) == data

    # Onto a directory means into it, both ways.
    f = tmp_path / "named.txt"
    f.write_bytes(b"named\n")
    ok(cli("cp", str(f), f"{sb}:/tmp"))
    ok(cli("cp", str(f), f"{sb}:/workspace/"))
    assert ok(cli("files", "cat", sb, "/tmp/named.txt")) == b"named\n"
    assert ok(cli("files", "cat", sb, "/workspace/named.txt")) == b"named\n"
    out = tmp_path / "out"
    out.mkdir()
    ok(cli("cp", f"{sb}:/tmp/named.txt", str(out)))
    assert (out / "named.txt").read_bytes() == b"named\n"

    # A failed download leaves no file behind.
    p = cli("cp", f"{sb}:/tmp/does-not-exist", str(tmp_path / "never"))
    one_line_error(p)
    assert not (tmp_path / "never").exists()
    assert not [n for n in os.listdir(tmp_path) if ".runra-" in n]


def test_files_commands(cli, sb):
    ok(cli("files", "write", sb, "/tmp/f/deep/a.txt", input=b"hello"))
    ok(cli("files", "write", "--append", sb, "/tmp/f/deep/a.txt", input=b" world"))
    assert ok(cli("files", "cat", sb, "/tmp/f/deep/a.txt")) == b"hello world"
    ok(cli("files", "write", "--mode", "600", sb, "/tmp/f/secret", input=b"x"))

    st = json.loads(ok(cli("files", "stat", sb, "/tmp/f/secret", "--json")))
    assert st["mode"] & 0o777 == 0o600 and st["size"] == 1
    human = ok(cli("files", "stat", sb, "/tmp/f/secret")).decode()
    assert "type: file" in human and "-rw-------" in human

    ok(cli("files", "mkdir", "-p", sb, "/tmp/f/x/y/z"))
    made = json.loads(ok(cli("files", "mkdir", "--json", sb, "/tmp/f/solo")))
    assert made["type"] == "dir"
    one_line_error(cli("files", "mkdir", sb, "/tmp/f/no/parents/here"))

    listing = json.loads(ok(cli("files", "ls", "--json", sb, "/tmp/f")))
    names = sorted(e["name"] for e in listing["entries"])
    assert names == ["deep", "secret", "solo", "x"]
    table = ok(cli("files", "ls", sb, "/tmp/f")).decode()
    assert re.search(r"^d[rwx-]{9}\s.*\sdeep$", table, re.M), table

    ok(cli("files", "mv", sb, "/tmp/f/secret", "/tmp/f/moved"))
    one_line_error(cli("files", "stat", sb, "/tmp/f/secret"))
    assert ok(cli("files", "cat", sb, "/tmp/f/moved")) == b"x"

    ok(cli("files", "rm", sb, "/tmp/f/moved"))
    one_line_error(cli("files", "rm", sb, "/tmp/f/x"))  # a non-empty dir needs -r
    ok(cli("files", "rm", "-r", sb, "/tmp/f"))
    one_line_error(cli("files", "ls", sb, "/tmp/f"))


def test_paths_with_odd_characters(cli, sb):
    path = "/tmp/odd dir/a&b=c?d#e%f ü.txt"
    ok(cli("files", "write", sb, path, input=b"odd"))
    assert ok(cli("files", "cat", sb, path)) == b"odd"
    assert ok(cli("exec", sb, "cat", path)) == b"odd"


# ---- autostart ---------------------------------------------------------


def _stop_runrad(state_dir):
    for pid, _ in procs_with_cmdline(state_dir):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    wait_until(lambda: not procs_with_cmdline(state_dir), 15)


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1


def _daemons(state):
    """runrad processes on state: the daemon also runs mkfs and clones
    sandboxes (which show its command line until they exec), so count only
    runrad command lines whose parent is not one of them; a process gone
    before its parent could be read was one of those short-lived helpers."""
    found = [(pid, cmd) for pid, cmd in procs_with_cmdline(state) if "runrad" in cmd.split(" ")[0]]
    pids = {pid for pid, _ in found}
    return [(pid, cmd) for pid, cmd in found if _ppid(pid) not in pids and _ppid(pid) != -1]


def test_autostart(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("runrad needs root")
    base = tempfile.mkdtemp(prefix="runra-auto-", dir="/tmp")
    state = os.path.join(base, "state")
    sock = os.path.join(state, "runra.sock")
    env = {k: v for k, v in os.environ.items() if k not in ("RUNRA_NO_AUTOSTART", "RUNRA_SOCKET")}
    try:
        # Refused when asked not to start anything.
        p = subprocess.run([RUNRA, "--socket", sock, "health"], capture_output=True, timeout=30,
                           env=dict(env, RUNRA_NO_AUTOSTART="1"))
        assert p.returncode == 1 and b"RUNRA_NO_AUTOSTART" in p.stderr, p
        assert not procs_with_cmdline(state)

        # Otherwise the first command starts runrad (found next to runra) and
        # succeeds; $RUNRA_SOCKET names the socket as --socket would.
        t = time.monotonic()
        p = subprocess.run([RUNRA, "health", "--json"], capture_output=True, timeout=30,
                           env=dict(env, RUNRA_SOCKET=sock))
        assert p.returncode == 0, p
        assert json.loads(p.stdout)["status"] == "ok"
        assert time.monotonic() - t < 6
        # A runrad clones sandboxes (its warm pool) and a clone shows the
        # daemon's command line until it execs runra-init: count only
        # processes whose parent is not one of them.
        daemons = _daemons(state)
        assert len(daemons) == 1, procs_with_cmdline(state)
        assert "--state-dir" in daemons[0][1]
        assert os.path.exists(os.path.join(state, "runrad.log"))
        # Detached: its own session, so the terminal's ^C does not reach it.
        pid = daemons[0][0]
        assert os.getsid(pid) == pid

        # Later commands reuse it, a whole run included.
        p = subprocess.run([RUNRA, "--socket", sock, "run", "--", "echo", "auto"],
                           capture_output=True, timeout=60, env=env)
        assert p.returncode == 0, p
        assert p.stdout == b"auto\n"
        assert [d[0] for d in _daemons(state)] == [pid]
    finally:
        _stop_runrad(state)
        left = leftovers(state)
        subprocess.run(["rm", "-rf", base])
    assert not left, left
