"""The three agent CLIs, on the host, against the mock model.

Each agent is run non-interactively in a temporary directory with a scratch
home, talking only to mockmodel on 127.0.0.1. Shell mode: the model asks for
the agent's own shell tool, then finishes; the file must exist and the tool
output (the hostname) must come back to the model. MCP mode: the agent gets
only echo_mcp.py's tool (built-ins off) and must call it and return its
result. Skips when the CLIs are not installed and cannot be installed.
"""

import json
import pathlib
import socket
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import agentcli  # noqa: E402
import echo_mcp  # noqa: E402
from mockmodel import MockModel, text, tool  # noqa: E402

AGENTS = ["claude", "codex", "opencode"]
RUN_TIMEOUT = 120
FINAL = "final-answer-from-mock-3c9d"


@pytest.fixture(scope="module")
def agent_paths():
    paths, err = agentcli.install(AGENTS)
    if not paths:
        pytest.skip("agent CLIs not installed and could not be installed: %s" % err)
    return paths, err


@pytest.fixture
def mock():
    m = MockModel()
    m.start()
    yield m
    m.stop()


def _exe(agent_paths, agent):
    paths, err = agent_paths
    if agent not in paths:
        pytest.skip("%s CLI not installed and could not be installed: %s" % (agent, err))
    return paths[agent]


def _dirs(tmp_path):
    work = tmp_path / "work"
    home = tmp_path / "home"
    work.mkdir()
    home.mkdir()
    return work, home


def _context(mock, res):
    return "%s\n--- mock ---\n%s" % (res.describe(), mock.summary())


@pytest.mark.parametrize("agent", AGENTS)
def test_shell_tool(agent, agent_paths, mock, tmp_path):
    exe = _exe(agent_paths, agent)
    work, home = _dirs(tmp_path)
    command = "echo hello-from-agent > out.txt && hostname"
    mock.set_script([tool(agentcli.SHELL_TOOL[agent], agentcli.shell_input(command)),
                     text(FINAL)])
    argv, env = agentcli.RECIPES[agent](
        exe, mock.base_url, "Create out.txt, then tell me the hostname.", home)
    res = agentcli.run(argv, env, work, mock=mock, timeout=RUN_TIMEOUT)
    ctx = _context(mock, res)

    assert mock.errors == [], ctx
    assert res.returncode == 0, ctx
    out = work / "out.txt"
    assert out.exists(), ctx
    assert out.read_text() == "hello-from-agent\n"
    assert len(mock.tool_results) == 1, ctx
    result = mock.tool_results[0]
    assert result["name"] in agentcli.SHELL_TOOL[agent], ctx
    assert socket.gethostname() in result["output"], ctx
    assert FINAL in res.stdout, ctx
    # Nothing but the model endpoints was needed.
    unknown = [r["path"] for r in mock.requests if r.get("kind") == "unknown"]
    assert unknown == [], ctx


@pytest.mark.parametrize("agent", AGENTS)
def test_mcp_tool_only(agent, agent_paths, mock, tmp_path):
    exe = _exe(agent_paths, agent)
    work, home = _dirs(tmp_path)
    log = tmp_path / "echo_mcp.jsonl"
    server = agentcli.mcp_stdio_server(
        "runra", sys.executable, [str(HERE / "echo_mcp.py")], {"ECHO_MCP_LOG": str(log)})
    pattern = [p.format(server="runra", tool="echo_exec") for p in agentcli.MCP_TOOL[agent]]
    mock.set_script([tool(pattern, {"command": "hostname"}), text(FINAL)])
    argv, env = agentcli.RECIPES[agent](
        exe, mock.base_url, "Run hostname with the sandbox tool.", home, mcp=server)
    res = agentcli.run(argv, env, work, mock=mock, timeout=RUN_TIMEOUT)
    ctx = _context(mock, res)

    assert mock.errors == [], ctx
    assert res.returncode == 0, ctx
    # The agent offered the MCP tool and none of its built-in tools.
    offered = set(mock.offered_tools())
    assert set(pattern) & offered, ctx
    assert not (offered & agentcli.BUILTIN_TOOLS[agent]), \
        "built-in tools still offered: %s\n%s" % (offered & agentcli.BUILTIN_TOOLS[agent], ctx)
    # The server really ran the call, and its result reached the model.
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    calls = [c for c in calls if c.get("method") == "tools/call"]
    assert len(calls) == 1 and calls[0]["params"]["name"] == "echo_exec", ctx
    assert len(mock.tool_results) == 1, ctx
    # Codex prefixes MCP results with "Wall time: ...\nOutput:\n".
    assert echo_mcp.MARKER + " hostname" in mock.tool_results[0]["output"], ctx
    assert FINAL in res.stdout, ctx
    assert not (work / "out.txt").exists()
