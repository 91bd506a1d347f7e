// `pnpm bench` entry: builds the packages, runs every benchmark module, writes
// bench/results.json and the table in bench/README.md. Flags: --quick (shorter runs),
// --only=metering,records,postgres,… (a subset; the other figures of the previous results.json are
// kept), --no-build (use the dist/ already built), --no-write (print only).
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { type Figure, log, type MachineInfo, machineInfo } from "./lib/measure.js";
import { renderTable, replaceBetweenMarkers } from "./lib/report.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const write = !args.includes("--no-write");
const buildFirst = !args.includes("--no-build");
const onlyArg = args.find((a) => a.startsWith("--only="));
const only =
  onlyArg === undefined ? undefined : new Set(onlyArg.slice("--only=".length).split(","));

interface ModuleResult {
  figures: Figure[];
  details: Record<string, unknown>;
}

const modules: Record<string, () => Promise<ModuleResult>> = {
  metering: async () => (await import("./metering.bench.js")).meteringBench(quick),
  records: async () => (await import("./records.bench.js")).recordsBench(quick),
  settlement: async () => (await import("./settlement.bench.js")).settlementBench(quick),
  opcua: async () => (await import("./opcua.bench.js")).opcuaBench(quick),
  verify: async () => (await import("./verify.bench.js")).verifyBench(quick),
  importCost: async () => (await import("./importCost.bench.js")).importCostBench(quick),
  storage: async () => (await import("./storage.bench.js")).storageBench(quick),
  postgres: async () => (await import("./postgres.bench.js")).postgresBench(quick),
  sparkplug: async () => (await import("./sparkplug.bench.js")).sparkplugBench(quick),
  ledgerService: async () => (await import("./ledgerService.bench.js")).ledgerServiceBench(quick),
  ledgerServicePostgres: async () =>
    (await import("./ledgerService.bench.js")).ledgerServiceBench(quick, "postgres"),
};

export interface Results {
  schema: 1;
  mode: "full" | "quick" | "mixed";
  machine: MachineInfo;
  /** The commit measured, and whether package sources differed from it. */
  source: { commit: string; dirtyPackages: boolean; build: string };
  durationSeconds: Record<string, number>;
  figures: Figure[];
  details: Record<string, unknown>;
  errors: Record<string, string>;
}

const resultsFile = path.join(here, "results.json");
const previous: Results | undefined =
  only !== undefined && fs.existsSync(resultsFile)
    ? (JSON.parse(fs.readFileSync(resultsFile, "utf8")) as Results)
    : undefined;

const root = path.resolve(here, "..");

function git(...a: string[]): string {
  try {
    return execFileSync("git", a, { cwd: root, encoding: "utf8" }).trim();
  } catch {
    return "unknown";
  }
}

// The figures are of the built packages (dist/), as users import them.
const tStart = performance.now();
let buildStatus = "skipped (--no-build)";
if (buildFirst) {
  log("building the packages (pnpm build)");
  const b = spawnSync("pnpm", ["build"], {
    cwd: root,
    stdio: ["ignore", "ignore", "pipe"],
    encoding: "utf8",
  });
  buildStatus =
    b.status === 0 ? "ok" : `failed (exit ${b.status}); measured the dist/ that was there`;
  if (b.status !== 0) log(`pnpm build failed: ${b.stderr.slice(-1500)}`);
}

const results: Results = {
  schema: 1,
  mode: quick ? "quick" : "full",
  machine: machineInfo(),
  source: {
    commit: git("rev-parse", "--short", "HEAD"),
    dirtyPackages: git("status", "--porcelain", "--", "packages") !== "",
    build: buildStatus,
  },
  durationSeconds: {},
  figures: [],
  details: {},
  errors: {},
};

const t0 = performance.now();
for (const [name, run] of Object.entries(modules)) {
  if (only !== undefined && !only.has(name)) {
    // Keep the previous run's figures of modules not rerun (marked in the table by their own mode).
    if (previous !== undefined) {
      results.figures.push(...previous.figures.filter((f) => f.id.startsWith(`${name}.`)));
      if (previous.details[name] !== undefined) results.details[name] = previous.details[name];
      if (previous.durationSeconds[name] !== undefined) {
        results.durationSeconds[name] = previous.durationSeconds[name];
      }
      if (previous.mode !== results.mode) results.mode = "mixed";
    }
    continue;
  }
  const started = performance.now();
  log(`── ${name} ──`);
  try {
    const r = await run();
    results.figures.push(...r.figures);
    results.details[name] = r.details;
  } catch (err) {
    const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
    log(`${name} failed: ${message}`);
    results.errors[name] = message.split("\n")[0] ?? message;
  }
  results.durationSeconds[name] = Math.round((performance.now() - started) / 100) / 10;
}
results.durationSeconds.build = Math.round((t0 - tStart) / 100) / 10;
results.durationSeconds.total = Math.round((performance.now() - tStart) / 100) / 10;

const table = renderTable(results);
process.stdout.write(`${table}\n`);
if (write) {
  fs.writeFileSync(resultsFile, `${JSON.stringify(results, null, 2)}\n`);
  const readme = path.join(here, "README.md");
  const text = fs.readFileSync(readme, "utf8");
  fs.writeFileSync(readme, replaceBetweenMarkers(text, table));
  log(`wrote ${path.relative(process.cwd(), resultsFile)} and the table in bench/README.md`);
}
if (Object.keys(results.errors).length > 0) process.exitCode = 1;
