"""The product page's adapter samples (ClaudeCodeAdapter, CodexAdapter,
OpenCodeAdapter from "@runra/runtime/agents") run for real: node runs each
sample as the page writes it, through the TypeScript SDK, `runra agent run`
(inside mode), a real runrad in the fake internet's router namespace and the
real agent CLI, against the mock model. Changed from the page: the endpoint
(RUNRA_SOCKET); the images are the page's (node:22, python:3.12: the
fixture images of tests/images, served as docker.io's mirror), or "host"
where this host cannot run a registry. The agent's command must run in the
sandbox and write into the directory the sample ran in."""

import os
import pathlib
import subprocess
import sys

import pytest

HERE = pathlib.Path(__file__).resolve().parent
TOP = HERE.parent.parent
sys.path.insert(0, str(HERE))

import agentcli  # noqa: E402
from mockmodel import MockModel, text, tool  # noqa: E402
from test_agent_run import AGENTS, RUNRA, fake, images, in_netns, installed, netd  # noqa: E402,F401

SDK = TOP / "sdk" / "typescript"

# The page's samples; only IMAGE(...) (see the module docstring) is ours.
SAMPLES = {
    "claude-code": '''
import { Runra } from "@runra/sdk";
import { ClaudeCodeAdapter } from "@runra/runtime/agents";
const runra = new Runra({
sandbox: { provider: "runra-sandbox", apiKey: process.env.RUNRA_API_KEY },
});
const agent = new ClaudeCodeAdapter({
runra,
model: "claude-sonnet-4-20250514",
sandboxConfig: {
image: IMAGE("node:22"),
resources: { cpu: 4, memoryMb: 8192 },
},
});
await agent.run("Refactor the auth module and run all tests");
''',
    "codex": '''
import { Runra } from "@runra/sdk";
import { CodexAdapter } from "@runra/runtime/agents";
const runra = new Runra({
sandbox: { provider: "runra-sandbox", apiKey: process.env.RUNRA_API_KEY },
});
const agent = new CodexAdapter({
runra,
model: "gpt-4.1",
sandboxConfig: {
image: IMAGE("python:3.12"),
resources: { cpu: 2, memoryMb: 4096 },
},
});
await agent.run("Build a FastAPI endpoint for user authentication");
''',
    "opencode": '''
import { Runra } from "@runra/sdk";
import { OpenCodeAdapter } from "@runra/runtime/agents";
const runra = new Runra({
sandbox: { provider: "runra-sandbox", apiKey: process.env.RUNRA_API_KEY },
});
const agent = new OpenCodeAdapter({
runra,
model: "claude-sonnet-4-20250514",
sandboxConfig: {
image: IMAGE("node:22"),
resources: { cpu: 4, memoryMb: 8192 },
timeoutMs: 600_000, // 10-minute timeout
},
});
await agent.run("Migrate this project from Express to Fastify");
''',
}

PRELUDE = '''
const IMAGE = (name) => process.env.RUNRA_TEST_IMAGE ?? (process.env.RUNRA_TEST_REAL_IMAGES ? name : "host");
const __exit = (r) => { process.stdout.write("\\nsample-exit:" + r.exitCode + "\\n"); };
'''


@pytest.mark.parametrize("agent", list(AGENTS))
def test_seed_adapter_sample(agent, netd, fake, tmp_path):
    if subprocess.run(["node", "--version"], capture_output=True).returncode != 0:
        pytest.skip("node is not installed")
    # The SDK's own test script links the page's package names.
    (SDK / "node_modules" / "@runra").mkdir(parents=True, exist_ok=True)
    for name, target in (("sdk", "../.."), ("runtime", "../../runtime")):
        link = SDK / "node_modules" / "@runra" / name
        if not link.is_symlink():
            link.symlink_to(target)
    work = tmp_path / "project"
    work.mkdir()
    os.chown(work, 1000, 1000)
    # Node resolves "@runra/..." from the script's own directory upwards.
    script = SDK / ("seed-sample-%s-%d.mjs" % (agent, os.getpid()))
    body = SAMPLES[agent].replace("await agent.run(", "__exit(await agent.run(").rstrip()
    body = body[:-1] + ");\n" if body.endswith(";") else body
    script.write_text(PRELUDE + body)
    name = AGENTS[agent]
    mock = MockModel(host="198.51.100.10")
    in_netns(fake.inet, mock.start)
    try:
        mock.set_script([tool(agentcli.SHELL_TOOL[name], agentcli.shell_input(
            "echo refactored > /workspace/done.txt && hostname")), text("sample-done")])
        port = mock.base_url.rsplit(":", 1)[1]
        base = f"http://allowed.test:{port}"
        home = tmp_path / "home"
        home.mkdir()
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
               "RUNRA_SOCKET": netd.socket, "RUNRA_BIN": str(RUNRA),
               "ANTHROPIC_BASE_URL": base, "ANTHROPIC_API_KEY": agentcli.API_KEY,
               "OPENAI_BASE_URL": base + "/v1", "OPENAI_API_KEY": agentcli.API_KEY}
        # The page's images, from the fixture registry runrad reaches as
        # docker.io (netd), when this host can run one.
        if netd.images:
            env["RUNRA_TEST_REAL_IMAGES"] = "1"
        before = set(netd.client.list_ids())
        p = subprocess.run(["node", str(script)], cwd=work, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=300)
        ctx = "%s\n%s\n%s\n%s" % (p.returncode, p.stdout[-2000:], p.stderr[-2000:],
                                  mock.summary())
        assert p.returncode == 0 and "sample-exit:0" in p.stdout, ctx
        assert mock.errors == [], ctx
        assert (work / "done.txt").read_text() == "refactored\n", ctx
        assert len(mock.tool_results) == 1, ctx
        assert set(netd.client.list_ids()) == before, ctx
    finally:
        mock.stop()
        script.unlink(missing_ok=True)
