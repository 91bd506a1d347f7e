import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createGateway,
  type MachineProfile,
  type Gateway as PackageGateway,
} from "@maaskit/gateway";
import {
  compressorStateCodes,
  compressorStates,
  dec,
  type Journal,
  type MeterRecord,
  type MeterWindow,
  meterRecordCodec,
  meterRecordDigest,
  meterRecordToJson,
  type OeeResult,
  openJournal,
  type QuarantineEvent,
  type Reading,
  type StateMapping,
  type UnitCode,
  verifyExport,
  type WindowSize,
} from "@maaskit/metering";
import { type FromOpcUaOptions, fromOpcUa } from "@maaskit/metering/opcua";
import {
  type Agreement,
  type Invoice,
  invoiceToJson,
  type LedgerBackend,
  openAgreementWithConsent,
  type SettlementClient,
} from "@maaskit/settlement";
import type { Wallet } from "ethers";
import { filter, share, takeWhile, tap } from "rxjs";
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
  /** The journal (closed once the run has stopped). */
  readonly journal: Journal<MeterRecord>;
  /** The `@maaskit/gateway` instance underneath (events$, health$, invoices$). */
  readonly gateway: PackageGateway;
  readonly maintenance?: GatewayMaintenance;
  /** Resolves when the run ends (`until` reached, source completed, or `stop()`). */
  readonly done: Promise<GatewaySummary>;
  /** Stops metering, flushes the journal, settles complete periods, exports files. */
  stop(): Promise<GatewaySummary>;
}

/**
 * The compressor gateway of the example, on `@maaskit/gateway`: `createGateway` meters,
 * signs, journals, delivers and settles (durable baseline, outage bridging, settlement retried
 * until the ledger is back, catch-up after a restart, draining stop); this file adds what is
 * specific to the demo — the OPC UA node mapping, maintenance work orders, exported files
 * and the callbacks the dashboard uses.
 */
export async function startGateway(p: StartGatewayParameters): Promise<Gateway> {
  const { config, agreement, signer, ledger } = p;
  const log = p.log ?? ((e) => process.stdout.write(`${JSON.stringify(e)}\n`));
  mkdirSync(config.dataDir, { recursive: true });
  mkdirSync(join(config.outDir, "invoices"), { recursive: true });

  // Both parties consent before anything is metered (an EVM agreement stays pending until
  // the customer accepts); createGateway's own open is then a duplicate.
  await openAgreementWithConsent(ledger, agreement);
  if (p.initialDeposit && agreement.paymentTerms.kind === "prepaid") {
    const r = await ledger.deposit({
      agreementId: agreement.agreementId,
      amount: dec(p.initialDeposit),
      by: agreement.parties.customer,
      reference: "initial-deposit",
    });
    log({ event: "funds.deposit", status: r.status, available: r.balance.available.toFixed() });
  }

  const profile = profileOf(config, p);
  const gw = await createGateway({
    agreement,
    ledger,
    signer,
    dataDir: config.dataDir,
    profile,
    window: {
      size: toWindowSize(config.window.size),
      timeZone: config.window.timeZone,
      allowedLatenessMs: config.window.allowedLatenessMs,
    },
    delivery: { backoff: { initialMs: 50, maxMs: 2000 } },
    settleRetry: { initialMs: 200, maxMs: 5000 },
    ...(p.opcua?.security?.mode === "None" ? { insecureSource: true } : {}),
  });
  const quarantineFile = join(config.outDir, "quarantine.jsonl");
  let quarantined = 0;
  let lastRecord: MeterRecord | undefined = gw.journal.last();
  gw.events$.subscribe((e) => {
    switch (e.type) {
      case "agreement.opened":
        log({
          event: "agreement.opened",
          agreementId: e.agreementId,
          status: e.status,
          ledger: e.ledger,
        });
        break;
      case "record":
        lastRecord = e.record;
        p.onRecord?.(e.record, e.window as MeterWindow<OeeResult>);
        break;
      case "reading.quarantined":
        quarantined += 1;
        appendFileSync(quarantineFile, `${JSON.stringify(quarantineJson(e.event))}\n`);
        log({
          event: "reading.quarantined",
          reason: e.event.reason,
          channel: e.event.channel,
          message: e.event.message,
        });
        break;
      case "period.due":
        log({
          event: "period.due",
          period: `${e.period.start.toISOString()}/${e.period.end.toISOString()}`,
        });
        break;
      case "period.settled":
      case "period.alreadySettled":
        writeFileSync(
          join(
            config.outDir,
            "invoices",
            `${e.invoice.period.start.toISOString().slice(0, 10)}.json`,
          ),
          `${JSON.stringify(invoiceToJson(e.invoice), null, 2)}\n`,
        );
        log({
          event: e.type,
          period: `${e.invoice.period.start.toISOString()}/${e.invoice.period.end.toISOString()}`,
          total: e.invoice.total.toFixed(),
          currency: e.invoice.currency.symbol,
        });
        p.onInvoice?.(e.invoice);
        break;
      case "period.retrying":
        log({ event: "period.settleRetrying", attempt: e.attempt, error: String(e.error) });
        break;
      case "delivery.retrying":
      case "delivery.failed":
        log({ event: e.type, seq: e.seq, detail: e.error });
        break;
      case "storage.recovered":
        log({ event: "storage.recovered", store: e.store, ...e.recovery });
        break;
      case "baseline.set":
      case "baseline.late":
      case "record.unobserved":
      case "stop.drainTimedOut":
        log({ event: e.type, ...e });
        break;
    }
  });
  gw.client.delivery?.events$.subscribe((e) => {
    if (e.type === "delivered") p.onAcknowledged?.(e.seq);
  });

  let firstReading: Date | undefined;
  let lastReading: Date | undefined;
  let stopAt: number | undefined;
  const states = p.states ?? compressorStateNames;
  const nodes = Object.entries(config.nodes).map(([channel, m]) => ({
    nodeId: m.nodeId,
    channel,
    kind: m.kind,
    ...(m.unit ? { unit: m.unit as UnitCode } : {}),
    ...(m.kind === "state" ? { states } : {}),
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
    tap((e) => {
      if (e.kind !== "reading") return;
      p.clock.observe(e.sourceTime);
      firstReading ??= e.sourceTime;
      lastReading = e.sourceTime;
      p.onReading?.(e);
    }),
    share(),
  );
  const readings$ = source$.pipe(filter((e): e is Reading => e.kind === "reading"));

  const evidence = () => (lastRecord ? meterRecordDigest(lastRecord) : `0x${"00".repeat(32)}`);
  const maintenance = p.maintenance
    ? await startMaintenance({
        ...p.maintenance,
        readings$,
        ledger,
        evidence,
        log,
        clock: p.clock,
        ledgerDomain: gw.ledgerDomain,
      })
    : undefined;

  let failure: GatewaySummary["error"];
  let finished!: (s: GatewaySummary) => void;
  const done = new Promise<GatewaySummary>((ok) => {
    finished = ok;
  });
  let stopping: Promise<GatewaySummary> | undefined;
  const sub = source$.pipe(gw.meter()).subscribe({
    error: (err) => {
      const code = (err as { code?: string }).code;
      failure = { ...(code ? { code } : {}), message: String(err) };
      log({ event: "metering.error", error: String(err), code });
      void stop();
    },
    complete: () => void stop(),
  });

  async function stop(): Promise<GatewaySummary> {
    stopping ??= (async () => {
      log({ event: "gateway.stopping" });
      sub.unsubscribe();
      await maintenance?.stop();
      // After stop: stopping flushes the records the live batch still held, and settling them
      // can close one more period (its invoice file is written by the period.settled event).
      await gw.stop();
      const invoices = [...gw.settler.invoices()];
      const summary = await exportAll(invoices);
      finished(summary);
      return summary;
    })();
    return stopping;
  }

  async function exportAll(invoices: Invoice[]): Promise<GatewaySummary> {
    const recordsFile = join(config.outDir, "records.jsonl");
    const lines: string[] = [];
    let billed = dec(0);
    const journal = await openJournal({
      dir: join(config.dataDir, "journal"),
      codec: meterRecordCodec,
    });
    try {
      for await (const r of journal.read(0)) {
        lines.push(JSON.stringify(meterRecordToJson(r)));
        billed = billed.plus(r.quantity.value);
      }
    } finally {
      await journal.close();
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

  return {
    client: gw.client,
    journal: gw.journal,
    gateway: gw,
    ...(maintenance ? { maintenance } : {}),
    done,
    stop,
  };
}

/** The machine profile of the example's node mapping (what `@maaskit/gateway` meters by). */
function profileOf(config: GatewayConfig, p: StartGatewayParameters): MachineProfile {
  const entries = Object.entries(config.nodes);
  const billed = entries.find(([, m]) => m.kind === "register")![0];
  const state = entries.find(([, m]) => m.kind === "state")?.[0];
  return {
    name: "compressor (example node mapping)",
    billed,
    ...(state ? { state } : {}),
    channels: Object.fromEntries(
      entries.map(([ch, m]) => [
        ch,
        {
          kind: m.kind,
          nodeId: m.nodeId,
          ...(m.unit ? { unit: m.unit } : {}),
          ...(m.rollover ? { rollover: m.rollover } : {}),
        },
      ]),
    ),
    stateMapping: p.stateMapping ?? compressorStates,
    // The simulator's rated free air delivery: 7.5 m³/min (OEE performance ≤ 1).
    idealRate: config.idealRate ?? { value: "7.5", per: "min" },
  };
}

/** OPC 40250 CompressorOperatingStateEnum values → names. */
const compressorStateNames: Readonly<Record<number, string>> = Object.fromEntries(
  Object.entries(compressorStateCodes).map(([name, code]) => [code, name]),
);

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
