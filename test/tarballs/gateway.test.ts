import { execFile } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { newUserScenario, runToEnd } from "../../packages/gateway/test/support/scenario.js";

// The gateway's must-show from packed tarballs: @maaskit/gateway and its siblings packed with
// `pnpm pack`, installed with npm into an empty project, and the INSTALLED `maaskit-gateway`
// run as a stranger would (init, simulate, run --until 2d). Needs the packages built.
//
// better-sqlite3 (the journal's and the embedded ledger's storage) is installed without its
// build script and given the binary pnpm compiled for the workspace from the same pinned
// version: compiling it again takes minutes on a loaded machine, and tarballs.test.ts already
// shows that npm compiles it.

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../..", import.meta.url));
const packs = ["metering", "settlement", "maintenance", "gateway"];
let dir: string;
let app: string;
const timings: Record<string, number> = {};

/** A stranger's shell: no npm_/pnpm_ variables, no NODE_PATH into the workspace, no vitest's. */
function cleanEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^(npm_|pnpm_|vitest|node_path$|node_options$|node_env$)/i.test(k),
    ),
  ) as NodeJS.ProcessEnv;
}

async function timed<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const start = performance.now();
  try {
    return await fn();
  } finally {
    timings[name] = Math.round(performance.now() - start);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "maaskit-gateway-tarball-"));
  const tarballs = join(dir, "tarballs");
  app = join(dir, "app");
  await mkdir(tarballs);
  await mkdir(app);
  await timed("pack", () =>
    Promise.all(
      packs.map((p) =>
        run("pnpm", ["pack", "--pack-destination", tarballs], {
          cwd: join(repo, "packages", p),
          env: cleanEnv(),
        }),
      ),
    ),
  );
  await writeFile(
    join(app, "package.json"),
    `${JSON.stringify({ name: "new-user", version: "1.0.0", private: true }, null, 2)}\n`,
  );
  const gateway = JSON.parse(
    await readFile(join(repo, "packages/gateway/package.json"), "utf8"),
  ) as { devDependencies: Record<string, string> };
  const files = (await readdir(tarballs)).map((f) => join(tarballs, f));
  expect(files).toHaveLength(packs.length);
  // The tarballs, and node-opcua: the simulator's optional peer, which `simulate` asks for.
  await timed("npm install", () =>
    run(
      "npm",
      [
        "install",
        ...files,
        `node-opcua@${gateway.devDependencies["node-opcua"]}`,
        "--ignore-scripts",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
      ],
      { cwd: app, env: cleanEnv(), maxBuffer: 16 * 1024 * 1024 },
    ),
  );
  const sqlite = "node_modules/better-sqlite3";
  const [installed, workspace] = await Promise.all(
    [join(app, sqlite), join(repo, "packages/metering", sqlite)].map(
      async (d) =>
        (JSON.parse(await readFile(join(d, "package.json"), "utf8")) as { version: string })
          .version,
    ),
  );
  if (installed === workspace) {
    await cp(join(repo, "packages/metering", sqlite, "build"), join(app, sqlite, "build"), {
      recursive: true,
      dereference: true,
    });
  } else {
    await timed("npm rebuild better-sqlite3", () =>
      run("npm", ["rebuild", "better-sqlite3"], { cwd: app, env: cleanEnv() }),
    );
  }
}, 600_000);

afterAll(async () => {
  console.info(`gateway tarball test timings (ms): ${JSON.stringify(timings)}`);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe("maaskit-gateway from packed tarballs", () => {
  test("default: npx maaskit-gateway --help prints its usage", async () => {
    const help = await runToEnd(
      { exe: "npx", args: ["--no-install", "maaskit-gateway"], cwd: app, env: cleanEnv() },
      ["--help"],
    );
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toContain("maaskit-gateway init");
    expect(help.stdout).toContain("Exit codes");
  }, 60_000);

  test("behavior: init, simulate started 30 s after run, a server restart, run --until 2d — the bill equals the ground truth exactly; `maaskit verify` from the repository root checks the export", async () => {
    const plant = await mkdtemp(join(app, "plant-"));
    const bin = {
      exe: join(app, "node_modules", ".bin", "maaskit-gateway"),
      args: [],
      cwd: app,
      env: cleanEnv(),
    };
    // 3600× accelerated: two machine days take about 48 s. The server comes up 30 s of real
    // (wall-clock) time after the gateway, which retries its connect meanwhile; the simulator's
    // machine clock starts at its own start, so those 30 s are not observed and not billed.
    const { summary, truth } = await timed("scenario", () =>
      newUserScenario(bin, plant, { lateMs: 30_000, accelerate: 3600, until: "2d" }),
    );
    expect(truth.gt(0)).toBe(true);
    expect(summary.invoices.length).toBeGreaterThanOrEqual(1);
    console.info(
      `gateway from tarballs: billed ${summary.billedVolume} m³ = ground truth ${truth.toFixed()} m³; invoices ${JSON.stringify(summary.invoices)}`,
    );

    // `maaskit verify` from the repository root (the workspace's linked bin).
    const signer = new Wallet((await readFile(join(plant, "gateway.key"), "utf8")).trim()).address;
    const records = join(plant, "out", "records.jsonl");
    const verify = (file: string) =>
      run("pnpm", ["exec", "maaskit", "verify", file, "--signer", signer], { cwd: repo }).then(
        (r) => ({ code: 0, stdout: r.stdout }),
        (err: { code: number; stdout: string }) => ({ code: err.code, stdout: err.stdout }),
      );
    const ok = await verify(records);
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/(\d+) lines, \1 valid, 0 invalid/);
    const lines = (await readFile(records, "utf8")).trim().split("\n");
    const first = JSON.parse(lines[0]!) as { quarantined: number };
    first.quarantined += 1;
    const tampered = join(plant, "tampered.jsonl");
    await writeFile(tampered, `${[JSON.stringify(first), ...lines.slice(1)].join("\n")}\n`);
    const bad = await verify(tampered);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("metering.record.badSignature");
  }, 300_000);
});
