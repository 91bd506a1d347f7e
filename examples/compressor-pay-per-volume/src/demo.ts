import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseServiceAgreement } from "@maaskit/maintenance";
import { dec, type MeterRecord, type Reading, type StateMapping } from "@maaskit/metering";
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
import { parseGatewayConfig } from "./gateway/config.js";
import { type GatewayLogEvent, type GatewaySummary, startGateway } from "./gateway/gateway.js";

/** The maintenance plan's filter trigger: differential pressure above this (bar) for 30 min. */
export const FILTER_TRIGGER_BAR = "0.05";

/**
 * For air sold as a service, "available" means ready to deliver air at pressure: running
 * loaded or unloaded, or stopped on standby by the controller. Only faults and maintenance
 * stops are down time. (The default `compressorStates` rates a compressor as a producing
 * machine instead: only Loaded is production time.)
 */
export const airServiceStates: StateMapping = {
  Loaded: "APT",
  Unloaded: "APT",
  Starting: "APT",
  Stopping: "APT",
  Stopped: "APT",
  Fault: "ADOT",
  Maintenance: "ADOT",
};

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
  readonly windowSize: string;
  readonly outDir: string;
  /** Where journal, ledger and keys live; a fresh temp dir when omitted. */
  readonly dataDir?: string;
  /** The ledger (default: embedded in `dataDir`); an EVM ledger brings its parties and token. */
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
  readonly log?: (e: GatewayLogEvent) => void;
  readonly onReading?: (r: Reading) => void;
  readonly onRecord?: Parameters<typeof startGateway>[0]["onRecord"];
  readonly onInvoice?: (i: Invoice) => void;
  readonly onAcknowledged?: (seq: number) => void;
  readonly onStart?: (info: { endpointUrl: string; agreement: Agreement }) => void;
  /** Receives the simulator's ground truth: delivered m³ from its start up to an instant. */
  readonly onGroundTruth?: (volumeAt: (t: number) => Decimal) => void;
}

export interface DemoResult {
  readonly summary: GatewaySummary;
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
 * Simulator + gateway on the embedded ledger: a screw compressor on a local OPC UA server,
 * metered per window, signed and journaled, settled per billing period, with machine-
 * controlled maintenance. Returns what was billed and what the simulator really delivered.
 */
export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const dataDir = o.dataDir ?? mkdtempSync(join(tmpdir(), "maaskit-demo-"));
  const ownData = o.dataDir === undefined;
  mkdirSync(o.outDir, { recursive: true });
  const machine = new Wallet(Wallet.createRandom().privateKey);
  let simNow = o.start;
  const clock = {
    now: () => simNow,
    observe: (t: Date) => {
      if (t.getTime() > simNow.getTime()) simNow = t;
    },
  };
  const chosen = o.ledger
    ? await o.ledger(join(dataDir, "ledger"), clock)
    : { ledger: embeddedLedger({ dir: join(dataDir, "ledger"), clock }) };
  const ledger = chosen.ledger;
  const customer = chosen.parties?.customer ?? Wallet.createRandom().address;
  const provider = chosen.parties?.provider ?? Wallet.createRandom().address;
  const arbiter = chosen.parties?.arbiter ?? Wallet.createRandom().address;
  const currency = chosen.currency ?? { symbol: "EUR", decimals: 2 };
  const keyFile = join(dataDir, "gateway.key");
  writeFileSync(keyFile, `${machine.privateKey}\n`, { mode: 0o600 });

  const server = await startCompressorServer({
    host: "127.0.0.1",
    port: 0,
    // The machine runs before the agreement starts: the gateway connects and sets its
    // register baseline before the first billed window.
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

  const agreementId = id(`maaskit-demo/air-per-m3/${machine.address}`);
  const agreement = parseAgreement({
    agreementId,
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
    prices: { airFilterChange: "180.00", oilAndSeparatorService: "640.00" },
    responseHours: 24,
    completionHours: 72,
    warranty: [
      {
        serviceType: "oilAndSeparatorService",
        every: { runHours: o.serviceRunHours ?? "300", months: 12 },
      },
    ],
  });

  const config = parseGatewayConfig(
    {
      machineId: "compressor-1",
      endpoint: server.endpointUrl,
      nodes: {
        volume: {
          nodeId: server.nodeIds.volume,
          kind: "register",
          unit: "MTQ",
          basis: "ISO1217-FAD",
          rollover: server.model.registerModulus.toFixed(),
        },
        flow: { nodeId: server.nodeIds.flow, kind: "rate", unit: "G53" },
        state: { nodeId: server.nodeIds.state, kind: "state" },
        runHours: { nodeId: server.nodeIds.runHours, kind: "value", unit: "HUR" },
        filterDp: { nodeId: server.nodeIds.filterDp, kind: "value", unit: "BAR" },
      },
      // Notifications of different nodes can arrive out of source-time order; at high
      // acceleration one publish interval spans many simulated minutes.
      window: {
        size: o.windowSize,
        timeZone: o.billing.timeZone,
        allowedLatenessMs: 2 * 3_600_000,
      },
      agreement: "agreement.json",
      signerKeyFile: keyFile,
      dataDir,
      outDir: resolve(o.outDir),
      dashboard: { enabled: false },
    },
    dataDir,
  );

  // The last volume reading at or before the agreement start is the billing baseline.
  let firstVolume: Date | undefined;
  let lastVolume: Date | undefined;
  o.onStart?.({ endpointUrl: server.endpointUrl, agreement });
  o.onGroundTruth?.((t) => server.model.groundTruthVolumeAt(t));
  const termEnd = agreement.end?.getTime();
  const gateway = await startGateway({
    config,
    agreement,
    signer: machine,
    ledger,
    clock,
    stateMapping: airServiceStates,
    until: new Date(o.start.getTime() + o.spanMs),
    initialDeposit: "5000",
    ...(o.log ? { log: o.log } : {}),
    ...(o.onRecord ? { onRecord: o.onRecord } : {}),
    ...(o.onInvoice ? { onInvoice: o.onInvoice } : {}),
    ...(o.onAcknowledged ? { onAcknowledged: o.onAcknowledged } : {}),
    onReading: (r) => {
      if (r.channel === "volume" && r.quality === "good") {
        if (firstVolume === undefined || r.sourceTime.getTime() <= o.start.getTime())
          firstVolume = r.sourceTime;
        // Nothing is recorded past the agreement's term (the gateway closes the chain at its
        // end), so the ground truth stops at the last reading within the term.
        if (termEnd === undefined || r.sourceTime.getTime() <= termEnd) lastVolume = r.sourceTime;
      }
      o.onReading?.(r);
    },
    maintenance: {
      agreement: serviceAgreement,
      plan: {
        filter: {
          channel: "filterDp",
          above: FILTER_TRIGGER_BAR,
          clearAt: "0.03",
          minDurationMs: 30 * 60_000,
        },
        service: { channel: "runHours", runHours: o.serviceRunHours ?? "300", months: 12 },
      },
      machineId: "compressor-1",
      signer: machine,
      dataDir,
      technician: async (wo) => {
        // The field technician does the work on the (simulated) machine.
        const snap = server.model.snapshot();
        server.model.service();
        return {
          report: `${wo.request.serviceType} done`,
          partsUsed:
            wo.request.serviceType === "airFilterChange"
              ? ["air filter element"]
              : ["oil 20 l", "separator element", "oil filter"],
          runHours: snap.runHours.toFixed(),
          loadedHours: snap.loadedHours.toFixed(),
          technician: "demo field service",
        };
      },
    },
  });
  const summary = await gateway.done;
  await server.stop();
  const records: MeterRecord[] = [];
  const { openJournal, meterRecordCodec } = await import("@maaskit/metering");
  const journal = await openJournal({ dir: join(dataDir, "journal"), codec: meterRecordCodec });
  for await (const r of journal.read(0)) records.push(r);
  await journal.close();
  const workOrders = (gateway.maintenance?.orders.list() ?? []).map((w) => ({
    id: w.id,
    state: w.state,
    ...(w.amount ? { amount: w.amount.toFixed(2) } : {}),
  }));
  await ledger.close();
  await chosen.stop?.();
  const groundTruthVolume =
    firstVolume && lastVolume
      ? server.model
          .groundTruthVolumeAt(lastVolume)
          .minus(server.model.groundTruthVolumeAt(firstVolume))
      : dec(0);
  if (ownData) rmSync(dataDir, { recursive: true, force: true });
  return { summary, agreement, groundTruthVolume, workOrders, records, signer: machine.address };
}
