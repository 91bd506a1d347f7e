import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { verifyLogEntries } from "@maaskit/metering";
import { entryHash, openStore, type Store } from "@maaskit/metering/storage";
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
    const file = join(dir, "history.db");
    const h = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file });
    await h.append("serviceRequest", day(1), { id: "c1/oil/1" });
    await h.append("service.performed", day(2), { serviceType: "oilChange", runHours: "4010" });
    await h.close();
    const again = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file });
    expect(again.entries().map((e) => [e.seq, e.type])).toEqual([
      [0, "serviceRequest"],
      [1, "service.performed"],
    ]);
    expect(again.recovery).toEqual({});
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

  it("error: a second open while one holds the history is maintenance.history.locked", async () => {
    const file = join(dir, "history.db");
    const h = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file });
    await expect(
      openMaintenanceHistory({ machineId: "c1", signer: wallet, file }),
    ).rejects.toMatchObject({ code: "maintenance.history.locked" });
    await h.close();
  });

  it("behavior: a JSON Lines history of earlier versions migrates; its torn last line is copied aside", async () => {
    const file = join(dir, "history.jsonl");
    const legacy = readFileSync(LEGACY, "utf8");
    writeFileSync(file, `${legacy}{"kind":"logEn`);
    const h = await openMaintenanceHistory({ machineId: "compressor-7", signer: wallet, file });
    expect(h.entries().map((e) => e.type)).toEqual([
      "trigger",
      "serviceRequest",
      "service.performed",
    ]);
    expect(h.recovery).toEqual({
      migratedFrom: { file: `${file}.migrated`, entries: 3 },
      tornTail: { file: `${file}.recovered`, bytes: 14 },
    });
    expect(readFileSync(`${file}.recovered`, "utf8")).toBe('{"kind":"logEn');
    expect(readFileSync(`${file}.migrated`, "utf8")).toBe(`${legacy}{"kind":"logEn`);
    await h.close();
    const again = await openMaintenanceHistory({ machineId: "compressor-7", signer: wallet, file });
    expect(again.entries()).toHaveLength(3);
    expect(again.recovery).toEqual({});
    await again.close();
  });

  it("error: an edited entry refuses to open, naming it; a re-chained forgery fails its signature", async () => {
    const file = join(dir, "history.db");
    const h = await openMaintenanceHistory({ machineId: "c1", signer: wallet, file });
    await h.append("trigger", day(1), { conditionId: "oil" });
    await h.append("service.performed", day(2), { serviceType: "oilChange", runHours: "4010" });
    await h.append("workOrder.paid", day(3), { amount: "250.00" });
    await h.close();
    edit(file, (db) => {
      db.prepare(
        "UPDATE chain SET body = replace(body, '\"4010\"', '\"3990\"') WHERE idx = 1",
      ).run();
    });
    await expect(
      openMaintenanceHistory({ machineId: "c1", signer: wallet, file }),
    ).rejects.toMatchObject({ code: "maintenance.history.corrupt", details: { entry: 1 } });
    // Whoever edits the database can recompute every hash after the edit — but not the
    // machine's signature over the entry.
    edit(
      file,
      (db) => {
        let prev = db.prepare("SELECT hash FROM chain WHERE idx = 0").pluck().get() as string;
        for (const idx of [1, 2]) {
          const row = db.prepare("SELECT kind, body FROM chain WHERE idx = ?").get(idx) as {
            kind: string;
            body: string;
          };
          const hash = entryHash(prev, idx, row.kind, row.body);
          db.prepare("UPDATE chain SET prev = ?, hash = ? WHERE idx = ?").run(prev, hash, idx);
          prev = hash;
        }
        db.prepare("UPDATE meta SET value = ? WHERE key = 'head'").run(
          JSON.stringify({ index: 2, hash: prev }),
        );
      },
      false,
    );
    await expect(
      openMaintenanceHistory({ machineId: "c1", signer: wallet, file }),
    ).rejects.toMatchObject({
      code: "maintenance.history.corrupt",
      details: { failures: expect.arrayContaining([expect.objectContaining({ seq: 1 })]) },
    });
  });
});

const LEGACY = new URL("../../test/fixtures/legacyStorage/history.jsonl", import.meta.url);

/** Edits a closed history's database behind its back (opened raw, without the chain check). */
function edit(file: string, fn: (db: Store["db"]) => void, checked = true): void {
  const store = checked ? openStore({ file, kind: "maintenance.history/1" }) : rawStore(file);
  try {
    fn(store.db);
  } finally {
    store.close();
  }
}

function rawStore(file: string): Pick<Store, "db" | "close"> {
  // better-sqlite3 is a dependency of @maaskit/metering.
  const Database = createRequire(new URL("../../../metering/package.json", import.meta.url))(
    "better-sqlite3",
  );
  const db = new Database(file);
  return { db, close: () => db.close() };
}
