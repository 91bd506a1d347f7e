// Signed records: build + sign + chain + journal append (createRecorder) vs bare ethers
// signTypedData of the same typed data; verification (createMeterRecordVerifier, known key)
// vs bare verifyTypedData; journal appends with fsync per record, batched, and never.
// The recorder is fed as a gateway feeds it: a stream of closed windows through
// `recordWindows()` (here a burst, as after a restart that catches up), so it can sign the
// next record while the journal fsyncs the previous one; a second figure awaits every
// record before handing over the next window, where no such overlap is possible.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  createMeterRecordVerifier,
  createRecorder,
  type JournalFsyncMode,
  type MeterRecord,
  type MeterRecordBinding,
  type MeterWindow,
  meterRecordCodec,
  meterRecordFromJson,
  meterRecordToJson,
  meterRecordTypedData,
  openJournal,
  type TypedDataJson,
  ZERO_ADDRESS,
} from "@maaskit/metering";
import { type TypedDataField, verifyTypedData, Wallet } from "ethers";
import { from, lastValueFrom, toArray } from "rxjs";
import { assertEqual, type Figure, figure, interleaved, log, perSecond } from "./lib/measure.js";
import { compressorWindows } from "./lib/meterWindows.js";

// A fixed, public benchmark key: never holds anything of value.
const BENCH_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
const BINDING: MeterRecordBinding = {
  agreementId: "bench-agreement-1",
  chainId: 0,
  verifyingContract: ZERO_ADDRESS,
};

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-bench-"));
}

/** ethers' arguments for the record's typed data (its `types` without EIP712Domain). */
function ethersArgs(t: TypedDataJson) {
  const { EIP712Domain: _domain, ...types } = t.types;
  return { domain: t.domain, types: types as Record<string, TypedDataField[]>, message: t.message };
}

async function recordAll(
  ws: readonly MeterWindow[],
  wallet: Wallet,
  fsync: JournalFsyncMode,
  dirs: string[],
  feed: "stream" | "awaitEach" = "stream",
): Promise<MeterRecord[]> {
  const dir = tempDir();
  dirs.push(dir);
  const journal = await openJournal({ dir, codec: meterRecordCodec, fsync });
  const recorder = createRecorder({
    journal,
    signer: wallet,
    binding: BINDING,
    clock: "synchronised",
    build: { channel: "air" },
  });
  let out: MeterRecord[] = [];
  if (feed === "stream") {
    out = await lastValueFrom(from(ws).pipe(recorder.recordWindows(), toArray()));
  } else {
    for (const w of ws) out.push(await recorder.record(w));
  }
  await journal.close();
  return out;
}

async function appendAll(
  records: readonly MeterRecord[],
  fsync: JournalFsyncMode,
  batch: number,
  dirs: string[],
): Promise<void> {
  const dir = tempDir();
  dirs.push(dir);
  const journal = await openJournal({ dir, codec: meterRecordCodec, fsync });
  if (batch === 1) for (const r of records) await journal.append(r);
  else {
    for (let i = 0; i < records.length; i += batch) {
      // Appends issued in the same tick: with fsync "batch" they share one write and one fsync.
      await Promise.all(records.slice(i, i + batch).map((r) => journal.append(r)));
    }
  }
  await journal.close();
}

export async function recordsBench(quick: boolean): Promise<{
  figures: Figure[];
  details: Record<string, unknown>;
}> {
  const nSign = quick ? 300 : 1500;
  const nVerify = quick ? 200 : 800;
  const nAppend = quick ? 1000 : 5000;
  const rounds = quick ? 1 : 3;
  const wallet = new Wallet(BENCH_KEY);
  const dirs: string[] = [];
  try {
    const ws = compressorWindows(Math.max(nSign, nVerify, nAppend));

    // The typed data of exactly the records the recorder produces, prepared outside the timing.
    log("records: preparing typed data and warming up");
    const reference = await recordAll(ws, wallet, "never", dirs);
    const typed = reference.map((r) => ethersArgs(meterRecordTypedData(r)));
    for (let i = 0; i < 50; i++) {
      const a = typed[i]!;
      assertEqual(
        await wallet.signTypedData(a.domain, a.types, a.message),
        reference[i]!.signature,
        "bare signTypedData vs signMeterRecord signature",
      );
    }
    // The same records whichever way the recorder is fed and whatever the fsync mode.
    const fed = [
      ...(await recordAll(ws.slice(0, 200), wallet, "always", dirs)),
      ...(await recordAll(ws.slice(0, 50), wallet, "always", dirs, "awaitEach")),
    ];
    for (const [i, r] of fed.entries()) {
      assertEqual(r.signature, reference[i % 200]!.signature, "recorder signature, fed either way");
    }

    log(`records: signing ${nSign} records × ${rounds} round(s)`);
    const signWs = ws.slice(0, nSign);
    const sign = await interleaved(
      {
        recorderAlways: async () => {
          await recordAll(signWs, wallet, "always", dirs);
        },
        bareSign: async () => {
          for (let i = 0; i < nSign; i++) {
            const a = typed[i]!;
            await wallet.signTypedData(a.domain, a.types, a.message);
          }
        },
        recorderNever: async () => {
          await recordAll(signWs, wallet, "never", dirs);
        },
        recorderAwaitEach: async () => {
          await recordAll(signWs, wallet, "always", dirs, "awaitEach");
        },
      },
      rounds,
    );

    // Verification of records as a customer gets them: parsed from their JSON form.
    log(`records: verifying ${nVerify} records × ${rounds} round(s)`);
    const exported = reference.slice(0, nVerify).map((r) => JSON.stringify(meterRecordToJson(r)));
    const parsed = exported.map((line) => meterRecordFromJson(JSON.parse(line)));
    let maaskitValid = 0;
    let bareValid = 0;
    const verify = await interleaved(
      {
        verifier: () => {
          const verifier = createMeterRecordVerifier({
            signer: wallet.address,
            agreement: BINDING,
          });
          maaskitValid = 0;
          for (const r of parsed) if (verifier.check(r).valid) maaskitValid++;
        },
        bareVerify: () => {
          bareValid = 0;
          for (let i = 0; i < nVerify; i++) {
            const a = typed[i]!;
            const who = verifyTypedData(a.domain, a.types, a.message, parsed[i]!.signature);
            if (who === wallet.address) bareValid++;
          }
        },
      },
      rounds,
    );
    if (maaskitValid !== nVerify || bareValid !== nVerify) {
      throw new Error(
        `verification disagrees: maaskit ${maaskitValid}, bare ${bareValid} of ${nVerify}`,
      );
    }

    log(`records: journal appends of ${nAppend} signed records × ${rounds} round(s)`);
    const appendRecords = reference.slice(0, nAppend);
    const append = await interleaved(
      {
        always: () => appendAll(appendRecords, "always", 1, dirs),
        batch: () => appendAll(appendRecords, "batch", 100, dirs),
        never: () => appendAll(appendRecords, "never", 1, dirs),
      },
      rounds,
    );

    const rate = (n: number, ms: number) => perSecond(n, ms);
    const bareSignRate = rate(nSign, sign.bareSign!.medianMs);
    const bareVerifyRate = rate(nVerify, verify.bareVerify!.medianMs);
    const alwaysRate = rate(nAppend, append.always!.medianMs);
    const figures: Figure[] = [
      figure({
        id: "records.sign",
        group: "Records",
        name: 'build + sign + chain + journal append (createRecorder.recordWindows, a burst of windows; fsync "always": each record resolves once durable)',
        value: rate(nSign, sign.recorderAlways!.medianMs),
        unit: "records/s",
        baseline: {
          name: "ethers signTypedData, same typed data",
          value: bareSignRate,
          unit: "records/s",
        },
        target: { op: ">=", value: 0.8, on: "ratio" },
      }),
      figure({
        id: "records.signAwaitEach",
        group: "Records",
        name: 'same, each record awaited before the next window is handed over (fsync "always"; no overlap possible)',
        value: rate(nSign, sign.recorderAwaitEach!.medianMs),
        unit: "records/s",
        baseline: { name: "ethers signTypedData", value: bareSignRate, unit: "records/s" },
        note: "information only",
      }),
      figure({
        id: "records.signNoFsync",
        group: "Records",
        name: 'same, journal fsync "never"',
        value: rate(nSign, sign.recorderNever!.medianMs),
        unit: "records/s",
        baseline: { name: "ethers signTypedData", value: bareSignRate, unit: "records/s" },
        note: "information only",
      }),
      figure({
        id: "records.verify",
        group: "Records",
        name: "verify records parsed from JSON (createMeterRecordVerifier, known key: signature, binding, seq, chain)",
        value: rate(nVerify, verify.verifier!.medianMs),
        unit: "records/s",
        baseline: {
          name: "ethers verifyTypedData + address compare",
          value: bareVerifyRate,
          unit: "records/s",
        },
        target: { op: ">=", value: 2, on: "ratio" },
      }),
      figure({
        id: "records.journalBatch",
        group: "Records",
        name: 'journal append, fsync "batch" (100 appends per tick share one fsync)',
        value: rate(nAppend, append.batch!.medianMs),
        unit: "records/s",
        baseline: { name: 'fsync per record ("always")', value: alwaysRate, unit: "records/s" },
        note: "information only",
      }),
      figure({
        id: "records.journalNever",
        group: "Records",
        name: 'journal append, fsync "never" (survives a process crash, not a power loss)',
        value: rate(nAppend, append.never!.medianMs),
        unit: "records/s",
        baseline: { name: 'fsync per record ("always")', value: alwaysRate, unit: "records/s" },
        note: "information only",
      }),
    ];
    return {
      figures,
      details: {
        signRecords: nSign,
        verifyRecords: nVerify,
        appendRecords: nAppend,
        rounds,
        recordJsonBytes: exported[0]?.length,
        tmpdir: os.tmpdir(),
        runsMs: {
          sign: Object.fromEntries(Object.entries(sign).map(([k, v]) => [k, v.runsMs])),
          verify: Object.fromEntries(Object.entries(verify).map(([k, v]) => [k, v.runsMs])),
          append: Object.fromEntries(Object.entries(append).map(([k, v]) => [k, v.runsMs])),
        },
      },
    };
  } finally {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  }
}
