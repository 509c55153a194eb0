// The seed page's samples as TypeScript, type-checked by test/types.test.mjs
// (tsc --strict --noEmit) when a TypeScript compiler is at hand. They are
// wrapped in functions: checked, never run (seed.test.mjs runs them).

import { Runra, RunraError, type Sandbox, type ExecResult } from "@runra/sdk";
import { ClaudeCodeAdapter, CodexAdapter, OpenCodeAdapter } from "@runra/runtime/agents";

// The shape of the OpenAI client's chat.completions.create, as far as the
// sample uses it (openai.ts checks against the real package when present).
declare const openai: {
  chat: {
    completions: {
      create(body: {
        model: string;
        messages: { role: "user" | "system" | "assistant"; content: string }[];
        tools?: { type: "function"; function: { name: string; description?: string; parameters?: Record<string, unknown> } }[];
        tool_choice?: "auto" | "none";
      }): Promise<{ choices: { message: { tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[] } }[] }>;
    };
  };
};

export async function claudeCode(): Promise<void> {
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
}

export async function codexAndOpenCode(runra: Runra): Promise<void> {
  const codex = new CodexAdapter({
    runra,
    model: "gpt-4.1",
    sandboxConfig: {
      image: "python:3.12",
      resources: { cpu: 2, memoryMb: 4096 },
    },
  });
  await codex.run("Build a FastAPI endpoint for user authentication");
  const agent = new OpenCodeAdapter({
    runra,
    model: "claude-sonnet-4-20250514",
    sandboxConfig: {
      image: "node:22",
      resources: { cpu: 4, memoryMb: 8192 },
      timeoutMs: 600_000, // 10-minute timeout
    },
  });
  const { exitCode, output } = await agent.run("Migrate this project from Express to Fastify");
  const n: number = exitCode;
  const s: string = output;
  void n, s;
}

export async function ownAgent(runra: Runra): Promise<ExecResult> {
  const sandbox = await runra.sandboxes.create({
    image: "node:22",
    resources: { cpu: 2, memoryMb: 4096 },
  });
  // Your agent's tool-calling loop
  async function agentStep(sandbox: Sandbox, instruction: { command: string; filePath: string; content: string }) {
    const result = await sandbox.exec(instruction.command);
    await sandbox.files.write(instruction.filePath, instruction.content);
    return result;
  }
  return agentStep(sandbox, { command: "ls", filePath: "a.txt", content: "a" });
}

export async function toolCalling(runra: Runra, sandbox: Sandbox): Promise<void> {
  const tools = runra.createSandboxTools(sandbox);
  const response = await openai.chat.completions.create({
    model: "gpt-4.1",
    messages: [{ role: "user", content: "Create a React component for a login form" }],
    tools,
    tool_choice: "auto",
  });
  for (const call of response.choices[0]?.message.tool_calls ?? []) {
    const msg = await tools.execute(call);
    const role: "tool" = msg.role;
    const id: string = msg.tool_call_id;
    void role, id;
  }
}

export async function pauseResume(runra: Runra, agent: OpenCodeAdapter): Promise<void> {
  // Session 1: Agent starts work
  const sandbox = await runra.sandboxes.create({ image: "node:22" });
  await agent.run("Clone the repo and start refactoring");
  // Pause preserves the full workspace
  await sandbox.pause();
  // Session 2: Agent resumes where it left off
  const resumed = await runra.sandboxes.resume(sandbox.id);
  await agent.run("Continue the refactoring and run tests");
  const same: string = resumed.id;
  void same;
}

export async function parallel(runra: Runra, agent: ClaudeCodeAdapter): Promise<void> {
  const tasks = [
    { id: "frontend", instruction: "Build a React dashboard" },
    { id: "backend", instruction: "Build a FastAPI API" },
    { id: "docs", instruction: "Write OpenAPI documentation" },
  ];
  const sandboxes = await Promise.all(
    tasks.map((t) =>
      runra.sandboxes.create({
        image: "node:22",
        resources: { cpu: 2, memoryMb: 4096 },
        metadata: { taskId: t.id },
      })
    )
  );
  const results = await Promise.all(
    sandboxes.map((sb, i) => agent.run(tasks[i]!.instruction, { sandbox: sb }))
  );
  void results;
}

// The rest of the surface, for the types' sake.
export async function surface(runra: Runra): Promise<void> {
  const sb = await runra.sandboxes.create({
    image: "host",
    resources: { cpu: 1, memoryMb: 512, diskMb: 1024, pids: 64 },
    metadata: { a: "b" },
    timeoutMs: 60_000,
    env: { A: "1" },
    secrets: { B: "2" },
    network: { mode: "allowlist", allow: ["example.com"], deny: [] },
    autoResume: true,
    onTimeout: "pause",
    persist: false,
  });
  const r = await sb.exec(["ls", "-l"], { cwd: "/", env: { X: "1" }, timeoutMs: 1000, stdin: "x", onStdout: (t) => void t });
  const code: number = r.exitCode;
  const text: string = await sb.files.read("a");
  const bytes: Buffer = await sb.files.readBytes("a");
  await sb.files.write("a", bytes);
  const entries = await sb.files.list("/");
  const kind: "file" | "dir" | "symlink" | "other" = entries[0]!.type;
  await sb.files.remove("a", { recursive: true });
  await sb.files.mkdir("d");
  const p = await sb.processes.start("sleep 1", { tag: "t", env: {}, cwd: "/" });
  await sb.processes.list();
  const logs: { stdout: string; stderr: string } = await sb.processes.logs(p);
  await sb.processes.kill("t", "KILL");
  await sb.processes.kill(p.pid, 9);
  const exit = await sb.processes.wait(p, { timeoutMs: 100 });
  const port = await sb.ports.expose(8080);
  const url: string = port.url;
  await sb.ports.list();
  await sb.ports.remove(port.port);
  const found = await sb.search("x", { path: "src" });
  const line: number | undefined = found.matches[0]?.line;
  await (await sb.pause()).resume();
  await sb.setTimeout(1000);
  await sb.refresh();
  const state: "running" | "paused" | "stopped" | "failed" = sb.state;
  await sb.kill();
  await runra.sandboxes.list({ metadata: { a: "b" } });
  await runra.sandboxes.get("id");
  await runra.sandboxes.pause("id");
  await runra.sandboxes.kill("id");
  await runra.sandboxes.destroy(sb);
  const anthropic = runra.tools("anthropic");
  const schema: Record<string, unknown> = anthropic[0]!.input_schema;
  const chat = await runra.fetchTools();
  const name: string = chat[0]!.function.name;
  const res = await runra.executeToolCall(sb, { id: "x", function: { name: "sandbox_exec", arguments: "{}" } });
  const out: string = res.content;
  try {
    await runra.health();
  } catch (err) {
    if (err instanceof RunraError) {
      const st: number = err.status;
      const c: string = err.code;
      void st, c;
    }
  }
  void code, text, kind, logs, exit, url, line, state, schema, name, out;
}
