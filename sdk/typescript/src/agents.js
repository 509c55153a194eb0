// CLI agent adapters: each runs `runra agent run --agent NAME ...` as a child
// process, which starts the agent (Claude Code, Codex, OpenCode) with its
// tools inside a runra sandbox. The adapter only builds the argv and collects
// the output; the sandboxing is the CLI's and runrad's.

import { spawn } from "node:child_process";
import { constants } from "node:os";
import { StringDecoder } from "node:string_decoder";

function sandboxId(sandbox) {
  if (typeof sandbox === "string" && sandbox !== "") return sandbox;
  if (sandbox && typeof sandbox.id === "string") return sandbox.id;
  throw new TypeError("options.sandbox is a Sandbox or a sandbox id");
}

export class CliAgentAdapter {
  constructor(agent, options = {}) {
    if (typeof agent !== "string" || agent === "") throw new TypeError("the agent name is required");
    if (typeof options.model !== "string" || options.model === "") throw new TypeError("options.model is required");
    if (options.mode !== undefined && options.mode !== "inside" && options.mode !== "mcp") {
      throw new TypeError(`options.mode is 'inside' or 'mcp', not '${options.mode}'`);
    }
    this.agent = agent;
    this.runra = options.runra;
    this.model = options.model;
    this.sandboxConfig = options.sandboxConfig || {};
    this.mode = options.mode;
    this.runraBin = options.runraBin;
    this.env = options.env;
    this.cwd = options.cwd;
  }

  /**
   * The runra binary: the runraBin option, else $RUNRA_BIN, else `runra`
   * looked up on PATH.
   */
  resolveBin() {
    return this.runraBin || process.env.RUNRA_BIN || "runra";
  }

  /** The argv (without the binary) `run(task, options)` executes. */
  buildArgs(task, options = {}) {
    if (typeof task !== "string" || task === "") throw new TypeError("the task is a non-empty string");
    const args = ["agent", "run", "--agent", this.agent, "--model", this.model];
    // A given sandbox already has its image and limits, so the creation flags
    // are left out; without one, the CLI creates a sandbox from them.
    if (options.sandbox === undefined || options.sandbox === null) {
      const c = this.sandboxConfig;
      const r = c.resources || {};
      if (c.image) args.push("--image", String(c.image));
      if (r.cpu !== undefined) args.push("--cpu", String(r.cpu));
      if (r.memoryMb !== undefined) args.push("--memory", String(r.memoryMb));
      if (c.timeoutMs !== undefined && c.timeoutMs !== null) {
        args.push("--timeout", String(Math.ceil(c.timeoutMs / 1000)));
      }
      for (const rule of c.network?.allow || []) args.push("--allow-net", String(rule));
    }
    if (this.mode) args.push("--mode", this.mode);
    if (options.sandbox !== undefined && options.sandbox !== null) args.push("--sandbox", sandboxId(options.sandbox));
    const ep = this.runra?.endpoint;
    if (ep?.socketPath) args.push("--socket", ep.socketPath);
    else if (ep?.baseUrl) args.push("--socket", ep.baseUrl);
    // A task that starts with '-' would read as a flag.
    if (task.startsWith("-")) args.push("--");
    args.push(task);
    return args;
  }

  /**
   * Runs the agent on a task and resolves when the CLI exits, with its exit
   * code and what it printed on stdout. Rejects only when the CLI cannot be
   * started; a failing agent is a non-zero exitCode.
   */
  run(task, options = {}) {
    const args = this.buildArgs(task, options);
    const bin = this.resolveBin();
    const env = { ...process.env, ...(this.env || {}) };
    if (this.runra?.apiKey) env.RUNRA_API_KEY = this.runra.apiKey;
    return new Promise((resolve, reject) => {
      let child;
      try {
        child = spawn(bin, args, { cwd: this.cwd, env, stdio: ["ignore", "pipe", "pipe"], signal: options.signal });
      } catch (err) {
        reject(err);
        return;
      }
      const out = new StringDecoder("utf8");
      const errDec = new StringDecoder("utf8");
      let stdout = "";
      let stderr = "";
      let failed = false;
      child.stdout.on("data", (chunk) => {
        const text = out.write(chunk);
        stdout += text;
        if (options.onStdout && text) options.onStdout(text);
      });
      child.stderr.on("data", (chunk) => {
        const text = errDec.write(chunk);
        stderr += text;
        if (options.onStderr && text) options.onStderr(text);
      });
      child.on("error", (err) => {
        failed = true;
        if (err.code === "ENOENT") err.message = `cannot run '${bin}' (set runraBin or RUNRA_BIN): ${err.message}`;
        reject(err);
      });
      child.on("close", (code, signal) => {
        if (failed) return;
        stdout += out.end();
        stderr += errDec.end();
        // Killed by a signal: 128 + its number, as a shell reports it.
        const exitCode = code ?? 128 + (constants.signals[signal] || 0);
        resolve({ exitCode, signal: signal ?? null, output: stdout, stderr });
      });
    });
  }
}

export class ClaudeCodeAdapter extends CliAgentAdapter {
  constructor(options) {
    super("claude-code", options);
  }
}

export class CodexAdapter extends CliAgentAdapter {
  constructor(options) {
    super("codex", options);
  }
}

export class OpenCodeAdapter extends CliAgentAdapter {
  constructor(options) {
    super("opencode", options);
  }
}
