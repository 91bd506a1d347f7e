// Storage: how long the embedded ledger takes to open (lock, integrity checks, saved state
// restored — no replay) with 10k and with 1M accepted records; the 1M figure's baseline is the
// 10k one, so the ratio says whether open time grows with the history.
//
// The 10k ledger is built through the ledger's API (10k signed records, verified and
// accepted in calls of 100). Signing and verifying 1M records would take about 40 minutes
// here, so the 1M ledger is that ledger grown in place to the size and shape of 1M accepted
// records: its records and events rows copied 99 times with shifted seqs and periods, and its
// submitRecords chain entries appended again (hash-linked, through the store) — what opening
// reads (the chain's head and tail, the saved state) is exactly as the ledger writes it.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import {
  buildMeterRecord,
  genesisChainState,
  type MeterRecord,
  type MeterRecordBinding,
  nextChainState,
  signMeterRecord,
} from "@maaskit/metering";
import { openStore } from "@maaskit/metering/storage";
import { embeddedLedger, parseAgreement } from "@maaskit/settlement";
import { keccak256, toUtf8Bytes, Wallet } from "ethers";
import { type Figure, figure, interleaved, log } from "./lib/measure.js";
import { compressorWindows } from "./lib/meterWindows.js";

// Fixed, public benchmark keys: never hold anything of value.
const MACHINE_KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba";
const START = "2025-01-01T00:00:00.000Z";

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

/** A ledger directory with `n` records accepted through the API, in calls of 100. */
async function buildLedger(dir: string, n: number): Promise<string> {
  const machine = new Wallet(MACHINE_KEY);
  const ledger = embeddedLedger({ dir, clock: { now: () => new Date("2026-01-01T00:00:00Z") } });
  const a = agreement(machine);
  const opened = await ledger.openAgreement(a);
  log(`storage: signing ${n} records`);
  const records = await signChain(
    n,
    { agreementId: a.agreementId, ...opened.recordDomain },
    machine,
  );
  log(`storage: submitting ${n} records`);
  for (let i = 0; i < records.length; i += 100) {
    await ledger.submitRecords({ agreementId: a.agreementId, records: records.slice(i, i + 100) });
  }
  const head = await ledger.getRecordsHead(a.agreementId);
  await ledger.close();
  if (head.nextSeq !== n) throw new Error(`ledger accepted ${head.nextSeq} of ${n}`);
  return a.agreementId;
}

/** Grows a ledger of `n` records to `n * factor` (see the file's comment). */
function grow(dir: string, n: number, factor: number): void {
  const store = openStore({
    file: path.join(dir, "ledger.db"),
    kind: "settlement.embeddedLedger/1",
    quickCheck: "never",
  });
  try {
    const db = store.db;
    const span = db
      .prepare("SELECT max(period_end) - min(period_start) FROM records")
      .pluck()
      .get() as number;
    const events = db.prepare("SELECT max(id) FROM events").pluck().get() as number;
    const submits = db
      .prepare(
        "SELECT body FROM chain WHERE kind = 'command' AND body LIKE '%\"t\":\"submitRecords\"%' ORDER BY idx",
      )
      .pluck()
      .all() as string[];
    for (let k = 1; k < factor; k++) {
      store.transaction(() => {
        db.prepare(
          `INSERT INTO records (agreement, seq, period_start, period_end, digest, record)
           SELECT agreement, seq + ?, period_start + ?, period_end + ?, digest, record FROM records WHERE seq < ?`,
        ).run(k * n, k * span, k * span, n);
        db.prepare(
          "INSERT INTO events (entry, body) SELECT entry, body FROM events WHERE id <= ?",
        ).run(events);
        for (const body of submits) store.append("command", body);
      });
      if (k % 10 === 0) log(`storage: grown to ${(k + 1) * n} records`);
    }
  } finally {
    store.close();
  }
}

export async function storageBench(quick: boolean): Promise<{
  figures: Figure[];
  details: Record<string, unknown>;
}> {
  const small = quick ? 2_000 : 10_000;
  const factor = 100;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-bench-storage-"));
  try {
    const smallDir = path.join(root, "small");
    const agreementId = await buildLedger(smallDir, small);
    const bigDir = path.join(root, "big");
    fs.cpSync(smallDir, bigDir, { recursive: true });
    log(`storage: growing a copy to ${small * factor} records`);
    grow(bigDir, small, factor);
    const sizes = {
      small: fs.statSync(path.join(smallDir, "ledger.db")).size,
      big: fs.statSync(path.join(bigDir, "ledger.db")).size,
    };
    const open = (dir: string) => async () => {
      const ledger = embeddedLedger({ dir });
      const head = await ledger.getRecordsHead(agreementId);
      await ledger.close();
      if (head.nextSeq !== small) throw new Error(`head ${head.nextSeq}`);
    };
    log("storage: timing opens");
    const t = await interleaved({ small: open(smallDir), big: open(bigDir) }, quick ? 5 : 11);
    const figures: Figure[] = [
      figure({
        id: "storage.embedded.open1m",
        group: "Storage",
        name: `embedded ledger: open with ${(small * factor).toLocaleString("en")} accepted records (lock, checks, saved state; no replay)`,
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
        records: { small, big: small * factor },
        databaseBytes: sizes,
        runsMs: { small: t.small!.runsMs, big: t.big!.runsMs },
        note: "the big ledger is the small one grown in place (records and events rows copied with shifted seqs, submitRecords entries re-appended to the hash chain); its saved agreement state still names the small head",
      },
    };
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}
