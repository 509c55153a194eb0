// Every Sandbox call against a real runrad: lifecycle, exec (whole and
// streamed), files, background processes, ports with a real HTTP server
// inside, search, pause/resume, setTimeout, and the errors each can give.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { Runra, RunraError, Sandbox } from "@runra/sdk";
import { startDaemon, skipReason } from "../test-support/daemon.mjs";

const skip = skipReason();
let daemon;
let runra;
let sb;

before(async () => {
  if (skip) return;
  daemon = await startDaemon();
  runra = new Runra({ socketPath: daemon.socket });
  sb = await runra.sandboxes.create({
    resources: { cpu: 1, memoryMb: 512, diskMb: 256, pids: 128 },
    metadata: { suite: "sandbox", owner: "sdk-test" },
    env: { GREETING: "hello" },
    secrets: { TOKEN: "s3cret" },
  });
});

after(async () => {
  if (daemon) await daemon.stop();
});

// Rejects with a RunraError of this status and code.
async function rejectsWith(promise, status, code) {
  await assert.rejects(promise, (err) => {
    assert.ok(err instanceof RunraError, `expected a RunraError, got ${err}`);
    assert.equal(err.status, status, err.message);
    if (code) assert.equal(err.code, code, err.message);
    assert.equal(typeof err.message, "string");
    assert.ok(err.message.length > 0);
    return true;
  });
}

function httpGet(url) {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode, body }));
      })
      .on("error", reject);
  });
}

test("create returns a running Sandbox with its spec", { skip }, async () => {
  assert.ok(sb instanceof Sandbox);
  assert.match(sb.id, /^[A-Za-z0-9_-]+$/);
  assert.equal(sb.state, "running");
  assert.equal(sb.info.image, "host");
  assert.deepEqual(sb.info.resources, { cpu: 1, memoryMb: 512, diskMb: 256, pids: 128 });
  assert.deepEqual(sb.metadata, { suite: "sandbox", owner: "sdk-test" });
  // Secrets are never returned; env names are.
  assert.deepEqual(sb.info.envKeys, ["GREETING"]);
  assert.equal(JSON.stringify(sb).includes("s3cret"), false);
});

test("get, list with a metadata filter, refresh", { skip }, async () => {
  const other = await runra.sandboxes.create({ metadata: { suite: "other" } });
  try {
    const got = await runra.sandboxes.get(sb.id);
    assert.equal(got.id, sb.id);
    const all = await runra.sandboxes.list();
    assert.deepEqual(all.map((s) => s.id).sort(), [sb.id, other.id].sort());
    const mine = await runra.sandboxes.list({ metadata: { suite: "sandbox", owner: "sdk-test" } });
    assert.deepEqual(mine.map((s) => s.id), [sb.id]);
    assert.deepEqual(await runra.sandboxes.list({ metadata: { suite: "nope" } }), []);
    assert.equal((await sb.refresh()).state, "running");
  } finally {
    await other.kill();
  }
  await rejectsWith(runra.sandboxes.get(other.id), 404, "not_found");
});

test("exec: command, argv, exit code, stderr, env, secrets, cwd, stdin", { skip }, async () => {
  const r = await sb.exec("echo out; echo err >&2; exit 3");
  assert.equal(r.exitCode, 3);
  assert.equal(r.stdout, "out\n");
  assert.equal(r.stderr, "err\n");
  assert.equal(r.timedOut, false);
  assert.equal(typeof r.durationMs, "number");

  const argv = await sb.exec(["printf", "%s|", "a b", "$HOME"]);
  assert.equal(argv.stdout, "a b|$HOME|");

  const env = await sb.exec('echo "$GREETING $TOKEN $EXTRA"', { env: { EXTRA: "x" } });
  assert.equal(env.stdout, "hello s3cret x\n");

  assert.equal((await sb.exec("pwd")).stdout, "/workspace\n");
  assert.equal((await sb.exec("pwd", { cwd: "/tmp" })).stdout, "/tmp\n");
  assert.equal((await sb.exec("cat", { stdin: "from stdin" })).stdout, "from stdin");
  assert.equal((await sb.exec(["cat"], { stdin: Buffer.from("bytes") })).stdout, "bytes");

  // Output that is not ASCII survives the base64 round trip.
  assert.equal((await sb.exec("printf 'h\\303\\251 \\342\\234\\223'")).stdout, "hé ✓");
});

test("exec: timeoutMs kills the command and says so", { skip }, async () => {
  const r = await sb.exec("sleep 10", { timeoutMs: 300 });
  assert.equal(r.timedOut, true);
  assert.notEqual(r.exitCode, 0);
  assert.ok(r.durationMs < 5000);
});

test("exec: onStdout/onStderr stream the output as it comes", { skip }, async () => {
  const out = [];
  const err = [];
  const t0 = Date.now();
  let firstAt = 0;
  const r = await sb.exec("echo one; sleep 0.5; echo two; echo bad >&2; exit 2", {
    onStdout: (t) => {
      if (!firstAt) firstAt = Date.now();
      out.push(t);
    },
    onStderr: (t) => err.push(t),
  });
  assert.equal(out.join(""), "one\ntwo\n");
  assert.equal(err.join(""), "bad\n");
  assert.equal(r.stdout, "one\ntwo\n");
  assert.equal(r.stderr, "bad\n");
  assert.equal(r.exitCode, 2);
  // The first line arrived before the command finished.
  assert.ok(firstAt - t0 < Date.now() - t0 - 300, "stdout was not streamed");
});

test("exec errors: an empty argv is a TypeError, a bad timeoutMs a 400 RunraError", { skip }, async () => {
  await assert.rejects(sb.exec([]), TypeError);
  await assert.rejects(sb.exec("true", { timeoutMs: 0 }), (e) => e instanceof RunraError && e.status === 400);
});

test("files: write, read, readBytes, list, stat, exists, mkdir, move, remove", { skip }, async () => {
  const w = await sb.files.write("notes/a.txt", "héllo\n");
  assert.equal(w.size, Buffer.byteLength("héllo\n"));
  assert.equal(await sb.files.read("notes/a.txt"), "héllo\n");
  assert.equal(await sb.files.read("/workspace/notes/a.txt"), "héllo\n");

  const bin = Buffer.from([0, 1, 2, 255, 254, 10]);
  await sb.files.write("notes/b.bin", bin, { mode: 0o600 });
  assert.deepEqual(await sb.files.readBytes("notes/b.bin"), bin);
  assert.deepEqual(await sb.files.readBytes("notes/b.bin", { offset: 3, limit: 2 }), Buffer.from([255, 254]));
  assert.equal((await sb.files.stat("notes/b.bin")).mode, 0o600);

  await sb.files.write("notes/a.txt", "more\n", { append: true });
  assert.equal(await sb.files.read("notes/a.txt"), "héllo\nmore\n");

  // The sandbox sees what the SDK wrote.
  assert.equal((await sb.exec("cat notes/a.txt")).stdout, "héllo\nmore\n");

  const entries = await sb.files.list("notes");
  assert.deepEqual(
    entries.map((e) => [e.name, e.type]),
    [["a.txt", "file"], ["b.bin", "file"]],
  );
  assert.equal(entries[1].size, 6);
  assert.ok((await sb.files.list()).some((e) => e.name === "notes" && e.type === "dir"));

  const dir = await sb.files.mkdir("deep/er/dir");
  assert.equal(dir.type, "dir");
  assert.equal(dir.path, "/workspace/deep/er/dir");
  await rejectsWith(sb.files.mkdir("x/y", { parents: false }), 404);

  const moved = await sb.files.move("notes/a.txt", "deep/a.txt");
  assert.equal(moved.path, "/workspace/deep/a.txt");
  assert.equal(await sb.files.exists("notes/a.txt"), false);
  assert.equal(await sb.files.exists("deep/a.txt"), true);

  await rejectsWith(sb.files.remove("deep"), 409, "not_empty");
  await sb.files.remove("deep", { recursive: true });
  assert.equal(await sb.files.exists("deep"), false);
  await sb.files.remove("notes/b.bin");

  await rejectsWith(sb.files.read("nope.txt"), 404, "not_found");
  await rejectsWith(sb.files.list("nope"), 404, "not_found");
  await assert.rejects(sb.files.write("x", 42), TypeError);
});

test("search finds matches with their line and column", { skip }, async () => {
  await sb.files.write("src/login.js", "const a = 1;\nfunction login(user) {\n  return user;\n}\n");
  await sb.files.write("src/other.js", "// nothing here\n");
  const r = await sb.search("function\\s+login", { path: "src" });
  assert.equal(r.truncated, false);
  assert.equal(r.matches.length, 1);
  assert.deepEqual(
    { path: r.matches[0].path, line: r.matches[0].line, column: r.matches[0].column, text: r.matches[0].text },
    { path: "src/login.js", line: 2, column: 1, text: "function login(user) {" },
  );
  assert.equal((await sb.search("LOGIN", { ignoreCase: true, path: "src" })).matches.length, 1);
  await rejectsWith(sb.search("(unclosed"), 400, "invalid_argument");
});

test("processes: start, list, logs, wait, kill", { skip }, async () => {
  const p = await sb.processes.start("echo out; echo err >&2; exit 4", { tag: "short", env: { X: "1" }, cwd: "/tmp" });
  assert.equal(p.tag, "short");
  assert.equal(typeof p.pid, "number");
  const done = await sb.processes.wait("short");
  assert.equal(done.exitCode, 4);
  assert.deepEqual(await sb.processes.logs("short"), { stdout: "out\n", stderr: "err\n" });
  assert.deepEqual(await sb.processes.logs(p.pid), { stdout: "out\n", stderr: "err\n" });

  const env = await sb.processes.start(["sh", "-c", 'echo "$X $(pwd)"'], { env: { X: "42" }, cwd: "/tmp" });
  await sb.processes.wait(env);
  assert.equal((await sb.processes.logs(env)).stdout, "42 /tmp\n");

  const long = await sb.processes.start("sleep 60", { tag: "sleeper" });
  await rejectsWith(sb.processes.start("sleep 60", { tag: "sleeper" }), 409);
  await rejectsWith(sb.processes.wait("sleeper", { timeoutMs: 100 }), 504, "timeout");
  const listed = await sb.processes.list();
  assert.ok(listed.some((x) => x.pid === long.pid && x.state === "running"));
  assert.ok(listed.some((x) => x.tag === "short" && x.state === "exited" && x.exitCode === 4));
  assert.deepEqual(await sb.processes.kill("sleeper", "KILL"), { signal: 9 });
  const killed = await sb.processes.wait(long);
  assert.equal(killed.signal, 9);

  await rejectsWith(sb.processes.logs("nosuch"), 404, "not_found");
  await rejectsWith(sb.processes.kill(99999, 9), 404, "not_found");
  await rejectsWith(sb.processes.kill("sleeper", "NOTASIGNAL"), 400);
});

test("ports: a real HTTP server inside, reached through expose's url", { skip }, async () => {
  await sb.files.write("www/index.html", "<h1>from the sandbox</h1>\n");
  const server = await sb.processes.start("exec python3 -m http.server 8000 --bind 127.0.0.1 --directory www", {
    tag: "web",
  });
  try {
    const port = await sb.ports.expose(8000);
    assert.equal(port.port, 8000);
    assert.equal(port.url, `http://127.0.0.1:${port.hostPort}`);
    let res;
    for (let i = 0; ; i++) {
      try {
        res = await httpGet(port.url + "/index.html");
        break;
      } catch (err) {
        // The server may not listen yet: the relay closes the connection.
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert.equal(res.status, 200);
    assert.equal(res.body, "<h1>from the sandbox</h1>\n");
    assert.deepEqual(await sb.ports.list(), [port]);
    await rejectsWith(sb.ports.expose(8000), 409);
    await sb.ports.remove(8000);
    assert.deepEqual(await sb.ports.list(), []);
    await rejectsWith(sb.ports.remove(8000), 404, "not_found");
    await rejectsWith(sb.ports.expose(70000), 400, "invalid_argument");
  } finally {
    await sb.processes.kill(server, "KILL");
  }
});

test("pause and resume keep processes, files and the id; paused calls are 409", { skip }, async () => {
  await sb.files.write("state.txt", "kept");
  const counter = await sb.processes.start("i=0; while true; do i=$((i+1)); echo $i > /tmp/count; sleep 0.05; done", {
    tag: "counter",
  });
  await new Promise((r) => setTimeout(r, 200));

  const paused = await sb.pause();
  assert.equal(paused, sb);
  assert.equal(sb.state, "paused");
  assert.equal((await runra.sandboxes.get(sb.id)).state, "paused");
  await rejectsWith(sb.exec("true"), 409, "conflict");
  await rejectsWith(sb.files.read("state.txt"), 409, "conflict");
  // Pausing a paused sandbox is fine.
  assert.equal((await runra.sandboxes.pause(sb.id)).state, "paused");

  const resumed = await runra.sandboxes.resume(sb.id);
  assert.ok(resumed instanceof Sandbox);
  assert.equal(resumed.id, sb.id);
  assert.equal(resumed.state, "running");
  assert.equal(await resumed.files.read("state.txt"), "kept");
  const list = await resumed.processes.list();
  assert.ok(list.some((p) => p.pid === counter.pid && p.state === "running"), "the background process survived");
  await sb.refresh();
  assert.equal(sb.state, "running");

  await sb.pause();
  await sb.resume();
  assert.equal(sb.state, "running");
  await sb.processes.kill("counter", 9);
});

test("autoResume: work on a paused sandbox resumes it", { skip }, async () => {
  const s = await runra.sandboxes.create({ autoResume: true });
  try {
    await s.pause();
    assert.equal((await s.exec("echo awake")).stdout, "awake\n");
    assert.equal((await s.refresh()).state, "running");
  } finally {
    await s.kill();
  }
});

test("setTimeout sets the lifetime; update changes onTimeout", { skip }, async () => {
  await sb.setTimeout(120_000);
  assert.equal(sb.info.timeoutMs, 120_000);
  const left = Date.parse(sb.info.expiresAt) - Date.now();
  assert.ok(left > 100_000 && left <= 121_000, `expires in ${left} ms`);
  await sb.update({ onTimeout: "pause" });
  assert.equal(sb.info.onTimeout, "pause");
  await sb.setTimeout(0);
  assert.equal(sb.info.expiresAt, null);
  await rejectsWith(sb.update({}), 400, "invalid_argument");
});

test("a sandbox dies at its timeout", { skip }, async () => {
  const s = await runra.sandboxes.create({ timeoutMs: 500 });
  await new Promise((r) => setTimeout(r, 1500));
  await rejectsWith(runra.sandboxes.get(s.id), 404, "not_found");
});

test("create errors: unknown fields and bad values are 400, unknown or unreachable images 404/502", { skip }, async () => {
  await rejectsWith(runra.sandboxes.create({ imagee: "host" }), 400, "invalid_argument");
  await rejectsWith(runra.sandboxes.create({ resources: { cpu: 0 } }), 400, "invalid_argument");
  await rejectsWith(runra.sandboxes.create({ image: "Not A Ref" }), 400, "invalid_argument");
  // docker.io is the fixture registry (test.sh), which has no such image,
  // or a closed loopback port.
  if (process.env.RUNRA_TEST_REGISTRY)
    await rejectsWith(runra.sandboxes.create({ image: "no-such-image:1" }), 404, "not_found");
  else
    await rejectsWith(runra.sandboxes.create({ image: "no-such-image:1" }), 502, "registry_unavailable");
  assert.deepEqual((await runra.sandboxes.list({ metadata: { suite: "sandbox" } })).length, 1, "nothing half-created");
});

test("kill and destroy remove the sandbox; later calls are 404", { skip }, async () => {
  const a = await runra.sandboxes.create();
  const b = await runra.sandboxes.create();
  const c = await runra.sandboxes.create();
  await a.kill();
  await runra.sandboxes.destroy(b.id);
  await runra.sandboxes.kill(c);
  for (const s of [a, b, c]) {
    await rejectsWith(runra.sandboxes.get(s.id), 404, "not_found");
    await rejectsWith(s.exec("true"), 404, "not_found");
  }
  await rejectsWith(a.kill(), 404, "not_found");
  await rejectsWith(runra.sandboxes.resume("nosuchsandbox"), 404, "not_found");
});
