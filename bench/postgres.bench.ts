// Postgres ledger: signed records accepted per second by postgresLedger on the PostgreSQL at
// DATABASE_URL (default the local server: postgres://postgres@127.0.0.1:5432/postgres), one
// record per call and 100 per call, against bare ethers verifyTypedData of the same records;
// then, at the full size (9,984 records: 104 days of quarter-hour records, one billing
// period), the time to settle that period, to sign a checkpoint, and an inclusion proof's size.
import {
  buildMeterRecord,
  genesisChainState,
  type MeterRecord,
  type MeterRecordBinding,
  meterRecordTypedData,
  nextChainState,
  signMeterRecord,
} from "@maaskit/metering";
import { openAgreementWithConsent, parseAgreement } from "@maaskit/settlement";
import { postgresLedger } from "@maaskit/settlement/postgres";
import { keccak256, type TypedDataField, toUtf8Bytes, verifyTypedData, Wallet } from "ethers";
import pg from "pg";
import { type Figure, figure, log, median, perSecond } from "./lib/measure.js";
import { compressorWindows } from "./lib/meterWindows.js";

const MACHINE_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
const PROVIDER_KEY = keccak256(toUtf8Bytes("maaskit.bench.provider"));
const CUSTOMER_KEY = keccak256(toUtf8Bytes("maaskit.bench.customer"));
const OPERATOR_KEY = keccak256(toUtf8Bytes("maaskit.bench.operator"));
const START = "2025-01-01T00:00:00.000Z";
const QUARTER_HOURS_PER_DAY = 96;

function agreementFor(days: number, machine: Wallet) {
  return parseAgreement({
    agreementId: keccak256(toUtf8Bytes(`maaskit.bench/postgres/${days}`)),
    name: `bench postgres ${days} days`,
    parties: {
      provider: new Wallet(PROVIDER_KEY).address,
      customer: new Wallet(CUSTOMER_KEY).address,
    },
    machineId: "compressor-7",
    signers: [{ address: machine.address, validFrom: START }],
    tariff: {
      version: 1,
      metered: { unit: "MTQ", basis: "ISO1217-FAD" },
      pricing: { model: "perUnit", unitPrice: "0.02" },
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency: { symbol: "EURT", decimals: 6 },
    billingPeriod: { kind: "days", days, timeZone: "UTC", anchor: START },
    paymentTerms: { kind: "invoiced", netDays: 30 },
    start: START,
    status: "active",
  });
}

async function signChain(n: number, binding: MeterRecordBinding, signer: Wallet) {
  const out: MeterRecord[] = [];
  let chain = genesisChainState();
  for (const w of compressorWindows(n, "compressor-7", Date.parse(START))) {
    const unsigned = buildMeterRecord(w, { binding, chain, clock: "synchronised", channel: "air" });
    const record = await signMeterRecord(unsigned, { signer });
    out.push(record);
    chain = nextChainState(record);
  }
  return out;
}

/** A fresh database on the server for one run; `drop` removes it. */
export async function freshDatabase(url: string, label: string) {
  const name = `maaskit_bench_${label}_${process.pid}_${Date.now()}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const target = new URL(url);
  target.pathname = `/${name}`;
  return {
    connectionString: target.toString(),
    async drop() {
      const a = new pg.Client({ connectionString: url });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    },
  };
}

interface Run {
  submitMs: number;
  accepted: number;
  settleMs?: number;
  checkpointMs?: number;
  entries?: number;
  proofBytes?: number;
  proofHashes?: number;
  /** Median time to read one inclusion proof from the database (O(log n) stored nodes). */
  proofMs?: number;
}

async function run(
  url: string,
  days: number,
  machine: Wallet,
  records: (binding: MeterRecordBinding) => Promise<MeterRecord[]>,
  batch: number,
  settle: boolean,
): Promise<Run> {
  const db = await freshDatabase(url, batch === 1 ? "single" : "batch");
  const ledger = postgresLedger({
    connectionString: db.connectionString,
    clock: { now: () => new Date("2026-01-01T00:00:00Z") },
    operator: new Wallet(OPERATOR_KEY),
  });
  try {
    await ledger.ready;
    // Signature checks run on worker threads before the lock; loading them is not timed.
    await ledger.startVerifyThreads();
    const agreement = agreementFor(days, machine);
    const opened = await openAgreementWithConsent(ledger, agreement);
    const signed = await records({ agreementId: agreement.agreementId, ...opened.recordDomain });
    globalThis.gc?.();
    const t0 = performance.now();
    let accepted = 0;
    for (let i = 0; i < signed.length; i += batch) {
      const r = await ledger.submitRecords({
        agreementId: agreement.agreementId,
        records: signed.slice(i, i + batch),
      });
      accepted += r.accepted;
    }
    const submitMs = performance.now() - t0;
    if (accepted !== signed.length) throw new Error(`accepted ${accepted} of ${signed.length}`);
    if (!settle) return { submitMs, accepted };
    const s0 = performance.now();
    const invoice = await ledger.settlePeriod({
      agreementId: agreement.agreementId,
      period: {
        start: new Date(START),
        end: new Date(Date.parse(START) + days * 86_400_000),
      },
    });
    const settleMs = performance.now() - s0;
    if (invoice.records?.count !== signed.length) {
      throw new Error(`the invoice covers ${invoice.records?.count} of ${signed.length} records`);
    }
    const c0 = performance.now();
    const cp = await ledger.checkpoint();
    const checkpointMs = performance.now() - c0;
    const proof = await ledger.getProof(Math.max(1, Math.floor(cp.treeSize / 2)));
    const proofTimes: number[] = [];
    for (let k = 1; k <= 21; k++) {
      const p0 = performance.now();
      await ledger.getProof(Math.max(1, Math.floor((cp.treeSize * k) / 22)));
      proofTimes.push(performance.now() - p0);
    }
    return {
      proofMs: median(proofTimes),
      submitMs,
      accepted,
      settleMs,
      checkpointMs,
      entries: cp.treeSize,
      proofBytes: proof.path.length * 32,
      proofHashes: proof.path.length,
    };
  } finally {
    await ledger.close();
    await db.drop();
  }
}

export async function postgresBench(quick: boolean): Promise<{
  figures: Figure[];
  details: Record<string, unknown>;
}> {
  const url = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";
  const days = quick ? 7 : 104;
  const n = days * QUARTER_HOURS_PER_DAY;
  // One round in full mode too: 9,984 records one per call is ~10k transactions per round.
  const rounds = 1;
  const machine = new Wallet(MACHINE_KEY);
  const cache = new Map<string, MeterRecord[]>();
  const records = async (binding: MeterRecordBinding) => {
    const k = `${binding.agreementId}|${binding.chainId}|${binding.verifyingContract}`;
    let r = cache.get(k);
    if (r === undefined) {
      log(`postgres: signing ${n} records`);
      r = await signChain(n, binding, machine);
      cache.set(k, r);
    }
    return r;
  };
  log(`postgres: warming up (${new URL(url).host})`);
  await run(url, days, machine, records, 100, false);
  const batchRuns: Run[] = [];
  const singleRuns: Run[] = [];
  const bareMs: number[] = [];
  const signed = [...cache.values()][0]!;
  const typed = signed.map((r) => {
    const t = meterRecordTypedData(r);
    const { EIP712Domain: _d, ...types } = t.types;
    return {
      domain: t.domain,
      types: types as Record<string, TypedDataField[]>,
      message: t.message,
      signature: r.signature,
    };
  });
  log(
    `postgres: ${rounds} round(s) of ${n} records: 100 per call (then settle, checkpoint, proof), one per call, bare verifyTypedData`,
  );
  for (let i = 0; i < rounds; i++) {
    batchRuns.push(await run(url, days, machine, records, 100, true));
    singleRuns.push(await run(url, days, machine, records, 1, true));
    const t0 = performance.now();
    let ok = 0;
    for (const t of typed)
      if (verifyTypedData(t.domain, t.types, t.message, t.signature) === machine.address) ok++;
    bareMs.push(performance.now() - t0);
    if (ok !== n) throw new Error(`bare verification accepted ${ok} of ${n}`);
  }
  const bare = perSecond(n, median(bareMs));
  // Growth: the same, one record per call (one Merkle leaf each), at a larger size. 1M
  // records cannot be signed and submitted here in reasonable time (see docs/scaling.md).
  const growthDays = quick ? 28 : 208;
  const gn = growthDays * QUARTER_HOURS_PER_DAY;
  log(`postgres: growth — ${gn} records one per call, then settle, checkpoint, proofs`);
  const growth = await run(
    url,
    growthDays,
    machine,
    async (binding) => {
      log(`postgres: signing ${gn} records`);
      return signChain(gn, binding, machine);
    },
    1,
    true,
  );
  const m = (runs: Run[], k: keyof Run) => median(runs.map((r) => Number(r[k])));
  const single = singleRuns[0]!;
  const figures: Figure[] = [
    figure({
      id: "postgres.batch100",
      group: "Postgres ledger",
      name: "postgresLedger: signed records accepted (submitRecords, 100 per call, one transaction each)",
      value: perSecond(n, m(batchRuns, "submitMs")),
      unit: "records/s",
      baseline: {
        name: "bare ethers verifyTypedData of the same records (one core)",
        value: bare,
        unit: "records/s",
      },
      target: { op: ">=", value: 2000, on: "value" },
    }),
    figure({
      id: "postgres.single",
      group: "Postgres ledger",
      name: "postgresLedger: one record per submitRecords call (one transaction, one commit each)",
      value: perSecond(n, m(singleRuns, "submitMs")),
      unit: "records/s",
      baseline: { name: "bare ethers verifyTypedData (one core)", value: bare, unit: "records/s" },
    }),
    figure({
      id: "postgres.settle",
      group: "Postgres ledger",
      name: `postgresLedger: settle one period of ${n} records`,
      value: m(batchRuns, "settleMs"),
      unit: "ms",
    }),
    figure({
      id: "postgres.proofBytes",
      group: "Postgres ledger",
      name: `inclusion proof of one entry in a tree of ${single.entries} entries (one record per entry)`,
      value: single.proofBytes!,
      unit: "bytes",
      note: `${single.proofHashes} hashes = ceil(log2(${single.entries}))`,
    }),
    figure({
      id: "postgres.growth.settle",
      group: "Postgres ledger",
      name: `postgresLedger: settle one period of ${gn} records (growth)`,
      value: growth.settleMs!,
      unit: "ms",
      baseline: { name: `the same with ${n} records`, value: single.settleMs!, unit: "ms" },
      note: `${(gn / n).toFixed(1)}× the records`,
    }),
    figure({
      id: "postgres.growth.proofBytes",
      group: "Postgres ledger",
      name: `inclusion proof in a tree of ${growth.entries} entries (growth)`,
      value: growth.proofBytes!,
      unit: "bytes",
      baseline: {
        name: `tree of ${single.entries} entries`,
        value: single.proofBytes!,
        unit: "bytes",
      },
      note: `${growth.proofHashes} hashes = ceil(log2(${growth.entries})): grows as log n`,
    }),
    figure({
      id: "postgres.growth.proofRead",
      group: "Postgres ledger",
      name: `read one inclusion proof from a tree of ${growth.entries} entries (O(log n) stored nodes, one query)`,
      value: growth.proofMs!,
      unit: "ms",
      baseline: { name: `tree of ${single.entries} entries`, value: single.proofMs!, unit: "ms" },
      target: { op: "<=", value: 2, on: "ratio" },
    }),
    figure({
      id: "postgres.checkpoint",
      group: "Postgres ledger",
      name: `sequence and sign a checkpoint over ${single.entries} new entries (nodes built as leaves are added; the root from O(log n) of them)`,
      value: m(singleRuns, "checkpointMs"),
      unit: "ms",
    }),
  ];
  return {
    figures,
    details: {
      records: n,
      rounds,
      server: new URL(url).host,
      batch100: batchRuns,
      single: singleRuns,
      growth,
      bareMs: bareMs.map(Math.round),
    },
  };
}
