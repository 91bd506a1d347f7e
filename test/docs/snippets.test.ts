import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";

// The code in the docs is code: every ```ts block of every package README and of
// docs/getting-started.md is type-checked as its own module against the packages' sources,
// and the getting-started page is run and its printed output compared with the page.

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../..", import.meta.url));
const outDir = join(repo, ".tmp", "doc-snippets");

interface Snippet {
  readonly source: string;
  readonly file: string;
  readonly code: string;
}

function tsBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]!);
}

let snippets: Snippet[];

beforeAll(async () => {
  const packageDirs = (await readdir(join(repo, "packages"))).sort();
  const sources = ["docs/getting-started.md", ...packageDirs.map((p) => `packages/${p}/README.md`)];
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  snippets = [];
  for (const source of sources) {
    const markdown = await readFile(join(repo, source), "utf8").catch(() => undefined);
    if (markdown === undefined) continue;
    tsBlocks(markdown).forEach((code, i) => {
      const file = join(outDir, `${source.replace(/[/.]/g, "_")}_${i + 1}.ts`);
      snippets.push({ source, file, code });
    });
  }
  for (const s of snippets) {
    // a module of its own (top-level await, no clashes between snippets)
    await writeFile(s.file, `${s.code}\nexport {};\n`);
  }
  // Every package's entry points by their "source" export, so a package the root does not
  // depend on (a new one, such as @maaskit/gateway) is checked against its sources too.
  const paths: Record<string, string[]> = {};
  for (const dir of packageDirs) {
    const manifest = JSON.parse(
      await readFile(join(repo, "packages", dir, "package.json"), "utf8").catch(() => "{}"),
    ) as { name?: string; exports?: Record<string, string | { source?: string }> };
    if (manifest.name === undefined) continue;
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      if (typeof target !== "object" || target.source === undefined) continue;
      paths[`${manifest.name}${subpath.slice(1)}`] = [`../../packages/${dir}/${target.source}`];
    }
  }
  await writeFile(
    join(outDir, "tsconfig.json"),
    JSON.stringify({
      extends: "../../tsconfig.base.json",
      // the repository root: the packages' sources are part of the program (noEmit)
      compilerOptions: { noEmit: true, rootDir: "../..", paths },
      include: ["*.ts"],
    }),
  );
});

afterAll(async () => {
  await rm(outDir, { recursive: true, force: true });
});

describe("code in the docs", () => {
  test("default: every package README has an example and getting-started has one", () => {
    const sources = new Set(snippets.map((s) => s.source));
    expect(sources).toContain("docs/getting-started.md");
    // every package, so a new one cannot ship a README without a checked example
    const packages = readdirSync(join(repo, "packages")).filter((d) =>
      existsSync(join(repo, "packages", d, "package.json")),
    );
    expect(packages).toEqual(expect.arrayContaining(["ledger-service", "gateway", "metering"]));
    for (const dir of packages) expect(sources).toContain(`packages/${dir}/README.md`);
  });

  test("behavior: every ```ts block type-checks against the packages", async () => {
    const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    const result = await run(process.execPath, [tsc, "-p", join(outDir, "tsconfig.json")], {
      cwd: outDir,
    }).then(
      () => ({ code: 0, stdout: "" }),
      (err: { code: number; stdout: string }) => err,
    );
    // name the markdown file, not the generated one, in what a failure prints
    let report = result.stdout;
    for (const s of snippets) report = report.replaceAll(s.file.slice(outDir.length + 1), s.source);
    expect(report).toBe("");
    expect(result.code).toBe(0);
  }, 120_000);

  test("default: the getting-started code runs and prints what the page says", async () => {
    const page = await readFile(join(repo, "docs/getting-started.md"), "utf8");
    const printed = /It prints:\n\n```text\n([\s\S]*?)```/.exec(page)?.[1]?.trim().split("\n");
    expect(printed?.length).toBeGreaterThan(0);
    const snippet = snippets.find((s) => s.source === "docs/getting-started.md")!;
    const lines: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => {
      lines.push(args.map(String).join(" "));
    });
    try {
      await import(pathToFileURL(snippet.file).href);
    } finally {
      log.mockRestore();
    }
    expect(lines).toEqual(printed);
  }, 60_000);
});
