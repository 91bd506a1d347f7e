// `maaskit verify` (verifyExportStream: strict UTF-8 and JSON, parse, signature by
// libsecp256k1 recovery, agreement, seq, chain, periods, registers) over export files of
// 1,000 and of 1,000,000 signed, chained records — the per-record rate must not fall with
// the file's length (linear time, one pass) — and against bare ethers verifyTypedData of
// the same 1,000 records in the same run. The big file is verified as the CLI does it, in a
// child process streaming it from disk, whose peak RSS is compared with the same child's
// on the small file (bounded memory: it must not grow with the file).
//
// Every line of the big file is a distinct, valid record chained to the one before: each
// is built with buildMeterRecord and signed once (libsecp256k1 via tiny-secp256k1, the
// same low-s, v ∈ {27, 28} signature an ethers Wallet gives), on worker threads on every
// core. Generating a million takes a long while on a loaded machine, so the file is cached
// in the OS temp dir (never in git), keyed by its length.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import {
  type MeterRecordBinding,
  meterRecordToJson,
  meterRecordTypedData,
  type TypedDataJson,
  verifyExportReport,
  verifyExportStream,
  ZERO_ADDRESS,
} from "@maaskit/metering";
import { type TypedDataField, verifyTypedData, Wallet } from "ethers";
import { type Figure, figure, interleaved, log, perSecond } from "./lib/measure.js";
import { signedRecords, signedRecordsParallel } from "./lib/signedRecords.js";

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

/**
 * The cached export file of `n` records (generated on first use, signed on every core, into
 * a temporary name renamed when complete); its path and how long generation took.
 */
async function exportFile(
  n: number,
  wallet: Wallet,
): Promise<{ file: string; generatedMs?: number }> {
  const file = path.join(os.tmpdir(), `maaskit-bench-verify-${n}-v1.jsonl`);
  if (fs.existsSync(file)) return { file };
  log(`verify: generating ${n} signed records into ${file} (cached for later runs)`);
  const t = performance.now();
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, "w");
  try {
    let done = 0;
    for await (const records of signedRecordsParallel(n, BINDING, wallet)) {
      fs.writeSync(fd, records.map((r) => `${JSON.stringify(meterRecordToJson(r))}\n`).join(""));
      done += records.length;
      if (done % 100_000 === 0)
        log(`verify: … ${done} records, ${Math.round(performance.now() - t) / 1000} s`);
    }
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return { file, generatedMs: performance.now() - t };
}

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "children/verifyFile.mjs");

/** `maaskit verify` of `file` in a fresh Node process; checks it found `lines` valid lines. */
function verifyInChild(
  file: string,
  signer: string,
  lines: number,
): { ms: number; maxRssKiB: number; tenthRssKiB: number } {
  const out = execFileSync(
    process.execPath,
    [CHILD, file, signer, BINDING.agreementId, String(lines)],
    {
      encoding: "utf8",
      maxBuffer: 1 << 20,
    },
  );
  const r = JSON.parse(out) as {
    ms: number;
    lines: number;
    invalid: number;
    exitCode: number;
    maxRssKiB: number;
    tenthRssKiB: number;
  };
  if (r.exitCode !== 0 || r.lines !== lines || r.invalid !== 0) {
    throw new Error(
      `verify of ${file}: exit ${r.exitCode}, ${r.lines} lines, ${r.invalid} invalid`,
    );
  }
  return r;
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
      verifySmall: async () => {
        if ((await verifyExportStream([smallBytes], options)).exitCode !== 0) {
          throw new Error("invalid");
        }
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

  const { file, generatedMs } = await exportFile(big, wallet);
  const smallFile = path.join(os.tmpdir(), `maaskit-bench-verify-${small}-${process.pid}.jsonl`);
  fs.writeFileSync(smallFile, smallBytes);
  log(
    `verify: ${big} records (${Math.round(fs.statSync(file).size / 1e6)} MB) in a child process, streamed`,
  );
  const bigRun = verifyInChild(file, wallet.address, big);
  // The same child on the small file: the memory baseline (imports, verifier, buffers).
  const smallRun = verifyInChild(smallFile, wallet.address, small);
  fs.rmSync(smallFile);
  const bigMs = bigRun.ms;
  const smallRate = perSecond(small, runs.verifySmall!.medianMs);
  const bigRate = perSecond(big, bigMs);
  const bareRate = perSecond(small, runs.bare!.medianMs);
  return {
    figures: [
      figure({
        id: "verify.export1k",
        group: "Verify",
        name: `maaskit verify of an export of ${small.toLocaleString("en")} records (verifyExportStream: strict JSON, signature, agreement, chain, periods, registers)`,
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
        name: `same, an export of ${big.toLocaleString("en")} records streamed from disk in one pass by a child process (per-record rate vs the ${small.toLocaleString("en")}-record file)`,
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
        name: `peak RSS of \`maaskit verify\` (a child process streaming the file) over the ${big.toLocaleString("en")}-record file (${Math.round(fs.statSync(file).size / 2 ** 20).toLocaleString("en")} MiB) (lower is better; information only)`,
        value: bigRun.maxRssKiB / 1024,
        unit: "MiB",
        baseline: {
          name: `the same child over the ${small.toLocaleString("en")}-record file`,
          value: smallRun.maxRssKiB / 1024,
          unit: "MiB",
        },
      }),
      figure({
        id: "verify.export1MRssGrowth",
        group: "Verify",
        name: `peak RSS of that child after all ${big.toLocaleString("en")} lines (memory that grew with the file would show here) (lower is better; information only)`,
        value: bigRun.maxRssKiB / 1024,
        unit: "MiB",
        baseline: {
          name: `the same process after the first ${(big / 10).toLocaleString("en")} lines`,
          value: bigRun.tenthRssKiB / 1024,
          unit: "MiB",
        },
      }),
    ],
    details: {
      smallRecords: small,
      bigRecords: big,
      bigFileBytes: fs.statSync(file).size,
      bigFile: file,
      generatedSeconds: generatedMs === undefined ? "cached" : Math.round(generatedMs / 100) / 10,
      bigSeconds: Math.round(bigMs / 100) / 10,
      peakRssMiB: {
        smallFile: Math.round(smallRun.maxRssKiB / 1024),
        bigFile: Math.round(bigRun.maxRssKiB / 1024),
        bigFileFirstTenth: Math.round(bigRun.tenthRssKiB / 1024),
      },
      smallFileInChildSeconds: Math.round(smallRun.ms / 100) / 10,
      rounds,
      runsMs: Object.fromEntries(Object.entries(runs).map(([k, v]) => [k, v.runsMs])),
    },
  };
}
