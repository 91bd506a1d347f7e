#!/usr/bin/env node
// Are the types wrong? @arethetypeswrong/cli on the tarball of every packages/* directory, as
// pnpm would publish it. Node 16+ resolution only (engines: node >= 20.19; node10 has no
// `exports`). Entry points without a `require` condition (ESM-only, such as
// @maaskit/settlement/conformance, which needs vitest) are checked with the esm-only profile.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const out = mkdtempSync(join(tmpdir(), "maaskit-attw-"));
let failed = false;
try {
  for (const dir of readdirSync(join(root, "packages")).sort()) {
    const pkgDir = join(root, "packages", dir);
    if (!existsSync(join(pkgDir, "package.json"))) continue;
    const manifest = JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8"));
    const esmOnly = Object.entries(manifest.exports ?? {})
      .filter(([, t]) => typeof t === "object" && t.import !== undefined && t.require === undefined)
      .map(([subpath]) => subpath);
    const before = new Set(readdirSync(out));
    execFileSync("pnpm", ["pack", "--pack-destination", out], { cwd: pkgDir, stdio: "ignore" });
    const tarball = join(
      out,
      readdirSync(out).find((f) => !before.has(f)),
    );
    const runs = [
      ["--profile", "node16", ...(esmOnly.length ? ["--exclude-entrypoints", ...esmOnly] : [])],
    ];
    if (esmOnly.length) runs.push(["--profile", "esm-only", "--entrypoints", ...esmOnly]);
    for (const args of runs) {
      try {
        execFileSync("attw", [tarball, "--format", "table-flipped", ...args], { stdio: "inherit" });
      } catch {
        failed = true;
      }
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
