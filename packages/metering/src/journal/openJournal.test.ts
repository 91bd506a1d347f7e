import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { crc32 } from "node:zlib";
import { fc, test as fcTest } from "@fast-check/vitest";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { isMaaskitError } from "../errors.js";
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
const journalFile = () => path.join(dir, "journal.log");

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

  test("behavior: frames are magic + length + canonical JSON + CRC-32 of length and payload", async () => {
    const j = await openJ();
    const r = entry(0, ZERO_HASH);
    await j.append(r);
    const buf = fs.readFileSync(journalFile());
    // Skip the checkpoint frame, then decode the record frame by hand.
    const cpLen = buf.readUInt32BE(4);
    const at = 12 + cpLen;
    expect(buf.subarray(at, at + 4).toString("latin1")).toBe("MKJ1");
    const n = buf.readUInt32BE(at + 4);
    const payload = buf.subarray(at + 8, at + 8 + n).toString("utf8");
    expect(payload).toBe(
      `{"k":"record","record":{"hash":"${r.hash}","note":"n0","prevHash":"${ZERO_HASH}","seq":0}}`,
    );
    expect(buf.readUInt32BE(at + 8 + n)).toBe(crc32(buf.subarray(at + 4, at + 8 + n)));
    expect(buf.length).toBe(at + 12 + n);
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
    const size = fs.statSync(journalFile()).size;
    await j.append(records[1]!);
    await j.append(structuredClone(records[2]!));
    expect(fs.statSync(journalFile()).size).toBe(size);
    await j.close();
    const again = await openJ();
    await again.append(records[2]!);
    expect(again.state().nextSeq).toBe(3);
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
  test("behavior: a torn last entry cut at every byte offset is quarantined, all complete entries kept", async () => {
    const records = chain(4);
    const j = await openJ();
    for (const r of records.slice(0, 3)) await j.append(r);
    const before = fs.statSync(journalFile()).size;
    await j.append(records[3]!);
    await j.close();
    open = [];
    const full = fs.readFileSync(journalFile());
    for (let cut = before + 1; cut < full.length; cut++) {
      fs.rmSync(dir, { recursive: true });
      fs.mkdirSync(dir);
      fs.writeFileSync(journalFile(), full.subarray(0, cut));
      const r = await openJournal({ dir });
      expect(r.state().nextSeq).toBe(3);
      expect(r.state().head).toBe(records[2]!.hash);
      expect(r.recovery.tornTail).toMatchObject({ offset: before, length: cut - before });
      const q = JSON.parse(fs.readFileSync(r.recovery.tornTail!.quarantineFile, "utf8"));
      expect(q.reason).toMatch(/^torn tail: (shortHeader|truncated)/);
      expect(Buffer.from(q.bytesBase64, "base64")).toEqual(full.subarray(before, cut));
      expect(fs.statSync(journalFile()).size).toBe(before);
      // The chain resumes: the lost record can be written again.
      await r.append(records[3]!);
      expect(await collect(r.read())).toEqual(records);
      await r.close();
    }
  });

  test("behavior: a complete last entry with a bad checksum is a torn tail too", async () => {
    const j = await openJ();
    for (const r of chain(2)) await j.append(r);
    await j.close();
    open = [];
    const buf = fs.readFileSync(journalFile());
    buf[buf.length - 6]! ^= 0xff;
    fs.writeFileSync(journalFile(), buf);
    const r = await openJ();
    expect(r.state().nextSeq).toBe(1);
    expect(r.recovery.tornTail?.reason).toBe("badChecksum");
  });

  test("error: damage in the middle is metering.journal.corrupt naming the offset", async () => {
    const j = await openJ();
    for (const r of chain(3)) await j.append(r);
    await j.close();
    open = [];
    const good = fs.readFileSync(journalFile());
    const firstRecordAt = 12 + good.readUInt32BE(4);
    for (const [at, reason] of [
      [firstRecordAt + 20, "badChecksum"], // payload byte
      [firstRecordAt + 5, "badLength"], // length field: huge
      [firstRecordAt + 7, "badChecksum"], // length field: off by a little
      [firstRecordAt, "badMagic"],
    ] as const) {
      const buf = Buffer.from(good);
      buf[at]! ^= at === firstRecordAt + 5 ? 0x7f : 0x01;
      fs.writeFileSync(journalFile(), buf);
      const err = await expectCode(openJournal({ dir }), "metering.journal.corrupt");
      expect(err.details.offset).toBe(firstRecordAt);
      expect(String(err.details.reason)).toMatch(new RegExp(`${reason}|truncated`));
      // Nothing was cut or quarantined.
      expect(fs.readFileSync(journalFile())).toEqual(buf);
      expect(fs.existsSync(path.join(dir, "quarantine"))).toBe(false);
    }
  });

  fcTest.prop([fc.integer({ min: 1, max: 12 }), fc.nat(), fc.uint8Array({ maxLength: 40 })], {
    numRuns: 40,
  })(
    "behavior: any cut plus garbage after the last complete entry recovers it",
    async (n, cutSeed, garbage) => {
      const sub = fs.mkdtempSync(path.join(dir, "p-"));
      const records = chain(n);
      const j = await openJournal({ dir: sub });
      for (const r of records.slice(0, -1)) await j.append(r);
      const keep = fs.statSync(path.join(sub, "journal.log")).size;
      await j.append(records.at(-1)!);
      await j.close();
      const full = fs.readFileSync(path.join(sub, "journal.log"));
      const cut = keep + (cutSeed % (full.length - keep));
      // Garbage without the frame magic stands for a half-written frame's random bytes.
      const tail = Buffer.from(garbage.map((b) => (b === 0x4d ? 0 : b)));
      fs.writeFileSync(path.join(sub, "journal.log"), Buffer.concat([full.subarray(0, cut), tail]));
      const r = await openJournal({ dir: sub });
      expect(r.state().nextSeq).toBe(n - 1);
      expect(await collect(r.read())).toEqual(records.slice(0, -1));
      await r.close();
    },
  );
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
    const size = fs.statSync(journalFile()).size;
    await j.appendAck(3); // already acknowledged: nothing written
    expect(fs.statSync(journalFile()).size).toBe(size);
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
    const sizeBefore = fs.statSync(journalFile()).size;
    const result = await j.compact({ archiveDir });
    expect(result).toMatchObject({ archived: 6, archivedThrough: 5 });
    expect(path.basename(result.file!)).toBe("records-000000000000-000000000005.jsonl");
    expect(fs.statSync(journalFile()).size).toBeLessThan(sizeBefore);
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
      sizes.push(fs.statSync(journalFile()).size);
    }
    // Only the checkpoint remains after each round; it grows by digits only.
    expect(Math.max(...sizes)).toBeLessThanOrEqual(sizes[0]! + 8);
    expect(j.state().registers.air!.toFixed()).toBe("500.5");
    const archived = await collect(readArchive({ archiveDir }));
    expect(archived.map((r) => r.seq)).toEqual([...Array(500).keys()]);
    await j.close();
    expect((await openJ()).state()).toMatchObject({ nextSeq: 500, unacked: 0, firstSeq: 500 });
  });

  test("behavior: a compaction interrupted after writing its archive does not archive twice", async () => {
    const archiveDir = path.join(dir, "archive");
    const j = await openJ();
    const records = chain(6);
    for (const r of records) await j.append(r);
    await j.appendAck({ from: 0, to: 3 });
    const journalBefore = fs.readFileSync(journalFile());
    await j.compact({ archiveDir });
    await j.close();
    open = [];
    // Simulate the crash: archive file renamed into place, journal rename never happened.
    fs.writeFileSync(journalFile(), journalBefore);
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
    const err = await expectCode(openJournal({ dir }), "metering.journal.locked");
    expect(err.details.holder).toMatchObject({ pid: process.pid });
    await j.close();
    const again = await openJ();
    expect(again.state().nextSeq).toBe(0);
  });

  test("behavior: a lock left by a dead process is broken", async () => {
    const { spawnSync } = await import("node:child_process");
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]);
    const pid = Number(dead.stdout.toString());
    fs.writeFileSync(
      path.join(dir, "journal.lock"),
      JSON.stringify({ pid, hostname: os.hostname(), createdAt: "2020-01-01T00:00:00.000Z" }),
    );
    const j = await openJ();
    expect(JSON.parse(fs.readFileSync(path.join(dir, "journal.lock"), "utf8")).pid).toBe(
      process.pid,
    );
    await j.close();
    expect(fs.existsSync(path.join(dir, "journal.lock"))).toBe(false);
  });

  test("behavior: a lock held by a live process on another host is never broken", async () => {
    fs.writeFileSync(
      path.join(dir, "journal.lock"),
      JSON.stringify({ pid: 1, hostname: "elsewhere", createdAt: "2020-01-01T00:00:00.000Z" }),
    );
    await expectCode(openJournal({ dir }), "metering.journal.locked");
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
