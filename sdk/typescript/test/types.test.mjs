// Type-checks the .d.ts files by compiling test/types/*.ts with tsc --strict.
// The SDK has no dev dependencies, so this runs only when a TypeScript
// compiler is found: $RUNRA_TSC_DIR (a directory whose node_modules holds
// typescript and @types/node, and optionally openai), else this package's
// own node_modules. Otherwise it skips.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const sdkDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const roots = [process.env.RUNRA_TSC_DIR, sdkDir].filter(Boolean).map((d) => join(resolve(d), "node_modules"));
const nm = roots.find((d) => existsSync(join(d, "typescript", "package.json")));
const tsc = nm && join(nm, "typescript", "bin", "tsc");
const hasNodeTypes = nm && existsSync(join(nm, "@types", "node"));
const skip = !tsc ? "no TypeScript compiler (set RUNRA_TSC_DIR)" : !hasNodeTypes ? "no @types/node next to typescript" : false;

// The ESM entry's types of the openai package, from its package.json.
function openaiTypes() {
  const pkg = JSON.parse(readFileSync(join(nm, "openai", "package.json"), "utf8"));
  const dot = pkg.exports?.["."];
  const types = (typeof dot === "object" && dot.types) || pkg.types || "index.d.ts";
  return join(nm, "openai", types);
}

test("the .d.ts files accept the seed samples under tsc --strict", { skip }, () => {
  const files = [join(sdkDir, "test", "types", "seed.ts")];
  const hasOpenAI = existsSync(join(nm, "openai", "package.json"));
  if (hasOpenAI) files.push(join(sdkDir, "test", "types", "openai.ts"));
  const dir = mkdtempSync(join(tmpdir(), "runra-sdk-tsc-"));
  try {
    const config = {
      compilerOptions: {
        strict: true,
        noEmit: true,
        noUncheckedIndexedAccess: true,
        target: "es2022",
        module: "nodenext",
        moduleResolution: "nodenext",
        skipLibCheck: false,
        types: ["node"],
        typeRoots: [join(nm, "@types")],
        // openai and @types/node live beside the compiler, not in this package.
        paths: hasOpenAI ? { openai: [openaiTypes()] } : {},
      },
      files,
    };
    const cfg = join(dir, "tsconfig.json");
    writeFileSync(cfg, JSON.stringify(config, null, 2));
    try {
      execFileSync(process.execPath, [tsc, "-p", cfg], { stdio: "pipe" });
    } catch (err) {
      assert.fail(`tsc failed:\n${err.stdout}${err.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
