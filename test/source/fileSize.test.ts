import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";

// Small files that hold one thing each: no hand-written source file under packages/*/src is
// longer than 500 lines. Generated code (a `generated/` folder, or a file that says it is
// generated on its first line) and tests are exempt; contracts are Solidity, not under src/.

const MAX_LINES = 500;
// Over the limit on purpose, each with why; an entry that is no longer needed fails the test.
const EXEMPT: Record<string, string> = {};
const run = promisify(execFile);
const repo = fileURLToPath(new URL("../..", import.meta.url));

/** The lines of `text` as an editor counts them (a final newline ends the last line). */
function lineCount(text: string): number {
  if (text === "") return 0;
  return text.split("\n").length - (text.endsWith("\n") ? 1 : 0);
}

function isGenerated(file: string, text: string): boolean {
  if (file.split("/").includes("generated")) return true;
  const first = text.slice(0, text.indexOf("\n") >>> 0);
  return /generated|do not edit/i.test(first);
}

async function sourceFiles(): Promise<string[]> {
  const { stdout } = await run(
    "git",
    ["ls-files", "--cached", "--others", "--exclude-standard", "packages/*/src/**"],
    { cwd: repo, maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout
    .split("\n")
    .filter((f) => /\.(ts|tsx|mts|cts|js|mjs)$/.test(f) && !/\.test\.[a-z]+$/.test(f))
    .filter((f) => existsSync(join(repo, f)));
}

describe("source file size", () => {
  test("args: lines are counted as an editor shows them", () => {
    expect(lineCount("")).toBe(0);
    expect(lineCount("a")).toBe(1);
    expect(lineCount("a\n")).toBe(1);
    expect(lineCount("a\nb")).toBe(2);
    expect(lineCount("a\n\n")).toBe(2);
  });

  test(`behavior: no hand-written source file under packages/*/src is over ${MAX_LINES} lines`, async () => {
    const files = await sourceFiles();
    // The listing really covers the packages (a broken glob would pass vacuously).
    expect(files.length).toBeGreaterThan(100);
    expect(files).toContain("packages/metering/src/journal/openJournal.ts");
    const tooLong: string[] = [];
    const staleExemptions: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(repo, file), "utf8");
      if (isGenerated(file, text)) continue;
      const lines = lineCount(text);
      if (file in EXEMPT) {
        if (lines <= MAX_LINES)
          staleExemptions.push(`${file}: ${lines} lines, remove its exemption`);
      } else if (lines > MAX_LINES) tooLong.push(`${file}: ${lines} lines`);
    }
    expect(tooLong).toEqual([]);
    expect(staleExemptions).toEqual([]);
  });
});
