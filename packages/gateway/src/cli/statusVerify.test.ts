import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { runGatewayCli } from "./runGatewayCli.js";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function captureIo() {
  const out: string[] = [];
  const err: string[] = [];
  return {
    io: { stdout: (s: string) => void out.push(s), stderr: (s: string) => void err.push(s) },
    out,
    err,
  };
}

describe("maaskit-gateway status", () => {
  it("before the agreement exists on the ledger: ledger ok, nothing settled (not a ledger error)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "maaskit-status-"));
    dirs.push(dir);
    const init = captureIo();
    expect(await runGatewayCli(["init", dir], init.io), init.err.join("")).toBe(0);
    const st = captureIo();
    const code = await runGatewayCli(["status", "--config", join(dir, "gateway.json")], st.io);
    expect(code, st.err.join("")).toBe(0);
    const report = JSON.parse(st.out.join("")) as Record<string, unknown>;
    expect(report).toMatchObject({ running: false, ledger: "ok", lastSettledPeriod: null });
  });
});
