// @runra/sdk: a client for runrad. Runra holds the endpoint and the API key;
// runra.sandboxes creates and finds sandboxes; Sandbox (sandbox.js) works on one.

import { RunraError } from "./errors.js";
import { Transport, resolveEndpoint, DEFAULT_SOCKET } from "./transport.js";
import { Sandbox } from "./sandbox.js";
import { TOOL_FORMATS, toolDefinitions, callTool, executeToolCall } from "./tools.js";

export { RunraError, Sandbox, DEFAULT_SOCKET, TOOL_FORMATS, resolveEndpoint };

const PROVIDER = "runra-sandbox";

function sandboxId(sandbox) {
  if (typeof sandbox === "string" && sandbox !== "") return sandbox;
  if (sandbox && typeof sandbox.id === "string") return sandbox.id;
  throw new TypeError("expected a Sandbox or a sandbox id");
}

class Sandboxes {
  constructor(transport) {
    Object.defineProperty(this, "_t", { value: transport, enumerable: false });
  }

  // The spec goes to runrad as given (its keys are the API's): runrad checks
  // it strictly, so a misspelled field is a 400, not silently dropped.
  async create(spec = {}) {
    return new Sandbox(this._t, await this._t.json("POST", "/v1/sandboxes", { body: spec }));
  }

  async list(options = {}) {
    const query = {};
    for (const [k, v] of Object.entries(options.metadata || {})) query[`metadata.${k}`] = v;
    const r = await this._t.json("GET", "/v1/sandboxes", { query });
    return r.sandboxes.map((info) => new Sandbox(this._t, info));
  }

  async get(id) {
    return new Sandbox(this._t, await this._t.json("GET", `/v1/sandboxes/${encodeURIComponent(sandboxId(id))}`));
  }

  async pause(id) {
    return new Sandbox(this._t, await this._t.json("POST", `/v1/sandboxes/${encodeURIComponent(sandboxId(id))}/pause`));
  }

  async resume(id) {
    return new Sandbox(this._t, await this._t.json("POST", `/v1/sandboxes/${encodeURIComponent(sandboxId(id))}/resume`));
  }

  async kill(id) {
    await this._t.request("DELETE", `/v1/sandboxes/${encodeURIComponent(sandboxId(id))}`);
  }

  async destroy(id) {
    return this.kill(id);
  }
}

export class Runra {
  constructor(options = {}) {
    const sb = options.sandbox || {};
    if (sb.provider !== undefined && sb.provider !== PROVIDER) {
      throw new TypeError(`unknown sandbox provider '${sb.provider}' (this SDK talks to '${PROVIDER}')`);
    }
    const endpoint = resolveEndpoint(options);
    const apiKey = sb.apiKey ?? options.apiKey ?? process.env.RUNRA_API_KEY ?? undefined;
    const transport = new Transport(endpoint, apiKey);
    Object.defineProperty(this, "_t", { value: transport, enumerable: false });
    this.sandboxes = new Sandboxes(transport);
  }

  /** Where requests go: {socketPath} or {baseUrl}. */
  get endpoint() {
    return { ...this._t.endpoint };
  }

  /** The API key sent over TCP, if any. */
  get apiKey() {
    return this._t.apiKey;
  }

  async health() {
    return this._t.json("GET", "/v1/health");
  }

  /** The tool definitions in a model API's shape, from the SDK's copy (no request). */
  tools(format = "openai-chat") {
    return toolDefinitions(format);
  }

  /** The tool definitions as runrad itself answers them. */
  async fetchTools(format = "openai-chat") {
    return (await this._t.json("GET", "/v1/tools", { query: { format } })).tools;
  }

  /**
   * The OpenAI Chat Completions tools array for one sandbox. It is a plain
   * array (pass it as `tools`), carrying non-enumerable helpers:
   * `tools.execute(toolCall)` runs one call in the sandbox and returns the
   * {role: "tool"} message, `tools.executeAll(toolCalls)` runs several.
   */
  createSandboxTools(sandbox, options = {}) {
    const id = sandboxId(sandbox);
    const tools = toolDefinitions(options.format || "openai-chat");
    const hidden = (value) => ({ value, enumerable: false, writable: false, configurable: true });
    Object.defineProperties(tools, {
      sandbox: hidden(sandbox),
      execute: hidden((toolCall) => executeToolCall(this._t, id, toolCall)),
      executeAll: hidden(async (toolCalls) => {
        // In order, one at a time: a model may write a file in one call and
        // run it in the next.
        const out = [];
        for (const call of toolCalls || []) out.push(await executeToolCall(this._t, id, call));
        return out;
      }),
    });
    return tools;
  }

  /** Runs a model's tool call in the sandbox; returns the reply message for the model. */
  async executeToolCall(sandbox, toolCall) {
    return executeToolCall(this._t, sandboxId(sandbox), toolCall);
  }

  /** Runs one tool by name; returns runrad's {content, isError, structured}. */
  async callTool(sandbox, name, args) {
    return callTool(this._t, sandboxId(sandbox), name, args);
  }

  /** A raw API call for what the SDK does not wrap; resolves with the JSON answer. */
  async request(method, path, options = {}) {
    return this._t.json(method, path, options);
  }
}

export default Runra;
