// Types for @runra/sdk/agents (also importable as @runra/runtime/agents).

import type { Runra, Sandbox, Resources, NetworkPolicy } from "./index.js";

export interface AgentSandboxConfig {
  /** Passed as --image. */
  image?: string;
  /** cpu as --cpu, memoryMb as --memory. */
  resources?: Pick<Resources, "cpu" | "memoryMb">;
  /** Lifetime in ms; passed as --timeout in whole seconds (rounded up). */
  timeoutMs?: number;
  /** Each allow rule is passed as --allow-net. */
  network?: Pick<NetworkPolicy, "allow">;
}

export interface AgentAdapterOptions {
  /** The client whose endpoint (--socket) and API key (RUNRA_API_KEY) the CLI uses. */
  runra?: Runra;
  /** The model the agent runs with (--model). */
  model: string;
  /** How the CLI creates the agent's sandbox when run() is not given one. */
  sandboxConfig?: AgentSandboxConfig;
  /** "inside": the agent runs in the sandbox; "mcp": on the host, with the sandbox tools over MCP. */
  mode?: "inside" | "mcp";
  /** The runra binary; default $RUNRA_BIN, else `runra` on PATH. */
  runraBin?: string;
  /** Extra environment for the CLI. */
  env?: Record<string, string>;
  /** The CLI's working directory. */
  cwd?: string;
}

export interface AgentRunOptions {
  /** Run in this existing sandbox (--sandbox) instead of a new one. */
  sandbox?: Sandbox | string;
  /** Aborting kills the CLI. */
  signal?: AbortSignal;
  onStdout?: (text: string) => void;
  onStderr?: (text: string) => void;
}

export interface AgentRunResult {
  /** The CLI's exit code (128 + signal when it was killed). */
  exitCode: number;
  /** The signal that killed the CLI, if one did. */
  signal: NodeJS.Signals | null;
  /** What the agent printed on stdout. */
  output: string;
  stderr: string;
}

/** Runs `runra agent run --agent NAME ...` for one CLI agent. */
export declare class CliAgentAdapter {
  constructor(agent: string, options: AgentAdapterOptions);
  readonly agent: string;
  runra: Runra | undefined;
  model: string;
  sandboxConfig: AgentSandboxConfig;
  mode: "inside" | "mcp" | undefined;
  runraBin: string | undefined;
  /** The runra binary run() starts. */
  resolveBin(): string;
  /** The arguments (after the binary) run() passes. */
  buildArgs(task: string, options?: Pick<AgentRunOptions, "sandbox">): string[];
  /**
   * Runs the agent on a task (stdin is /dev/null). Resolves when the CLI
   * exits, whatever its exit code; rejects when it cannot be started.
   */
  run(task: string, options?: AgentRunOptions): Promise<AgentRunResult>;
}

/** Claude Code (`--agent claude-code`). */
export declare class ClaudeCodeAdapter extends CliAgentAdapter {
  constructor(options: AgentAdapterOptions);
}

/** Codex (`--agent codex`). */
export declare class CodexAdapter extends CliAgentAdapter {
  constructor(options: AgentAdapterOptions);
}

/** OpenCode (`--agent opencode`). */
export declare class OpenCodeAdapter extends CliAgentAdapter {
  constructor(options: AgentAdapterOptions);
}
