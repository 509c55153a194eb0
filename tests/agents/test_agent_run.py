"""`runra agent run` end to end: the three real agent CLIs, a real runrad and
the mock model.

inside: runrad runs in the fake internet's router namespace (so sandbox
networking never touches this host's firewall) and the mock model in its
"internet" namespace, reached by name (allowed.test) through runrad's egress
proxy; the agent runs in the sandbox with the test's directory mounted at
/workspace. mcp: the agent runs on this host against a mock on 127.0.0.1
with runra's MCP server as its only tools. Either way the file the agent's
command writes must land in the mounted directory and nowhere else, the
command must see the sandbox (its hostname, its memory limit), a write
outside /workspace must not reach the host, and the sandbox must be gone
afterwards."""

import ctypes
import json
import os
import pathlib
import socket
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
TOP = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(TOP / "tests" / "integration"))

import agentcli  # noqa: E402
from mockmodel import MockModel, text, tool  # noqa: E402

AGENTS = {"claude-code": "claude", "codex": "codex", "opencode": "opencode"}
BUILD = pathlib.Path(os.environ.get("RUNRA_BUILD_DIR", TOP / "build"))
RUNRA = BUILD / "src" / "cli" / "runra"
FINAL = "agent-run-final-7f1e"
MEMORY_MB = 1024
CLONE_NEWNET = 0x40000000


@pytest.fixture(scope="module")
def installed():
    if os.geteuid() != 0:
        pytest.skip("runrad needs root")
    paths, err = agentcli.install(tuple(AGENTS.values()))
    if len(paths) != len(AGENTS):
        pytest.skip("agent CLIs not installed and could not be installed: %s" % err)
    return paths


@pytest.fixture(scope="module")
def fake():
    from fakenet import FakeNet
    for t in ("dnsmasq", "openssl", "nsenter"):
        if not any(os.access(os.path.join(d, t), os.X_OK)
                   for d in ("/usr/sbin", "/usr/bin", "/sbin", "/bin")):
            pytest.skip(f"{t} is not installed")
    f = FakeNet().up()
    yield f
    f.down()


@pytest.fixture(scope="module")
def images(fake):
    """The fixture images (tests/images) on a registry in the router's
    namespace, where runrad runs: its host:port, or None when this host
    cannot run one (then samples use the host image)."""
    import shutil
    if not shutil.which("docker-registry"):
        yield None
        return
    serve = TOP / "tests" / "images" / "serve_fixtures.py"
    p = subprocess.Popen(["nsenter", f"--net=/run/netns/{fake.router}", "/usr/bin/python3",
                          str(serve)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("ready "):
        p.kill()
        p.wait()
        pytest.fail("fixture registry did not start: " + p.stderr.read()[-2000:])
    try:
        yield line.split()[1]
    finally:
        p.stdin.close()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@pytest.fixture(scope="module")
def netd(fake, installed, images, tmp_path_factory):
    from conftest import finish_daemon, start_daemon
    from fakenet import DNS_ADDR
    extra = ["--dns", DNS_ADDR, "--net-range", "10.93.0.0/16"]
    if images:
        # docker.io is the fixture registry, in the namespace runrad runs in.
        cfg = tmp_path_factory.mktemp("registry") / "runrad.json"
        cfg.write_text(json.dumps({"registries": {
            "docker.io": {"mirrors": [f"http://{images}"], "mirrorsOnly": True},
            images: {"insecure": True}}}))
        extra += ["--config", str(cfg)]
    d = start_daemon(extra, wrap=["nsenter", f"--net=/run/netns/{fake.router}"])
    d.images = images
    assert d.client.request("GET", "/v1/health").json()["network"]["available"]
    yield d
    finish_daemon(d)


@pytest.fixture(scope="module")
def hostd(installed):
    from conftest import finish_daemon, start_daemon
    d = start_daemon()
    yield d
    finish_daemon(d)


def in_netns(name, fn):
    """Runs fn with this thread in network namespace name (sockets made
    there stay there)."""
    libc = ctypes.CDLL(None, use_errno=True)
    orig = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns")
        try:
            return fn()
        finally:
            if libc.setns(orig, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(orig)
        os.close(target)


def dirs(tmp_path):
    work, home = tmp_path / "work", tmp_path / "home"
    work.mkdir()
    home.mkdir()
    # The user's directory belongs to a user, not to root.
    os.chown(work, 1000, 1000)
    return work, home


def run_agent(d, agent, mode, base_url, work, home, task="Do the task.", extra=()):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": agentcli.API_KEY,
        "OPENAI_BASE_URL": base_url + "/v1",
        "OPENAI_API_KEY": agentcli.API_KEY,
        "RUNRA_IT_LEAK": "must-not-reach-the-sandbox",
    }
    argv = [str(RUNRA), "--socket", d.socket, "agent", "run", "--agent", agent, "--mode", mode,
            "--model", agentcli.MODEL, "--memory", str(MEMORY_MB), "--timeout", "300",
            "--workdir", str(work), *extra, task]
    return subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=300)


# The memory limit shows as the OOM killer ending a command that holds more
# (tail keeps all it reads). That command asks to be the one chosen
# (oom_score_adj 1000): the agent's own process (a JavaScript runtime) can
# hold more than tail has read when the limit is reached.
COMMAND = ("echo hello-from-agent > /workspace/out.txt && hostname && "
           "(echo 1000 > /proc/self/oom_score_adj; head -c 1400m /dev/zero | tail > /dev/null; "
           "echo mem-exit:$?) && "
           "(echo leak > /outside.txt; echo leak > /tmp/outside.txt; true) && "
           "echo env:${RUNRA_IT_LEAK:-clean}")


def check(d, mock, res, work, before):
    ctx = "%s\n--- stdout ---\n%s\n--- stderr ---\n%s\n--- mock ---\n%s" % (
        res.returncode, res.stdout[-3000:], res.stderr[-3000:], mock.summary())
    assert mock.errors == [], ctx
    assert res.returncode == 0, ctx
    out = work / "out.txt"
    assert out.read_text() == "hello-from-agent\n", ctx
    # Written by the sandbox's root, owned by the directory's owner here.
    assert out.stat().st_uid == 1000, ctx
    assert len(mock.tool_results) == 1, ctx
    output = mock.tool_results[0]["output"]
    assert socket.gethostname() not in output.split(), ctx
    assert "mem-exit:137" in output, ctx  # SIGKILL by the OOM killer
    assert "env:clean" in output, ctx
    assert FINAL in res.stdout, ctx
    for p in ("/outside.txt",):
        assert not os.path.exists(p), p
    # Its sandbox is gone.
    assert set(d.client.list_ids()) == before, ctx
    return output


@pytest.mark.parametrize("agent", list(AGENTS))
def test_inside(agent, netd, fake, tmp_path):
    work, home = dirs(tmp_path)
    name = AGENTS[agent]
    mock = MockModel(host="198.51.100.10")
    in_netns(fake.inet, mock.start)
    try:
        mock.set_script([tool(agentcli.SHELL_TOOL[name], agentcli.shell_input(COMMAND)),
                         text(FINAL)])
        port = mock.base_url.rsplit(":", 1)[1]
        before = set(netd.client.list_ids())
        res = run_agent(netd, agent, "inside", f"http://allowed.test:{port}", work, home)
        output = check(netd, mock, res, work, before)
        # The hostname it saw is a sandbox id (12 hex digits).
        assert any(len(w) == 12 and all(c in "0123456789abcdef" for c in w)
                   for w in output.split()), output
        assert not (work / "outside.txt").exists()
    finally:
        mock.stop()


@pytest.mark.parametrize("agent", list(AGENTS))
def test_mcp(agent, hostd, tmp_path):
    work, home = dirs(tmp_path)
    name = AGENTS[agent]
    pattern = [p.format(server="runra", tool="sandbox_exec") for p in agentcli.MCP_TOOL[name]]
    mock = MockModel()
    mock.start()
    try:
        mock.set_script([tool(pattern, {"command": COMMAND}), text(FINAL)])
        before = set(hostd.client.list_ids())
        res = run_agent(hostd, agent, "mcp", mock.base_url, work, home)
        check(hostd, mock, res, work, before)
        # Only runra's tools were offered.
        offered = set(mock.offered_tools())
        assert not (offered & agentcli.BUILTIN_TOOLS[name]), offered
    finally:
        mock.stop()


def test_bad_arguments(hostd, tmp_path):
    work, home = dirs(tmp_path)
    for extra, msg in [((), "TASK"), (("--agent", "aider"), "--agent must be"),
                       (("--mode", "outside"), "--mode must be"),
                       (("--cpu", "lots"), "--cpu")]:
        argv = [str(RUNRA), "--socket", hostd.socket, "agent", "run"]
        if "--agent" not in extra:
            argv += ["--agent", "codex"]
        argv += list(extra)
        if msg != "TASK":
            argv.append("task")
        p = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                           env={"PATH": "/usr/bin:/bin", "HOME": str(home),
                                "OPENAI_API_KEY": "x"}, timeout=60)
        assert p.returncode == 2 and msg in p.stderr, (extra, p)
    # Without the agent's credentials nothing is created.
    before = set(hostd.client.list_ids())
    p = subprocess.run([str(RUNRA), "--socket", hostd.socket, "agent", "run", "--agent",
                        "claude-code", "task"], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL, env={"PATH": "/usr/bin:/bin", "HOME": str(home)},
                       timeout=60)
    assert p.returncode == 1 and "ANTHROPIC_API_KEY" in p.stderr, p
    assert set(hostd.client.list_ids()) == before
