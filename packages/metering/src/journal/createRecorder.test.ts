import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Wallet } from "ethers";
import { from, lastValueFrom, tap, toArray } from "rxjs";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { isMaaskitError } from "../errors.js";
import { dec, quantity } from "../quantity.js";
import { type MeterRecord, ZERO_ADDRESS } from "../records/meterRecord.js";
import { verifyMeterRecords } from "../records/verifyMeterRecords.js";
import type { MeterWindow } from "../window.js";
import { canonicalJson } from "./canonicalJson.js";
import { createRecorder } from "./createRecorder.js";
import { meterRecordCodec } from "./meterRecordCodec.js";
import { type Journal, openJournal } from "./openJournal.js";
import { readArchive } from "./readArchive.js";

const wallet = new Wallet(`0x${"42".repeat(32)}`);
const binding = { agreementId: "agr-7", chainId: 0, verifyingContract: ZERO_ADDRESS };
const T0 = Date.UTC(2026, 0, 1);
const MIN15 = 15 * 60_000;

/** Window `i`: 15 minutes, `i + 1` m³ of air (FAD), register counting up from 1000. */
function window(i: number): MeterWindow {
  const before = (i * (i + 1)) / 2;
  return {
    kind: "window",
    machineId: "compressor-1",
    start: new Date(T0 + i * MIN15),
    end: new Date(T0 + (i + 1) * MIN15),
    usage: [
      {
        channel: "air",
        quantity: quantity(String(i + 1), "MTQ", "ISO1217-FAD"),
        register: { start: dec(1000 + before), end: dec(1000 + before + i + 1) },
        flags: {},
      },
    ],
    gaps: [],
    quarantined: 0,
  };
}

let dir: string;
let journal: Journal<MeterRecord>;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-recorder-"));
  journal = await openJournal({ dir, codec: meterRecordCodec });
});
afterEach(async () => {
  await journal.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function all(): Promise<MeterRecord[]> {
  const out: MeterRecord[] = [];
  for await (const r of readArchive({
    archiveDir: path.join(dir, "archive"),
    codec: meterRecordCodec,
  })) {
    out.push(r);
  }
  for await (const r of journal.read()) if (r.seq >= out.length) out.push(r);
  return out;
}

describe("createRecorder", () => {
  test("default", async () => {
    const recorder = createRecorder({ journal, signer: wallet, binding, clock: "synchronised" });
    expect(recorder.counterInitial("air")).toBeUndefined();
    const records: MeterRecord[] = [];
    for (let i = 0; i < 3; i++) records.push(await recorder.record(window(i)));
    expect(records.map((r) => [r.seq, r.quantity.value.toFixed(), r.clock])).toEqual([
      [0, "1", "synchronised"],
      [1, "2", "synchronised"],
      [2, "3", "synchronised"],
    ]);
    expect(journal.state()).toMatchObject({ nextSeq: 3, unacked: 3 });
    expect(journal.state().registers.air!.toFixed()).toBe("1006");
    const journaled = await all();
    expect(journaled.map((r) => meterRecordCodec.encode(r))).toEqual(
      records.map((r) => meterRecordCodec.encode(r)),
    );
    const verdict = verifyMeterRecords(journaled, { signer: wallet.address, agreement: binding });
    expect(verdict.valid).toBe(true);
    expect(journal.state().head).toBe(verdict.head!.prevHash);
  });

  test("args: build.insecureSource flags every record of an insecure source, signed and journaled", async () => {
    const recorder = createRecorder({
      journal,
      signer: wallet,
      binding,
      build: { channel: "air", insecureSource: true },
    });
    for (let i = 0; i < 2; i++) await recorder.record(window(i));
    const journaled = await all();
    expect(journaled.map((r) => r.flags)).toEqual([
      { insecureSource: true },
      { insecureSource: true },
    ]);
    expect(
      verifyMeterRecords(journaled, { signer: wallet.address, agreement: binding }).valid,
    ).toBe(true);
    // the flag is signed: removing it breaks the signature
    const stripped = { ...journaled[0]!, flags: {} };
    expect(
      verifyMeterRecords([stripped], { signer: wallet.address, agreement: binding }).valid,
    ).toBe(false);
  });

  test("behavior: a new recorder on the reopened journal continues the chain", async () => {
    const first = createRecorder({ journal, signer: wallet, binding });
    await first.record(window(0));
    await first.record(window(1));
    await journal.close();
    journal = await openJournal({ dir, codec: meterRecordCodec });
    const second = createRecorder({ journal, signer: wallet, binding });
    expect(second.chain()).toMatchObject({ seq: 2, prevHash: journal.state().head });
    expect(second.chain().periodEnd).toEqual(window(1).end);
    expect(second.chain().registerEnd!.toFixed()).toBe("1003");
    const initial = second.counterInitial("air")!;
    expect([initial.machineId, initial.at, String(initial.register)]).toEqual([
      "compressor-1",
      window(1).end,
      "1003",
    ]);
    expect(second.counterInitial("power")).toBeUndefined();
    await second.record(window(2));
    const verdict = verifyMeterRecords(await all(), { signer: wallet.address, agreement: binding });
    expect(verdict.results.map((r) => r.valid)).toEqual([true, true, true]);
  });

  test("behavior: resumes from the archive when every record was compacted away", async () => {
    const recorder = createRecorder({ journal, signer: wallet, binding });
    for (let i = 0; i < 4; i++) await recorder.record(window(i));
    await journal.appendAck({ from: 0, to: 3 });
    await journal.compact({ archiveDir: path.join(dir, "archive") });
    await journal.close();
    journal = await openJournal({ dir, codec: meterRecordCodec });
    expect(journal.state()).toMatchObject({ firstSeq: 4, nextSeq: 4 });
    const again = createRecorder({ journal, signer: wallet, binding });
    expect(again.chain()).toMatchObject({ seq: 4, prevHash: journal.state().head });
    await again.record(window(4));
    const records = await all();
    expect(records.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4]);
    expect(verifyMeterRecords(records, { signer: wallet.address, agreement: binding }).valid).toBe(
      true,
    );
  });

  test("behavior: recordWindows() records a stream of windows in order, concurrent calls serialised", async () => {
    const recorder = createRecorder({ journal, signer: wallet, binding });
    const viaPipe = await lastValueFrom(
      from([0, 1, 2].map(window)).pipe(recorder.recordWindows(), toArray()),
    );
    const concurrent = await Promise.all([3, 4, 5].map((i) => recorder.record(window(i))));
    expect([...viaPipe, ...concurrent].map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(verifyMeterRecords(await all(), { signer: wallet.address }).valid).toBe(true);
  });

  test("behavior: concurrent calls are pipelined and give exactly the records of one-by-one calls", async () => {
    const recorder = createRecorder({ journal, signer: wallet, binding, clock: "synchronised" });
    const n = 24;
    const pipelined = await Promise.all(
      Array.from({ length: n }, (_, i) => recorder.record(window(i))),
    );
    expect(recorder.chain()).toMatchObject({ seq: n, prevHash: journal.state().head });
    const otherDir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-recorder-serial-"));
    try {
      const other = await openJournal({ dir: otherDir, codec: meterRecordCodec });
      const serial = createRecorder({
        journal: other,
        signer: wallet,
        binding,
        clock: "synchronised",
      });
      const oneByOne: MeterRecord[] = [];
      for (let i = 0; i < n; i++) oneByOne.push(await serial.record(window(i)));
      await other.close();
      const bytes = (rs: MeterRecord[]) => rs.map((r) => canonicalJson(meterRecordCodec.encode(r)));
      expect(bytes(pipelined)).toEqual(bytes(oneByOne));
      expect(bytes(await all())).toEqual(bytes(oneByOne));
    } finally {
      fs.rmSync(otherDir, { recursive: true, force: true });
    }
  });

  test("behavior: recordWindows() signs nothing after a failed window", async () => {
    const recorder = createRecorder({ journal, signer: wallet, binding });
    // Window 5 leaves a gap and fails; window 2 would continue the chain, but the stream
    // stopped at 5, so it must not be recorded behind the subscriber's back.
    const out: MeterRecord[] = [];
    await expect(
      lastValueFrom(
        from([0, 1, 5, 2].map(window)).pipe(
          recorder.recordWindows(),
          tap((r) => out.push(r)),
        ),
      ),
    ).rejects.toMatchObject({ code: "metering.record.nonContiguous" });
    expect((await recorder.record(window(2))).seq).toBe(2);
    expect(out.map((r) => r.seq)).toEqual([0, 1]);
    expect((await all()).map((r) => r.seq)).toEqual([0, 1, 2]);
  });

  test("error: a failed append fails the calls queued behind it unsigned; the chain restarts from the journal", async () => {
    const recorder = createRecorder({ journal, signer: wallet, binding, clock: "synchronised" });
    await recorder.record(window(0));
    const pending = Array.from({ length: 8 }, (_, i) => recorder.record(window(i + 1)));
    // Closing the journal lets the appends already handed to it finish; the next append
    // fails, and every call issued before that failure must fail without being appended.
    await journal.close();
    const outcomes = await Promise.allSettled(pending);
    const codes = outcomes.map((o) =>
      o.status === "fulfilled" ? "ok" : (o.reason as { code: string }).code,
    );
    const okCount = codes.filter((c) => c === "ok").length;
    expect(codes).toEqual([
      ...Array(okCount).fill("ok"),
      "metering.journal.closed",
      ...Array(8 - okCount - 1).fill("metering.journal.writeFailed"),
    ]);
    journal = await openJournal({ dir, codec: meterRecordCodec });
    expect(journal.state().nextSeq).toBe(1 + okCount);
    // A new recorder continues from the journal and rebuilds the lost windows identically.
    const again = createRecorder({ journal, signer: wallet, binding, clock: "synchronised" });
    for (let i = 1 + okCount; i <= 8; i++) expect((await again.record(window(i))).seq).toBe(i);
    const records = await all();
    expect(records.map((r) => r.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(verifyMeterRecords(records, { signer: wallet.address, agreement: binding }).valid).toBe(
      true,
    );
  });

  test("behavior: a rejected window leaves the chain where it was", async () => {
    const recorder = createRecorder({ journal, signer: wallet, binding });
    await recorder.record(window(0));
    const before = recorder.chain();
    await expect(recorder.record(window(5))).rejects.toMatchObject({
      code: "metering.record.nonContiguous",
    });
    expect(recorder.chain()).toBe(before);
    expect((await recorder.record(window(1))).seq).toBe(1);
  });

  test("error: a journal of another agreement", async () => {
    await createRecorder({ journal, signer: wallet, binding }).record(window(0));
    let caught: unknown;
    try {
      createRecorder({ journal, signer: wallet, binding: { ...binding, agreementId: "agr-8" } });
    } catch (err) {
      caught = err;
    }
    expect(isMaaskitError(caught, "metering.journal.invalidConfig")).toBe(true);
  });
});
