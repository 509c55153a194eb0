// Types for @runra/sdk. The shapes follow api/openapi.yaml (keys camelCase).

/// <reference types="node" />

export declare const DEFAULT_SOCKET: "/var/lib/runra/runra.sock";

/** An error from runrad (HTTP status and API error code) or from reaching it (status 0). */
export declare class RunraError extends Error {
  constructor(status: number, code: string, message: string, options?: { cause?: unknown });
  readonly name: "RunraError";
  /** The HTTP status; 0 when runrad could not be reached or answered garbage. */
  status: number;
  /**
   * The API's error code, e.g. "not_found", "conflict", "invalid_argument",
   * "unauthorized"; "connection_error" or "protocol_error" on the client side.
   */
  code: RunraErrorCode;
}

export type RunraErrorCode =
  | "invalid_argument"
  | "is_a_directory"
  | "not_a_directory"
  | "cross_device"
  | "permission_denied"
  | "read_only"
  | "not_found"
  | "method_not_allowed"
  | "already_exists"
  | "conflict"
  | "not_empty"
  | "payload_too_large"
  | "insufficient_storage"
  | "not_implemented"
  | "sandbox_unavailable"
  | "sandbox_protocol_error"
  | "unavailable"
  | "timeout"
  | "internal"
  | "unauthorized"
  | "connection_error"
  | "protocol_error"
  | (string & {});

export type Endpoint = { socketPath: string; baseUrl?: undefined } | { baseUrl: string; socketPath?: undefined };

export interface RunraOptions {
  sandbox?: {
    /** Only "runra-sandbox" is known. */
    provider?: "runra-sandbox";
    /** Sent as `Authorization: Bearer KEY` over TCP; default $RUNRA_API_KEY. */
    apiKey?: string;
  };
  /** Same as sandbox.apiKey. */
  apiKey?: string;
  /** "http://host:port" (or "unix:///path"). */
  baseUrl?: string;
  /** runrad's unix socket. */
  socketPath?: string;
}

/**
 * Where runrad is: options.socketPath or options.baseUrl, else $RUNRA_HOST
 * ("unix:///path" or "http://host:port"), else $RUNRA_SOCKET, else
 * /var/lib/runra/runra.sock.
 */
export declare function resolveEndpoint(
  options?: Pick<RunraOptions, "baseUrl" | "socketPath">,
  env?: Record<string, string | undefined>,
): Endpoint;

export interface Resources {
  /** CPU cores (fractions allowed). Default 1. */
  cpu?: number;
  /** Memory limit in MiB. Default 1024. */
  memoryMb?: number;
  /** Size of the writable root filesystem in MiB. Default 2048. */
  diskMb?: number;
  /** Process limit. Default 512. */
  pids?: number;
}

export type NetworkMode = "none" | "allowlist" | "open";

export interface NetworkPolicy {
  mode?: NetworkMode;
  /** example.com, *.example.org, 1.2.3.4, 10.0.0.0/8, each optionally :PORT or :LO-HI. */
  allow?: string[];
  deny?: string[];
}

export type TimeoutAction = "destroy" | "pause";

export interface SandboxSpec {
  /** "host" (the host's /usr and /etc, read-only) is the one image built in. */
  image?: string;
  backend?: "ns" | "vm";
  resources?: Resources;
  /** Metadata labels; list() filters on them. */
  metadata?: Record<string, string>;
  /** Lifetime in ms; 0 or absent: none. */
  timeoutMs?: number;
  /** Environment for every exec. */
  env?: Record<string, string>;
  /** Like env, but never returned, logged or put in an event. */
  secrets?: Record<string, string>;
  network?: NetworkPolicy;
  /** Work on a paused sandbox resumes it instead of failing with 409. */
  autoResume?: boolean;
  /** What the end of timeoutMs does. Default "destroy". */
  onTimeout?: TimeoutAction;
  /** Keep the sandbox's disk across host reboots (needs loop devices). */
  persist?: boolean;
  /** Working directory inside; default /workspace. */
  workdir?: string;
}

export type SandboxState = "running" | "paused" | "stopped" | "failed";

/** A sandbox as runrad describes it (GET /v1/sandboxes/{id}). */
export interface SandboxInfo {
  id: string;
  state: SandboxState;
  image: string;
  backend: string;
  resources: Required<Resources>;
  timeoutMs: number;
  metadata: Record<string, string>;
  /** Names of the sandbox env; values are never returned. */
  envKeys: string[];
  workdir: string;
  network: Required<NetworkPolicy>;
  autoResume: boolean;
  persist: boolean;
  onTimeout: TimeoutAction;
  /** RFC 3339. */
  createdAt: string;
  expiresAt: string | null;
}

export interface ExecOptions {
  /** Default: the sandbox workdir. */
  cwd?: string;
  /** Laid over the sandbox env. */
  env?: Record<string, string>;
  /** At the deadline the whole process tree is killed (timedOut: true). */
  timeoutMs?: number;
  /** The command's stdin; bytes are sent as UTF-8 text (the API takes a string). */
  stdin?: string | Uint8Array;
  /** Bytes kept per stream; default 1 MiB. */
  maxOutputBytes?: number;
  /** Streams the output: called with each piece of stdout as it comes. */
  onStdout?: (text: string) => void;
  /** Streams the output: called with each piece of stderr as it comes. */
  onStderr?: (text: string) => void;
}

export interface ExecResult {
  /** The exit status, or 128 + signal. */
  exitCode: number;
  /** The terminating signal, or 0. */
  signal: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  oomKilled: boolean;
  /** Output beyond maxOutputBytes was dropped. */
  truncated: boolean;
  durationMs: number;
}

export interface FileInfo {
  name: string;
  path: string;
  type: "file" | "dir" | "symlink" | "other";
  size: number;
  /** Permission bits. */
  mode: number;
  mtimeMs: number;
  uid: number;
  gid: number;
  /** Symlink target. */
  target?: string;
}

export interface WriteResult {
  path: string;
  /** The file's size after the write. */
  size: number;
}

export interface SandboxFiles {
  /** A file's contents as text (UTF-8 unless options.encoding). */
  read(path: string, options?: { offset?: number; limit?: number; encoding?: BufferEncoding }): Promise<string>;
  /** A file's bytes. */
  readBytes(path: string, options?: { offset?: number; limit?: number }): Promise<Buffer>;
  /** Creates or replaces a file (missing parent directories are created). mode: octal bits, e.g. 0o755 or "755". */
  write(path: string, content: string | Uint8Array, options?: { mode?: number | string; append?: boolean }): Promise<WriteResult>;
  /** A directory's entries, sorted by name. Default: the workdir. */
  list(dir?: string): Promise<FileInfo[]>;
  /** Symlinks are not followed. */
  stat(path: string): Promise<FileInfo>;
  exists(path: string): Promise<boolean>;
  /** A non-empty directory needs { recursive: true } (else 409). */
  remove(path: string, options?: { recursive?: boolean }): Promise<void>;
  /** Like mkdir -p unless { parents: false }. */
  mkdir(path: string, options?: { parents?: boolean; mode?: number }): Promise<FileInfo>;
  move(from: string, to: string, options?: { overwrite?: boolean }): Promise<FileInfo>;
}

export interface ProcessInfo {
  /** As the sandbox's own ps shows it. */
  pid: number;
  tag: string | null;
  pty: boolean;
  argv: string[];
  state: "running" | "exited";
  exitCode: number | null;
  signal: number | null;
  /** ms since the epoch. */
  startedMs: number;
  exitedMs: number | null;
}

export interface ProcessExit {
  exitCode: number;
  signal: number;
  durationMs: number;
  stdoutBytes: number;
  stderrBytes: number;
}

/** A background process: its pid, its tag, or the object processes.start returned. */
export type ProcessRef = number | string | Pick<ProcessInfo, "pid"> | { tag: string };

export interface StartProcessOptions {
  /** Unique among running processes; [A-Za-z0-9_.-], not all digits. */
  tag?: string;
  env?: Record<string, string>;
  cwd?: string;
  /** Run on a pseudo-terminal (true: 80x24). */
  pty?: boolean | { cols: number; rows: number };
}

export interface SandboxProcesses {
  /** Starts a background process (a string runs by /bin/sh -c). */
  start(command: string | string[], options?: StartProcessOptions): Promise<ProcessInfo>;
  /** Oldest first, exited ones included. */
  list(): Promise<ProcessInfo[]>;
  /** The output kept so far (its last 1 MiB), or its last `tail` bytes. */
  logs(ref: ProcessRef, options?: { tail?: number }): Promise<{ stdout: string; stderr: string }>;
  /** Sends a signal (a number or a name: "TERM", "SIGKILL"); default TERM. */
  kill(ref: ProcessRef, signal?: number | string): Promise<{ signal: number }>;
  /** Waits for it to exit; with timeoutMs, a RunraError 504 when it does not. */
  wait(ref: ProcessRef, options?: { timeoutMs?: number }): Promise<ProcessExit>;
  sendStdin(ref: ProcessRef, data: string | Uint8Array, options?: { close?: boolean }): Promise<{ written?: number }>;
}

export interface Port {
  /** The port inside the sandbox. */
  port: number;
  /** The port on the host's 127.0.0.1. */
  hostPort: number;
  /** e.g. http://127.0.0.1:40123 */
  url: string;
}

export interface SandboxPorts {
  /** Relays 127.0.0.1:hostPort on the host to 127.0.0.1:port inside. */
  expose(port: number): Promise<Port>;
  /** Newest first. */
  list(): Promise<Port[]>;
  remove(port: number): Promise<void>;
}

export interface SearchOptions {
  /** Default: the workdir. */
  path?: string;
  /** ripgrep-style globs; "!glob" excludes. */
  glob?: string | string[];
  ignoreCase?: boolean;
  /** Do not skip what .gitignore files exclude. */
  noIgnore?: boolean;
  maxResults?: number;
  contextLines?: number;
  timeoutMs?: number;
}

export interface SearchMatch {
  path: string;
  line: number;
  /** 1-based byte column of the first match. */
  column: number;
  text: string;
  before?: string[];
  after?: string[];
}

export interface SearchResult {
  matches: SearchMatch[];
  truncated: boolean;
  filesSearched: number;
}

export interface SandboxUpdate {
  network?: NetworkPolicy;
  /** The lifetime from now, in ms (0: none). */
  timeoutMs?: number;
  onTimeout?: TimeoutAction;
}

export declare class Sandbox {
  /** The sandbox as runrad last described it. */
  info: SandboxInfo;
  readonly id: string;
  readonly state: SandboxState;
  readonly metadata: Record<string, string>;
  readonly files: SandboxFiles;
  readonly processes: SandboxProcesses;
  readonly ports: SandboxPorts;

  /** Runs a command to completion (a string runs by /bin/sh -c, an array as argv). */
  exec(command: string | string[], options?: ExecOptions): Promise<ExecResult>;
  /** Searches file contents with a PCRE2 regex. */
  search(pattern: string, options?: SearchOptions): Promise<SearchResult>;
  /** Every process stops; memory, files and processes are kept. */
  pause(): Promise<this>;
  /** Continues where it stopped. */
  resume(): Promise<this>;
  /** Re-reads `info`. */
  refresh(): Promise<this>;
  update(changes: SandboxUpdate): Promise<this>;
  /** The sandbox now lives ms more milliseconds (0: no limit). */
  setTimeout(ms: number): Promise<this>;
  /** Destroys the sandbox and everything in it. */
  kill(): Promise<void>;
  /** Same as kill(). */
  destroy(): Promise<void>;
  toJSON(): SandboxInfo;
}

export interface Sandboxes {
  /** Creates a sandbox; it is running when this resolves. */
  create(spec?: SandboxSpec): Promise<Sandbox>;
  /** Every sandbox, or those whose metadata has every given pair. */
  list(options?: { metadata?: Record<string, string> }): Promise<Sandbox[]>;
  get(id: string): Promise<Sandbox>;
  pause(id: string | Sandbox): Promise<Sandbox>;
  /** Resumes a paused (or stopped) sandbox; it keeps its id. */
  resume(id: string | Sandbox): Promise<Sandbox>;
  kill(id: string | Sandbox): Promise<void>;
  destroy(id: string | Sandbox): Promise<void>;
}

export interface Health {
  status: "ok";
  version: string;
  backends: Record<string, { available: boolean; reason?: string; accel?: "kvm" | "tcg" | "unknown" }>;
  network: { available: boolean; reason?: string };
  cgroup: "v1" | "v2" | "hybrid" | "none";
  landlock: number;
  sandboxes: number;
  pool: number;
  destroying: number;
}

// ---- model tools ----

export type ToolFormat = "openai-chat" | "openai-responses" | "anthropic" | "mcp";
export declare const TOOL_FORMATS: readonly ToolFormat[];

export type ToolName =
  | "sandbox_exec"
  | "sandbox_read_file"
  | "sandbox_write_file"
  | "sandbox_list_files"
  | "sandbox_search_code"
  | "sandbox_start_process"
  | "sandbox_expose_port";

export type JsonSchema = { [key: string]: unknown };

export interface OpenAIChatTool {
  type: "function";
  function: { name: ToolName; description: string; parameters: JsonSchema };
}
export interface OpenAIResponsesTool {
  type: "function";
  name: ToolName;
  description: string;
  parameters: JsonSchema;
  strict: boolean;
}
export interface AnthropicTool {
  name: ToolName;
  description: string;
  input_schema: JsonSchema;
}
export interface McpTool {
  name: ToolName;
  description: string;
  inputSchema: JsonSchema;
}

export interface ToolByFormat {
  "openai-chat": OpenAIChatTool;
  "openai-responses": OpenAIResponsesTool;
  anthropic: AnthropicTool;
  mcp: McpTool;
}

/** An OpenAI Chat Completions tool call (message.tool_calls[i]). */
export interface OpenAIChatToolCall {
  id: string;
  type?: "function";
  /** arguments: the JSON string the model wrote, or an object. */
  function: { name: string; arguments?: string | Record<string, unknown> };
}
/** An OpenAI Responses function call (output item). */
export interface OpenAIResponsesToolCall {
  type?: "function_call";
  call_id: string;
  name: string;
  arguments?: string | Record<string, unknown>;
}
/** An Anthropic Messages tool_use block. */
export interface AnthropicToolCall {
  type?: "tool_use";
  id: string;
  name: string;
  input?: Record<string, unknown>;
}

export interface OpenAIChatToolMessage {
  role: "tool";
  tool_call_id: string;
  content: string;
}
export interface OpenAIResponsesToolOutput {
  type: "function_call_output";
  call_id: string;
  output: string;
}
export interface AnthropicToolResult {
  type: "tool_result";
  tool_use_id: string;
  content: string;
  is_error: boolean;
}

/** What runrad answers POST /v1/sandboxes/{id}/tools/call with. */
export interface ToolResult {
  /** The text for the model. */
  content: string;
  /** The tool ran and failed (missing file, non-zero exit, timeout...). */
  isError: boolean;
  /** The same result as data. */
  structured: Record<string, unknown>;
}

export interface ExecuteToolCall {
  (toolCall: OpenAIChatToolCall): Promise<OpenAIChatToolMessage>;
  (toolCall: OpenAIResponsesToolCall): Promise<OpenAIResponsesToolOutput>;
  (toolCall: AnthropicToolCall): Promise<AnthropicToolResult>;
}

/**
 * The OpenAI Chat Completions `tools` array for one sandbox, with
 * non-enumerable helpers that run the model's calls in that sandbox.
 */
export type SandboxTools<F extends ToolFormat = "openai-chat"> = ToolByFormat[F][] & {
  readonly sandbox: Sandbox | string;
  /** Runs one tool call in the sandbox; resolves with the reply for the model. */
  readonly execute: ExecuteToolCall;
  /** Runs tool calls in order; resolves with the replies. */
  readonly executeAll: (toolCalls: readonly OpenAIChatToolCall[] | null | undefined) => Promise<OpenAIChatToolMessage[]>;
};

export declare class Runra {
  constructor(options?: RunraOptions);
  readonly sandboxes: Sandboxes;
  /** Where requests go. */
  readonly endpoint: Endpoint;
  /** The API key sent over TCP, if any. */
  readonly apiKey: string | undefined;
  health(): Promise<Health>;
  /** The seven sandbox tools' definitions in a model API's shape (the SDK's copy; no request). */
  tools<F extends ToolFormat = "openai-chat">(format?: F): ToolByFormat[F][];
  /** The same, as runrad answers GET /v1/tools. */
  fetchTools<F extends ToolFormat = "openai-chat">(format?: F): Promise<ToolByFormat[F][]>;
  /** The `tools` array for a model API, bound to a sandbox: pass it as is, then `tools.execute(call)`. */
  createSandboxTools(sandbox: Sandbox | string): SandboxTools<"openai-chat">;
  createSandboxTools<F extends ToolFormat>(sandbox: Sandbox | string, options: { format: F }): SandboxTools<F>;
  /**
   * Runs a model's tool call in a sandbox and returns the reply for the model.
   * A call the model got wrong (unknown tool, bad arguments) becomes an
   * error reply; a missing, paused or failed sandbox rejects with RunraError.
   */
  executeToolCall(sandbox: Sandbox | string, toolCall: OpenAIChatToolCall): Promise<OpenAIChatToolMessage>;
  executeToolCall(sandbox: Sandbox | string, toolCall: OpenAIResponsesToolCall): Promise<OpenAIResponsesToolOutput>;
  executeToolCall(sandbox: Sandbox | string, toolCall: AnthropicToolCall): Promise<AnthropicToolResult>;
  /** Runs one tool by name; arguments as an object or a JSON string. */
  callTool(sandbox: Sandbox | string, name: ToolName | (string & {}), args?: string | Record<string, unknown>): Promise<ToolResult>;
  /** A raw API call for what the SDK does not wrap; resolves with the JSON answer (undefined for 204). */
  request<T = unknown>(
    method: string,
    path: string,
    options?: { query?: Record<string, string | number | boolean | undefined>; body?: unknown; headers?: Record<string, string> },
  ): Promise<T>;
}

export default Runra;
