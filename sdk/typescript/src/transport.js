// HTTP/1.1 + JSON to runrad over its unix socket or TCP, with node:http only.
// It trusts nothing it receives: every non-2xx answer becomes a RunraError.

import http from "node:http";
import https from "node:https";
import { RunraError, errorFromResponse } from "./errors.js";

export const DEFAULT_SOCKET = "/var/lib/runra/runra.sock";

// Turns one endpoint string into {socketPath} or {baseUrl}. Accepted:
// "unix:///path", "http(s)://host:port[/prefix]", or a plain path.
function parseEndpoint(value, what) {
  if (value.startsWith("unix://")) {
    const path = value.slice("unix://".length);
    if (!path.startsWith("/")) throw new TypeError(`${what}: unix endpoint needs an absolute path: ${value}`);
    return { socketPath: path };
  }
  if (/^https?:\/\//.test(value)) {
    const url = new URL(value);
    return { baseUrl: url.origin + url.pathname.replace(/\/+$/, "") };
  }
  if (value.includes("://")) throw new TypeError(`${what}: unsupported endpoint ${value} (use unix:///path or http://host:port)`);
  return { socketPath: value };
}

/**
 * Where runrad is: an explicit socketPath or baseUrl, else $RUNRA_HOST,
 * else $RUNRA_SOCKET, else the default socket.
 */
export function resolveEndpoint(options = {}, env = process.env) {
  if (options.socketPath) return { socketPath: options.socketPath };
  if (options.baseUrl) return parseEndpoint(options.baseUrl, "baseUrl");
  if (env.RUNRA_HOST) return parseEndpoint(env.RUNRA_HOST, "RUNRA_HOST");
  if (env.RUNRA_SOCKET) return parseEndpoint(env.RUNRA_SOCKET, "RUNRA_SOCKET");
  return { socketPath: DEFAULT_SOCKET };
}

function describe(endpoint) {
  return endpoint.socketPath ? `unix://${endpoint.socketPath}` : endpoint.baseUrl;
}

export class Transport {
  constructor(endpoint, apiKey) {
    this.endpoint = endpoint;
    this.apiKey = apiKey || undefined;
    if (endpoint.baseUrl) {
      this.url = new URL(endpoint.baseUrl);
      this.http = this.url.protocol === "https:" ? https : http;
    } else {
      this.http = http;
    }
  }

  // Builds http.request options for one call. A fresh connection per request
  // (agent: false) costs little on a local socket and rules out the race of
  // reusing a keep-alive connection the server is just closing.
  options(method, path, query, headers) {
    let qs = "";
    if (query) {
      const params = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) {
        if (v === undefined || v === null) continue;
        params.append(k, String(v));
      }
      const s = params.toString();
      if (s) qs = "?" + s;
    }
    const opts = { method, headers: { ...headers }, agent: false };
    if (this.endpoint.socketPath) {
      opts.socketPath = this.endpoint.socketPath;
      opts.path = path + qs;
      opts.headers.host = "localhost";
    } else {
      opts.protocol = this.url.protocol;
      opts.hostname = this.url.hostname.replace(/^\[|\]$/g, "");
      opts.port = this.url.port || undefined;
      opts.path = this.url.pathname.replace(/\/+$/, "") + path + qs;
      // API keys authenticate TCP clients; the unix socket is guarded by its
      // file permissions instead, so the key is only sent here.
      if (this.apiKey) opts.headers.authorization = `Bearer ${this.apiKey}`;
    }
    return opts;
  }

  // Sends one request and resolves with the response stream once the status
  // line is in; the caller reads (or errors on) the body.
  open(method, path, { query, body, headers = {} } = {}) {
    let payload;
    const hdrs = { accept: "application/json", ...headers };
    if (body !== undefined) {
      if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
        payload = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
        hdrs["content-type"] ??= "application/octet-stream";
      } else if (typeof body === "string" && hdrs["content-type"]) {
        payload = Buffer.from(body, "utf8");
      } else {
        payload = Buffer.from(JSON.stringify(body), "utf8");
        hdrs["content-type"] = "application/json";
      }
      hdrs["content-length"] = String(payload.length);
    }
    const opts = this.options(method, path, query, hdrs);
    return new Promise((resolve, reject) => {
      const req = this.http.request(opts, resolve);
      req.on("error", (err) => {
        reject(
          new RunraError(0, "connection_error", `cannot reach runrad at ${describe(this.endpoint)}: ${err.message}`, {
            cause: err,
          }),
        );
      });
      req.end(payload);
    });
  }

  // One whole request: resolves with {status, headers, body: Buffer} for a
  // 2xx answer and rejects with a RunraError otherwise.
  async request(method, path, opts = {}) {
    const res = await this.open(method, path, opts);
    const body = await readAll(res);
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorFromResponse(res.statusCode, body);
    return { status: res.statusCode, headers: res.headers, body };
  }

  // The JSON of a 2xx answer (undefined for 204 and empty bodies).
  async json(method, path, opts = {}) {
    const { body } = await this.request(method, path, opts);
    if (body.length === 0) return undefined;
    try {
      return JSON.parse(body.toString("utf8"));
    } catch (err) {
      throw new RunraError(0, "protocol_error", `runrad answered ${method} ${path} with invalid JSON`, { cause: err });
    }
  }

  // Yields the parsed lines of an NDJSON answer as they arrive.
  async *ndjson(method, path, opts = {}) {
    const res = await this.open(method, path, {
      ...opts,
      headers: { accept: "application/x-ndjson", ...(opts.headers || {}) },
    });
    if (res.statusCode < 200 || res.statusCode >= 300) throw errorFromResponse(res.statusCode, await readAll(res));
    let pending = "";
    try {
      for await (const chunk of res) {
        pending += chunk.toString("latin1");
        let nl;
        while ((nl = pending.indexOf("\n")) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line) yield parseLine(line);
        }
      }
    } catch (err) {
      if (err instanceof RunraError) throw err;
      throw new RunraError(0, "connection_error", `stream from runrad broke: ${err.message}`, { cause: err });
    } finally {
      // A consumer that stops early closes the connection; runrad then ends
      // whatever the stream was following.
      res.destroy();
    }
    if (pending.trim()) yield parseLine(pending.trim());
  }
}

// NDJSON lines are split as latin1 so a multi-byte UTF-8 character cut by a
// chunk boundary is never mangled; each whole line is decoded here.
function parseLine(line) {
  const text = Buffer.from(line, "latin1").toString("utf8");
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new RunraError(0, "protocol_error", `runrad sent a line that is not JSON: ${text.slice(0, 200)}`, {
      cause: err,
    });
  }
}

function readAll(res) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    res.on("data", (c) => chunks.push(c));
    res.on("end", () => resolve(Buffer.concat(chunks)));
    res.on("error", (err) =>
      reject(new RunraError(0, "connection_error", `reading runrad's answer failed: ${err.message}`, { cause: err })),
    );
  });
}
