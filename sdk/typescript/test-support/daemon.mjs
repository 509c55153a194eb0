// Starts a real runrad for a test file in a fresh state directory and stops
// it with SIGTERM afterwards. Tests skip (with the reason) when not root or
// when the built runrad is missing.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, openSync, closeSync, rmSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import http from "node:http";

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const buildDir = process.env.RUNRA_BUILD ? resolve(process.env.RUNRA_BUILD) : resolve(sdkDir, "..", "..", "build");
export const runradBin = join(buildDir, "src", "daemon", "runrad");
export const runraBin = join(buildDir, "src", "cli", "runra");

/** Why the daemon tests cannot run here, or false when they can (node:test skips on null). */
export function skipReason() {
  if (typeof process.getuid === "function" && process.getuid() !== 0) return "runrad needs root";
  if (!existsSync(runradBin)) return `no runrad at ${runradBin} (set RUNRA_BUILD)`;
  return false;
}

function get(socketPath, path) {
  return new Promise((res, rej) => {
    const req = http.request({ socketPath, path, method: "GET", agent: false }, (r) => {
      const chunks = [];
      r.on("data", (c) => chunks.push(c));
      r.on("end", () => res({ status: r.statusCode, body: Buffer.concat(chunks).toString() }));
    });
    req.on("error", rej);
    req.end();
  });
}

/** A TCP port that was free a moment ago, for runrad --listen. */
export function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/**
 * Starts runrad; resolves with {socket, dir, listen, stop()} once GET
 * /v1/health answers. options.listen: "127.0.0.1:PORT" to serve TCP too.
 */
export async function startDaemon(options = {}) {
  const dir = mkdtempSync(join(tmpdir(), "runra-sdk-test-"));
  const state = join(dir, "state");
  const socket = join(state, "runra.sock");
  const log = join(dir, "runrad.log");
  const args = [
    "--state-dir", state,
    "--pool", "0",
    "--no-network",
    "--no-keep-sandboxes",
    "--secrets-key", join(dir, "k"),
  ];
  // Tests send traffic only to loopback: Docker Hub is the fixture
  // registry test.sh serves ($RUNRA_TEST_REGISTRY), or else a closed
  // loopback port.
  const config = join(dir, "runrad.json");
  const reg = process.env.RUNRA_TEST_REGISTRY;
  const registries = {
    "docker.io": { mirrors: [`http://${reg ?? "127.0.0.1:9"}`], mirrorsOnly: true },
  };
  if (reg) registries[reg] = { insecure: true };
  writeFileSync(config, JSON.stringify({ registries }));
  args.push("--config", config);
  if (options.listen) args.push("--listen", options.listen);
  const fd = openSync(log, "a");
  const child = spawn(runradBin, args, { stdio: ["ignore", fd, fd] });
  closeSync(fd);
  let exited = null;
  child.on("exit", (code, signal) => (exited = { code, signal }));
  // If the test process ends without its after() hook (a crash, the runner
  // killing it), take runrad along; unref() lets such a process end at all.
  child.unref();
  const onExit = () => {
    if (exited === null) child.kill("SIGKILL");
  };
  const onSignal = (sig) => {
    onExit();
    process.exit(128 + (sig === "SIGINT" ? 2 : 15));
  };
  process.on("exit", onExit);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const deadline = Date.now() + 15000;
  for (;;) {
    if (exited) throw new Error(`runrad exited (${JSON.stringify(exited)}): ${readFileSync(log, "utf8")}`);
    try {
      const r = await get(socket, "/v1/health");
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`runrad did not answer /v1/health within 15 s: ${readFileSync(log, "utf8")}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    socket,
    dir,
    listen: options.listen,
    log: () => readFileSync(log, "utf8"),
    async stop() {
      process.off("exit", onExit);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      if (exited === null) {
        const done = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 20000);
        await done;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
      return exited;
    },
  };
}
