// The client itself: endpoint resolution, API keys over TCP, errors when
// runrad is not there or refuses, and the raw request escape hatch.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Runra, RunraError, resolveEndpoint, DEFAULT_SOCKET } from "@runra/sdk";
import { startDaemon, skipReason, freePort } from "../test-support/daemon.mjs";

test("endpoint: explicit options, then RUNRA_HOST, then RUNRA_SOCKET, then the default", () => {
  const env = { RUNRA_HOST: "http://10.0.0.1:8080", RUNRA_SOCKET: "/run/s.sock" };
  assert.deepEqual(resolveEndpoint({ socketPath: "/a.sock", baseUrl: "http://x:1" }, env), { socketPath: "/a.sock" });
  assert.deepEqual(resolveEndpoint({ baseUrl: "http://x:1/" }, env), { baseUrl: "http://x:1" });
  assert.deepEqual(resolveEndpoint({ baseUrl: "unix:///b.sock" }, env), { socketPath: "/b.sock" });
  assert.deepEqual(resolveEndpoint({}, env), { baseUrl: "http://10.0.0.1:8080" });
  assert.deepEqual(resolveEndpoint({}, { RUNRA_HOST: "unix:///var/run/r.sock", RUNRA_SOCKET: "/x" }), {
    socketPath: "/var/run/r.sock",
  });
  assert.deepEqual(resolveEndpoint({}, { RUNRA_SOCKET: "/run/s.sock" }), { socketPath: "/run/s.sock" });
  assert.deepEqual(resolveEndpoint({}, { RUNRA_SOCKET: "http://h:2" }), { baseUrl: "http://h:2" });
  assert.deepEqual(resolveEndpoint({}, {}), { socketPath: DEFAULT_SOCKET });
  assert.equal(DEFAULT_SOCKET, "/var/lib/runra/runra.sock");
  assert.throws(() => resolveEndpoint({}, { RUNRA_HOST: "ftp://x" }), TypeError);
  assert.throws(() => resolveEndpoint({}, { RUNRA_HOST: "unix://relative" }), TypeError);
});

test("Runra reads its endpoint and API key from the environment", () => {
  const saved = { ...process.env };
  try {
    process.env.RUNRA_HOST = "http://127.0.0.1:9";
    process.env.RUNRA_API_KEY = "rk_env";
    const r = new Runra();
    assert.deepEqual(r.endpoint, { baseUrl: "http://127.0.0.1:9" });
    assert.equal(r.apiKey, "rk_env");
    assert.equal(new Runra({ sandbox: { provider: "runra-sandbox", apiKey: "rk_opt" } }).apiKey, "rk_opt");
    // The seed passes process.env.RUNRA_API_KEY, which may be undefined.
    delete process.env.RUNRA_API_KEY;
    assert.equal(new Runra({ sandbox: { provider: "runra-sandbox", apiKey: process.env.RUNRA_API_KEY } }).apiKey, undefined);
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  assert.throws(() => new Runra({ sandbox: { provider: "e2b" } }), TypeError);
});

test("an unreachable runrad is a RunraError with status 0", async () => {
  const r = new Runra({ socketPath: "/nonexistent/runra.sock" });
  await assert.rejects(r.health(), (err) => {
    assert.ok(err instanceof RunraError);
    assert.equal(err.status, 0);
    assert.equal(err.code, "connection_error");
    assert.match(err.message, /nonexistent\/runra\.sock/);
    return true;
  });
  const port = await freePort();
  await assert.rejects(new Runra({ baseUrl: `http://127.0.0.1:${port}` }).sandboxes.list(), (err) => err.status === 0);
});

const skip = skipReason();
let daemon;
let port;

before(async () => {
  if (skip) return;
  port = await freePort();
  daemon = await startDaemon({ listen: `127.0.0.1:${port}` });
});

after(async () => {
  if (daemon) await daemon.stop();
});

test("health over the unix socket", { skip }, async () => {
  const h = await new Runra({ socketPath: daemon.socket }).health();
  assert.equal(h.status, "ok");
  assert.equal(typeof h.version, "string");
  assert.equal(h.backends.ns.available, true);
});

test("RUNRA_HOST=unix:// and RUNRA_SOCKET reach the daemon", { skip }, async () => {
  const saved = { host: process.env.RUNRA_HOST, sock: process.env.RUNRA_SOCKET };
  try {
    delete process.env.RUNRA_SOCKET;
    process.env.RUNRA_HOST = `unix://${daemon.socket}`;
    assert.equal((await new Runra().health()).status, "ok");
    delete process.env.RUNRA_HOST;
    process.env.RUNRA_SOCKET = daemon.socket;
    assert.equal((await new Runra().health()).status, "ok");
  } finally {
    if (saved.host === undefined) delete process.env.RUNRA_HOST;
    else process.env.RUNRA_HOST = saved.host;
    if (saved.sock === undefined) delete process.env.RUNRA_SOCKET;
    else process.env.RUNRA_SOCKET = saved.sock;
  }
});

test("over TCP the API key is sent as a bearer token; tenants see only their sandboxes", { skip }, async () => {
  const admin = new Runra({ socketPath: daemon.socket });
  const k1 = await admin.request("POST", "/v1/keys", { body: { name: "one" } });
  const k2 = await admin.request("POST", "/v1/keys", { body: { name: "two" } });
  const baseUrl = `http://127.0.0.1:${port}`;

  await assert.rejects(new Runra({ baseUrl }).sandboxes.list(), (err) => {
    assert.ok(err instanceof RunraError);
    assert.equal(err.status, 401);
    assert.equal(err.code, "unauthorized");
    return true;
  });
  await assert.rejects(new Runra({ baseUrl, apiKey: "rk_wrong_key" }).sandboxes.list(), (e) => e.status === 401);

  const one = new Runra({ baseUrl, sandbox: { provider: "runra-sandbox", apiKey: k1.key } });
  const two = new Runra({ baseUrl, apiKey: k2.key });
  const sb = await one.sandboxes.create({ metadata: { tenant: "one" } });
  try {
    assert.equal((await sb.exec("echo over tcp")).stdout, "over tcp\n");
    assert.deepEqual((await one.sandboxes.list()).map((s) => s.id), [sb.id]);
    assert.deepEqual(await two.sandboxes.list(), []);
    await assert.rejects(two.sandboxes.get(sb.id), (e) => e instanceof RunraError && e.status === 404);
    // /v1/keys is for the unix socket only.
    await assert.rejects(one.request("GET", "/v1/keys"), (e) => e.status === 403);
  } finally {
    await sb.kill();
  }
});

test("request() is a raw call; errors carry the API's code", { skip }, async () => {
  const r = new Runra({ socketPath: daemon.socket });
  const tools = await r.request("GET", "/v1/tools", { query: { format: "mcp" } });
  assert.equal(tools.tools.length, 7);
  await assert.rejects(r.request("GET", "/v1/sandboxes", { query: { bogus: "1" } }), (err) => {
    assert.equal(err.status, 400);
    assert.equal(err.code, "invalid_argument");
    assert.match(err.message, /bogus/);
    return true;
  });
  await assert.rejects(r.request("GET", "/v1/nowhere"), (err) => err instanceof RunraError && err.status === 404);
});
