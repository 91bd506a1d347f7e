// `maaskit verify` (verifyExportReport: strict UTF-8 and JSON, parse, signature by
// libsecp256k1 recovery, agreement, seq, chain, periods, registers) over export files of
// 1,000 and of 1,000,000 signed, chained records — the per-record rate must not fall with
// the file's length (linear time, one pass) — and against bare ethers verifyTypedData of
// the same 1,000 records in the same run.
//
// Every line of the big file is a distinct, valid record chained to the one before: each
// is built with buildMeterRecord and signed once (libsecp256k1 via tiny-secp256k1, the
// same low-s, v ∈ {27, 28} signature an ethers Wallet gives). Generating a million takes
// minutes, so the file is cached in the OS temp dir (never in git), keyed by its length.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  type MeterRecordBinding,
  meterRecordToJson,
  meterRecordTypedData,
  type TypedDataJson,
  verifyExportReport,
  ZERO_ADDRESS,
} from "@maaskit/metering";
import { type TypedDataField, verifyTypedData, Wallet } from "ethers";
import { type Figure, figure, interleaved, log, perSecond } from "./lib/measure.js";
import { signedRecords } from "./lib/signedRecords.js";

// A fixed, public benchmark key: never holds anything of value.
const BENCH_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
const BINDING: MeterRecordBinding = {
  agreementId: "bench-agreement-verify",
  chainId: 0,
  verifyingContract: ZERO_ADDRESS,
};

/** Writes `n` chained signed records as JSON Lines through `write`, record by record. */
function generate(n: number, wallet: Wallet, write: (line: string) => void): void {
  for (const record of signedRecords(n, BINDING, wallet)) {
    write(`${JSON.stringify(meterRecordToJson(record))}\n`);
  }
}

/** The cached export file of `n` records (generated on first use); its path and how long generation took. */
function exportFile(n: number, wallet: Wallet): { file: string; generatedMs?: number } {
  const file = path.join(os.tmpdir(), `maaskit-bench-verify-${n}-v1.jsonl`);
  if (fs.existsSync(file)) return { file };
  log(`verify: generating ${n} signed records into ${file} (cached for later runs)`);
  const t = performance.now();
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, "w");
  let buffer: string[] = [];
  generate(n, wallet, (line) => {
    buffer.push(line);
    if (buffer.length >= 10_000) {
      fs.writeSync(fd, buffer.join(""));
      buffer = [];
      if (n >= 100_000) log(`verify: … ${Math.round(performance.now() - t) / 1000} s`);
    }
  });
  fs.writeSync(fd, buffer.join(""));
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  return { file, generatedMs: performance.now() - t };
}

function ethersArgs(t: TypedDataJson) {
  const { EIP712Domain: _domain, ...types } = t.types;
  return { domain: t.domain, types: types as Record<string, TypedDataField[]>, message: t.message };
}

export async function verifyBench(quick: boolean): Promise<{
  figures: Figure[];
  details: Record<string, unknown>;
}> {
  const wallet = new Wallet(BENCH_KEY);
  const small = 1_000;
  // MAASKIT_BENCH_VERIFY_LINES overrides the big file's length (e.g. for a smoke run).
  const big = Number(process.env.MAASKIT_BENCH_VERIFY_LINES ?? (quick ? 100_000 : 1_000_000));
  const rounds = quick ? 1 : 3;
  const options = { signers: [wallet.address], agreement: BINDING };

  const smallLines: string[] = [];
  generate(small, wallet, (l) => smallLines.push(l));
  const smallBytes = new TextEncoder().encode(smallLines.join(""));
  // The same records for ethers, typed data prepared outside the timing.
  const report = verifyExportReport(smallBytes, options);
  if (report.exitCode !== 0) throw new Error(`the ${small}-record file does not verify`);
  const { meterRecordFromJson } = await import("@maaskit/metering");
  const parsed = smallLines.map((l) => meterRecordFromJson(JSON.parse(l)));
  const typed = parsed.map((r) => ethersArgs(meterRecordTypedData(r)));

  log(`verify: ${small} records × ${rounds} round(s), and bare verifyTypedData`);
  let bareValid = 0;
  const runs = await interleaved(
    {
      verifySmall: () => {
        if (verifyExportReport(smallBytes, options).exitCode !== 0) throw new Error("invalid");
      },
      bare: () => {
        bareValid = 0;
        for (let i = 0; i < small; i++) {
          const a = typed[i]!;
          if (
            verifyTypedData(a.domain, a.types, a.message, parsed[i]!.signature) === wallet.address
          ) {
            bareValid++;
          }
        }
      },
    },
    rounds,
  );
  if (bareValid !== small) throw new Error(`bare verification: ${bareValid} of ${small} valid`);

  const { file, generatedMs } = exportFile(big, wallet);
  globalThis.gc?.();
  // Peak resident memory (the process's high-water mark, KiB) before reading the big file and
  // after verifying it: verifyExportReport takes the file's bytes whole and returns one
  // verdict per line, so what it holds grows with the file (reported, not hidden).
  const peakBefore = process.resourceUsage().maxRSS;
  const bytes = fs.readFileSync(file);
  log(`verify: ${big} records (${Math.round(bytes.length / 1e6)} MB) × 1 round`);
  globalThis.gc?.();
  const t = performance.now();
  const bigReport = verifyExportReport(bytes, options);
  const bigMs = performance.now() - t;
  const peakAfter = process.resourceUsage().maxRSS;
  if (bigReport.exitCode !== 0 || bigReport.verdicts.length !== big) {
    throw new Error(`the ${big}-record file does not verify (exit ${bigReport.exitCode})`);
  }
  const smallRate = perSecond(small, runs.verifySmall!.medianMs);
  const bigRate = perSecond(big, bigMs);
  const bareRate = perSecond(small, runs.bare!.medianMs);
  return {
    figures: [
      figure({
        id: "verify.export1k",
        group: "Verify",
        name: `maaskit verify of an export of ${small.toLocaleString("en")} records (verifyExportReport: strict JSON, signature, agreement, chain, periods, registers)`,
        value: smallRate,
        unit: "records/s",
        baseline: {
          name: "bare ethers verifyTypedData + address compare, same records",
          value: bareRate,
          unit: "records/s",
        },
        target: { op: ">=", value: 2, on: "ratio" },
      }),
      figure({
        id: "verify.export1M",
        group: "Verify",
        name: `same, an export of ${big.toLocaleString("en")} records in one pass (per-record rate vs the ${small.toLocaleString("en")}-record file)`,
        value: bigRate,
        unit: "records/s",
        baseline: {
          name: `${small.toLocaleString("en")}-record file`,
          value: smallRate,
          unit: "records/s",
        },
        target: { op: ">=", value: 0.8, on: "ratio" },
      }),
      figure({
        id: "verify.export1MPeakRss",
        group: "Verify",
        name: `peak RSS of the process after verifying the ${big.toLocaleString("en")}-record file (${Math.round(bytes.length / 2 ** 20).toLocaleString("en")} MiB, read whole; one verdict kept per line) (lower is better; information only)`,
        value: peakAfter / 1024,
        unit: "MiB",
        baseline: {
          name: `peak RSS before reading it (${small.toLocaleString("en")}-record runs done)`,
          value: peakBefore / 1024,
          unit: "MiB",
        },
      }),
    ],
    details: {
      smallRecords: small,
      bigRecords: big,
      bigFileBytes: bytes.length,
      bigFile: file,
      generatedSeconds: generatedMs === undefined ? "cached" : Math.round(generatedMs / 100) / 10,
      bigSeconds: Math.round(bigMs / 100) / 10,
      peakRssMiB: {
        beforeBigFile: Math.round(peakBefore / 1024),
        afterBigFile: Math.round(peakAfter / 1024),
      },
      rounds,
      runsMs: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.runsMs])),
    },
  };
}
