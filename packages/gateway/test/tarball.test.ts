// From packed tarballs of @maaskit/gateway and its siblings, installed into an empty folder
// the way a new user would: `npx maaskit-gateway init | simulate | run --until …`.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { newUserScenario, runToEnd } from "./support/scenario.js";

const repo = fileURLToPath(new URL("../../..", import.meta.url));
const packs = ["metering", "settlement", "gateway"];
let work: string;
let app: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "maaskit-gw-tarball-"));
  const tgz = join(work, "tgz");
  app = join(work, "app");
  execFileSync("pnpm", [...packs.flatMap((p) => ["--filter", `@maaskit/${p}`]), "build"], {
    cwd: repo,
    stdio: "ignore",
  });
  for (const p of packs)
    execFileSync("pnpm", ["pack", "--pack-destination", tgz], {
      cwd: join(repo, "packages", p),
      stdio: "ignore",
    });
  execFileSync("mkdir", ["-p", app]);
  const file = (p: string) =>
    `file:${join(tgz, readdirSync(tgz).find((f) => f.startsWith(`maaskit-${p}-`))!)}`;
  // The siblings come from their tarballs too (overrides); node-opcua (the simulator's
  // optional peer) and the shared peers (rxjs, decimal.js, ethers) from the registry, as a
  // user installs them; better-sqlite3 (the journal's and ledger's storage) must be allowed
  // to build, as pnpm 10 runs no dependency build script unless told.
  writeFileSync(
    join(app, "package.json"),
    JSON.stringify({
      name: "new-user",
      private: true,
      dependencies: {
        "@maaskit/gateway": file("gateway"),
        "node-opcua": "2.182.2",
        rxjs: "7.8.2",
        "decimal.js": "10.6.0",
        ethers: "6.17.0",
      },
      pnpm: {
        onlyBuiltDependencies: ["better-sqlite3"],
        overrides: {
          "@maaskit/metering": file("metering"),
          "@maaskit/settlement": file("settlement"),
        },
      },
    }),
  );
  execFileSync("pnpm", ["install", "--config.auto-install-peers=false"], {
    cwd: app,
    stdio: "ignore",
  });
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("maaskit-gateway from packed tarballs", () => {
  const npx = () => ({ exe: "npx", args: ["--no-install", "maaskit-gateway"], cwd: app });
  // The linked bin itself (npx does not pass SIGHUP on to the simulator it starts).
  const bin = () => ({
    exe: join(app, "node_modules", ".bin", "maaskit-gateway"),
    args: [],
    cwd: app,
  });

  it("default: npx maaskit-gateway prints its usage", async () => {
    const out = await runToEnd(npx(), ["--help"]);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("maaskit-gateway init");
  }, 60_000);

  it("behavior: init, simulate started after the gateway, a server restart, run --until 30h — the bill equals the ground truth exactly", async () => {
    const { summary } = await newUserScenario(bin(), join(app, "plant"), {
      lateMs: 3000,
      accelerate: 3600,
    });
    expect(summary.invoices.length).toBeGreaterThanOrEqual(1);
  }, 240_000);
});
