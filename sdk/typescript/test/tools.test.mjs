// The model tools: the SDK's embedded definitions match what runrad serves
// in all four formats (run `npm run sync-tools` against a fresh runrad when
// this fails), and tool calls run in the sandbox, in each API's shape.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Runra, RunraError, TOOL_FORMATS } from "@runra/sdk";
import { startDaemon, skipReason } from "../test-support/daemon.mjs";

const skip = skipReason();
let daemon;
let runra;
let sb;

before(async () => {
  if (skip) return;
  daemon = await startDaemon();
  runra = new Runra({ socketPath: daemon.socket });
  sb = await runra.sandboxes.create({ metadata: { suite: "tools" } });
});

after(async () => {
  if (daemon) await daemon.stop();
});

const call = (id, name, args) => ({ id, type: "function", function: { name, arguments: JSON.stringify(args) } });

test("the embedded definitions are what GET /v1/tools answers, in every format", { skip }, async () => {
  assert.deepEqual(TOOL_FORMATS, ["openai-chat", "openai-responses", "anthropic", "mcp"]);
  for (const format of TOOL_FORMATS) {
    assert.deepEqual(runra.tools(format), await runra.fetchTools(format), `format ${format} is out of sync: npm run sync-tools`);
  }
  assert.deepEqual(runra.tools(), await runra.fetchTools());
  assert.deepEqual(
    runra.tools().map((t) => t.function.name),
    [
      "sandbox_exec",
      "sandbox_read_file",
      "sandbox_write_file",
      "sandbox_list_files",
      "sandbox_search_code",
      "sandbox_start_process",
      "sandbox_expose_port",
    ],
  );
  assert.throws(() => runra.tools("gemini"), TypeError);
  await assert.rejects(runra.fetchTools("gemini"), (e) => e instanceof RunraError && e.status === 400);
});

test("createSandboxTools is the OpenAI tools array, synchronously, with execute attached", { skip }, () => {
  const tools = runra.createSandboxTools(sb);
  assert.ok(Array.isArray(tools));
  assert.deepEqual(JSON.parse(JSON.stringify(tools)), runra.tools("openai-chat"));
  assert.deepEqual(Object.keys(tools), ["0", "1", "2", "3", "4", "5", "6"]);
  assert.equal(typeof tools.execute, "function");
  assert.equal(typeof tools.executeAll, "function");
  assert.equal(tools.sandbox, sb);
  // Each call returns a fresh copy: changing one does not change the next.
  tools[0].function.description = "changed";
  assert.notEqual(runra.createSandboxTools(sb)[0].function.description, "changed");
  assert.deepEqual(JSON.parse(JSON.stringify(runra.createSandboxTools(sb.id, { format: "anthropic" }))), runra.tools("anthropic"));
});

test("all seven tools run in the sandbox through tools.execute", { skip }, async () => {
  const tools = runra.createSandboxTools(sb);

  const w = await tools.execute(call("c1", "sandbox_write_file", { path: "app/hello.txt", content: "hi there\n" }));
  assert.equal(w.role, "tool");
  assert.equal(w.tool_call_id, "c1");
  assert.match(w.content, /9 bytes/);
  assert.equal(await sb.files.read("app/hello.txt"), "hi there\n");

  const r = await tools.execute(call("c2", "sandbox_read_file", { path: "app/hello.txt" }));
  assert.deepEqual(r, { role: "tool", tool_call_id: "c2", content: "hi there\n" });

  const e = await tools.execute(call("c3", "sandbox_exec", { command: "cat app/hello.txt; exit 5" }));
  assert.match(e.content, /exit code 5/);
  assert.match(e.content, /hi there/);

  const l = await tools.execute(call("c4", "sandbox_list_files", { directory: "app" }));
  assert.match(l.content, /hello\.txt/);

  const s = await tools.execute(call("c5", "sandbox_search_code", { pattern: "there", path: "app" }));
  assert.match(s.content, /app\/hello\.txt:1/);

  const p = await tools.execute(
    call("c6", "sandbox_start_process", {
      command: "exec python3 -m http.server 8123 --bind 127.0.0.1 --directory app",
      env: { PYTHONUNBUFFERED: "1" },
    }),
  );
  assert.match(p.content, /\d+/);
  const x = await tools.execute(call("c7", "sandbox_expose_port", { port: 8123 }));
  const url = x.content.match(/http:\/\/127\.0\.0\.1:\d+/)?.[0];
  assert.ok(url, x.content);
  let body;
  for (let i = 0; ; i++) {
    try {
      body = await new Promise((res, rej) =>
        http.get(url + "/hello.txt", { agent: false }, (resp) => {
          let b = "";
          resp.on("data", (c) => (b += c));
          resp.on("end", () => res(b));
        }).on("error", rej),
      );
      break;
    } catch (err) {
      if (i > 100) throw err;
      await new Promise((res) => setTimeout(res, 100));
    }
  }
  assert.equal(body, "hi there\n");
  await sb.ports.remove(8123);
});

test("arguments may be the JSON string OpenAI sends or an object; executeAll keeps order", { skip }, async () => {
  const tools = runra.createSandboxTools(sb);
  const replies = await tools.executeAll([
    { id: "a", type: "function", function: { name: "sandbox_write_file", arguments: { path: "order.txt", content: "1" } } },
    call("b", "sandbox_exec", { command: "cat order.txt" }),
  ]);
  assert.deepEqual(replies.map((m) => m.tool_call_id), ["a", "b"]);
  assert.match(replies[1].content, /stdout:\n1/);
  assert.deepEqual(await tools.executeAll(undefined), []);
});

test("a tool that fails answers the model with the error", { skip }, async () => {
  const r = await runra.executeToolCall(sb, call("f1", "sandbox_read_file", { path: "missing.txt" }));
  assert.equal(r.tool_call_id, "f1");
  assert.match(r.content, /^error: .*No such file/);
  const raw = await runra.callTool(sb, "sandbox_read_file", { path: "missing.txt" });
  assert.equal(raw.isError, true);
  assert.equal(typeof raw.structured, "object");
  const ok = await runra.callTool(sb.id, "sandbox_exec", '{"command":"echo raw"}');
  assert.equal(ok.isError, false);
  assert.equal(ok.structured.stdout, "raw\n");
});

test("a call the model got wrong (unknown tool, bad JSON, wrong arguments) becomes an error reply", { skip }, async () => {
  const tools = runra.createSandboxTools(sb);
  const unknown = await tools.execute(call("u", "sandbox_fly", {}));
  assert.equal(unknown.tool_call_id, "u");
  assert.match(unknown.content, /^error: unknown tool 'sandbox_fly'/);
  const badJson = await tools.execute({ id: "j", type: "function", function: { name: "sandbox_exec", arguments: "{not json" } });
  assert.match(badJson.content, /^error: /);
  const extra = await tools.execute(call("x", "sandbox_exec", { command: "true", bogus: 1 }));
  assert.match(extra.content, /^error: /);
  // The raw call reports the same as a RunraError.
  await assert.rejects(runra.callTool(sb, "sandbox_fly", {}), (e) => e.status === 400 && e.code === "invalid_argument");
});

test("a missing or paused sandbox rejects instead of answering the model", { skip }, async () => {
  await assert.rejects(
    runra.executeToolCall("nosuchsandbox", call("n", "sandbox_exec", { command: "true" })),
    (e) => e instanceof RunraError && e.status === 404 && e.code === "not_found",
  );
  await sb.pause();
  try {
    await assert.rejects(
      runra.createSandboxTools(sb).execute(call("p", "sandbox_exec", { command: "true" })),
      (e) => e instanceof RunraError && e.status === 409 && e.code === "conflict",
    );
  } finally {
    await sb.resume();
  }
  await assert.rejects(runra.executeToolCall(sb, { nope: 1 }), TypeError);
});

test("Responses and Anthropic tool calls get replies in their own shape", { skip }, async () => {
  const resp = await runra.executeToolCall(sb, {
    type: "function_call",
    call_id: "call_r",
    name: "sandbox_exec",
    arguments: '{"command":"echo responses"}',
  });
  assert.equal(resp.type, "function_call_output");
  assert.equal(resp.call_id, "call_r");
  assert.match(resp.output, /responses/);
  const anth = await runra.executeToolCall(sb, {
    type: "tool_use",
    id: "toolu_1",
    name: "sandbox_read_file",
    input: { path: "nope" },
  });
  assert.equal(anth.type, "tool_result");
  assert.equal(anth.tool_use_id, "toolu_1");
  assert.equal(anth.is_error, true);
});
