import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";

// `@maaskit/metering/internal` is how the maaskit packages share one implementation of a
// helper (zone arithmetic, optional peers, durable renames, schema problems). It is exported
// because a published package can only import another through its `exports`, but it is not
// a public API: only the packages' own sources may import it — no example, benchmark, fault
// harness, repository test or user doc shows the way in (docs/architecture.md explains it).

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../..", import.meta.url));
const INTERNAL = "@maaskit/metering/internal";

describe("the internal entry", () => {
  test("error: only packages/*/src imports @maaskit/metering/internal", async () => {
    const { stdout } = await run("git", ["grep", "-l", "--untracked", INTERNAL], {
      cwd: repo,
      maxBuffer: 16 * 1024 * 1024,
    }).catch((err: { stdout?: string; code?: number }) => {
      if (err.code === 1) return { stdout: "" }; // git grep found nothing
      throw err;
    });
    const files = stdout.split("\n").filter((f) => f !== "");
    // The check itself works: the sibling packages do import it.
    expect(files).toContain("packages/settlement/src/billingPeriodAt.ts");
    const explained = ["docs/architecture.md", "test/source/internalEntry.test.ts"];
    const outside = files.filter(
      (f) => !/^packages\/[a-z-]+\/src\/.*\.ts$/.test(f) && !explained.includes(f),
    );
    expect(outside).toEqual([]);
  });

  test("behavior: the entry says it is not a public API", () => {
    const text = readFileSync(join(repo, "packages/metering/src/internal.ts"), "utf8");
    expect(text).toMatch(/Not a public API/);
  });
});
