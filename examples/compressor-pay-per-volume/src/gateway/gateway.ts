import {
  appendFileSync,
  closeSync,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import {
  compressorStateCodes,
  compressorStates,
  counterDelta,
  dec,
  type Journal,
  type MeterRecord,
  type MeterWindow,
  machineState,
  meterRecordCodec,
  meterRecordDigest,
  meterRecordToJson,
  type OeeElements,
  type OeeResult,
  oee,
  openJournal,
  type QuarantineEvent,
  quantity,
  type Reading,
  type StateMapping,
  tumblingWindow,
  type UnitCode,
  validateReadings,
  verifyExport,
  type WindowSize,
} from "@maaskit/metering";
import { type FromOpcUaOptions, fromOpcUa } from "@maaskit/metering/opcua";
import {
  type Agreement,
  billingPeriodAt,
  createSettlementClient,
  type Invoice,
  invoiceToJson,
  isLedgerError,
  type LedgerBackend,
  type SettlementClient,
} from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import type { Wallet } from "ethers";
import { concatMap, filter, from, map, merge, type Subscription, share, takeWhile } from "rxjs";
import type { GatewayConfig } from "./config.js";
import { type GatewayMaintenance, startMaintenance } from "./maintenance.js";

/** A structured log line: the gateway logs events, not prose. */
export interface GatewayLogEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export interface StartGatewayParameters {
  readonly config: GatewayConfig;
  readonly agreement: Agreement;
  readonly signer: Wallet;
  readonly ledger: LedgerBackend;
  /** Stop once the machine's source time reaches this instant (`--until`). */
  readonly until?: Date;
  /** Or stop after this much source time from the first reading (`--until 30d`). */
  readonly untilSpanMs?: number;
  /** OPC UA state codes → names (a compressor's OPC 40250 enum). */
  readonly states?: Readonly<Record<number, string>>; // default: OPC 40250 compressor states
  /** Machine states → ISO 22400 time categories (default: `compressorStates`). */
  readonly stateMapping?: StateMapping;
  /** Maintenance wiring (triggers, work orders); omit to meter and settle only. */
  readonly maintenance?: Omit<
    Parameters<typeof startMaintenance>[0],
    "readings$" | "ledger" | "evidence" | "log" | "clock" | "ledgerDomain"
  >;
  /** Ledger time follows the machine's source time (for accelerated simulations). */
  readonly clock: { now(): Date; observe(t: Date): void };
  readonly log?: (e: GatewayLogEvent) => void;
  /** Called with every closed window and its record, and on every reading (for a dashboard). */
  readonly onRecord?: (record: MeterRecord, window: MeterWindow<OeeResult>) => void;
  readonly onReading?: (reading: Reading) => void;
  readonly onInvoice?: (invoice: Invoice) => void;
  /** The ledger acknowledged the record with this seq (and all before it). */
  readonly onAcknowledged?: (seq: number) => void;
  readonly opcua?: Partial<FromOpcUaOptions>;
  /** Prepaid funds the demo customer pays in once (idempotent by reference). */
  readonly initialDeposit?: string;
}

/** What a finished gateway run produced. */
export interface GatewaySummary {
  /** Why the run ended early (a source, journal or ledger error), if it did. */
  readonly error?: { readonly code?: string; readonly message: string };
  readonly records: number;
  readonly invoices: readonly Invoice[];
  readonly quarantined: number;
  readonly billedVolume: string;
  readonly firstReading?: Date;
  readonly lastReading?: Date;
  readonly verification: {
    readonly lines: number;
    readonly valid: number;
    readonly invalid: number;
  };
  readonly files: {
    readonly records: string;
    readonly history?: string;
    readonly invoices: string;
  };
}

export interface Gateway {
  readonly client: SettlementClient;
  readonly journal: Journal<MeterRecord>;
  readonly maintenance?: GatewayMaintenance;
  /** Resolves when the run ends (`until` reached, source completed, or `stop()`). */
  readonly done: Promise<GatewaySummary>;
  /** Stops metering, flushes the journal, settles complete periods, exports files. */
  stop(): Promise<GatewaySummary>;
}

/**
 * The gateway as library calls, readable as a template: OPC UA readings → validation →
 * counter deltas → machine states → wall-clock windows → OEE → signed, chained records in the
 * crash-safe journal → delivered to the ledger → periods settled into invoices; maintenance
 * triggers and work orders beside it.
 */
export async function startGateway(p: StartGatewayParameters): Promise<Gateway> {
  const { config, agreement, signer, ledger } = p;
  const log = p.log ?? ((e) => process.stdout.write(`${JSON.stringify(e)}\n`));
  mkdirSync(config.dataDir, { recursive: true });
  mkdirSync(join(config.outDir, "invoices"), { recursive: true });

  const opened = await ledger.openAgreement(agreement);
  // What opening the storage recovered or migrated is reported, never silent.
  const ledgerRecovery = (ledger as { recovery?: () => Record<string, unknown> }).recovery?.();
  if (ledgerRecovery !== undefined && Object.keys(ledgerRecovery).length > 0) {
    log({ event: "storage.recovered", store: "ledger", ...ledgerRecovery });
  }
  log({
    event: "agreement.opened",
    agreementId: agreement.agreementId,
    status: opened.status,
    ledger: ledger.kind,
  });
  if (p.initialDeposit && agreement.paymentTerms.kind === "prepaid") {
    const r = await ledger.deposit({
      agreementId: agreement.agreementId,
      amount: dec(p.initialDeposit),
      by: agreement.parties.customer,
      reference: "initial-deposit",
    });
    log({ event: "funds.deposit", status: r.status, available: r.balance.available.toFixed() });
  }

  const journal = await openJournal({
    dir: join(config.dataDir, "journal"),
    codec: meterRecordCodec,
  });
  if (Object.keys(journal.recovery).length > 0) {
    log({ event: "storage.recovered", store: "journal", ...journal.recovery });
  }
  const { createRecorder } = await import("@maaskit/metering");
  const volumeChannel = Object.entries(config.nodes).find(([, m]) => m.kind === "register")![0];
  const volumeNode = config.nodes[volumeChannel]!;
  const recorder = createRecorder({
    journal,
    signer,
    binding: {
      agreementId: agreement.agreementId,
      chainId: opened.recordDomain.chainId,
      verifyingContract: opened.recordDomain.verifyingContract,
    },
    clock: "informative",
    oee: (w) => oeeElements(w as MeterWindow<OeeResult>),
    build: {
      channel: volumeChannel,
      unit: (volumeNode.unit ?? "MTQ") as UnitCode,
      ...(volumeNode.basis ? { basis: volumeNode.basis as never } : {}),
    },
  });
  const client = createSettlementClient({
    ledger,
    journal,
    delivery: { backoff: { initialMs: 50, maxMs: 2000 } },
  });
  client.delivery?.events$.subscribe((e) => {
    if (e.type === "delivered") p.onAcknowledged?.((e as { seq: number }).seq);
    if (e.type === "retrying" || e.type === "failed")
      log({ event: `delivery.${e.type}`, detail: String((e as { error?: unknown }).error ?? "") });
  });
  client.start();

  const quarantineFile = join(config.outDir, "quarantine.jsonl");
  let quarantined = 0;
  let firstReading: Date | undefined;
  let lastReading: Date | undefined;

  let stopAt: number | undefined;
  const nodes = Object.entries(config.nodes).map(([channel, m]) => ({
    nodeId: m.nodeId,
    channel,
    kind: m.kind,
    ...(m.unit ? { unit: m.unit as UnitCode } : {}),
    ...(m.kind === "state" ? { states: p.states ?? compressorStateNames } : {}),
  }));
  const source$ = fromOpcUa({
    endpointUrl: config.endpoint!,
    machineId: config.machineId,
    nodes,
    samplingInterval: 20,
    publishingInterval: 50,
    queueSize: 1000,
    pkiDir: join(config.dataDir, "pki"),
    ...p.opcua,
  }).pipe(
    // `--until`: the first reading at or past it is the last one; completing the source
    // closes (flushes) the open windows and ends the run cleanly.
    takeWhile((e) => {
      if (e.kind !== "reading") return true;
      stopAt ??=
        p.until?.getTime() ??
        (p.untilSpanMs === undefined ? undefined : e.sourceTime.getTime() + p.untilSpanMs);
      return stopAt === undefined || e.sourceTime.getTime() < stopAt;
    }, true),
    share(),
  );

  const readings$ = source$.pipe(
    filter((e): e is Reading => e.kind === "reading"),
    map((r) => {
      p.clock.observe(r.sourceTime);
      firstReading ??= r.sourceTime;
      lastReading = r.sourceTime;
      p.onReading?.(r);
      return r;
    }),
    share(),
  );

  const units: Record<string, UnitCode> = {};
  for (const [ch, m] of Object.entries(config.nodes))
    if (m.unit && m.kind !== "state") units[ch] = m.unit as UnitCode;
  const windowSize = toWindowSize(config.window.size);
  // Until the first record is journaled, the register baseline of the agreement lives only
  // in memory: a crash then would lose the usage from the agreement start to the restart.
  // Keep it in a small file (the last reading at or before the start, or else the first one
  // seen) until the journal takes over.
  const baselineFile = join(config.dataDir, "baseline.json");
  const initial = recorder.counterInitial(volumeChannel) ?? readBaseline(baselineFile);
  let baselineSaved = initial !== undefined;
  const saveBaseline = (s: { machineId: string; register: Decimal; at: Date }) => {
    if (recorder.chain().seq > 0) return;
    if (baselineSaved && s.at.getTime() > agreement.start.getTime()) return;
    writeBaseline(baselineFile, s);
    baselineSaved = true;
  };
  const metered$ = merge(readings$, source$.pipe(filter((e) => e.kind !== "reading"))).pipe(
    validateReadings({ units, nonNegative: [volumeChannel], maxFutureMs: Number.MAX_SAFE_INTEGER }),
    counterDelta({
      channel: volumeChannel,
      unit: (volumeNode.unit ?? "MTQ") as UnitCode,
      ...(volumeNode.basis ? { basis: volumeNode.basis as never } : {}),
      ...(volumeNode.rollover ? { rollover: volumeNode.rollover } : {}),
      ...(initial ? { initial } : {}),
      onState: saveBaseline,
    }),
    machineState({
      channel: Object.entries(config.nodes).find(([, m]) => m.kind === "state")?.[0] ?? "state",
      mapping: p.stateMapping ?? compressorStates,
    }),
    tumblingWindow({
      size: windowSize,
      timeZone: config.window.timeZone,
      allowedLatenessMs: config.window.allowedLatenessMs,
    }),
    oee({
      idealCycleTimeMs: "8000",
      counts: { produced: volumeChannel, good: volumeChannel, unit: "MTQ" },
    }),
  );

  let settling: Promise<unknown> = Promise.resolve();
  const settledPeriods = new Set<number>();
  const invoices: Invoice[] = [];
  const settle = async (period: { start: Date; end: Date }, lastSeq: number) => {
    if (settledPeriods.has(period.start.getTime())) return;
    settledPeriods.add(period.start.getTime());
    // The ledger settles from the records it holds: wait until delivery reached the period end.
    const waitUntil = Date.now() + 60_000;
    while (journal.state().ackedThrough < lastSeq) {
      if (Date.now() > waitUntil) {
        log({
          event: "period.settleDeferred",
          reason: "records not delivered yet",
          lastSeq,
          ackedThrough: journal.state().ackedThrough,
        });
        settledPeriods.delete(period.start.getTime());
        return;
      }
      await sleep(20);
    }
    try {
      const invoice = await ledger.settlePeriod({ agreementId: agreement.agreementId, period });
      invoices.push(invoice);
      writeFileSync(
        join(config.outDir, "invoices", `${period.start.toISOString().slice(0, 10)}.json`),
        `${JSON.stringify(invoiceToJson(invoice), null, 2)}\n`,
      );
      log({
        event: "period.settled",
        period: `${period.start.toISOString()}/${period.end.toISOString()}`,
        total: invoice.total.toFixed(),
        currency: invoice.currency.symbol,
      });
      p.onInvoice?.(invoice);
    } catch (err) {
      if (isLedgerError(err, "settlement.period.alreadySettled")) {
        const all = await ledger.getInvoices(agreement.agreementId);
        const existing = all.find((i) => i.period.start.getTime() === period.start.getTime());
        if (existing) invoices.push(existing);
        return;
      }
      log({ event: "period.settleFailed", error: String(err) });
    }
  };

  const lastRecord = { current: journal.last() };
  // After a restart: settle every complete billing period the journal covers that the ledger
  // has no invoice for yet (the gateway may have stopped between its last record and the
  // settlement).
  if (lastRecord.current) {
    const invoiced = new Set(
      (await ledger.getInvoices(agreement.agreementId)).map((i) => i.period.start.getTime()),
    );
    for (const i of invoiced) settledPeriods.add(i);
    let period = billingPeriodAt(agreement, agreement.start);
    const end = lastRecord.current.periodEnd.getTime();
    while (period.end.getTime() <= end) {
      if (!invoiced.has(period.start.getTime())) {
        const due = period;
        log({
          event: "period.catchUp",
          period: `${due.start.toISOString()}/${due.end.toISOString()}`,
        });
        settling = settling.then(() => settle(due, lastRecord.current!.seq));
      }
      period = billingPeriodAt(agreement, period.end);
    }
  }
  const evidence = () =>
    lastRecord.current ? meterRecordDigest(lastRecord.current) : `0x${"00".repeat(32)}`;
  const maintenance = p.maintenance
    ? await startMaintenance({
        ...p.maintenance,
        readings$,
        ledger,
        evidence,
        log,
        clock: p.clock,
        ledgerDomain: opened.recordDomain,
      })
    : undefined;

  const subs: Subscription[] = [];
  let inflight: Promise<void> = Promise.resolve();
  let failure: GatewaySummary["error"];
  let finished!: (s: GatewaySummary) => void;
  const done = new Promise<GatewaySummary>((ok) => {
    finished = ok;
  });
  let stopping: Promise<GatewaySummary> | undefined;

  subs.push(
    metered$
      .pipe(
        concatMap((e) => {
          if (e.kind === "quarantine") {
            quarantined += 1;
            appendFileSync(quarantineFile, `${JSON.stringify(quarantineJson(e))}\n`);
            log({
              event: "reading.quarantined",
              reason: e.reason,
              channel: e.channel,
              message: e.message,
            });
            return from([]);
          }
          if (e.kind !== "window") return from([]);
          inflight = recordWindow(e as MeterWindow<OeeResult>);
          return from(inflight);
        }),
      )
      .subscribe({
        error: (err) => {
          const code = (err as { code?: string }).code;
          failure = { ...(code ? { code } : {}), message: String(err) };
          log({ event: "metering.error", error: String(err), code });
          void stop();
        },
        complete: () => void stop(),
      }),
  );

  async function recordWindow(w: MeterWindow<OeeResult>): Promise<void> {
    if (w.end.getTime() <= agreement.start.getTime()) {
      // Usage before the agreement starts is nobody's bill; the register baseline still moves.
      return;
    }
    const chain = recorder.chain();
    if (chain.periodEnd && w.end.getTime() <= chain.periodEnd.getTime()) {
      log({ event: "window.alreadyRecorded", start: w.start.toISOString() });
      return;
    }
    if (chain.periodEnd && w.start.getTime() > chain.periodEnd.getTime()) {
      // The gateway was down: empty windows keep the record chain contiguous; the usage of
      // the outage is bridged from the register into the next window. They are cut at
      // billing-period ends, because the ledger settles whole periods and refuses a record
      // that straddles one (an outage over midnight left the day unsettled).
      let from = chain.periodEnd;
      while (from.getTime() < w.start.getTime()) {
        const periodEnd = billingPeriodAt(agreement, from).end;
        const to = periodEnd.getTime() < w.start.getTime() ? periodEnd : w.start;
        await recordOne({
          kind: "window",
          machineId: w.machineId,
          start: from,
          end: to,
          usage: [],
          gaps: [
            {
              kind: "gap",
              machineId: w.machineId,
              start: from,
              end: to,
              reason: "gateway.offline",
            },
          ],
          quarantined: 0,
        });
        from = to;
      }
    }
    await recordOne(w);
  }

  async function recordOne(w: MeterWindow<OeeResult>): Promise<void> {
    const record = await recorder.record(w);
    lastRecord.current = record;
    p.onRecord?.(record, w);
    const period = billingPeriodAt(agreement, record.periodStart);
    if (record.periodEnd.getTime() >= period.end.getTime()) {
      settling = settling.then(() => settle(period, record.seq));
    }
  }

  async function stop(): Promise<GatewaySummary> {
    stopping ??= (async () => {
      log({ event: "gateway.stopping" });
      for (const s of subs) s.unsubscribe();
      await inflight.catch(() => undefined);
      await settling;
      await maintenance?.stop();
      const target = journal.state().nextSeq - 1;
      const deadline = Date.now() + 10_000;
      while (journal.state().ackedThrough < target && Date.now() < deadline) await sleep(20);
      await client.stop();
      const summary = await exportAll();
      await journal.close();
      finished(summary);
      return summary;
    })();
    return stopping;
  }

  async function exportAll(): Promise<GatewaySummary> {
    const recordsFile = join(config.outDir, "records.jsonl");
    const lines: string[] = [];
    let billed = dec(0);
    for await (const r of journal.read(0)) {
      lines.push(JSON.stringify(meterRecordToJson(r)));
      billed = billed.plus(r.quantity.value);
    }
    writeFileSync(recordsFile, lines.length ? `${lines.join("\n")}\n` : "");
    let historyFile: string | undefined;
    if (maintenance) {
      historyFile = join(config.outDir, "history.jsonl");
      maintenance.history.exportTo(historyFile);
    }
    const text =
      lines.join("\n") +
      (historyFile
        ? `\n${maintenance!.history
            .entries()
            .map((e) => JSON.stringify(e))
            .join("\n")}`
        : "");
    const verdicts = verifyExport(text, { signers: [signer.address] });
    const valid = verdicts.filter((v) => v.valid).length;
    const summary: GatewaySummary = {
      ...(failure ? { error: failure } : {}),
      records: lines.length,
      invoices,
      quarantined,
      billedVolume: billed.toFixed(),
      ...(firstReading ? { firstReading } : {}),
      ...(lastReading ? { lastReading } : {}),
      verification: { lines: verdicts.length, valid, invalid: verdicts.length - valid },
      files: {
        records: recordsFile,
        ...(historyFile ? { history: historyFile } : {}),
        invoices: join(config.outDir, "invoices"),
      },
    };
    log({
      event: "gateway.stopped",
      records: summary.records,
      billedVolume: summary.billedVolume,
      quarantined,
      verification: summary.verification,
    });
    return summary;
  }

  return { client, journal, ...(maintenance ? { maintenance } : {}), done, stop };
}

/** OPC 40250 CompressorOperatingStateEnum values → names. */
const compressorStateNames: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(compressorStateCodes).map(([name, code]) => [code, name]),
);

/** OEE time elements of a window for its record (PBT, APT, produced and good). */
function oeeElements(w: MeterWindow<OeeResult>): OeeElements | undefined {
  if (!w.oee) return undefined;
  const t = w.oee.timeElements;
  return {
    plannedBusyTimeMs: Number(t.pbt),
    actualProductionTimeMs: Number(t.apt),
    produced: quantity(w.oee.producedQuantity.value, w.oee.producedQuantity.unit),
    good: quantity(w.oee.goodQuantity.value, w.oee.goodQuantity.unit),
  };
}

function quarantineJson(e: QuarantineEvent) {
  const item = e.item as Partial<Reading> | undefined;
  return {
    reason: e.reason,
    message: e.message,
    machineId: e.machineId,
    channel: e.channel,
    at: e.at?.toISOString(),
    value: item && "value" in item ? String(item.value) : undefined,
  };
}

/** `15m`, `1h`, `1day`, `1month` → a tumblingWindow size. */
export function toWindowSize(size: string): WindowSize {
  if (size === "1day") return { days: 1 };
  if (size === "1month") return { months: 1 };
  const m = /^(\d+)(s|m|h)$/.exec(size);
  if (!m) throw new Error(`unsupported window size ${size}`);
  const n = Number(m[1]);
  return m[2] === "s" ? { seconds: n } : m[2] === "m" ? { minutes: n } : { hours: n };
}

/** The persisted register baseline (see `saveBaseline`), if any. */
function readBaseline(file: string): { register: string; at: Date; machineId: string } | undefined {
  if (!existsSync(file)) return undefined;
  const b = JSON.parse(readFileSync(file, "utf8")) as {
    register: string;
    at: string;
    machineId: string;
  };
  return { register: b.register, at: new Date(b.at), machineId: b.machineId };
}

/** Writes the baseline durably: temp file, fsync, rename (a crash leaves the old or the new). */
function writeBaseline(file: string, s: { machineId: string; register: Decimal; at: Date }) {
  const tmp = `${file}.tmp`;
  const fd = openSync(tmp, "w");
  try {
    writeSync(
      fd,
      JSON.stringify({
        machineId: s.machineId,
        register: s.register.toFixed(),
        at: s.at.toISOString(),
      }),
    );
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}
