import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";

// The repository is self-contained: its docs link only to files it has, and nothing cites
// design notes that live outside it.

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../..", import.meta.url));

async function trackedFiles(): Promise<string[]> {
  const { stdout } = await run("git", ["ls-files", "--cached", "--others", "--exclude-standard"], {
    cwd: repo,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout.split("\n").filter((f) => f !== "" && existsSync(join(repo, f)));
}

describe("self-contained repository", () => {
  test("behavior: every relative link in a markdown file points to a file inside the repository", async () => {
    const broken: string[] = [];
    for (const file of (await trackedFiles()).filter((f) => f.endsWith(".md"))) {
      const text = await readFile(join(repo, file), "utf8");
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1]!.split("#")[0]!;
        if (target === "" || /^[a-z]+:/i.test(target)) continue; // anchors, URLs
        const abs = resolve(repo, dirname(file), target);
        const inside = !relative(repo, abs).startsWith("..");
        if (!inside || !existsSync(abs)) broken.push(`${file}: ${m[1]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  test("error: no file cites design notes or paths outside the repository", async () => {
    const outside =
      /\.\.\/shared\/|\/work\/(?:shared|main|wt)\b|\b(?:ARCHITECTURE|TOOLCHAIN|TARGETS|STYLE|RESEARCH-NEXT-WAVE)\.md\b/;
    const offenders: string[] = [];
    for (const file of await trackedFiles()) {
      if (!/\.(md|ts|mts|cts|js|mjs|cjs|json|jsonc|ya?ml|sh)$/.test(file)) continue;
      if (file === "pnpm-lock.yaml" || file === "test/docs/links.test.ts") continue;
      const text = await readFile(join(repo, file), "utf8");
      const line = text.split("\n").findIndex((l) => outside.test(l));
      if (line >= 0) offenders.push(`${file}:${line + 1}`);
    }
    expect(offenders).toEqual([]);
  });
});
