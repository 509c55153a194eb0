// The fake runra CLI: where it is and what it recorded.

import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

export const fakeRunra = resolve(dirname(fileURLToPath(import.meta.url)), "fake-runra.mjs");
chmodSync(fakeRunra, 0o755);

/** Points the fake at a fresh log; returns a reader of its recorded calls. */
export function fakeLog() {
  const dir = mkdtempSync(join(tmpdir(), "runra-fake-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "calls.jsonl");
  process.env.FAKE_RUNRA_LOG = file;
  return {
    file,
    calls() {
      if (!existsSync(file)) return [];
      return readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    },
  };
}
