import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openMaintenanceHistory } from "./maintenanceHistory.js";
import { readMaintenanceHistory } from "./readMaintenanceHistory.js";

const wallet = new Wallet("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
const stranger = new Wallet(`0x${"22".repeat(32)}`);
const day = (d: number) => new Date(Date.UTC(2026, 0, d));
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "maaskit-history-read-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The JSON Lines export of a three-entry history of machine c1. */
async function exported(): Promise<string> {
  const h = await openMaintenanceHistory({
    machineId: "c1",
    signer: wallet,
    file: join(dir, "history.db"),
  });
  await h.append("serviceRequest", day(1), { id: "c1/oil/1" });
  await h.append("service.performed", day(2), { serviceType: "oilChange", runHours: "4010" });
  await h.append("workOrder.paid", day(3), { amount: "250.00" });
  h.exportTo(join(dir, "history.jsonl"));
  await h.close();
  return readFileSync(join(dir, "history.jsonl"), "utf8");
}

describe("readMaintenanceHistory", () => {
  it("default: an exported history verifies, entries in file order, one verdict per line", async () => {
    const text = await exported();
    const h = readMaintenanceHistory(text, { machineId: "c1" });
    expect(h.valid).toBe(true);
    expect(h.entries.map((e) => e.type)).toEqual([
      "serviceRequest",
      "service.performed",
      "workOrder.paid",
    ]);
    expect(h.verdicts.map((v) => [v.line, v.seq, v.valid])).toEqual([
      [1, 0, true],
      [2, 1, true],
      [3, 2, true],
    ]);
    expect(readMaintenanceHistory(text, { machineId: "c1", signers: [wallet.address] }).valid).toBe(
      true,
    );
  });

  it("attack: another machine's history, a stranger's key, a flipped byte, a torn line — every problem at once, nothing thrown", async () => {
    const text = await exported();
    expect(readMaintenanceHistory(text, { machineId: "c2" }).valid).toBe(false);
    expect(
      readMaintenanceHistory(text, { machineId: "c1", signers: [stranger.address] }).valid,
    ).toBe(false);
    const lines = text.trimEnd().split("\n");
    const flipped = [lines[0], lines[1]!.replace('"4010"', '"4011"'), lines[2], "{torn"].join("\n");
    const h = readMaintenanceHistory(flipped, { machineId: "c1" });
    expect(h.valid).toBe(false);
    expect(h.verdicts.map((v) => [v.line, v.valid])).toEqual([
      [1, true],
      [2, false],
      [3, false],
      [4, false],
    ]);
    expect(h.verdicts[3]!.reasons).toEqual([
      { code: "metering.log.malformed", message: "not JSON" },
    ]);
    expect(readMaintenanceHistory("\n", { machineId: "c1" }).valid).toBe(false);
  });
});
