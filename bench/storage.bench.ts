// Storage: how long the embedded ledger takes to open (lock, integrity checks, saved state
// restored — no replay) with 10k and with 1M accepted records (`--quick`: 2k and 100k); the
// big figure's baseline is the small one, so the ratio says whether open time grows with the
// history.
//
// Both ledgers are real: every record signed (libsecp256k1), chained, submitted through
// `submitRecords` and checked by every rule, as a gateway's would be — in calls of 100.
// Building the big one takes long (a million signatures made and verified: hours on this
// shared machine, ~10 minutes for 100k), so each ledger is built once into the OS temp dir
// (`maaskit-bench-ledger-<n>-v2`, never in git) and reused by later runs;
// `details.builtSeconds` says how long it took when it was built in that run.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { embeddedLedger, openAgreementWithConsent, parseAgreement } from "@maaskit/settlement";
import { keccak256, toUtf8Bytes, Wallet } from "ethers";
import { type Figure, figure, interleaved, log } from "./lib/measure.js";
import { signedRecordsParallel } from "./lib/signedRecords.js";

// Fixed, public benchmark keys: never hold anything of value.
const MACHINE_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
const START = "2025-01-01T00:00:00.000Z";
// Calls of 100, as the gateway's delivery loop sends them: each call is one hash-chained
// entry, and opening re-checks the last 64 entries, so entries of 1,000 records would make the
// tail check (not the history) the cost being measured.
const BATCH = 100;

function agreement(machine: Wallet) {
  return parseAgreement({
    agreementId: keccak256(toUtf8Bytes("maaskit.bench/storage")),
    name: "bench storage",
    parties: {
      provider: new Wallet(keccak256(toUtf8Bytes("maaskit.bench.provider"))).address,
      customer: new Wallet(keccak256(toUtf8Bytes("maaskit.bench.customer"))).address,
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
    billingPeriod: { kind: "calendarMonth", timeZone: "UTC" },
    paymentTerms: { kind: "invoiced", netDays: 30 },
    start: START,
    status: "active",
  });
}

/** The growing ledger every big one is built from (interrupted builds resume from it). */
const PARTIAL = path.join(os.tmpdir(), "maaskit-bench-ledger-v2.partial");

/**
 * The cached ledger directory holding `n` accepted records. Built on first use in the
 * partial ledger (`PARTIAL`, extended from where an earlier or interrupted build stopped:
 * each call of 100 is one transaction, so it holds whole calls only), then copied to its
 * own name, so the partial can keep growing towards a bigger one.
 */
async function ledgerWith(n: number): Promise<{ dir: string; builtMs?: number; from?: number }> {
  const dir = path.join(os.tmpdir(), `maaskit-bench-ledger-${n}-v2`);
  if (fs.existsSync(dir)) return { dir };
  const t = performance.now();
  const machine = new Wallet(MACHINE_KEY);
  const ledger = embeddedLedger({ dir: PARTIAL });
  const a = agreement(machine);
  let from = 0;
  try {
    const state = await ledger.getAgreement(a.agreementId).catch(() => undefined);
    const domain = state?.recordDomain ?? (await openAgreementWithConsent(ledger, a)).recordDomain;
    const binding = { agreementId: a.agreementId, ...domain };
    from = (await ledger.getRecordsHead(a.agreementId)).nextSeq;
    if (from > n) throw new Error(`${PARTIAL} already holds ${from} records (> ${n}): remove it`);
    log(
      `storage: building a ledger of ${n} accepted records from ${from} in ${PARTIAL}, then ${dir} (cached for later runs)`,
    );
    let accepted = from;
    // Signed on worker threads (the other cores) while this thread has the ledger check and
    // store the previous call's records.
    for await (const batch of signedRecordsParallel(n, binding, machine, Date.parse(START), {
      batch: BATCH,
      from,
    })) {
      const r = await ledger.submitRecords({ agreementId: a.agreementId, records: batch });
      accepted += r.accepted;
      if (accepted % 50_000 === 0) {
        log(`storage: … ${accepted} accepted, ${Math.round(performance.now() - t) / 1000} s`);
      }
    }
    const head = await ledger.getRecordsHead(a.agreementId);
    if (accepted !== n || head.nextSeq !== n) {
      throw new Error(`ledger accepted ${accepted} (head ${head.nextSeq}) of ${n}`);
    }
  } finally {
    await ledger.close();
  }
  const tmp = `${dir}.${process.pid}.tmp`;
  fs.cpSync(PARTIAL, tmp, { recursive: true });
  fs.renameSync(tmp, dir);
  return { dir, builtMs: performance.now() - t, from };
}

function dirBytes(dir: string): number {
  return fs.readdirSync(dir).reduce((sum, f) => sum + fs.statSync(path.join(dir, f)).size, 0);
}

export async function storageBench(quick: boolean): Promise<{
  figures: Figure[];
  details: Record<string, unknown>;
}> {
  const small = quick ? 2_000 : 10_000;
  // MAASKIT_BENCH_LEDGER_RECORDS overrides the big ledger's size (e.g. 100000 when a million
  // cannot be built in the time at hand).
  const big = Number(process.env.MAASKIT_BENCH_LEDGER_RECORDS ?? (quick ? 100_000 : 1_000_000));
  const machine = new Wallet(MACHINE_KEY);
  const agreementId = agreement(machine).agreementId;
  const s = await ledgerWith(small);
  const b = await ledgerWith(big);
  const open = (dir: string, n: number) => async () => {
    const ledger = embeddedLedger({ dir });
    const head = await ledger.getRecordsHead(agreementId);
    await ledger.close();
    if (head.nextSeq !== n) throw new Error(`head ${head.nextSeq}, expected ${n}`);
  };
  log("storage: timing opens");
  const t = await interleaved({ small: open(s.dir, small), big: open(b.dir, big) }, quick ? 5 : 11);
  const figures: Figure[] = [
    figure({
      id: "storage.embedded.open1m",
      group: "Storage",
      name: `embedded ledger: open with ${big.toLocaleString("en")} accepted records (lock, checks, saved state; no replay)`,
      value: t.big!.medianMs,
      unit: "ms",
      baseline: {
        name: `the same with ${small.toLocaleString("en")} accepted records`,
        value: t.small!.medianMs,
        unit: "ms",
      },
      target: { op: "<=", value: 2, on: "ratio" },
    }),
  ];
  return {
    figures,
    details: {
      records: { small, big },
      ledgers: { small: s.dir, big: b.dir },
      directoryBytes: { small: dirBytes(s.dir), big: dirBytes(b.dir) },
      builtSeconds: {
        small: s.builtMs === undefined ? "cached" : Math.round(s.builtMs / 100) / 10,
        big: b.builtMs === undefined ? "cached" : Math.round(b.builtMs / 100) / 10,
      },
      builtFrom: { small: s.from ?? "cached", big: b.from ?? "cached" },
      runsMs: { small: t.small!.runsMs, big: t.big!.runsMs },
    },
  };
}
