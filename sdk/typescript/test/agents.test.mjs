// The CLI agent adapters build the right `runra agent run` argv, run it with
// stdin on /dev/null, and report exit code and output. `runra agent run` is
// not there yet, so a fake runra (test-support/fake-runra.mjs) records the argv.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Runra } from "@runra/sdk";
import { ClaudeCodeAdapter, CodexAdapter, OpenCodeAdapter, CliAgentAdapter } from "@runra/sdk/agents";
import * as runtimeAgents from "@runra/runtime/agents";
import { fakeRunra, fakeLog } from "../test-support/fake.mjs";

const runra = new Runra({ socketPath: "/tmp/runra-test.sock" });

test("@runra/runtime/agents is the same module as @runra/sdk/agents", () => {
  assert.equal(runtimeAgents.ClaudeCodeAdapter, ClaudeCodeAdapter);
  assert.equal(runtimeAgents.CodexAdapter, CodexAdapter);
  assert.equal(runtimeAgents.OpenCodeAdapter, OpenCodeAdapter);
});

test("ClaudeCodeAdapter passes every sandbox setting as a flag", async () => {
  const log = fakeLog();
  const agent = new ClaudeCodeAdapter({
    runra,
    model: "claude-sonnet-4-20250514",
    sandboxConfig: {
      image: "node:22",
      resources: { cpu: 4, memoryMb: 8192 },
      timeoutMs: 600_000,
      network: { allow: ["registry.npmjs.org", "*.github.com"] },
    },
    mode: "inside",
    runraBin: fakeRunra,
  });
  const r = await agent.run("Refactor the auth module and run all tests");
  assert.equal(r.exitCode, 0);
  assert.equal(r.output, "fake claude-code (claude-sonnet-4-20250514) did: Refactor the auth module and run all tests\n");
  assert.equal(r.stderr, "fake agent progress\n");
  const [call] = log.calls();
  assert.deepEqual(call.argv, [
    "agent", "run",
    "--agent", "claude-code",
    "--model", "claude-sonnet-4-20250514",
    "--image", "node:22",
    "--cpu", "4",
    "--memory", "8192",
    "--timeout", "600",
    "--allow-net", "registry.npmjs.org",
    "--allow-net", "*.github.com",
    "--mode", "inside",
    "--socket", "/tmp/runra-test.sock",
    "Refactor the auth module and run all tests",
  ]);
  assert.equal(call.stdin, "/dev/null");
});

test("CodexAdapter and OpenCodeAdapter name their agents; a sandbox replaces the creation flags", async () => {
  const log = fakeLog();
  const codex = new CodexAdapter({ runra, model: "gpt-4.1", sandboxConfig: { image: "python:3.12" }, runraBin: fakeRunra });
  const opencode = new OpenCodeAdapter({
    runra,
    model: "m",
    sandboxConfig: { image: "node:22", resources: { cpu: 0.5 }, timeoutMs: 1500 },
    mode: "mcp",
    runraBin: fakeRunra,
  });
  await codex.run("one");
  await opencode.run("two");
  await opencode.run("three", { sandbox: "abc123" });
  await codex.run("--looks-like-a-flag", { sandbox: { id: "def456" } });
  const argv = log.calls().map((c) => c.argv);
  const sock = ["--socket", "/tmp/runra-test.sock"];
  assert.deepEqual(argv[0], ["agent", "run", "--agent", "codex", "--model", "gpt-4.1", "--image", "python:3.12", ...sock, "one"]);
  assert.deepEqual(argv[1], [
    "agent", "run", "--agent", "opencode", "--model", "m",
    "--image", "node:22", "--cpu", "0.5", "--timeout", "2", "--mode", "mcp", ...sock, "two",
  ]);
  assert.deepEqual(argv[2], ["agent", "run", "--agent", "opencode", "--model", "m", "--mode", "mcp", "--sandbox", "abc123", ...sock, "three"]);
  assert.deepEqual(argv[3], ["agent", "run", "--agent", "codex", "--model", "gpt-4.1", "--sandbox", "def456", ...sock, "--", "--looks-like-a-flag"]);
});

test("a TCP endpoint goes to --socket and its API key to RUNRA_API_KEY", async () => {
  const log = fakeLog();
  const tcp = new Runra({ baseUrl: "http://127.0.0.1:7777", sandbox: { provider: "runra-sandbox", apiKey: "rk_x_y" } });
  const agent = new ClaudeCodeAdapter({ runra: tcp, model: "m", runraBin: fakeRunra });
  await agent.run("t");
  const [call] = log.calls();
  assert.deepEqual(call.argv, ["agent", "run", "--agent", "claude-code", "--model", "m", "--socket", "http://127.0.0.1:7777", "t"]);
  assert.equal(call.apiKey, "rk_x_y");
});

test("the binary comes from runraBin, else RUNRA_BIN, else PATH", async () => {
  const log = fakeLog();
  const saved = { bin: process.env.RUNRA_BIN, path: process.env.PATH };
  try {
    process.env.RUNRA_BIN = fakeRunra;
    const a = new CodexAdapter({ model: "m" });
    assert.equal(a.resolveBin(), fakeRunra);
    await a.run("via env");
    delete process.env.RUNRA_BIN;
    assert.equal(a.resolveBin(), "runra");
    assert.equal(new CodexAdapter({ model: "m", runraBin: "/x/runra" }).resolveBin(), "/x/runra");
    // Without runra on PATH the spawn fails, and run() rejects.
    process.env.PATH = "/nonexistent";
    await assert.rejects(a.run("nothing"), (err) => err.code === "ENOENT" && /runraBin|RUNRA_BIN/.test(err.message));
  } finally {
    if (saved.bin === undefined) delete process.env.RUNRA_BIN;
    else process.env.RUNRA_BIN = saved.bin;
    process.env.PATH = saved.path;
  }
  assert.equal(log.calls().length, 1);
  assert.deepEqual(log.calls()[0].argv, ["agent", "run", "--agent", "codex", "--model", "m", "via env"]);
});

test("a failing agent resolves with its exit code; streaming callbacks see the output", async () => {
  fakeLog();
  process.env.FAKE_RUNRA_EXIT = "3";
  try {
    const seen = [];
    const agent = new OpenCodeAdapter({ model: "m", runraBin: fakeRunra });
    const r = await agent.run("fail", { onStdout: (t) => seen.push(t) });
    assert.equal(r.exitCode, 3);
    assert.equal(seen.join(""), r.output);
  } finally {
    delete process.env.FAKE_RUNRA_EXIT;
  }
});

test("bad adapter options are TypeErrors", () => {
  assert.throws(() => new ClaudeCodeAdapter({}), TypeError);
  assert.throws(() => new ClaudeCodeAdapter({ model: "m", mode: "outside" }), TypeError);
  assert.throws(() => new CliAgentAdapter("", { model: "m" }), TypeError);
  const a = new ClaudeCodeAdapter({ model: "m" });
  assert.throws(() => a.buildArgs(""), TypeError);
  assert.throws(() => a.buildArgs("t", { sandbox: {} }), TypeError);
});
