import { join } from "node:path";
import {
  type ClockStatus,
  type CounterDeltaInitial,
  type CounterDeltaOptions,
  counterDelta,
  createRecorder,
  type Journal,
  type MeterEvent,
  type MeterRecord,
  type MeterWindow,
  machineState,
  meterRecordCodec,
  type OeeElements,
  type OeeResult,
  oee,
  openJournal,
  type QuarantineEvent,
  quantity,
  type Recorder,
  type StateMapping,
  tumblingWindow,
  type UnitCode,
  validateReadings,
  type WindowSize,
} from "@maaskit/metering";
import {
  type Agreement,
  billingPeriodAt,
  createSettlementClient,
  type Invoice,
  type LedgerBackend,
  type LedgerDomain,
  type SettlementClient,
} from "@maaskit/settlement";
import type { Signer } from "ethers";
import {
  asyncScheduler,
  BehaviorSubject,
  concat,
  concatMap,
  defer,
  from,
  type Observable,
  type OperatorFunction,
  type SchedulerLike,
  Subject,
  takeUntil,
} from "rxjs";
import {
  createPeriodSettler,
  type PeriodSettler,
  type SettlerEvent,
} from "./createPeriodSettler.js";
import { GatewayError } from "./errors.js";
import { idealCycleTimeMs, type MachineProfile } from "./machineProfile.js";
import { type RegisterBaseline, readBaseline, writeBaseline } from "./registerBaseline.js";

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
  | { type: "record"; record: MeterRecord; window: MeterWindow }
  | { type: "record.unobserved"; start: Date; end: Date }
  | { type: "window.alreadyRecorded"; start: Date }
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

/**
 * The gateway every machine vendor needs, as one call: durable register baseline, outage
 * bridging, records delivered to the ledger at least once (exactly once on the ledger),
 * billing periods settled once acknowledged — retried for as long as the gateway runs —
 * missed settlements caught up after a restart, and a draining `stop()`.
 *
 * @example
 * ```ts
 * const gateway = await createGateway({ agreement, ledger, signer, dataDir: "./data", profile });
 * gateway.invoices$.subscribe((i) => console.log(i.total.toFixed()));
 * fromOpcUa({ endpointUrl, machineId, nodes }).pipe(gateway.meter()).subscribe();
 * // …
 * await gateway.stop();
 * ```
 */
export async function createGateway(p: CreateGatewayParameters): Promise<Gateway> {
  const { agreement, ledger, signer, profile } = p;
  const scheduler = p.scheduler ?? asyncScheduler;
  const billed = profile.channels[profile.billed];
  if (billed === undefined || billed.kind !== "register") {
    throw new GatewayError(
      "gateway.profile.invalid",
      `The profile's billed channel ${JSON.stringify(profile.billed)} is not a register channel`,
      { billed: profile.billed },
    );
  }
  const unit = agreement.tariff.metered.unit;
  const basis = agreement.tariff.metered.basis;
  if (billed.unit !== undefined && billed.unit !== unit) {
    throw new GatewayError(
      "gateway.profile.unitMismatch",
      `The billed register reads ${billed.unit} but the tariff bills ${unit}`,
      { register: billed.unit, tariff: unit },
    );
  }
  const events$ = new Subject<GatewayEvent>();
  // Events of the start-up (agreement opened, baseline, catch-up) happen before the caller can
  // subscribe: every subscriber gets them first, then the live ones.
  const startup: GatewayEvent[] = [];
  let started = false;
  const emit = (e: GatewayEvent) => {
    if (!started) startup.push(e);
    events$.next(e);
  };

  const opened = await ledger.openAgreement(agreement);
  if (p.acceptAsCustomer === true) {
    await ledger.acceptAgreement({
      agreementId: agreement.agreementId,
      by: agreement.parties.customer,
    });
  }
  // What opening the storage recovered or migrated is reported, never silent.
  const ledgerRecovery = (ledger as { recovery?: () => Record<string, unknown> }).recovery?.();
  if (ledgerRecovery !== undefined && Object.keys(ledgerRecovery).length > 0) {
    emit({ type: "storage.recovered", store: "ledger", recovery: ledgerRecovery });
  }
  const journal = await openJournal({ dir: join(p.dataDir, "journal"), codec: meterRecordCodec });
  if (Object.keys(journal.recovery).length > 0) {
    emit({ type: "storage.recovered", store: "journal", recovery: { ...journal.recovery } });
  }
  const recorder = createRecorder({
    journal,
    signer,
    binding: {
      agreementId: agreement.agreementId,
      chainId: opened.recordDomain.chainId,
      verifyingContract: opened.recordDomain.verifyingContract,
    },
    clock: p.clock ?? "informative",
    oee: (w) => oeeElements(w as MeterWindow<OeeResult>, p.unobservedTime ?? "notMachineFault"),
    build: {
      channel: profile.billed,
      unit,
      ...(basis ? { basis } : {}),
      ...(p.insecureSource ? { insecureSource: true } : {}),
    },
  });
  const client = createSettlementClient({
    ledger,
    journal,
    delivery: {
      backoff: { initialMs: 500, maxMs: 30_000, ...p.delivery?.backoff },
      scheduler,
      ...(p.delivery?.maxBatch ? { maxBatch: p.delivery.maxBatch } : {}),
      ...(p.delivery?.random ? { random: p.delivery.random } : {}),
    },
  });
  const settler = createPeriodSettler({
    agreement,
    ledger,
    journal,
    scheduler,
    ...(p.settleRetry ? { retry: p.settleRetry } : {}),
  });
  const invoices$ = new Subject<Invoice>();
  let ledgerHealth: GatewayHealth["ledger"] = "ok";
  let lastSettled: { start: Date; end: Date } | undefined;
  let stopping = false;

  const health = (): GatewayHealth => {
    const s = journal.state();
    return {
      chainHead: { seq: s.nextSeq - 1, hash: s.head },
      unacknowledged: s.unacked,
      ackedThrough: s.ackedThrough,
      ledger: ledgerHealth,
      ...(lastSettled ? { lastSettledPeriod: lastSettled } : {}),
      duePeriods: settler.due().length,
      stopping,
    };
  };
  const health$ = new BehaviorSubject<GatewayHealth>(health());
  const refresh = () => {
    if (!health$.closed) health$.next(health());
  };

  emit({
    type: "agreement.opened",
    agreementId: agreement.agreementId,
    status: opened.status,
    ledger: ledger.kind,
  });
  settler.events$.subscribe((e) => {
    emit(e);
    if (e.type === "period.settled" || e.type === "period.alreadySettled") {
      lastSettled = { start: e.invoice.period.start, end: e.invoice.period.end };
      ledgerHealth = "ok";
      invoices$.next(e.invoice);
    }
    if (e.type === "period.retrying") ledgerHealth = "unavailable";
    refresh();
  });
  client.delivery?.events$.subscribe((e) => {
    if (e.type === "retrying") {
      ledgerHealth = "unavailable";
      emit({ type: "delivery.retrying", seq: e.seq, attempt: e.attempt, error: String(e.error) });
    } else if (e.type === "failed") {
      ledgerHealth = "halted";
      emit({ type: "delivery.failed", seq: e.seq, error: String(e.error) });
    } else if (e.type === "caughtUp") {
      ledgerHealth = "ok";
      emit({ type: "delivered", ackedThrough: e.ackedThrough });
    }
    refresh();
  });
  journal.changes$.subscribe(() => refresh());
  client.start();
  await settler.catchUp();

  // The register baseline: from the journal after a restart, else from the baseline file
  // (kept until the first record is journaled), else configured, else observed.
  const baselineFile = join(p.dataDir, "baseline.json");
  const fromJournal = recorder.counterInitial(profile.billed);
  const fromFile = fromJournal ? undefined : readBaseline(baselineFile);
  const configured =
    p.baseline !== undefined && p.baseline !== "observed"
      ? { register: p.baseline.register, at: p.baseline.at, machineId: agreement.machineId }
      : undefined;
  const initial: CounterDeltaInitial | undefined = fromJournal ?? fromFile ?? configured;
  if (initial) {
    emit({
      type: "baseline.set",
      register: String(initial.register),
      at: initial.at,
      source: fromJournal ? "journal" : fromFile?.source === "reading" ? "reading" : "configured",
    });
  }
  if (configured && !fromJournal && !fromFile) {
    writeBaseline(baselineFile, { ...configured, source: "configured" });
  }
  let baselineSaved = initial !== undefined;
  let lateReported = false;
  const saveBaseline = (s: { machineId: string; register: { toFixed(): string }; at: Date }) => {
    if (recorder.chain().seq > 0) return;
    if (baselineSaved && s.at.getTime() > agreement.start.getTime()) return;
    const b: RegisterBaseline = {
      machineId: s.machineId,
      register: s.register.toFixed(),
      at: s.at,
      source: "reading",
    };
    writeBaseline(baselineFile, b);
    if (!baselineSaved)
      emit({ type: "baseline.set", register: b.register, at: b.at, source: "reading" });
    if (!baselineSaved && s.at.getTime() > agreement.start.getTime() && !lateReported) {
      lateReported = true;
      emit({ type: "baseline.late", firstReadingAt: s.at, agreementStart: agreement.start });
    }
    baselineSaved = true;
  };

  const stop$ = new Subject<void>();
  let inflight: Promise<unknown> = Promise.resolve();

  function meter(): OperatorFunction<MeterEvent, MeterRecord> {
    const units: Record<string, UnitCode> = {};
    for (const [ch, c] of Object.entries(profile.channels))
      if (c.unit && c.kind !== "state") units[ch] = c.unit as UnitCode;
    // Contract options of counterDelta (capacity, resetCounterChannel) are passed through as
    // typed there; older metering versions ignore them.
    const contract: {
      capacity?: { value: string; per: "s" | "min" | "h" };
      resetCounterChannel?: string;
    } = {
      ...(billed!.capacity ? { capacity: billed!.capacity } : {}),
      ...(billed!.resetCounterChannel ? { resetCounterChannel: billed!.resetCounterChannel } : {}),
    };
    const counterOptions: CounterDeltaOptions = {
      channel: profile.billed,
      unit,
      ...(basis ? { basis } : {}),
      ...(billed!.rollover ? { rollover: billed!.rollover } : {}),
      ...(initial ? { initial } : {}),
      onState: saveBaseline,
      ...contract,
    };
    const windowSize = p.window?.size ?? { minutes: 15 };
    const timeZone = p.window?.timeZone ?? agreement.billingPeriod.timeZone;
    const stateMapping: StateMapping | undefined = profile.stateMapping;
    return (source$) => {
      let events = source$.pipe(
        takeUntil(stop$),
        validateReadings({
          units,
          nonNegative: [profile.billed],
          // Source time of a simulator may run ahead of the wall clock.
          maxFutureMs: Number.MAX_SAFE_INTEGER,
        }),
        counterDelta(counterOptions),
      );
      if (profile.state && stateMapping) {
        events = events.pipe(machineState({ channel: profile.state, mapping: stateMapping }));
      }
      const windowed = events.pipe(
        tumblingWindow({
          size: windowSize,
          timeZone,
          allowedLatenessMs: p.window?.allowedLatenessMs ?? 5000,
        }),
      );
      const withOee = profile.idealRate
        ? windowed.pipe(
            oee({
              idealCycleTimeMs: idealCycleTimeMs(profile.idealRate),
              counts: { produced: profile.billed, good: profile.billed, unit },
              ...(profile.state ? { stateChannel: profile.state } : {}),
            }),
          )
        : windowed;
      return withOee.pipe(
        concatMap((e) => {
          if (e.kind === "quarantine") {
            emit({ type: "reading.quarantined", event: e as QuarantineEvent });
            return from([]);
          }
          if (e.kind !== "window") return from([]);
          const run = recordWindow(e as MeterWindow);
          inflight = run.catch(() => undefined);
          return from(run).pipe(concatMap((rs) => from(rs)));
        }),
      );
    };
  }

  async function recordWindow(w: MeterWindow): Promise<MeterRecord[]> {
    // Usage before the agreement starts is nobody's bill; the register baseline still moves.
    if (w.end.getTime() <= agreement.start.getTime()) return [];
    const out: MeterRecord[] = [];
    const chain = recorder.chain();
    if (chain.periodEnd && w.end.getTime() <= chain.periodEnd.getTime()) {
      emit({ type: "window.alreadyRecorded", start: w.start });
      return out;
    }
    // Time before the first window the gateway saw, or since the last record: nobody observed
    // it. Empty records keep the chain contiguous (their usage is bridged from the register
    // into the next window); they are cut at billing-period ends because the ledger settles
    // whole periods and refuses a record straddling one.
    const from0 =
      chain.periodEnd ??
      (w.start.getTime() > agreement.start.getTime() ? agreement.start : undefined);
    if (from0 && w.start.getTime() > from0.getTime()) {
      let t = from0;
      while (t.getTime() < w.start.getTime()) {
        const periodEnd = billingPeriodAt(agreement, t).end;
        const to = periodEnd.getTime() < w.start.getTime() ? periodEnd : w.start;
        out.push(await recordOne(unobservedWindow(w.machineId, t, to)));
        emit({ type: "record.unobserved", start: t, end: to });
        t = to;
      }
    }
    out.push(await recordOne(w));
    return out;
  }

  async function recordOne(w: MeterWindow): Promise<MeterRecord> {
    const record = await recorder.record(w);
    emit({ type: "record", record, window: w });
    settler.track(record);
    refresh();
    return record;
  }

  let stopped: Promise<GatewayHealth> | undefined;
  async function stop(): Promise<GatewayHealth> {
    stopped ??= (async () => {
      stopping = true;
      refresh();
      stop$.next();
      stop$.complete();
      await inflight;
      await drain();
      await client.stop();
      await settler.stop();
      const final = health();
      await journal.close();
      emit({ type: "stopped", records: final.chainHead.seq + 1, ackedThrough: final.ackedThrough });
      health$.next(final);
      health$.complete();
      invoices$.complete();
      events$.complete();
      return final;
    })();
    return stopped;
  }

  /** Waits, event-driven, until every record is acknowledged and no period is due — or the timeout. */
  function drain(): Promise<void> {
    const timeoutMs = p.drainTimeoutMs ?? 10_000;
    return new Promise<void>((resolve) => {
      let finished = false;
      let sub: { unsubscribe(): void } | undefined;
      let timer: { unsubscribe(): void } | undefined;
      const finish = () => {
        if (finished) return;
        finished = true;
        sub?.unsubscribe();
        timer?.unsubscribe();
        resolve();
      };
      const check = () => {
        const s = journal.state();
        if (s.unacked === 0 && settler.due().length === 0) finish();
      };
      timer = scheduler.schedule(() => {
        if (finished) return;
        emit({
          type: "stop.drainTimedOut",
          unacked: journal.state().unacked,
          duePeriods: settler.due().length,
        });
        finish();
      }, timeoutMs);
      sub = health$.subscribe(() => check());
      if (finished) sub.unsubscribe();
      settler.poke();
      check();
    });
  }

  started = true;
  return {
    agreement,
    ledgerDomain: opened.recordDomain,
    journal,
    recorder,
    client,
    settler,
    meter,
    invoices$: invoices$.asObservable(),
    events$: defer(() => concat(from(startup), events$)),
    health$: health$.asObservable(),
    health,
    stop,
  };
}

function unobservedWindow(machineId: string, start: Date, end: Date): MeterWindow {
  return {
    kind: "window",
    machineId,
    start,
    end,
    usage: [],
    gaps: [{ kind: "gap", machineId, start, end, reason: "gateway.offline" }],
    quarantined: 0,
  };
}

/**
 * The OEE time elements a record signs. Time without a known state (`unobserved`: before the
 * gateway connected, during a server restart) is left out of planned busy time unless the
 * policy says it is the machine's down time.
 */
export function oeeElements(
  w: MeterWindow<OeeResult>,
  policy: UnobservedTimePolicy = "notMachineFault",
): OeeElements | undefined {
  if (!w.oee) return undefined;
  const t = w.oee.timeElements;
  const pbt = policy === "notMachineFault" ? t.pbt - t.unobserved : t.pbt;
  return {
    plannedBusyTimeMs: Number(pbt),
    actualProductionTimeMs: Number(t.apt),
    produced: quantity(w.oee.producedQuantity.value, w.oee.producedQuantity.unit),
    good: quantity(w.oee.goodQuantity.value, w.oee.goodQuantity.unit),
  };
}
