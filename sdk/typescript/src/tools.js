// The sandbox tools for model APIs: their definitions in each API's shape
// (from an embedded copy of GET /v1/tools, so no round trip is needed) and
// the execution of a model's tool call through POST /v1/sandboxes/{id}/tools/call.

import { RunraError } from "./errors.js";
import { TOOL_DEFINITIONS } from "./tool-definitions.js";

export const TOOL_FORMATS = ["openai-chat", "openai-responses", "anthropic", "mcp"];

const clone = (v) => JSON.parse(JSON.stringify(v));

// One definition in one API's shape; these are the shapes runrad itself
// answers GET /v1/tools?format=... with.
function shape(def, format) {
  const { name, description } = def;
  const schema = clone(def.parameters);
  switch (format) {
    case "openai-chat":
      return { type: "function", function: { name, description, parameters: schema } };
    case "openai-responses":
      return { type: "function", name, description, parameters: schema, strict: false };
    case "anthropic":
      return { name, description, input_schema: schema };
    case "mcp":
      return { name, description, inputSchema: schema };
    default:
      throw new TypeError(`unknown tool format '${format}' (use ${TOOL_FORMATS.join(", ")})`);
  }
}

export function toolDefinitions(format = "openai-chat") {
  return TOOL_DEFINITIONS.map((d) => shape(d, format));
}

// Reads a tool call from any of the three model APIs:
//   OpenAI Chat:      {id, type: "function", function: {name, arguments}}
//   OpenAI Responses: {type: "function_call", call_id, name, arguments}
//   Anthropic:        {type: "tool_use", id, name, input}
function readCall(call) {
  if (!call || typeof call !== "object") throw new TypeError("a tool call is an object");
  if (call.function && typeof call.function === "object") {
    return { kind: "chat", id: call.id, name: call.function.name, args: call.function.arguments };
  }
  if (call.type === "function_call" || call.call_id !== undefined) {
    return { kind: "responses", id: call.call_id, name: call.name, args: call.arguments };
  }
  if (call.type === "tool_use" || call.input !== undefined) {
    return { kind: "anthropic", id: call.id, name: call.name, args: call.input };
  }
  throw new TypeError("not a tool call: expected {id, function: {name, arguments}} (or a Responses/Anthropic call)");
}

// The message that hands a result back to the model, in the call's API.
function reply(kind, id, content, isError) {
  switch (kind) {
    case "chat":
      return { role: "tool", tool_call_id: id, content };
    case "responses":
      return { type: "function_call_output", call_id: id, output: content };
    default:
      return { type: "tool_result", tool_use_id: id, content, is_error: isError };
  }
}

export async function callTool(transport, sandboxId, name, args) {
  if (typeof name !== "string" || name === "") throw new TypeError("a tool call names its tool");
  const body = { name };
  // runrad takes the arguments as an object or as the JSON string OpenAI sends.
  if (args !== undefined && args !== null && args !== "") body.arguments = args;
  return transport.json("POST", `/v1/sandboxes/${encodeURIComponent(sandboxId)}/tools/call`, { body });
}

// Runs one model tool call and returns the message for the model. A call
// the model got wrong (an unknown tool, arguments of the wrong shape: 400)
// is answered to the model as an error so it can correct itself; a missing,
// paused or failed sandbox throws, since no retry by the model can fix it.
export async function executeToolCall(transport, sandboxId, toolCall) {
  const { kind, id, name, args } = readCall(toolCall);
  try {
    const r = await callTool(transport, sandboxId, name, args);
    return reply(kind, id, r.content, !!r.isError);
  } catch (err) {
    if (err instanceof RunraError && err.status === 400) return reply(kind, id, `error: ${err.message}`, true);
    throw err;
  }
}
