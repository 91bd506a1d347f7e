import { join } from "node:path";
import {
  type CounterDeltaInitial,
  type CounterDeltaOptions,
  counterDelta,
  createRecorder,
  type MeterEvent,
  type MeterRecord,
  type MeterWindow,
  machineState,
  meterRecordCodec,
  type OeeResult,
  oee,
  openJournal,
  type QuarantineEvent,
  type Reading,
  type StateMapping,
  tumblingWindow,
  type UnitCode,
  validateReadings,
} from "@maaskit/metering";
import { billingPeriodAt, createSettlementClient, type Invoice } from "@maaskit/settlement";
import {
  asyncScheduler,
  BehaviorSubject,
  concat,
  concatMap,
  defer,
  from,
  type OperatorFunction,
  Subject,
  takeUntil,
  tap,
} from "rxjs";
import { createPeriodSettler } from "./createPeriodSettler.js";
import { GatewayError } from "./errors.js";
import type {
  CreateGatewayParameters,
  Gateway,
  GatewayEvent,
  GatewayHealth,
} from "./gatewayTypes.js";
import { idealCycleTimeMs } from "./machineProfile.js";
import { oeeElements, unobservedWindow } from "./oeeElements.js";
import { type RegisterBaseline, readBaseline, writeBaseline } from "./registerBaseline.js";

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
      ...(p.delivery?.maxBatchDelayMs !== undefined
        ? { maxBatchDelayMs: p.delivery.maxBatchDelayMs }
        : {}),
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
    } else if (e.type === "delivered") {
      emit({ type: "record.acknowledged", seq: e.seq });
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
        tap((e) => {
          if (e.kind === "reading") emit({ type: "reading", reading: e as Reading });
        }),
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

  const termEnd = agreement.end?.getTime();
  let termEndReported = false;

  async function recordWindow(w: MeterWindow): Promise<MeterRecord[]> {
    // Usage before the agreement starts is nobody's bill; the register baseline still moves.
    if (w.end.getTime() <= agreement.start.getTime()) return [];
    const out: MeterRecord[] = [];
    const chain = recorder.chain();
    if (chain.periodEnd && w.end.getTime() <= chain.periodEnd.getTime()) {
      emit({ type: "window.alreadyRecorded", start: w.start });
      return out;
    }
    // Nor is usage after the agreement's term: the ledger refuses such a record for good, so it
    // is not recorded. The chain is closed up to the term end (the last period can settle),
    // and the end of the term is reported once.
    const afterTerm = termEnd !== undefined && w.end.getTime() > termEnd;
    const bridgeTo = afterTerm ? new Date(Math.min(w.start.getTime(), termEnd)) : w.start;
    // Time before the first window the gateway saw, or since the last record: nobody observed
    // it. Empty records keep the chain contiguous (their usage is bridged from the register
    // into the next window); they are cut at billing-period ends because the ledger settles
    // whole periods and refuses a record straddling one.
    const from0 =
      chain.periodEnd ??
      (w.start.getTime() > agreement.start.getTime() ? agreement.start : undefined);
    if (from0 && bridgeTo.getTime() > from0.getTime()) {
      let t = from0;
      while (t.getTime() < bridgeTo.getTime()) {
        const periodEnd = billingPeriodAt(agreement, t).end;
        const to = periodEnd.getTime() < bridgeTo.getTime() ? periodEnd : bridgeTo;
        out.push(await recordOne(unobservedWindow(w.machineId, t, to)));
        emit({ type: "record.unobserved", start: t, end: to });
        t = to;
      }
    }
    if (afterTerm) {
      if (!termEndReported) {
        termEndReported = true;
        emit({
          type: "term.ended",
          termEnd: new Date(termEnd),
          window: { start: w.start, end: w.end },
        });
      }
      return out;
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
      // Records held for a fuller batch go now: the hold's timer may be on a clock that
      // does not move while stopping (virtual time), and nothing more will join them.
      client.delivery?.flush();
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
