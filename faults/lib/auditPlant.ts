import {
  dec,
  type MeterRecord,
  meterRecordCodec,
  meterRecordDigest,
  openJournal,
  runCli,
  type VerifyMeterRecordsReturnType,
  verifyMeterRecords,
} from "@maaskit/metering";
import {
  embeddedLedger,
  type Invoice,
  type LedgerBackend,
  type LedgerEvent,
  type RecordsHead,
} from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import type { Plant } from "./plant.js";

/** A volume reading the gateway consumed (printed by the child). */
export interface VolumeSeen {
  readonly t: number;
  readonly v: string;
}

/** Everything a scenario checks after its final clean run. */
export interface PlantAudit {
  readonly records: readonly MeterRecord[];
  /** Σ of every record's billed quantity. */
  readonly billed: Decimal;
  /** Ground truth: delivered m³ from the baseline reading to the last metered reading. */
  readonly groundTruth: Decimal;
  readonly baselineAt: number;
  readonly lastAt: number;
  readonly verification: VerifyMeterRecordsReturnType;
  /** `maaskit verify out/records.jsonl --signer …` exit code and output. */
  readonly cli: { readonly code: number; readonly out: string };
  readonly journal: {
    readonly nextSeq: number;
    readonly ackedThrough: number;
    readonly head: string;
  };
  /** The ledger's side (absent with `ledger: "none"`). */
  readonly ledgerHead?: RecordsHead;
  /** The ledger's RecordAccepted events of the agreement, in order. */
  readonly accepted?: readonly { seq: number; recordHash: string }[];
  readonly invoices?: readonly Invoice[];
  readonly settledEvents?: readonly LedgerEvent[];
}

/**
 * Reads back what a gateway left behind after its final clean run: the journal, the
 * exported records file, the ledger (embedded in `plant.ledgerDir`, or the one passed) and
 * prices the simulator's ground truth between the baseline reading (the last volume reading
 * at or before the agreement start, or the very first reading when there is none) and the
 * last reading metered.
 */
export async function auditPlant(
  plant: Plant,
  volumes: readonly VolumeSeen[],
  options: { ledger?: LedgerBackend | "none" } = {},
): Promise<PlantAudit> {
  const start = plant.agreement.start.getTime();
  const before = volumes.filter((r) => r.t <= start);
  const baseline = before.at(-1) ?? volumes[0]!;
  const last = volumes.at(-1)!;
  const groundTruth = plant.server.model
    .groundTruthVolumeAt(last.t)
    .minus(plant.server.model.groundTruthVolumeAt(baseline.t));

  const journal = await openJournal({ dir: plant.journalDir, codec: meterRecordCodec });
  const records: MeterRecord[] = [];
  let journalState: PlantAudit["journal"];
  try {
    for await (const r of journal.read(0)) records.push(r);
    const s = journal.state();
    journalState = { nextSeq: s.nextSeq, ackedThrough: s.ackedThrough, head: s.head };
  } finally {
    await journal.close();
  }
  let billed = dec(0);
  for (const r of records) billed = billed.plus(r.quantity.value);
  const verification = verifyMeterRecords(records, {
    signer: plant.signer.address,
  });

  let out = "";
  const code = await runCli(
    ["verify", `${plant.outDir}/records.jsonl`, "--signer", plant.signer.address],
    {
      stdout: (t) => {
        out += t;
      },
      stderr: (t) => {
        out += t;
      },
    },
  );

  const base = {
    records,
    billed,
    groundTruth,
    baselineAt: baseline.t,
    lastAt: last.t,
    verification,
    cli: { code, out },
    journal: journalState,
  };
  if (options.ledger === "none") return base;
  const ledger = options.ledger ?? embeddedLedger({ dir: plant.ledgerDir });
  try {
    const id = plant.agreement.agreementId;
    const ledgerHead = await ledger.getRecordsHead(id);
    const events = await ledger.getEvents();
    const accepted = events
      .filter((e) => e.type === "RecordAccepted" && e.agreementId === id)
      .map((e) => ({
        seq: (e as { seq: number }).seq,
        recordHash: (e as { recordHash: string }).recordHash,
      }));
    const settledEvents = events.filter((e) => e.type === "PeriodSettled");
    const invoices = await ledger.getInvoices(id);
    return {
      ...base,
      ledgerHead,
      accepted,
      invoices,
      settledEvents,
    };
  } finally {
    if (options.ledger === undefined) await ledger.close();
  }
}

/** Record digests by seq (what the ledger's `recordHash` and the next `prevHash` name). */
export function digests(records: readonly MeterRecord[]): string[] {
  return records.map((r) => meterRecordDigest(r));
}
