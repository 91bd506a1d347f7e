import { appendFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createGateway,
  exportRecords,
  opcuaProfileSource,
  startMaintenanceWorkOrders,
  writeInvoices,
} from "@maaskit/gateway";
import { parseServiceAgreement } from "@maaskit/maintenance";
import {
  dec,
  type MeterRecord,
  type MeterWindow,
  type OeeResult,
  type Reading,
} from "@maaskit/metering";
import { startCompressorServer } from "@maaskit/metering/simulator";
import {
  type Agreement,
  type Currency,
  embeddedLedger,
  type Invoice,
  type LedgerBackend,
  parseAgreement,
  type TariffJson,
} from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import { id, Wallet } from "ethers";
import { takeWhile, tap } from "rxjs";
import { gatewayLogLine, maintenanceLogLine, quarantineLine } from "./logLines.js";
import { demoProfile, FILTER_TRIGGER_BAR } from "./profile.js";

export { FILTER_TRIGGER_BAR };

/** A structured log line of the demo (what the dashboard feed and `pnpm start` read). */
export interface DemoLogEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

export interface DemoOptions {
  /** Simulated start (a local midnight, so billing periods align). */
  readonly start: Date;
  /** Stop after this much simulated time. */
  readonly spanMs: number;
  /** Simulated seconds per real second. */
  readonly accelerate: number;
  readonly billing:
    | { kind: "calendarMonth"; timeZone: string }
    | { kind: "days"; days: number; timeZone: string };
  readonly windowSize: "15m" | "1h";
  readonly outDir: string;
  /** Where journal, ledger and keys live; a fresh temp dir when omitted. */
  readonly dataDir?: string;
  /**
   * The ledger (default: embedded in `dataDir`); an EVM ledger brings its parties and token —
   * `startEvmLedger` / `startCactusLedger` of `@maaskit/gateway` fit here.
   */
  readonly ledger?: (
    dir: string,
    clock: { now(): Date },
  ) => Promise<{
    ledger: LedgerBackend;
    parties?: { customer: string; provider: string; arbiter: string };
    currency?: Currency;
    stop?: () => Promise<void>;
  }>;
  readonly filterLifeVolume?: number;
  readonly serviceRunHours?: string;
  readonly log?: (e: DemoLogEvent) => void;
  readonly onReading?: (r: Reading) => void;
  readonly onRecord?: (record: MeterRecord, window: MeterWindow<OeeResult>) => void;
  readonly onInvoice?: (i: Invoice) => void;
  readonly onAcknowledged?: (seq: number) => void;
  readonly onStart?: (info: { endpointUrl: string; agreement: Agreement }) => void;
  /** Receives the simulator's ground truth: delivered m³ from its start up to an instant. */
  readonly onGroundTruth?: (volumeAt: (t: number) => Decimal) => void;
}

/** What a run produced: its records, invoices and exported files. */
export interface DemoSummary {
  readonly records: number;
  readonly invoices: readonly Invoice[];
  readonly quarantined: number;
  readonly billedVolume: string;
  readonly verification: {
    readonly lines: number;
    readonly valid: number;
    readonly invalid: number;
  };
  readonly files: { readonly records: string; readonly history: string; readonly invoices: string };
}

export interface DemoResult {
  readonly summary: DemoSummary;
  readonly agreement: Agreement;
  /** Volume the simulator delivered between the first and the last volume reading. */
  readonly groundTruthVolume: Decimal;
  readonly workOrders: readonly { id: string; state: string; amount?: string }[];
  readonly records: readonly MeterRecord[];
  readonly signer: string;
}

/** The tariff of the demo: compressed air per m³ (FAD), graduated, with a base fee and SLA. */
export const demoTariff: TariffJson = {
  version: 1,
  metered: { unit: "MTQ", basis: "ISO1217-FAD" },
  pricing: {
    model: "graduated",
    tiers: [{ upTo: "50000", unitPrice: "0.021" }, { unitPrice: "0.018" }],
  },
  includedVolume: "0",
  baseFee: "150",
  minimumCommitment: "400",
  sla: {
    threshold: "0.98",
    step: "0.001",
    creditPerStep: "0.005",
    cap: "0.1",
    stepping: "full",
    whenUndefined: "noCredit",
  },
  rounding: { mode: "halfEven", decimals: 2 },
};

/**
 * Simulator + `@maaskit/gateway`: a screw compressor on a local OPC UA server (signed and
 * encrypted, its certificate provisioned into the gateway's trust list), metered per window by
 * `createGateway` (signed, journaled, delivered, settled per billing period), its maintenance
 * ordered and paid by `startMaintenanceWorkOrders`. Returns what was billed and what the
 * simulator really delivered.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), "maaskit-demo-"));
  mkdirSync(o.outDir, { recursive: true });
  const log = o.log ?? (() => undefined);
  const machine = new Wallet(Wallet.createRandom().privateKey);
  // Ledger time follows the machine's source time (the simulation runs accelerated).
  let simNow = o.start;
  const clock = { now: () => simNow };
  const chosen = o.ledger
    ? await o.ledger(join(dataDir, "ledger"), clock)
    : { ledger: embeddedLedger({ dir: join(dataDir, "ledger"), clock }) };
  const { ledger } = chosen;
  const customer = chosen.parties?.customer ?? Wallet.createRandom().address;
  const provider = chosen.parties?.provider ?? Wallet.createRandom().address;
  const arbiter = chosen.parties?.arbiter ?? Wallet.createRandom().address;
  const currency = chosen.currency ?? { symbol: "EUR", decimals: 2 };

  const server = await startCompressorServer({
    host: "127.0.0.1",
    port: 0,
    // The machine runs before the agreement starts: the gateway reads the register baseline
    // before the first billed window.
    startTime: new Date(o.start.getTime() - 2 * 86_400_000),
    accelerate: o.accelerate,
    tickMs: 20,
    seed: 42,
    filterLifeVolume: o.filterLifeVolume ?? 60_000,
    pkiDir: join(dataDir, "server-pki"),
    // provisioning, as the vendor does it: the gateway's trust list (dataDir/pki) gets the
    // machine's certificate, so the gateway connects with SignAndEncrypt and refuses any other
    trustedBy: [join(dataDir, "pki")],
  });
  const serviceRunHours = o.serviceRunHours ?? "300";
  const profile = demoProfile({
    nodeIds: server.nodeIds,
    rollover: server.model.registerModulus.toFixed(),
    serviceRunHours,
  });
  const agreement = parseAgreement({
    agreementId: id(`maaskit-demo/air-per-m3/${machine.address}`),
    name: "Compressed air per m³ — demo plant",
    parties: { provider, customer },
    machineId: "compressor-1",
    signers: [{ address: machine.address, validFrom: o.start.toISOString() }],
    tariff: demoTariff,
    currency,
    billingPeriod: o.billing,
    paymentTerms: { kind: "prepaid", overdraft: "accrueDebt" },
    start: o.start.toISOString(),
    // Day periods in a DST zone can be fixed on chain only over a term without a DST change
    // (docs/evm.md "Billing calendar"): on a ledger passed in (EVM, Cactus) the demo's term is
    // its simulated span; the embedded ledger computes periods off-chain and needs no end.
    ...(o.billing.kind === "days" && o.ledger !== undefined
      ? { end: new Date(o.start.getTime() + o.spanMs).toISOString() }
      : {}),
    status: "active",
  });
  const serviceAgreement = parseServiceAgreement({
    id: "service-demo",
    machineId: "compressor-1",
    customer,
    provider,
    arbiter,
    machineSigner: machine.address,
    currency,
    // service types of the profile's triggers: filter → filterChange, interval → service
    prices: { filterChange: "180.00", service: "640.00" },
    responseHours: 24,
    completionHours: 72,
    warranty: [{ serviceType: "service", every: { runHours: serviceRunHours, months: 12 } }],
  });
  o.onStart?.({ endpointUrl: server.endpointUrl, agreement });
  o.onGroundTruth?.((t) => server.model.groundTruthVolumeAt(t));

  const gateway = await createGateway({
    agreement,
    ledger,
    signer: machine,
    dataDir,
    profile,
    // one process holds both parties' keys here (a demo): the customer's consent is given too
    acceptAsCustomer: true,
    // Notifications of different nodes can arrive out of source-time order; at high
    // acceleration one publish interval spans many simulated minutes.
    window: {
      size: o.windowSize === "1h" ? { hours: 1 } : { minutes: 15 },
      timeZone: o.billing.timeZone,
      allowedLatenessMs: 2 * 3_600_000,
    },
    delivery: { backoff: { initialMs: 50, maxMs: 2000 } },
    settleRetry: { initialMs: 200, maxMs: 5000 },
  });
  const deposit = await ledger.deposit({
    agreementId: agreement.agreementId,
    amount: dec("5000"),
    by: customer,
    reference: "initial-deposit",
  });
  log({
    event: "funds.deposit",
    status: deposit.status,
    available: deposit.balance.available.toFixed(),
  });

  const quarantineFile = join(o.outDir, "quarantine.jsonl");
  let quarantined = 0;
  // Ground truth is taken between the first and the last volume reading the gateway billed:
  // the last one at or before the agreement start is the baseline; nothing past the term.
  let firstVolume: Date | undefined;
  let lastVolume: Date | undefined;
  const termEnd = agreement.end?.getTime();
  gateway.events$.subscribe((e) => {
    if (e.type === "reading") {
      const r = e.reading;
      if (r.channel === "volume" && r.quality === "good") {
        const t = r.sourceTime.getTime();
        if (firstVolume === undefined || t <= o.start.getTime()) firstVolume = r.sourceTime;
        if (termEnd === undefined || t <= termEnd) lastVolume = r.sourceTime;
      }
      o.onReading?.(r);
    } else if (e.type === "record") o.onRecord?.(e.record, e.window as MeterWindow<OeeResult>);
    else if (e.type === "record.acknowledged") o.onAcknowledged?.(e.seq);
    else if (e.type === "period.settled" || e.type === "period.alreadySettled")
      o.onInvoice?.(e.invoice);
    if (e.type === "reading.quarantined") {
      quarantined += 1;
      appendFileSync(quarantineFile, `${JSON.stringify(quarantineLine(e.event))}\n`);
    }
    const line = gatewayLogLine(e);
    if (line) log(line);
  });

  const maintenance = await startMaintenanceWorkOrders({
    gateway,
    ledger,
    profile,
    serviceAgreement,
    signer: machine,
    dataDir,
    clock,
    actForAllParties: true,
    technician: async (wo) => {
      // The field technician does the work on the (simulated) machine.
      const snap = server.model.snapshot();
      server.model.service();
      return {
        report: `${wo.request.serviceType} done`,
        partsUsed:
          wo.request.serviceType === "filterChange"
            ? ["air filter element"]
            : ["oil 20 l", "separator element", "oil filter"],
        runHours: snap.runHours.toFixed(),
        loadedHours: snap.loadedHours.toFixed(),
        technician: "demo field service",
      };
    },
  });
  maintenance.events$.subscribe((e) => log(maintenanceLogLine(e)));

  // The source: the profile's nodes over OPC UA, until the span's end in machine time (the
  // first reading at or past it ends the run; open windows close on completion).
  const until = o.start.getTime() + o.spanMs;
  const metered = opcuaProfileSource({
    endpointUrl: server.endpointUrl,
    machineId: agreement.machineId,
    profile,
    pkiDir: join(dataDir, "pki"),
    log,
  }).pipe(
    takeWhile((e) => e.kind !== "reading" || e.sourceTime.getTime() < until, true),
    tap((e) => {
      if (e.kind === "reading" && e.sourceTime > simNow) simNow = e.sourceTime;
    }),
    gateway.meter(),
  );
  await new Promise<void>((done) =>
    metered.subscribe({
      error: (err) => {
        log({ event: "metering.error", error: String(err), code: (err as { code?: string }).code });
        done();
      },
      complete: () => done(),
    }),
  );
  log({ event: "gateway.stopping" });
  await maintenance.stop();
  await gateway.stop();
  await server.stop();

  const invoices = [...gateway.settler.invoices()];
  writeInvoices({ outDir: o.outDir }, invoices);
  const exported = await exportRecords({ dataDir, outDir: o.outDir }, machine.address);
  const historyFile = join(o.outDir, "history.jsonl");
  maintenance.history.exportTo(historyFile);
  const records: MeterRecord[] = [];
  const { openJournal, meterRecordCodec } = await import("@maaskit/metering");
  const journal = await openJournal({ dir: join(dataDir, "journal"), codec: meterRecordCodec });
  for await (const r of journal.read(0)) records.push(r);
  await journal.close();
  const workOrders = maintenance.orders.list().map((w) => ({
    id: w.id,
    state: w.state,
    ...(w.amount ? { amount: w.amount.toFixed(2) } : {}),
  }));
  await ledger.close();
  await chosen.stop?.();
  const summary: DemoSummary = {
    records: exported.records,
    invoices,
    quarantined,
    billedVolume: exported.billedVolume,
    verification: exported.verification,
    files: { records: exported.file, history: historyFile, invoices: join(o.outDir, "invoices") },
  };
  log({
    event: "gateway.stopped",
    records: summary.records,
    billedVolume: summary.billedVolume,
    quarantined,
    verification: summary.verification,
  });
  const groundTruthVolume =
    firstVolume && lastVolume
      ? server.model
          .groundTruthVolumeAt(lastVolume)
          .minus(server.model.groundTruthVolumeAt(firstVolume))
      : dec(0);
  if (o.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
  return { summary, agreement, groundTruthVolume, workOrders, records, signer: machine.address };
}
