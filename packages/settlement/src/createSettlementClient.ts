import {
  type CreateDeliveryLoopParameters,
  createDeliveryLoop,
  type DeliveryLoop,
  type DeliverySink,
  type Journal,
  type MeterRecord,
} from "@maaskit/metering";
import { filter, type Observable } from "rxjs";
import type { Agreement } from "./agreement.js";
import { billingPeriodAt } from "./billingPeriodAt.js";
import type { Invoice } from "./invoice.js";
import type { LedgerBackend } from "./ledger.js";
import { isLedgerError, type LedgerErrorCode, ledgerError } from "./ledgerErrors.js";
import type { LedgerEvent, PeriodSettledEvent } from "./ledgerEvents.js";

/**
 * Ledger errors a retry cannot fix: the record itself (or the ledger's state for it) is
 * wrong, so the delivery loop must halt and report instead of retrying forever.
 * Everything else (the ledger unavailable, locked, the agreement not opened yet) is retried.
 */
const permanent: ReadonlySet<LedgerErrorCode> = new Set<LedgerErrorCode>([
  "settlement.record.invalid",
  "settlement.record.badSignature",
  "settlement.record.unknownSigner",
  "settlement.record.conflict",
  "settlement.record.seqGap",
  "settlement.record.brokenChain",
  "settlement.record.periodOverlap",
  "settlement.record.periodGap",
  "settlement.record.wrongAgreement",
  "settlement.record.outsideTerm",
  "settlement.ledger.corrupt",
]);

/** Options of `createSettlementClient`. */
export interface CreateSettlementClientParameters {
  /** Any backend: embedded, EVM, Cactus… Swapping it needs no change on the metering side. */
  readonly ledger: LedgerBackend;
  /** The gateway's record journal; with it the client runs a delivery loop into the ledger. */
  readonly journal?: Journal<MeterRecord>;
  /**
   * Backoff, scheduler, jitter source, `maxBatch` (default 100) and live batching
   * (`maxBatchDelayMs`, default 2,000; 0 turns it off) of the delivery loop. Without a `flushAfter`, the client
   * sends a record that ends its agreement's billing period at once (the agreement is read
   * from the ledger; until it has been read, no record is held).
   */
  readonly delivery?: Omit<CreateDeliveryLoopParameters<MeterRecord>, "journal" | "sink">;
}

/** A settlement client: the journal's delivery loop wired to a ledger backend. */
export interface SettlementClient {
  readonly ledger: LedgerBackend;
  /**
   * The sink the delivery loop uses: submits one record, or a batch in one `submitRecords`
   * call per agreement (idempotent — a duplicate is success), and marks errors a retry
   * cannot fix with `details.retryable: false`.
   */
  readonly sink: DeliverySink<MeterRecord>;
  /** The delivery loop, when a journal was given (started by `start()`). */
  readonly delivery: DeliveryLoop<MeterRecord> | undefined;
  /** The ledger's events (history, then live). */
  readonly events$: Observable<LedgerEvent>;
  /** `PeriodSettled` events: a new invoice exists (read it with `getInvoices`). */
  readonly settlements$: Observable<PeriodSettledEvent>;
  getInvoices(agreementId: string): Promise<readonly Invoice[]>;
  /** Starts delivering journaled records (no-op without a journal). */
  start(): void;
  /** Stops the delivery loop after an in-flight submit; does not close the ledger. */
  stop(): Promise<void>;
}

/**
 * Wires a gateway's record journal to a ledger backend: the journal's delivery loop hands
 * every unacknowledged record, in order and at least once, to `ledger.submitRecords` (up to
 * `delivery.maxBatch` records per call), whose idempotency by `(agreementId, seq)` turns
 * at-least-once into exactly-once.
 *
 * @example
 * ```ts
 * const journal = await openJournal({ dir: "./journal", codec: meterRecordCodec })
 * const client = createSettlementClient({ ledger: embeddedLedger({ dir: "./ledger" }), journal })
 * client.settlements$.subscribe((e) => console.log("invoice", e.agreementId, e.total))
 * client.start()
 * ```
 */
export function createSettlementClient(params: CreateSettlementClientParameters): SettlementClient {
  const { ledger } = params;
  const sink: DeliverySink<MeterRecord> = {
    async submit(record) {
      try {
        const out = await ledger.submitRecords({
          agreementId: record.agreementId,
          records: [record],
        });
        const hash = out.results[0]?.recordHash;
        return hash === undefined ? undefined : { ledgerRef: hash };
      } catch (err) {
        throw markPermanent(err);
      }
    },
    async submitBatch(records) {
      const ledgerRefs: (string | undefined)[] = [];
      try {
        // A journal holds one agreement, but a run of another agreement's records would be
        // rejected by the ledger as a whole: submit each run of one agreement separately.
        for (let i = 0; i < records.length; ) {
          const agreementId = records[i]!.agreementId;
          let j = i + 1;
          while (j < records.length && records[j]!.agreementId === agreementId) j++;
          const out = await ledger.submitRecords({ agreementId, records: records.slice(i, j) });
          for (let k = 0; k < j - i; k++) ledgerRefs.push(out.results[k]?.recordHash);
          i = j;
        }
      } catch (err) {
        throw markPermanent(err);
      }
      return { ledgerRefs };
    },
  };
  const delivery =
    params.journal === undefined
      ? undefined
      : createDeliveryLoop({
          flushAfter: endsBillingPeriod(ledger),
          ...params.delivery,
          journal: params.journal,
          sink,
        });
  return {
    ledger,
    sink,
    delivery,
    events$: ledger.events$,
    settlements$: ledger.events$.pipe(
      filter((e): e is PeriodSettledEvent => e.type === "PeriodSettled"),
    ),
    getInvoices: (agreementId) => ledger.getInvoices(agreementId),
    start() {
      delivery?.start();
    },
    async stop() {
      await delivery?.stop();
    },
  };
}

/**
 * Whether a record is the last of its agreement's billing period, so the delivery loop holds
 * nothing past a period's end. The agreement is read from the ledger once; until then (or
 * if it cannot be read) every record counts as the last, i.e. nothing is held.
 */
function endsBillingPeriod(ledger: LedgerBackend): (record: MeterRecord) => boolean {
  const agreements = new Map<string, Agreement | "loading">();
  return (record) => {
    const a = agreements.get(record.agreementId);
    if (a === undefined) {
      agreements.set(record.agreementId, "loading");
      ledger.getAgreement(record.agreementId).then(
        (s) => agreements.set(record.agreementId, s.agreement),
        () => agreements.delete(record.agreementId),
      );
    }
    if (a === undefined || a === "loading") return true;
    try {
      return billingPeriodAt(a, record.periodStart).end.getTime() <= record.periodEnd.getTime();
    } catch {
      return true; // outside the term: the ledger will say why; hold nothing
    }
  };
}

/** A ledger error a retry cannot fix, marked so the delivery loop halts on it. */
function markPermanent(err: unknown): unknown {
  if (isLedgerError(err) && permanent.has(err.code)) {
    return ledgerError(err.code, err.shortMessage, { ...err.details, retryable: false }, err);
  }
  return err;
}
