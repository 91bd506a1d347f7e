import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { newUserScenario, runToEnd } from "./support/scenario.js";

const pkg = fileURLToPath(new URL("..", import.meta.url));
// The command from source (the packed-tarball variant is in tarball.test.ts).
const cmd = {
  exe: process.execPath,
  args: ["--conditions", "source", "--import", "tsx", join(pkg, "src/cli.ts")],
  cwd: pkg,
};
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe("maaskit-gateway (from source)", () => {
  it("default: init, a server up only after the gateway, a server restart — the bill equals the ground truth exactly", async () => {
    const dir = mkdtempSync(join(tmpdir(), "maaskit-gw-cli-"));
    dirs.push(dir);
    const { summary } = await newUserScenario(cmd, dir, { lateMs: 3000, accelerate: 3600 });
    expect(summary.invoices.length).toBeGreaterThanOrEqual(1);
  }, 180_000);

  it("error: an invalid config lists every problem and exits 2", async () => {
    const dir = mkdtempSync(join(tmpdir(), "maaskit-gw-cli-"));
    dirs.push(dir);
    const { writeFileSync } = await import("node:fs");
    writeFileSync(
      join(dir, "gateway.json"),
      JSON.stringify({ machineId: "", endpoint: "http://x" }),
    );
    const out = await runToEnd(cmd, ["run", "--config", join(dir, "gateway.json")]);
    expect(out.code).toBe(2);
    expect(out.stderr).toContain("gateway.config.invalid");
    for (const path of ["machineId", "endpoint", "profile", "agreement", "signerKeyFile"])
      expect(out.stderr).toContain(`  ${path}:`);
  }, 60_000);
});
