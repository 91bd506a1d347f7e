import { createHash } from "node:crypto";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { fc, test as fcTest } from "@fast-check/vitest";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { isMaaskitError } from "../errors.js";
import { entryHash, openStore, type Store } from "../storage/openStore.js";
import type { ChainEntry } from "./journalCodec.js";
import { type Journal, type OpenJournalParameters, openJournal, ZERO_HASH } from "./openJournal.js";
import { readArchive } from "./readArchive.js";

/** A deterministic chained entry: its hash covers seq, prevHash and payload. */
function entry(
  seq: number,
  prevHash: string,
  note = `n${seq}`,
  registers?: Record<string, string>,
) {
  const body = { seq, prevHash, note, ...(registers ? { registers } : {}) };
  const hash = `0x${createHash("sha256").update(JSON.stringify(body)).digest("hex")}`;
  return { ...body, hash } as ChainEntry;
}

/** `n` chained entries starting at seq `from` after `prevHash`. */
function chain(n: number, from = 0, prevHash = ZERO_HASH): ChainEntry[] {
  const out: ChainEntry[] = [];
  let prev = prevHash;
  for (let i = 0; i < n; i++) {
    const e = entry(from + i, prev);
    out.push(e);
    prev = e.hash;
  }
  return out;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

let dir: string;
let open: Journal[] = [];
const dbFile = () => path.join(dir, "journal.db");

/** The entries of a closed journal's store, as the journal wrote them. */
function storedEntries(d = dir) {
  const store = openStore({ file: path.join(d, "journal.db"), kind: "metering.journal/1" });
  try {
    return [...store.entries()];
  } finally {
    store.close();
  }
}

/** Edits a closed journal's database behind its back. */
function editDb(fn: (db: Store["db"]) => void, d = dir): void {
  const store = openStore({ file: path.join(d, "journal.db"), kind: "metering.journal/1" });
  try {
    fn(store.db);
  } finally {
    store.close();
  }
}

const LEGACY = new URL("../../test/fixtures/legacyStorage/", import.meta.url);

async function openJ(params: Partial<OpenJournalParameters> = {}) {
  const j = await openJournal({ dir, ...params });
  open.push(j);
  return j;
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string) {
  let caught: unknown;
  try {
    await (typeof p === "function" ? p() : p);
  } catch (err) {
    caught = err;
  }
  expect(isMaaskitError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
  return caught as { details: Record<string, unknown> };
}

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-journal-"));
});
afterEach(async () => {
  for (const j of open) await j.close();
  open = [];
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("openJournal", () => {
  test("default", async () => {
    const j = await openJ();
    expect(j.state()).toMatchObject({ nextSeq: 0, head: ZERO_HASH, ackedThrough: -1, unacked: 0 });
    const records = chain(3);
    for (const r of records) await j.append(r);
    expect(j.state()).toMatchObject({ nextSeq: 3, head: records[2]!.hash, unacked: 3 });
    expect(await collect(j.read())).toEqual(records);
    await j.close();
    const again = await openJ();
    expect(again.state()).toMatchObject({ nextSeq: 3, head: records[2]!.hash, unacked: 3 });
    expect(await collect(again.read(1))).toEqual(records.slice(1));
    expect(again.recovery).toEqual({});
  });

  test("behavior: each record is one hash-chained entry holding its canonical JSON", async () => {
    const j = await openJ();
    const r = entry(0, ZERO_HASH);
    await j.append(r);
    await j.close();
    const [e] = storedEntries();
    expect(e).toMatchObject({ index: 0, kind: "record" });
    expect(e!.body).toBe(
      `{"k":"record","record":{"hash":"${r.hash}","note":"n0","prevHash":"${ZERO_HASH}","seq":0}}`,
    );
    expect(e!.hash).toBe(entryHash(e!.prev, 0, "record", e!.body));
  });

  test("args: genesis", async () => {
    const genesis = { seq: 1, hash: `0x${"ab".repeat(32)}` };
    const j = await openJ({ genesis });
    expect(j.state()).toMatchObject({ nextSeq: 1, head: genesis.hash, ackedThrough: 0 });
    await j.append(entry(1, genesis.hash));
    await j.close();
    await expectCode(
      openJ({ genesis: { seq: 0, hash: ZERO_HASH } }),
      "metering.journal.invalidConfig",
    );
    expect((await openJ({ genesis })).state().nextSeq).toBe(2);
  });

  test("error: invalid config reports all problems", async () => {
    const err = await expectCode(
      openJournal({ dir: "", fsync: "sometimes" as never, genesis: { seq: -1, hash: 1 as never } }),
      "metering.journal.invalidConfig",
    );
    expect(err.details.problems).toHaveLength(4);
  });

  test("behavior: registers resume from the last record per channel", async () => {
    const j = await openJ();
    const a = entry(0, ZERO_HASH, "a", { air: "100.5", power: "7" });
    const b = entry(1, a.hash, "b", { air: "123.25" });
    await j.append(a);
    await j.append(b);
    await j.close();
    const regs = (await openJ()).state().registers;
    expect(Object.keys(regs)).toEqual(["air", "power"]);
    expect(regs.air!.toFixed()).toBe("123.25");
    expect(regs.power!.toFixed()).toBe("7");
  });
});

describe("append", () => {
  test("error: seq not next", async () => {
    const j = await openJ();
    const [a, b] = chain(2);
    await expectCode(j.append(b!), "metering.journal.outOfOrder");
    await j.append(a!);
    await expectCode(j.append(entry(5, a!.hash)), "metering.journal.outOfOrder");
  });

  test("error: prevHash not head", async () => {
    const j = await openJ();
    await j.append(entry(0, ZERO_HASH));
    const err = await expectCode(j.append(entry(1, ZERO_HASH)), "metering.journal.chainBroken");
    expect(err.details.seq).toBe(1);
    expect(j.state().nextSeq).toBe(1);
  });

  test("behavior: re-appending an identical record is a no-op, also after reopening", async () => {
    const j = await openJ();
    const records = chain(3);
    for (const r of records) await j.append(r);
    await j.append(records[1]!);
    await j.append(structuredClone(records[2]!));
    await j.close();
    expect(storedEntries()).toHaveLength(3);
    const again = await openJ();
    await again.append(records[2]!);
    expect(again.state().nextSeq).toBe(3);
    await again.close();
    expect(storedEntries()).toHaveLength(3);
  });

  test("error: re-appending a seq with different content is a conflict", async () => {
    const j = await openJ();
    const records = chain(3);
    for (const r of records) await j.append(r);
    const forged = entry(1, records[0]!.hash, "forged");
    const err = await expectCode(j.append(forged), "metering.journal.conflict");
    expect(err.details.seq).toBe(1);
    await expectCode(j.append({ ...records[2]!, extra: "x" }), "metering.journal.conflict");
    expect(await collect(j.read())).toEqual(records);
  });

  test("behavior: fsync batch groups concurrent appends and each resolves durable", async () => {
    const j = await openJ({ fsync: "batch" });
    const records = chain(50);
    await Promise.all(records.map((r) => j.append(r)));
    // A re-append of a record still in the queue waits for it.
    expect(j.state().nextSeq).toBe(50);
    await j.close();
    expect(await collect((await openJ()).read())).toEqual(records);
  });

  test("args: fsync never", async () => {
    const j = await openJ({ fsync: "never" });
    for (const r of chain(5)) await j.append(r);
    await j.close();
    expect((await openJ()).state().nextSeq).toBe(5);
  });

  test("error: closed", async () => {
    const j = await openJ();
    await j.close();
    await expectCode(j.append(entry(0, ZERO_HASH)), "metering.journal.closed");
  });
});

describe("recovery", () => {
  test("behavior: a journal directory written by the file-based journal migrates with the same state; the old file is kept", async () => {
    fs.cpSync(new URL("journal", LEGACY), dir, { recursive: true });
    const want = JSON.parse(fs.readFileSync(new URL("journal.expected.json", LEGACY), "utf8"));
    const j = await openJ();
    const st = j.state();
    expect({ ...st, registers: { air: st.registers.air!.toFixed() } }).toEqual(want);
    expect(j.recovery.migratedFrom).toMatchObject({ records: 5 });
    expect(fs.existsSync(path.join(dir, "journal.log"))).toBe(false);
    expect(fs.existsSync(path.join(dir, "journal.log.migrated"))).toBe(true);
    expect((await collect(j.unacknowledged())).map((r) => r.seq)).toEqual([3, 4]);
    await j.append(entry(5, st.head));
    await j.close();
    const again = await openJ();
    expect(again.recovery).toEqual({});
    expect(again.state()).toMatchObject({ nextSeq: 6, ackedThrough: 2 });
  });

  test("behavior: a torn tail of a file-based journal is copied to journal.log.recovered and reported, not lost", async () => {
    fs.cpSync(new URL("journal", LEGACY), dir, { recursive: true });
    const tail = Buffer.from('MKJ1\u0000\u0000\u0001\u0000{"k":"rec', "latin1");
    fs.appendFileSync(path.join(dir, "journal.log"), tail);
    const j = await openJ();
    expect(j.recovery.tornTail).toMatchObject({ length: tail.length, reason: "truncated" });
    expect(fs.readFileSync(j.recovery.tornTail!.quarantineFile)).toEqual(tail);
    expect(j.state().nextSeq).toBe(5);
  });

  test("error: damage in the middle of a file-based journal is metering.journal.corrupt naming the entry; nothing changes", async () => {
    fs.cpSync(new URL("journal", LEGACY), dir, { recursive: true });
    const file = path.join(dir, "journal.log");
    const buf = fs.readFileSync(file);
    const second = 12 + buf.readUInt32BE(4);
    buf[second + 5]! ^= 0x7f; // the length of entry 1: huge
    fs.writeFileSync(file, buf);
    const err = await expectCode(openJournal({ dir }), "metering.journal.corrupt");
    expect(err.details.entry).toBe(1);
    expect(fs.readFileSync(file)).toEqual(buf);
    expect(fs.existsSync(dbFile())).toBe(true);
    expect(fs.existsSync(path.join(dir, "journal.log.recovered"))).toBe(false);
  });

  test("error: an edited record (its own hash fixed) is metering.journal.corrupt naming the next entry", async () => {
    const records = chain(4);
    const j = await openJ();
    for (const r of records) await j.append(r);
    await j.close();
    editDb((db) => {
      const row = db.prepare("SELECT * FROM chain WHERE idx = 1").get() as {
        prev: string;
        kind: string;
        body: string;
      };
      const body = row.body.replace('"note":"n1"', '"note":"forged"');
      db.prepare("UPDATE chain SET body = ?, hash = ? WHERE idx = 1").run(
        body,
        entryHash(row.prev, 1, row.kind, body),
      );
    });
    const err = await expectCode(openJournal({ dir }), "metering.journal.corrupt");
    expect(err.details.entry).toBe(2);
  });

  test("error: a missing middle entry is metering.journal.corrupt naming it", async () => {
    const j = await openJ();
    for (const r of chain(4)) await j.append(r);
    await j.close();
    editDb((db) => db.prepare("DELETE FROM chain WHERE idx = 2").run());
    const err = await expectCode(openJournal({ dir }), "metering.journal.corrupt");
    expect(err.details.entry).toBe(2);
  });

  test("error: a cut-off last entry is metering.journal.corrupt (an acknowledged append is never cut)", async () => {
    const j = await openJ();
    for (const r of chain(3)) await j.append(r);
    await j.close();
    editDb((db) => db.prepare("DELETE FROM chain WHERE idx = 2").run());
    await expectCode(openJournal({ dir }), "metering.journal.corrupt");
  });

  test("behavior: verify() re-checks every entry and the records' chain", async () => {
    const j = await openJ();
    for (const r of chain(5)) await j.append(r);
    await j.appendAck({ from: 0, to: 1 });
    expect(await j.verify()).toEqual({ records: 5 });
  });
});

describe("appendAck", () => {
  test("default", async () => {
    const j = await openJ();
    const records = chain(5);
    for (const r of records) await j.append(r);
    await j.appendAck(0);
    await j.appendAck({ from: 1, to: 2 }, "tx:0xabc");
    expect(j.state()).toMatchObject({ ackedThrough: 2, unacked: 2 });
    expect(await collect(j.unacknowledged())).toEqual(records.slice(3));
    await j.close();
    const again = await openJ();
    expect(again.state()).toMatchObject({ ackedThrough: 2, unacked: 2 });
  });

  test("behavior: acks out of order count but don't move ackedThrough past a hole", async () => {
    const j = await openJ();
    const records = chain(5);
    for (const r of records) await j.append(r);
    await j.appendAck(3);
    await j.appendAck(0);
    expect(j.state()).toMatchObject({ ackedThrough: 0, unacked: 3 });
    expect((await collect(j.unacknowledged())).map((r) => r.seq)).toEqual([1, 2, 4]);
    await j.appendAck(3); // already acknowledged: nothing written
    await j.close();
    expect(storedEntries().filter((e) => e.kind === "ack")).toHaveLength(2);
  });

  test("behavior: unacknowledged() follows records appended while iterating", async () => {
    const j = await openJ();
    const records = chain(4);
    await j.append(records[0]!);
    const seen: number[] = [];
    for await (const r of j.unacknowledged()) {
      seen.push(r.seq);
      if (r.seq < 3) await j.append(records[r.seq + 1]!);
    }
    expect(seen).toEqual([0, 1, 2, 3]);
  });

  test("error: acknowledging records that are not there", async () => {
    const j = await openJ();
    for (const r of chain(2)) await j.append(r);
    await expectCode(j.appendAck(2), "metering.journal.invalidAck");
    await expectCode(j.appendAck({ from: 1, to: 0 }), "metering.journal.invalidAck");
    await expectCode(j.appendAck(-1), "metering.journal.invalidAck");
    await expectCode(j.appendAck(0.5), "metering.journal.invalidAck");
  });
});

describe("compact", () => {
  test("default", async () => {
    const archiveDir = path.join(dir, "archive");
    const j = await openJ();
    const records = chain(10, 0, ZERO_HASH);
    for (const r of records) await j.append(r);
    await j.appendAck({ from: 0, to: 5 });
    await j.appendAck(8);
    const result = await j.compact({ archiveDir });
    expect(result).toMatchObject({ archived: 6, archivedThrough: 5 });
    expect(path.basename(result.file!)).toBe("records-000000000000-000000000005.jsonl");
    const lines = fs.readFileSync(result.file!, "utf8").trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l))).toEqual(records.slice(0, 6));
    expect(j.state()).toMatchObject({
      firstSeq: 6,
      archivedThrough: 5,
      ackedThrough: 5,
      unacked: 3,
    });
    expect((await collect(j.unacknowledged())).map((r) => r.seq)).toEqual([6, 7, 9]);
    expect(await collect(j.read())).toEqual(records.slice(6));
    await j.close();

    const again = await openJ();
    expect(again.state()).toMatchObject({ nextSeq: 10, head: records[9]!.hash, unacked: 3 });
    // The chain stays checkable across archive + live journal.
    const all = [...(await collect(readArchive({ archiveDir }))), ...(await collect(again.read()))];
    expect(all).toEqual(records);
    // Archived records can still be re-appended idempotently — and not forged.
    await again.append(records[2]!);
    await expectCode(
      again.append(entry(2, records[1]!.hash, "forged")),
      "metering.journal.conflict",
    );
    await again.append(entry(10, records[9]!.hash));
    expect(again.state().nextSeq).toBe(11);
    await again.close();
    // The live store holds only what follows the archived records (their entries are pruned).
    expect(
      storedEntries()
        .filter((e) => e.kind === "record")
        .map((e) => JSON.parse(e.body).record.seq),
    ).toEqual([6, 7, 8, 9, 10]);
  });

  test("behavior: last() reads the last record from the journal, or from the archive", async () => {
    const archiveDir = path.join(dir, "archive");
    const j = await openJ();
    expect(j.last()).toBeUndefined();
    const records = chain(3);
    for (const r of records) await j.append(r);
    expect(j.last()).toEqual(records[2]);
    await j.appendAck({ from: 0, to: 2 });
    await j.compact({ archiveDir });
    expect(j.state()).toMatchObject({ firstSeq: 3, nextSeq: 3 });
    expect(j.last()).toEqual(records[2]);
    fs.rmSync(archiveDir, { recursive: true });
    await expectCode(() => j.last(), "metering.journal.corrupt");
  });

  test("behavior: nothing acknowledged, nothing archived", async () => {
    const j = await openJ();
    for (const r of chain(3)) await j.append(r);
    expect(await j.compact({ archiveDir: path.join(dir, "a") })).toEqual({
      archived: 0,
      archivedThrough: -1,
    });
  });

  test("behavior: size stays bounded over many append/ack/compact rounds and registers survive", async () => {
    const archiveDir = path.join(dir, "archive");
    const j = await openJ();
    let prev = ZERO_HASH;
    let seq = 0;
    const sizes: number[] = [];
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 25; i++) {
        const e = entry(seq++, prev, "x", { air: `${seq}.5` });
        await j.append(e);
        prev = e.hash;
      }
      await j.appendAck({ from: j.state().ackedThrough + 1, to: seq - 1 });
      await j.compact({ archiveDir });
      sizes.push(j.state().nextSeq - j.state().firstSeq);
    }
    // Nothing live remains after each round: the store does not grow with the history.
    expect(sizes.every((n) => n === 0)).toBe(true);
    expect(j.state().registers.air!.toFixed()).toBe("500.5");
    const archived = await collect(readArchive({ archiveDir }));
    expect(archived.map((r) => r.seq)).toEqual([...Array(500).keys()]);
    await j.close();
    expect(storedEntries().filter((e) => e.kind === "record")).toEqual([]);
    expect((await openJ()).state()).toMatchObject({ nextSeq: 500, unacked: 0, firstSeq: 500 });
  });

  test("behavior: a compaction interrupted after writing its archive does not archive twice", async () => {
    const archiveDir = path.join(dir, "archive");
    const j = await openJ();
    const records = chain(6);
    for (const r of records) await j.append(r);
    await j.appendAck({ from: 0, to: 3 });
    await j.close();
    open = [];
    // Simulate the crash: the archive file was renamed into place, the transaction that
    // prunes the journal never committed.
    const copy = fs.mkdtempSync(path.join(dir, "copy-"));
    fs.copyFileSync(dbFile(), path.join(copy, "journal.db"));
    const first = await openJournal({ dir: copy });
    await first.compact({ archiveDir });
    await first.close();
    const again = await openJ();
    expect(again.state()).toMatchObject({ firstSeq: 0, ackedThrough: 3 });
    await again.appendAck(4);
    const result = await again.compact({ archiveDir });
    expect(path.basename(result.file!)).toBe("records-000000000004-000000000004.jsonl");
    expect(await collect(readArchive({ archiveDir }))).toEqual(records.slice(0, 5));
  });

  test("error: a broken archive chain is detected", async () => {
    const archiveDir = path.join(dir, "archive");
    const j = await openJ();
    for (const r of chain(4)) await j.append(r);
    await j.appendAck({ from: 0, to: 3 });
    const { file } = await j.compact({ archiveDir });
    const lines = fs.readFileSync(file!, "utf8").split("\n");
    lines.splice(1, 1); // delete record 1
    fs.writeFileSync(file!, lines.join("\n"));
    await expectCode(collect(readArchive({ archiveDir })), "metering.journal.corrupt");
  });
});

describe("lock", () => {
  test("error: a second writer is refused", async () => {
    const j = await openJ();
    await expectCode(openJournal({ dir }), "metering.journal.locked");
    await j.close();
    const again = await openJ();
    expect(again.state().nextSeq).toBe(0);
  });

  test("behavior: the lock of a killed process is gone with it (an OS lock, nothing stale to break)", async () => {
    const { spawn } = await import("node:child_process");
    const sqlite = createRequire(import.meta.url).resolve("better-sqlite3");
    // A process that takes the database's exclusive lock the way the journal does, then is killed.
    const child = spawn(process.execPath, [
      "-e",
      `const D = require(${JSON.stringify(sqlite)}); const db = new D(${JSON.stringify(dbFile())}, { timeout: 0 });
       db.pragma("locking_mode = EXCLUSIVE"); db.pragma("journal_mode = WAL"); db.exec("BEGIN EXCLUSIVE; COMMIT");
       process.stdout.write("held\\n"); setInterval(() => {}, 1000);`,
    ]);
    await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
    await expectCode(openJournal({ dir }), "metering.journal.locked");
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    const j = await openJ();
    expect(j.state().nextSeq).toBe(0);
  });
});

describe("model", () => {
  type Op =
    | { op: "append"; n: number }
    | { op: "ack"; upTo: number }
    | { op: "compact" }
    | { op: "reopen" }
    | { op: "reappend"; back: number };
  const opArb: fc.Arbitrary<Op> = fc.oneof(
    fc.record({ op: fc.constant("append" as const), n: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ op: fc.constant("ack" as const), upTo: fc.nat(30) }),
    fc.record({ op: fc.constant("compact" as const) }),
    fc.record({ op: fc.constant("reopen" as const) }),
    fc.record({ op: fc.constant("reappend" as const), back: fc.nat(30) }),
  );

  fcTest.prop([fc.array(opArb, { maxLength: 25 }), fc.constantFrom("always", "batch", "never")], {
    numRuns: 30,
  })(
    "behavior: state matches a model over appends, acks, compactions and reopens",
    async (ops, fsync) => {
      const sub = fs.mkdtempSync(path.join(dir, "m-"));
      const archiveDir = path.join(sub, "archive");
      const all = chain(200);
      let nextSeq = 0;
      const acked = new Set<number>();
      let j = await openJournal({ dir: sub, fsync: fsync as "always" });
      try {
        for (const o of ops) {
          if (o.op === "append") {
            for (let i = 0; i < o.n; i++) await j.append(all[nextSeq++]!);
          } else if (o.op === "ack" && nextSeq > 0) {
            const to = o.upTo % nextSeq;
            await j.appendAck({ from: 0, to });
            for (let s = 0; s <= to; s++) acked.add(s);
          } else if (o.op === "compact") {
            await j.compact({ archiveDir });
          } else if (o.op === "reopen") {
            await j.close();
            j = await openJournal({ dir: sub, fsync: fsync as "always" });
          } else if (o.op === "reappend" && nextSeq > 0) {
            await j.append(all[o.back % nextSeq]!);
          }
          const s = j.state();
          expect(s.nextSeq).toBe(nextSeq);
          expect(s.head).toBe(nextSeq === 0 ? ZERO_HASH : all[nextSeq - 1]!.hash);
          expect(s.unacked).toBe(nextSeq - acked.size);
        }
        const chainNow = [
          ...(await collect(readArchive({ archiveDir }))),
          ...(await collect(j.read())),
        ];
        expect(chainNow).toEqual(all.slice(0, nextSeq));
      } finally {
        await j.close();
      }
    },
  );
});
