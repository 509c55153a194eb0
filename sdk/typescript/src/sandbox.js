// Sandbox handles and the calls on them: exec, files, processes, ports, search
// and lifecycle. Each method is one API call; nothing is cached but `info`.

import { StringDecoder } from "node:string_decoder";
import { RunraError } from "./errors.js";

const enc = encodeURIComponent;

// A process is named by its pid or its tag; a Process record works too.
function procRef(ref) {
  if (ref && typeof ref === "object") {
    if (ref.pid !== undefined) return String(ref.pid);
    if (ref.tag) return String(ref.tag);
  }
  if (typeof ref === "number" || (typeof ref === "string" && ref !== "")) return String(ref);
  throw new TypeError("a process is named by its pid, its tag, or the object processes.start returned");
}

// exec(command) runs through /bin/sh -c; exec([argv...]) runs argv as is.
function commandBody(command) {
  if (typeof command === "string") return { command };
  if (Array.isArray(command) && command.length > 0) return { argv: command.map(String) };
  throw new TypeError("the command is a string (run by /bin/sh -c) or a non-empty argv array");
}

function pick(obj, keys) {
  const out = {};
  if (!obj) return out;
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  return out;
}

function execResult(r, stdout, stderr) {
  return {
    exitCode: r.exitCode,
    signal: r.signal ?? 0,
    stdout,
    stderr,
    timedOut: !!r.timedOut,
    oomKilled: !!r.oomKilled,
    truncated: !!r.truncated,
    durationMs: r.durationMs,
  };
}

class Files {
  constructor(sandbox) {
    this._sb = sandbox;
  }

  get _path() {
    return `/v1/sandboxes/${enc(this._sb.id)}/files`;
  }

  async readBytes(path, options = {}) {
    const { body } = await this._sb._t.request("GET", this._path, {
      query: { path, offset: options.offset, limit: options.limit },
    });
    return body;
  }

  async read(path, options = {}) {
    return (await this.readBytes(path, options)).toString(options.encoding || "utf8");
  }

  async write(path, content, options = {}) {
    let body = content;
    if (typeof content === "string") body = Buffer.from(content, "utf8");
    else if (!(content instanceof Uint8Array)) throw new TypeError("files.write takes a string, a Buffer or a Uint8Array");
    const mode = typeof options.mode === "number" ? options.mode.toString(8) : options.mode;
    return this._sb._t.json("PUT", this._path, {
      query: { path, mode, append: options.append ? "true" : undefined },
      body,
      headers: { "content-type": "application/octet-stream" },
    });
  }

  async list(dir = ".") {
    const r = await this._sb._t.json("GET", this._path + "/list", { query: { path: dir } });
    return r.entries;
  }

  async stat(path) {
    return this._sb._t.json("GET", this._path + "/stat", { query: { path } });
  }

  async exists(path) {
    try {
      await this.stat(path);
      return true;
    } catch (err) {
      if (err instanceof RunraError && err.status === 404) return false;
      throw err;
    }
  }

  async remove(path, options = {}) {
    await this._sb._t.request("DELETE", this._path, {
      query: { path, recursive: options.recursive ? "true" : undefined },
    });
  }

  // Like mkdir -p unless {parents: false}.
  async mkdir(path, options = {}) {
    return this._sb._t.json("POST", this._path + "/mkdir", {
      body: { path, parents: options.parents ?? true, ...pick(options, ["mode"]) },
    });
  }

  async move(from, to, options = {}) {
    return this._sb._t.json("POST", this._path + "/move", {
      body: { from, to, ...pick(options, ["overwrite"]) },
    });
  }
}

class Processes {
  constructor(sandbox) {
    this._sb = sandbox;
  }

  get _path() {
    return `/v1/sandboxes/${enc(this._sb.id)}/processes`;
  }

  async start(command, options = {}) {
    return this._sb._t.json("POST", this._path, {
      body: { ...commandBody(command), ...pick(options, ["tag", "env", "cwd", "pty"]) },
    });
  }

  async list() {
    return (await this._sb._t.json("GET", this._path)).processes;
  }

  // The output kept so far (the last 1 MiB), decoded as UTF-8.
  async logs(ref, options = {}) {
    const out = { stdout: [], stderr: [] };
    const query = { tail: options.tail };
    for await (const ev of this._sb._t.ndjson("GET", `${this._path}/${enc(procRef(ref))}/logs`, { query })) {
      if ((ev.type === "stdout" || ev.type === "stderr") && ev.data) out[ev.type].push(Buffer.from(ev.data, "base64"));
    }
    return { stdout: Buffer.concat(out.stdout).toString("utf8"), stderr: Buffer.concat(out.stderr).toString("utf8") };
  }

  async kill(ref, signal = "TERM") {
    return this._sb._t.json("POST", `${this._path}/${enc(procRef(ref))}/signal`, { body: { signal } });
  }

  async wait(ref, options = {}) {
    return this._sb._t.json("POST", `${this._path}/${enc(procRef(ref))}/wait`, {
      body: pick(options, ["timeoutMs"]),
    });
  }

  async sendStdin(ref, data, options = {}) {
    const body = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    return this._sb._t.json("POST", `${this._path}/${enc(procRef(ref))}/stdin`, {
      query: { close: options.close ? "true" : undefined },
      body,
      headers: { "content-type": "application/octet-stream" },
    });
  }
}

class Ports {
  constructor(sandbox) {
    this._sb = sandbox;
  }

  get _path() {
    return `/v1/sandboxes/${enc(this._sb.id)}/ports`;
  }

  async expose(port) {
    return this._sb._t.json("POST", this._path, { body: { port } });
  }

  async list() {
    return (await this._sb._t.json("GET", this._path)).ports;
  }

  async remove(port) {
    await this._sb._t.request("DELETE", `${this._path}/${enc(String(port))}`);
  }
}

export class Sandbox {
  constructor(transport, info) {
    Object.defineProperty(this, "_t", { value: transport, enumerable: false });
    this.info = info;
    this.files = new Files(this);
    this.processes = new Processes(this);
    this.ports = new Ports(this);
  }

  get id() {
    return this.info.id;
  }

  get state() {
    return this.info.state;
  }

  get metadata() {
    return this.info.metadata;
  }

  get _path() {
    return `/v1/sandboxes/${enc(this.id)}`;
  }

  async exec(command, options = {}) {
    const body = {
      ...commandBody(command),
      ...pick(options, ["cwd", "env", "timeoutMs", "maxOutputBytes"]),
    };
    if (options.stdin !== undefined) {
      body.stdin = typeof options.stdin === "string" ? options.stdin : Buffer.from(options.stdin).toString("utf8");
    }
    if (options.onStdout || options.onStderr) return this._execStream(body, options);
    // base64 keeps output that is not valid UTF-8 intact up to here; the
    // strings returned are decoded as UTF-8 all the same.
    body.encoding = "base64";
    const r = await this._t.json("POST", this._path + "/exec", { body });
    const decode = (s) => (r.encoding === "base64" ? Buffer.from(s || "", "base64").toString("utf8") : s || "");
    return execResult(r, decode(r.stdout), decode(r.stderr));
  }

  // Streaming exec: output reaches onStdout/onStderr as it is produced, and
  // the whole of it is returned at the end as well.
  async _execStream(body, options) {
    const streams = {
      stdout: { dec: new StringDecoder("utf8"), text: "", cb: options.onStdout },
      stderr: { dec: new StringDecoder("utf8"), text: "", cb: options.onStderr },
    };
    const emit = (s, text) => {
      if (!text) return;
      s.text += text;
      if (s.cb) s.cb(text);
    };
    for await (const ev of this._t.ndjson("POST", this._path + "/exec", { body: { ...body, stream: true } })) {
      if (ev.type === "stdout" || ev.type === "stderr") {
        const s = streams[ev.type];
        emit(s, s.dec.write(Buffer.from(ev.data || "", "base64")));
      } else if (ev.type === "exit") {
        for (const s of Object.values(streams)) emit(s, s.dec.end());
        return execResult(ev, streams.stdout.text, streams.stderr.text);
      } else if (ev.type === "error") {
        const e = ev.error?.error ?? ev.error ?? {};
        throw new RunraError(502, e.code || "sandbox_unavailable", e.message || "the exec stream ended with an error");
      }
    }
    throw new RunraError(0, "protocol_error", "the exec stream ended without an exit event");
  }

  async search(pattern, options = {}) {
    return this._t.json("POST", this._path + "/search", {
      body: {
        pattern,
        ...pick(options, ["path", "glob", "ignoreCase", "noIgnore", "maxResults", "contextLines", "timeoutMs"]),
      },
    });
  }

  async refresh() {
    this.info = await this._t.json("GET", this._path);
    return this;
  }

  async pause() {
    this.info = await this._t.json("POST", this._path + "/pause");
    return this;
  }

  async resume() {
    this.info = await this._t.json("POST", this._path + "/resume");
    return this;
  }

  // Changes the network policy, the lifetime or the timeout action.
  async update(changes) {
    this.info = await this._t.json("PATCH", this._path, {
      body: pick(changes, ["network", "timeoutMs", "onTimeout"]),
    });
    return this;
  }

  // The sandbox now lives ms more milliseconds (0: no limit).
  async setTimeout(ms) {
    return this.update({ timeoutMs: ms });
  }

  async kill() {
    await this._t.request("DELETE", this._path);
  }

  async destroy() {
    return this.kill();
  }

  toJSON() {
    return this.info;
  }
}
