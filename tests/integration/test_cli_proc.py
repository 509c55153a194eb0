"""The CLI's live output and background-process commands against a real
runrad: `runra exec` prints lines as they happen, and start, ps, logs, kill
and wait drive processes that outlive each runra invocation."""

import os
import subprocess
import time

import pytest

from conftest import BUILD_DIR
from runra_client import procs_with_cmdline, wait_until

RUNRA = os.path.join(BUILD_DIR, "src", "cli", "runra")


@pytest.fixture(scope="module")
def run(daemon):
    def go(*args, input=None, timeout=60):
        e = dict(os.environ, RUNRA_NO_AUTOSTART="1")
        return subprocess.run([RUNRA, "--socket", daemon.socket, *args], input=input,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, env=e)
    return go


@pytest.fixture(scope="module")
def sid(run):
    p = run("create")
    assert p.returncode == 0, p
    s = p.stdout.decode().strip()
    yield s
    run("rm", s)


def test_exec_streams_live(daemon, sid):
    t0 = time.monotonic()
    p = subprocess.Popen([RUNRA, "--socket", daemon.socket, "exec", sid, "--", "sh", "-c",
                          "for i in 1 2 3; do echo $i; sleep 1; done"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = p.stdout.readline()
    t_first = time.monotonic() - t0
    rest = p.stdout.read()
    assert p.wait(30) == 0
    assert first == b"1\n" and rest == b"2\n3\n"
    assert t_first < 1.5, t_first
    assert time.monotonic() - t0 > 2.0


def test_exec_stream_codes_and_buffered_path(run, sid):
    assert run("exec", sid, "--", "sh", "-c", "printf 'a\\000b'; exit 9").stdout == b"a\x00b"
    assert run("exec", sid, "--", "sh", "-c", "exit 9").returncode == 9
    p = run("exec", "--timeout", "300ms", sid, "sleep", "30")
    assert p.returncode == 124 and b"timed out" in p.stderr, p
    p = run("exec", "--no-stream", sid, "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (p.returncode, p.stdout, p.stderr) == (3, b"out\n", b"err\n")


def test_ctrl_c_kills_the_streamed_command(daemon, sid):
    p = subprocess.Popen([RUNRA, "--socket", daemon.socket, "exec", sid, "--", "sh", "-c",
                          "echo go; sleep 6617"], stdout=subprocess.PIPE)
    assert p.stdout.readline() == b"go\n"
    p.send_signal(2)
    p.wait(10)
    assert wait_until(lambda: not procs_with_cmdline("6617"), 10)


def test_start_ps_logs_kill_wait(run, sid):
    p = run("start", "--tag", "srv", "-e", "X=42", "-w", "/tmp", sid, "--", "sh", "-c",
            "echo x=$X pwd=$(pwd); exec sleep 5521")
    assert p.returncode == 0, p
    pid = int(p.stdout)
    assert wait_until(lambda: b"x=42 pwd=/tmp" in run("logs", sid, "srv").stdout, 5)
    ps = run("ps", sid).stdout.decode()
    line = [l for l in ps.splitlines() if l.startswith(str(pid))][0]
    assert "srv" in line and "running" in line, ps
    assert run("logs", "--tail", "4", sid, str(pid)).stdout == b"tmp\n"
    assert run("kill", "-s", "KILL", sid, "srv").returncode == 0
    assert run("wait", sid, "srv").returncode == 137
    assert "exited" in run("ps", sid).stdout.decode()
    assert not procs_with_cmdline("5521")


def test_logs_follow_and_wait_code(daemon, run, sid):
    p = run("start", sid, "--", "sh", "-c", "echo a; sleep 1; echo b; exit 5")
    pid = p.stdout.decode().strip()
    f = run("logs", "-f", sid, pid)
    assert f.returncode == 0 and f.stdout == b"a\nb\n", f
    assert run("wait", sid, pid).returncode == 5


def test_cli_errors(run, sid):
    p = run("kill", "-s", "NOPE", sid, "1")
    assert p.returncode == 2
    p = run("wait", sid, "nosuchtag")
    assert p.returncode == 1 and p.stderr.startswith(b"runra: "), p
    p = run("start", sid)
    assert p.returncode == 2
