import { execFile } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/** What importing some modules loaded, in a fresh process, beyond the loader itself. */
export interface ImportCost {
  readonly specifiers: readonly string[];
  /** Every module file loaded (file URLs), the TypeScript loader's own modules subtracted. */
  readonly modules: readonly string[];
  /** Node built-ins imported (`node:fs`, …). */
  readonly builtins: readonly string[];
  /** Modules per package (`rxjs`, `ethers`, `@maaskit/metering`, …), most first. */
  readonly packages: readonly { readonly name: string; readonly modules: number }[];
  /** Wall time of the imports (ms): informative only, machines here are shared and noisy. */
  readonly importMs: number;
  /** Heap used after the imports, minus that of the empty baseline process (bytes). */
  readonly heapBytes: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const probe = join(here, "probe", "loadProbe.mjs");

interface ProbeOutput {
  esm: string[];
  cjs: string[];
  importMs: number;
  heapUsed: number;
}

function runProbe(specifiers: readonly string[]): Promise<ProbeOutput> {
  // `--conditions=source` resolves the workspace packages to their TypeScript sources (run
  // through tsx), as everywhere in this repo; a published install resolves to dist/ instead.
  const args = ["--conditions=source", "--import", "tsx", probe, ...specifiers];
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      args,
      { cwd: join(here, ".."), maxBuffer: 64 * 1024 * 1024, env: { ...process.env } },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`import probe failed: ${err.message}\n${stderr}`));
          return;
        }
        // Some packages print to stdout while loading: the probe's line is marked.
        const line = stdout.split("\n").find((l) => l.startsWith("IMPORT_COST "));
        if (line === undefined) {
          reject(new Error(`import probe printed no result\n${stdout}\n${stderr}`));
          return;
        }
        resolve(JSON.parse(line.slice("IMPORT_COST ".length)) as ProbeOutput);
      },
    );
  });
}

/**
 * The package a module file belongs to: the name after its last `node_modules/`, or for
 * workspace sources `@maaskit/<dir>`.
 *
 * @example packageOf("file:///x/node_modules/.pnpm/rxjs@7.8.2/node_modules/rxjs/dist/esm/index.js") // "rxjs"
 */
export function packageOf(url: string): string {
  const path = url.startsWith("file:") ? fileURLToPath(url) : url;
  const i = path.lastIndexOf("/node_modules/");
  if (i < 0) {
    const ws = /\/packages\/([^/]+)\//.exec(path);
    return ws ? `@maaskit/${ws[1]}` : path;
  }
  const [first, second] = path.slice(i + "/node_modules/".length).split("/");
  return first?.startsWith("@") ? `${first}/${second}` : (first ?? path);
}

function allModules(out: ProbeOutput): Set<string> {
  return new Set([...out.esm, ...out.cjs.map((p) => pathToFileURL(p).href)]);
}

/**
 * Imports `specifiers` in a fresh Node process and reports every module that got loaded,
 * grouped by package — a fact check of what a consumer pulls in (e.g. that the main entry
 * points load no `node-opcua*`). A second, empty process with the same TypeScript loader is
 * the baseline its modules are subtracted from.
 *
 * @example
 * ```ts
 * const cost = await measureImportCost(["@maaskit/metering"]);
 * cost.packages.some((p) => p.name.startsWith("node-opcua")); // false
 * ```
 */
export async function measureImportCost(specifiers: readonly string[]): Promise<ImportCost> {
  const [baseline, measured] = await Promise.all([runProbe([]), runProbe(specifiers)]);
  const base = allModules(baseline);
  const loaded = [...allModules(measured)].filter((u) => !base.has(u));
  const builtins = loaded.filter((u) => u.startsWith("node:")).sort();
  const modules = loaded.filter((u) => !u.startsWith("node:")).sort();
  const counts = new Map<string, number>();
  for (const m of modules) counts.set(packageOf(m), (counts.get(packageOf(m)) ?? 0) + 1);
  const packages = [...counts]
    .map(([name, n]) => ({ name, modules: n }))
    .sort((a, b) => b.modules - a.modules || (a.name < b.name ? -1 : 1));
  return {
    specifiers,
    modules,
    builtins,
    packages,
    importMs: measured.importMs,
    heapBytes: measured.heapUsed - baseline.heapUsed,
  };
}
