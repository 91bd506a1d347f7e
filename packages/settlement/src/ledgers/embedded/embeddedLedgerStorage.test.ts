import { createHash } from "node:crypto";
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dec } from "@maaskit/metering";
import { openStore, type Store } from "@maaskit/metering/storage";
import { afterEach, describe, expect, it } from "vitest";
import {
  balanceToJson,
  conformanceWallets,
  scenarioClock,
} from "../../conformance/ledgerScenario.js";
import { invoiceToJson } from "../../invoice.js";
import { embeddedLedger } from "./embeddedLedger.js";

// A ledger directory written by the file-based embedded ledger (before SQLite), and what it held.
const FIXTURE = new URL("../../../test/fixtures/legacyStorage/", import.meta.url);
const expected = JSON.parse(readFileSync(new URL("ledger.expected.json", FIXTURE), "utf8"));
const id: string = expected.agreementId;

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function legacyDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "maaskit-legacy-"));
  dirs.push(dir);
  cpSync(new URL("ledger", FIXTURE), dir, { recursive: true });
  return dir;
}

/** Offsets of the legacy frames (`[len u32 LE][crc32 u32 LE][payload]`). */
function frames(bytes: Buffer): Array<{ offset: number; len: number }> {
  const out: Array<{ offset: number; len: number }> = [];
  for (let o = 0; o < bytes.length; ) {
    const len = bytes.readUInt32LE(o);
    out.push({ offset: o, len });
    o += 8 + len;
  }
  return out;
}

async function state(ledger: ReturnType<typeof embeddedLedger>) {
  return {
    balance: balanceToJson(await ledger.getBalance(id)),
    head: await ledger.getRecordsHead(id),
    invoices: (await ledger.getInvoices(id)).map((i) => invoiceToJson(i)),
    events: await ledger.getEvents(),
  };
}

describe("embeddedLedger storage: legacy log", () => {
  it("default: a directory written by the file-based ledger opens with the same state", async () => {
    const dir = await legacyDir();
    const ledger = embeddedLedger({ dir, clock: scenarioClock("2025-01-04T00:00:00Z") });
    await ledger.ready;
    const { agreementId: _, ...want } = expected;
    expect(JSON.parse(JSON.stringify(await state(ledger)))).toEqual(
      JSON.parse(JSON.stringify(want)),
    );
    await ledger.close();
  });

  it("error: one corrupted length byte in the middle is settlement.ledger.corrupt naming the entry; nothing is cut", async () => {
    const dir = await legacyDir();
    const file = join(dir, "ledger.log");
    const bytes = readFileSync(file);
    const deposit = frames(bytes)[1]!;
    bytes[deposit.offset + 1] = bytes[deposit.offset + 1]! ^ 0x40; // the length grows by 16 KiB
    writeFileSync(file, bytes);
    const ledger = embeddedLedger({ dir });
    await expect(ledger.ready).rejects.toMatchObject({
      code: "settlement.ledger.corrupt",
      details: { entry: 1 },
    });
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it("error: a flipped byte in the last (acknowledged) entry is refused, not cut", async () => {
    const dir = await legacyDir();
    const file = join(dir, "ledger.log");
    const bytes = readFileSync(file);
    const all = frames(bytes);
    const last = all.at(-1)!;
    bytes[last.offset + 8 + 20] = bytes[last.offset + 8 + 20]! ^ 0x01;
    writeFileSync(file, bytes);
    const ledger = embeddedLedger({ dir });
    await expect(ledger.ready).rejects.toMatchObject({
      code: "settlement.ledger.corrupt",
      details: { entry: all.length - 1 },
    });
    expect(readFileSync(file).equals(bytes)).toBe(true);
  });

  it("behavior: a torn tail (a write cut short) is copied aside to ledger.log.recovered and reported", async () => {
    const dir = await legacyDir();
    const file = join(dir, "ledger.log");
    const tail = Buffer.from([0x40, 0x01, 0, 0, 1, 2, 3, 4, 0x7b, 0x22]); // header of a cut frame
    writeFileSync(file, Buffer.concat([readFileSync(file), tail]));
    const ledger = embeddedLedger({ dir });
    await ledger.ready;
    expect(ledger.recoveredBytes()).toBe(tail.length);
    expect(readFileSync(join(dir, "ledger.log.recovered")).equals(tail)).toBe(true);
    expect(balanceToJson(await ledger.getBalance(id))).toEqual(expected.balance);
    await ledger.close();
  });
});

describe("embeddedLedger storage: SQLite", () => {
  async function fresh() {
    const dir = await mkdtemp(join(tmpdir(), "maaskit-ledger-db-"));
    dirs.push(dir);
    return dir;
  }

  it("behavior: reopening restores the state without the legacy log, which is kept renamed", async () => {
    const dir = await legacyDir();
    const first = embeddedLedger({ dir });
    await first.ready;
    await first.close();
    expect(existsSync(join(dir, "ledger.log"))).toBe(false);
    expect(readdirSync(dir).some((n) => n.startsWith("ledger.log.migrated"))).toBe(true);
    const again = embeddedLedger({ dir, clock: scenarioClock("2025-01-04T00:00:00Z") });
    const { agreementId: _, ...want } = expected;
    expect(JSON.parse(JSON.stringify(await state(again)))).toEqual(
      JSON.parse(JSON.stringify(want)),
    );
    await again.close();
  });

  it("error: a second open of the same directory is settlement.ledger.locked", async () => {
    const dir = await fresh();
    const a = embeddedLedger({ dir });
    await a.ready;
    const b = embeddedLedger({ dir });
    await expect(b.ready).rejects.toMatchObject({ code: "settlement.ledger.locked" });
    await a.close();
  });

  it("error: an edited deposit whose own hash is fixed breaks the chain at its entry", async () => {
    const dir = await legacyDir();
    const first = embeddedLedger({ dir });
    await first.ready;
    await first.close();
    editDb(join(dir, "ledger.db"), (db) => {
      const row = db.prepare("SELECT * FROM chain WHERE idx = 1").get() as ChainRow;
      const body = row.body.replace('"amount":"500"', '"amount":"900"');
      expect(body).not.toBe(row.body);
      db.prepare("UPDATE chain SET body = ?, hash = ? WHERE idx = 1").run(
        body,
        rehash(row.prev, 1, row.kind, body),
      );
    });
    const again = embeddedLedger({ dir });
    await again.ready.catch(() => {});
    const err = await again.verify().catch((e) => e);
    expect(err).toMatchObject({ code: "settlement.ledger.corrupt", details: { entry: 2 } });
    await again.close();
  });

  it("error: an edited balance in the saved state is settlement.ledger.corrupt at open", async () => {
    const dir = await legacyDir();
    const first = embeddedLedger({ dir });
    await first.ready;
    await first.close();
    editDb(join(dir, "ledger.db"), (db) => {
      const row = db.prepare("SELECT id, state FROM agreements").get() as {
        id: string;
        state: string;
      };
      db.prepare("UPDATE agreements SET state = ? WHERE id = ?").run(
        row.state.replace(/"available":\{"\$dec":"[0-9.]+"\}/, '"available":{"$dec":"100000"}'),
        row.id,
      );
    });
    const again = embeddedLedger({ dir });
    await expect(again.ready).rejects.toMatchObject({ code: "settlement.ledger.corrupt" });
  });

  it("behavior: verify() replays the whole chain and finds it consistent", async () => {
    const dir = await legacyDir();
    const ledger = embeddedLedger({ dir, clock: scenarioClock("2025-01-04T00:00:00Z") });
    await ledger.deposit({
      agreementId: id,
      amount: dec("1.5"),
      by: conformanceWallets().customer.address,
      reference: "after-migration",
    });
    const out = await ledger.verify();
    expect(out.entries).toBe(7);
    await ledger.close();
  });
});

interface ChainRow {
  idx: number;
  kind: string;
  body: string;
  prev: string;
  hash: string;
}

function editDb(file: string, fn: (db: Store["db"]) => void): void {
  // Opened as the ledger opens it (the chain is still intact here), then edited behind its back.
  const store = openStore({ file, kind: "settlement.embeddedLedger/1" });
  try {
    fn(store.db);
  } finally {
    store.close();
  }
}

function rehash(prev: string, index: number, kind: string, body: string): string {
  const idx = Buffer.alloc(8);
  idx.writeBigUInt64BE(BigInt(index));
  return `0x${createHash("sha256")
    .update(Buffer.from(prev.slice(2), "hex"))
    .update(idx)
    .update(kind, "utf8")
    .update(Buffer.from([0]))
    .update(body, "utf8")
    .digest("hex")}`;
}
