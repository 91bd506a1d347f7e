import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyLogEntries } from "@maaskit/metering";
import { Wallet } from "ethers";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openMaintenanceHistory } from "./maintenanceHistory.js";

const wallet = new Wallet("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "maaskit-history-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const day = (d: number) => new Date(Date.UTC(2026, 0, d));

describe("openMaintenanceHistory", () => {
  it("default: appends signed, chained entries durably and reloads them", async () => {
    const file = join(dir, "history.jsonl");
    const h = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file });
    await h.append("serviceRequest", day(1), { id: "c1/oil/1" });
    await h.append("service.performed", day(2), { serviceType: "oilChange", runHours: "4010" });
    const again = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file });
    expect(again.entries().map((e) => [e.seq, e.type])).toEqual([
      [0, "serviceRequest"],
      [1, "service.performed"],
    ]);
    const e2 = await again.append("workOrder.paid", day(3), { amount: "250.00" });
    expect(e2.seq).toBe(2);
    expect(
      verifyLogEntries(again.entries(), { signers: [wallet.address] }).every((r) => r.valid),
    ).toBe(true);
    await again.close();
    await expect(again.append("trigger", day(4), {})).rejects.toMatchObject({
      code: "maintenance.history.closed",
    });
  });

  it("behavior: a torn last line is moved aside, complete entries are kept", async () => {
    const file = join(dir, "history.jsonl");
    const h = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file });
    await h.append("trigger", day(1), { conditionId: "oil" });
    writeFileSync(file, `${readFileSync(file, "utf8")}{"kind":"logEn`);
    const again = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file });
    expect(again.entries()).toHaveLength(1);
    expect(readFileSync(file, "utf8").endsWith("\n")).toBe(true);
  });

  it("error: a tampered history file refuses to open, naming the entry", async () => {
    const file = join(dir, "history.jsonl");
    const h = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file });
    await h.append("trigger", day(1), { conditionId: "oil" });
    await h.append("service.performed", day(2), { serviceType: "oilChange", runHours: "4010" });
    writeFileSync(file, readFileSync(file, "utf8").replace('"4010"', '"3990"'));
    await expect(
      openMaintenanceHistory({ machineId: "c1", signer: wallet, file }),
    ).rejects.toMatchObject({
      code: "maintenance.history.corrupt",
      details: { failures: [expect.objectContaining({ seq: 1 })] },
    });
  });
});
