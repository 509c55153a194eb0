// The TypeScript samples of the product page "Agents" (the seed), run as
// written against a real runrad. They are valid JavaScript, so each test body
// below is a sample copied verbatim, with test-only lines marked "// test:".
//
// What differs from the page, and why:
//   * Endpoint: the samples call `new Runra({...})` without one; the test
//     sets RUNRA_SOCKET to its own runrad before they run, so the sample code
//     itself is unchanged. The imports are the page's own: "@runra/sdk"
//     resolves to this package, "@runra/runtime/agents" to sdk/typescript/
//     runtime (linked into node_modules by test.sh).
//   * Images: where a sample creates a sandbox from "node:22" or
//     "python:3.12" the test writes image("node:22"), which maps the name to
//     $RUNRA_TEST_IMAGE_NODE_22 (resp. _PYTHON_3_12), else $RUNRA_TEST_IMAGE,
//     else "host". test.sh sets them to the real names when it serves the
//     fixture images of tests/images on a loopback registry (docker.io's
//     mirror for the test daemons), so the samples then run on node:22 and
//     python:3.12 as written; without a registry they run on host.
//   * Agents: here RUNRA_BIN points the adapters at
//     test-support/fake-runra.mjs, which records its argv (asserted here,
//     images as the page names them) and, given --sandbox, writes the task
//     into that real sandbox; tests/agents/test_sdk_adapters.py runs the
//     same samples with the real `runra agent run` and the real agent CLIs.
//   * `openai` is a fake whose chat.completions.create checks the request as
//     the OpenAI API would and answers with tool calls, which the test then
//     executes in the sandbox with the SDK.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";

// The page's imports, verbatim.
import { Runra } from "@runra/sdk";
import { ClaudeCodeAdapter } from "@runra/runtime/agents";
import { CodexAdapter } from "@runra/runtime/agents";
import { OpenCodeAdapter } from "@runra/runtime/agents";

import { startDaemon, skipReason } from "../test-support/daemon.mjs";
import { fakeRunra, fakeLog } from "../test-support/fake.mjs";

const skip = skipReason();
let daemon;
let log;

// The image a sample names, or its stand-in (see the top of this file).
function image(name) {
  const key = "RUNRA_TEST_IMAGE_" + name.replace(/[^A-Za-z0-9]/g, "_").toUpperCase();
  return process.env[key] ?? process.env.RUNRA_TEST_IMAGE ?? "host";
}

// What the samples share, as the page's code blocks share one scope.
let runra;
let agent;
let sandbox;

before(async () => {
  if (skip) return;
  daemon = await startDaemon();
  // The endpoint change: the samples' `new Runra` finds runrad through this.
  delete process.env.RUNRA_HOST;
  process.env.RUNRA_SOCKET = daemon.socket;
  process.env.RUNRA_BIN = fakeRunra;
  log = fakeLog();
});

after(async () => {
  if (daemon) await daemon.stop();
});

const lastCall = () => log.calls().at(-1).argv;
const sock = () => ["--socket", daemon.socket];

// The first sample's `const runra` is local to its test; this hands it to
// the later samples, which use it as the page's later blocks do.
const keepRunra = (r) => (runra = r);

test("seed: Claude Code adapter", { skip }, async () => {
  // ---- sample (verbatim) ----
  const runra = new Runra({
    sandbox: { provider: "runra-sandbox", apiKey: process.env.RUNRA_API_KEY },
  });
  const agent = new ClaudeCodeAdapter({
    runra,
    model: "claude-sonnet-4-20250514",
    sandboxConfig: {
      image: "node:22",
      resources: { cpu: 4, memoryMb: 8192 },
    },
  });
  await agent.run("Refactor the auth module and run all tests");
  // ---- end of sample ----
  keepRunra(runra); // test
  assert.deepEqual(runra.endpoint, { socketPath: daemon.socket }); // test
  assert.deepEqual(lastCall(), [
    "agent", "run", "--agent", "claude-code", "--model", "claude-sonnet-4-20250514",
    "--image", "node:22", "--cpu", "4", "--memory", "8192",
    ...sock(), "Refactor the auth module and run all tests",
  ]); // test
});

test("seed: Codex adapter", { skip }, async () => {
  // ---- sample (verbatim) ----
  const agent = new CodexAdapter({
    runra,
    model: "gpt-4.1",
    sandboxConfig: {
      image: "python:3.12",
      resources: { cpu: 2, memoryMb: 4096 },
    },
  });
  await agent.run("Build a FastAPI endpoint for user authentication");
  // ---- end of sample ----
  assert.deepEqual(lastCall(), [
    "agent", "run", "--agent", "codex", "--model", "gpt-4.1",
    "--image", "python:3.12", "--cpu", "2", "--memory", "4096",
    ...sock(), "Build a FastAPI endpoint for user authentication",
  ]); // test
});

test("seed: OpenCode adapter", { skip }, async () => {
  // ---- sample (verbatim; `const agent` becomes the shared `agent`) ----
  agent = new OpenCodeAdapter({
    runra,
    model: "claude-sonnet-4-20250514",
    sandboxConfig: {
      image: "node:22",
      resources: { cpu: 4, memoryMb: 8192 },
      timeoutMs: 600_000, // 10-minute timeout
    },
  });
  await agent.run("Migrate this project from Express to Fastify");
  // ---- end of sample ----
  assert.deepEqual(lastCall(), [
    "agent", "run", "--agent", "opencode", "--model", "claude-sonnet-4-20250514",
    "--image", "node:22", "--cpu", "4", "--memory", "8192", "--timeout", "600",
    ...sock(), "Migrate this project from Express to Fastify",
  ]); // test
});

test("seed: building your own agent (agentStep)", { skip }, async () => {
  // ---- sample (image substituted, `const sandbox` becomes the shared one) ----
  sandbox = await runra.sandboxes.create({
    image: image("node:22"),
    resources: { cpu: 2, memoryMb: 4096 },
  });
  // Your agent's tool-calling loop
  async function agentStep(sandbox, instruction) {
    const result = await sandbox.exec(instruction.command);
    await sandbox.files.write(instruction.filePath, instruction.content);
    return result;
  }
  // ---- end of sample ----

  // test: two steps of a loop; the second runs what the first wrote.
  const first = await agentStep(sandbox, {
    command: "mkdir -p src && echo ready",
    filePath: "src/index.js",
    content: "console.log('hello from ' + process.cwd());\n",
  });
  assert.equal(first.exitCode, 0);
  assert.equal(first.stdout, "ready\n");
  const second = await agentStep(sandbox, {
    command: "node src/index.js",
    filePath: "README.md",
    content: "# built by an agent\n",
  });
  assert.equal(second.exitCode, 0, second.stderr);
  assert.equal(second.stdout, `hello from ${sandbox.info.workdir}\n`);
  assert.equal(await sandbox.files.read("README.md"), "# built by an agent\n");
  assert.equal(sandbox.info.resources.cpu, 2);
  assert.equal(sandbox.info.resources.memoryMb, 4096);
});

// A stand-in for the OpenAI client: create() checks the request the way the
// API would (serializable, well-formed function tools) and plays a model that
// writes a component, checks it, then answers.
function fakeOpenAI() {
  const requests = [];
  const script = [
    [
      {
        id: "call_write",
        type: "function",
        function: {
          name: "sandbox_write_file",
          arguments: JSON.stringify({
            path: "src/LoginForm.jsx",
            content: "export function LoginForm() {\n  return <form><input name=\"user\" /></form>;\n}\n",
          }),
        },
      },
    ],
    [
      {
        id: "call_check",
        type: "function",
        function: { name: "sandbox_exec", arguments: JSON.stringify({ command: "wc -l < src/LoginForm.jsx" }) },
      },
    ],
  ];
  return {
    requests,
    chat: {
      completions: {
        async create(body) {
          const wire = JSON.parse(JSON.stringify(body));
          requests.push(wire);
          assert.ok(Array.isArray(wire.tools) && wire.tools.length === 7, "tools must serialize to an array of 7");
          for (const t of wire.tools) {
            assert.equal(t.type, "function");
            assert.match(t.function.name, /^[a-zA-Z0-9_-]{1,64}$/);
            assert.equal(typeof t.function.description, "string");
            assert.equal(t.function.parameters.type, "object");
          }
          const step = requests.length - 1;
          const toolCalls = script[step];
          const message = toolCalls
            ? { role: "assistant", content: null, tool_calls: toolCalls }
            : { role: "assistant", content: "The login form is in src/LoginForm.jsx." };
          return {
            id: `chatcmpl-${step}`,
            object: "chat.completion",
            model: wire.model,
            choices: [{ index: 0, message, finish_reason: toolCalls ? "tool_calls" : "stop" }],
          };
        },
      },
    },
  };
}

test("seed: createSandboxTools with OpenAI tool calling", { skip }, async () => {
  const openai = fakeOpenAI(); // test
  // ---- sample (verbatim) ----
  const tools = runra.createSandboxTools(sandbox);
  // Tools exposed to your LLM:
  // - sandbox_exec(command, timeout?)
  // - sandbox_read_file(path)
  // - sandbox_write_file(path, content)
  // - sandbox_list_files(directory?)
  // - sandbox_search_code(pattern, path?)
  // - sandbox_start_process(command, env?)
  // - sandbox_expose_port(port)
  const response = await openai.chat.completions.create({
    model: "gpt-4.1",
    messages: [{ role: "user", content: "Create a React component for a login form" }],
    tools,
    tool_choice: "auto",
  });
  // ---- end of sample ----

  // test: the list in the sample's comment is what the tools are.
  assert.deepEqual(
    tools.map((t) => [t.function.name, Object.keys(t.function.parameters.properties), t.function.parameters.required ?? []]),
    [
      ["sandbox_exec", ["command", "timeout"], ["command"]],
      ["sandbox_read_file", ["path"], ["path"]],
      ["sandbox_write_file", ["path", "content"], ["path", "content"]],
      ["sandbox_list_files", ["directory"], []],
      ["sandbox_search_code", ["pattern", "path"], ["pattern"]],
      ["sandbox_start_process", ["command", "env"], ["command"]],
      ["sandbox_expose_port", ["port"], ["port"]],
    ],
  );
  assert.equal(openai.requests[0].tool_choice, "auto");

  // test: the rest of the loop, executing each tool call in the sandbox.
  const messages = [{ role: "user", content: "Create a React component for a login form" }];
  let reply = response.choices[0].message;
  while (reply.tool_calls) {
    messages.push(reply);
    for (const toolCall of reply.tool_calls) messages.push(await tools.execute(toolCall));
    const next = await openai.chat.completions.create({ model: "gpt-4.1", messages, tools, tool_choice: "auto" });
    reply = next.choices[0].message;
  }
  assert.equal(reply.content, "The login form is in src/LoginForm.jsx.");
  const toolMessages = messages.filter((m) => m.role === "tool");
  assert.deepEqual(toolMessages.map((m) => m.tool_call_id), ["call_write", "call_check"]);
  assert.match(toolMessages[1].content, /exit code 0/);
  assert.match(toolMessages[1].content, /stdout:\n3\n/);
  assert.match(await sandbox.files.read("src/LoginForm.jsx"), /export function LoginForm/);
  // The model saw its tool results in the next request.
  assert.deepEqual(openai.requests.at(-1).messages.filter((m) => m.role === "tool").length, 2);
});

test("seed: pause and resume across sessions", { skip }, async () => {
  const callsBefore = log.calls().length; // test
  // ---- sample (image substituted; its `sandbox` is this test's own) ----
  // Session 1: Agent starts work
  const sandbox = await runra.sandboxes.create({ image: image("node:22") });
  await agent.run("Clone the repo and start refactoring");
  // test: work the session leaves behind: a file and a running process.
  await sandbox.files.write("repo/refactor.log", "step 1 done\n");
  const watcher = await sandbox.processes.start("while true; do sleep 1; done", { tag: "watcher" });
  // Pause preserves the full workspace
  await sandbox.pause();
  assert.equal((await runra.sandboxes.get(sandbox.id)).state, "paused"); // test
  // Session 2: Agent resumes where it left off
  const resumed = await runra.sandboxes.resume(sandbox.id);
  await agent.run("Continue the refactoring and run tests");
  // ---- end of sample ----

  assert.equal(resumed.id, sandbox.id);
  assert.equal(resumed.state, "running");
  assert.equal(await resumed.files.read("repo/refactor.log"), "step 1 done\n");
  const procs = await resumed.processes.list();
  assert.ok(procs.some((p) => p.pid === watcher.pid && p.state === "running"), "the process lived through the pause");
  assert.equal((await resumed.exec("cat repo/refactor.log")).stdout, "step 1 done\n");
  const runs = log.calls().slice(callsBefore).map((c) => c.argv.at(-1));
  assert.deepEqual(runs, ["Clone the repo and start refactoring", "Continue the refactoring and run tests"]);
  await resumed.kill();
});

test("seed: parallel agents, three sandboxes at once", { skip }, async () => {
  const callsBefore = log.calls().length; // test
  // ---- sample (image substituted) ----
  const tasks = [
    { id: "frontend", instruction: "Build a React dashboard" },
    { id: "backend", instruction: "Build a FastAPI API" },
    { id: "docs", instruction: "Write OpenAPI documentation" },
  ];
  const sandboxes = await Promise.all(
    tasks.map((t) =>
      runra.sandboxes.create({
        image: image("node:22"),
        resources: { cpu: 2, memoryMb: 4096 },
        metadata: { taskId: t.id },
      })
    )
  );
  const results = await Promise.all(
    sandboxes.map((sb, i) => agent.run(tasks[i].instruction, { sandbox: sb }))
  );
  // ---- end of sample ----

  // test: three distinct sandboxes, all running at the same time, each found
  // by its taskId; each agent ran in its own sandbox.
  assert.equal(new Set(sandboxes.map((s) => s.id)).size, 3);
  const running = (await runra.sandboxes.list()).filter((s) => s.state === "running").map((s) => s.id);
  for (const sb of sandboxes) assert.ok(running.includes(sb.id));
  for (const [i, t] of tasks.entries()) {
    const found = await runra.sandboxes.list({ metadata: { taskId: t.id } });
    assert.deepEqual(found.map((s) => s.id), [sandboxes[i].id]);
    assert.equal(results[i].exitCode, 0);
    assert.match(results[i].output, new RegExp(t.instruction));
    assert.equal(await sandboxes[i].files.read("/workspace/.agent-task"), `opencode: ${t.instruction}\n`);
  }
  const argvs = log.calls().slice(callsBefore).map((c) => c.argv);
  assert.equal(argvs.length, 3);
  for (const [i, t] of tasks.entries()) {
    const argv = argvs.find((a) => a.at(-1) === t.instruction);
    assert.deepEqual(argv, [
      "agent", "run", "--agent", "opencode", "--model", "claude-sonnet-4-20250514",
      "--sandbox", sandboxes[i].id, ...sock(), t.instruction,
    ]);
  }
  await Promise.all(sandboxes.map((s) => s.kill()));
});
