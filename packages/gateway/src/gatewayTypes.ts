// The gateway's public types: its parameters, events, health and the object createGateway returns.
import type {
  ClockStatus,
  Journal,
  MeterEvent,
  MeterRecord,
  MeterWindow,
  QuarantineEvent,
  Reading,
  Recorder,
  WindowSize,
} from "@maaskit/metering";
import type {
  Agreement,
  Invoice,
  LedgerBackend,
  LedgerDomain,
  SettlementClient,
} from "@maaskit/settlement";
import type { Signer } from "ethers";
import type { Observable, OperatorFunction, SchedulerLike } from "rxjs";
import type { PeriodSettler, SettlerEvent } from "./createPeriodSettler.js";
import type { MachineProfile } from "./machineProfile.js";

/**
 * Where billing starts on the register.
 * - `"observed"` (default): the last reading at or before the agreement start; if the gateway
 *   first reads the register later, it bills from that first reading and reports
 *   `baseline.late` (the usage before it is unknown and not billed — never silently).
 * - `{ register, at }`: the register value read at the agreement start (e.g. by the
 *   commissioning technician or `maaskit-gateway init`); usage from it is billed, bridged.
 */
export type BaselineOption = "observed" | { readonly register: string; readonly at: Date };

/** How records treat time the gateway did not observe (before connecting, server restarts). */
export type UnobservedTimePolicy =
  /** Default: not the machine's fault — left out of planned busy time, no SLA credit. */
  | "notMachineFault"
  /** Counted as machine down time (availability falls, SLA credits accrue). */
  | "machineDownTime";

export interface CreateGatewayParameters {
  readonly agreement: Agreement;
  readonly ledger: LedgerBackend;
  /** The machine's signing key (any ethers v6 signer). */
  readonly signer: Signer;
  /** Journal, register baseline and settlement state live here. */
  readonly dataDir: string;
  /** The machine: billed channel, state channel, ideal rate, counter modulus. */
  readonly profile: MachineProfile;
  /** Window size (default 15 minutes) in the billing period's time zone. */
  readonly window?: {
    readonly size?: WindowSize;
    readonly timeZone?: string;
    readonly allowedLatenessMs?: number;
  };
  readonly baseline?: BaselineOption;
  readonly unobservedTime?: UnobservedTimePolicy;
  /**
   * The source is read without security (OPC UA mode None, opted into explicitly): every
   * record carries flag `insecureSource`. Default false.
   */
  readonly insecureSource?: boolean;
  /**
   * Also accept the agreement as its customer right after offering it (`acceptAgreement` by
   * `agreement.parties.customer`). Only for a single-operator setup whose ledger acts for the
   * customer too (a local embedded ledger, a demo). Default false: the gateway offers the
   * agreement as the provider and delivery retries (`settlement.agreement.notActive`) until the
   * customer has accepted it on the ledger; records wait safely in the journal.
   */
  readonly acceptAsCustomer?: boolean;
  /** Clock status written in records. Default `"informative"`. */
  readonly clock?: ClockStatus | (() => ClockStatus);
  /** Timers of delivery backoff and settlement retries; a `VirtualTimeScheduler` in tests. */
  readonly scheduler?: SchedulerLike;
  readonly delivery?: {
    readonly backoff?: { initialMs?: number; maxMs?: number; factor?: number; jitter?: number };
    readonly maxBatch?: number;
    /**
     * Live batching: how long records may wait for a fuller batch (default 2,000 ms; never
     * past a billing-period end; `stop()` sends held records at once). 0 delivers at once.
     */
    readonly maxBatchDelayMs?: number;
    readonly random?: () => number;
  };
  readonly settleRetry?: { readonly initialMs?: number; readonly maxMs?: number };
  /** How long `stop()` waits (scheduler time) for the ledger to acknowledge and settle. Default 10 s. */
  readonly drainTimeoutMs?: number;
}

/** Something the gateway did, for logs and dashboards. */
export type GatewayEvent =
  | { type: "agreement.opened"; agreementId: string; status: string; ledger: string }
  | {
      /** Opening the journal or the ledger's storage cut a torn tail or migrated old files. */
      type: "storage.recovered";
      store: "journal" | "ledger";
      recovery: Readonly<Record<string, unknown>>;
    }
  /** A reading the metering pipeline consumed (before validation: quarantined ones too). */
  | { type: "reading"; reading: Reading }
  | { type: "record"; record: MeterRecord; window: MeterWindow }
  /** The ledger acknowledged the record with this seq (once per record, in order). */
  | { type: "record.acknowledged"; seq: number }
  | { type: "record.unobserved"; start: Date; end: Date }
  | { type: "window.alreadyRecorded"; start: Date }
  /**
   * The first window reaching past the agreement's term end: from it on nothing is recorded
   * (the ledger would refuse it for good). Reported once; the chain ends at the term end.
   * Usage bridged over an outage that spans the term end is bridged into a window after it
   * (its split across the term end is unknown) and so is not billed. A window straddling the
   * term end (a window size that does not divide the term) is not recorded either.
   */
  | { type: "term.ended"; termEnd: Date; window: { start: Date; end: Date } }
  | { type: "reading.quarantined"; event: QuarantineEvent }
  | {
      type: "baseline.set";
      register: string;
      at: Date;
      source: "reading" | "configured" | "journal";
    }
  | { type: "baseline.late"; firstReadingAt: Date; agreementStart: Date }
  | { type: "delivery.retrying"; seq: number; attempt: number; error: string }
  | { type: "delivery.failed"; seq: number; error: string }
  | { type: "delivered"; ackedThrough: number }
  | SettlerEvent
  | { type: "stop.drainTimedOut"; unacked: number; duePeriods: number }
  | { type: "stopped"; records: number; ackedThrough: number };

/** The gateway's state at a glance. */
export interface GatewayHealth {
  /** Seq of the last journaled record (-1 if none) and its hash. */
  readonly chainHead: { readonly seq: number; readonly hash: string };
  readonly unacknowledged: number;
  readonly ackedThrough: number;
  /** `"ok"` until a delivery or settlement fails; `"unavailable"` while retrying. */
  readonly ledger: "ok" | "unavailable" | "halted";
  readonly lastSettledPeriod?: { readonly start: Date; readonly end: Date };
  readonly duePeriods: number;
  readonly stopping: boolean;
}

export interface Gateway {
  readonly agreement: Agreement;
  /** The EIP-712 domain the ledger checks records (and work-order attestations) under. */
  readonly ledgerDomain: LedgerDomain;
  readonly journal: Journal<MeterRecord>;
  readonly recorder: Recorder;
  readonly client: SettlementClient;
  readonly settler: PeriodSettler;
  /**
   * The metering pipeline as an operator: source events (readings, gaps, quarantines) in,
   * signed and journaled records out — validate → counter → machine state → windows → OEE →
   * record (outages bridged with empty windows cut at billing-period ends) → journal. Unit and
   * basis come from the agreement's tariff. Completes when the source completes or on `stop()`
   * (open windows are closed first).
   */
  meter(): OperatorFunction<MeterEvent, MeterRecord>;
  readonly invoices$: Observable<Invoice>;
  /** What the gateway does: the start-up events first (agreement opened, baseline, catch-up), then live. */
  readonly events$: Observable<GatewayEvent>;
  readonly health$: Observable<GatewayHealth>;
  health(): GatewayHealth;
  /**
   * Ends metering (open windows close), waits for in-flight records, lets delivery and
   * settlement finish (up to `drainTimeoutMs`), then closes the journal. Records the ledger
   * did not acknowledge stay journaled and are delivered by the next run.
   */
  stop(): Promise<GatewayHealth>;
}
