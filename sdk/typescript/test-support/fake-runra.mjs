#!/usr/bin/env node
// A stand-in for `runra agent run` (which is being written): it appends its
// argv, where its stdin points and the API key it got to $FAKE_RUNRA_LOG,
// and prints a line per stream. Given --sandbox and --socket it also leaves
// the task in that real sandbox (/workspace/.agent-task), through the SDK,
// so a test can see the run reached the sandbox it named.

import { appendFileSync, realpathSync } from "node:fs";

const argv = process.argv.slice(2);
let stdin = null;
try {
  stdin = realpathSync("/proc/self/fd/0");
} catch {
  stdin = "unknown";
}
if (process.env.FAKE_RUNRA_LOG) {
  appendFileSync(
    process.env.FAKE_RUNRA_LOG,
    JSON.stringify({ argv, stdin, apiKey: process.env.RUNRA_API_KEY ?? null }) + "\n",
  );
}

const flag = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const task = argv[argv.length - 1];
const sandbox = flag("--sandbox");
const socket = flag("--socket");
if (sandbox && socket && !socket.includes("://")) {
  const { Runra } = await import("../src/index.js");
  const runra = new Runra({ socketPath: socket });
  const sb = await runra.sandboxes.get(sandbox);
  await sb.files.write("/workspace/.agent-task", `${flag("--agent")}: ${task}\n`);
}

process.stdout.write(`fake ${flag("--agent")} (${flag("--model")}) did: ${task}\n`);
process.stderr.write("fake agent progress\n");
process.exit(Number(process.env.FAKE_RUNRA_EXIT || 0));
