import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { openMaintenanceHistory } from "@maaskit/maintenance";
import {
  type CompressorModel,
  compressorModel,
  createRecorder,
  fromSimulatedCompressor,
  loadSigner,
  type MeterRecord,
  type MeterRecordBinding,
  type MeterWindow,
  meterRecordCodec,
  meterRecordToJson,
  type OeeElements,
  type OeeResult,
  openJournal,
  type PlannedInterval,
  type QuarantineEvent,
  quantity,
} from "@maaskit/metering";
import {
  type Agreement,
  createSettlementClient,
  type EmbeddedLedger,
  embeddedLedger,
  type Invoice,
  parseAgreement,
} from "@maaskit/settlement";
import { filter, firstValueFrom, lastValueFrom, toArray } from "rxjs";
import { FastForwardScheduler } from "./fastForwardScheduler.js";
import {
  createMesPlugin,
  type MesPlugin,
  type OeeRollUp,
  type UsageWindow,
  type WarrantyTerms,
} from "./plugin.js";

/** Options of {@link runDemo}. */
export interface RunDemoOptions {
  /** Working directory: ledger, journal, key files and exports go below it. */
  readonly dir: string;
  /** Simulated days, from Monday 2025-01-06 00:00 UTC. Default 2. */
  readonly days?: number;
  /**
   * Simulated seconds between two samples of the machine (an OPC UA sampling interval).
   * Default 1: the model's step, so state spans match the delivered air to the second.
   */
  readonly sampleSeconds?: number;
  /** Seed of the compressor model. Default 1. */
  readonly seed?: number;
}

/** Everything the demo produced, for printing (main.ts) or checking (the tests). */
export interface DemoRun {
  readonly model: CompressorModel;
  readonly agreement: Agreement;
  readonly binding: MeterRecordBinding;
  readonly ledger: EmbeddedLedger;
  readonly plugin: MesPlugin;
  readonly start: Date;
  readonly end: Date;
  readonly windows: readonly MeterWindow<OeeResult>[];
  readonly usage: readonly UsageWindow[];
  readonly rollUps: readonly OeeRollUp[];
  readonly quarantined: readonly QuarantineEvent[];
  readonly records: readonly MeterRecord[];
  readonly invoices: readonly Invoice[];
  /** Exported signed records (JSON Lines). */
  readonly recordsFile: string;
  /** Exported maintenance history (JSON Lines). */
  readonly historyFile: string;
  readonly warranty: WarrantyTerms;
  /** Real time the metering of the simulated span took (ms). */
  readonly meteringMs: number;
  close(): Promise<void>;
}

// Demo keys, published here: never use them for anything real.
const MACHINE_KEY = `0x${"a1".repeat(32)}`;
const SERVICE_KEY = `0x${"b2".repeat(32)}`;
const START = "2025-01-06T00:00:00.000Z";
const DAY = 86_400_000;
/** 7.5 m³/min rated FAD: one m³ takes 8 s at the ideal rate (ISO 22400 PRI per m³). */
const IDEAL_MS_PER_M3 = "8000";

/**
 * No night shift: 22:00–06:00 UTC is planned down time (outside the planned busy time).
 *
 * @example nightsOff(new Date("2025-01-06T21:45:00Z"), new Date("2025-01-06T22:00:00Z")) // []
 */
export function nightsOff(start: Date, end: Date): PlannedInterval[] {
  const out: PlannedInterval[] = [];
  for (let d = Math.floor(start.getTime() / DAY) - 1; d * DAY < end.getTime(); d++) {
    const s = d * DAY + 22 * 3_600_000;
    const e = s + 8 * 3_600_000;
    if (e > start.getTime() && s < end.getTime()) {
      out.push({ start: new Date(s), end: new Date(e), reason: "no night shift" });
    }
  }
  return out;
}

/**
 * A record's OEE elements from its window: ISO 22400 PBT and APT, produced and good m³.
 * Records carry counts without a volume basis (the billed quantity names it), so the basis
 * `oee()` copied from the volume channel is dropped here.
 */
function oeeElements(w: MeterWindow): OeeElements | undefined {
  const o = (w as MeterWindow<OeeResult>).oee;
  if (o === undefined) return undefined;
  return {
    plannedBusyTimeMs: Number(o.timeElements.pbt),
    actualProductionTimeMs: Number(o.timeElements.apt),
    produced: quantity(o.producedQuantity.value, o.producedQuantity.unit),
    good: quantity(o.goodQuantity.value, o.goodQuantity.unit),
  };
}

/**
 * The demo end to end, on the embedded ledger in `dir`: a simulated screw compressor (sampled
 * every few simulated seconds, run on a virtual clock as fast as the CPU allows) feeds the MES
 * plugin; the gateway side signs a record per window into its journal, the settlement client
 * delivers them to the ledger, each day is settled into an invoice; a service provider writes
 * the maintenance history. Records and history are exported as JSON Lines.
 *
 * @example
 * ```ts
 * const run = await runDemo({ dir: await mkdtemp(join(tmpdir(), "mes-")) });
 * console.log((await run.plugin.verifyRecords(await readFile(run.recordsFile, "utf8"))).valid);
 * await run.close();
 * ```
 */
export async function runDemo(options: RunDemoOptions): Promise<DemoRun> {
  const { dir } = options;
  const days = options.days ?? 2;
  const start = new Date(START);
  const end = new Date(start.getTime() + days * DAY);
  await mkdir(join(dir, "keys"), { recursive: true });
  await writeFile(join(dir, "keys", "machine.key"), MACHINE_KEY, { mode: 0o600 });
  await writeFile(join(dir, "keys", "service.key"), SERVICE_KEY, { mode: 0o600 });
  const signer = await loadSigner({ keyFile: join(dir, "keys", "machine.key") });
  const serviceSigner = await loadSigner({ keyFile: join(dir, "keys", "service.key") });

  const agreement = parseAgreement({
    agreementId: `0x${Buffer.from("maaskit mes-plugin demo").toString("hex").padStart(64, "0")}`,
    name: "Compressed air per m³, hall 3",
    parties: {
      provider: "0x00000000000000000000000000000000000000aa",
      customer: "0x00000000000000000000000000000000000000bb",
    },
    machineId: "compressor-1",
    signers: [{ address: signer.address, validFrom: START }],
    tariff: {
      version: 1,
      metered: { unit: "MTQ", basis: "ISO1217-FAD" },
      pricing: {
        model: "graduated",
        tiers: [{ upTo: "4000", unitPrice: "0.025" }, { unitPrice: "0.019" }],
      },
      includedVolume: "0",
      baseFee: "12.50",
      minimumCommitment: "0",
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency: { symbol: "EUR", decimals: 2 },
    billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
    paymentTerms: { kind: "invoiced", netDays: 30 },
    start: START,
    status: "active",
  });

  const ledger = embeddedLedger({ dir: join(dir, "ledger") });
  const { recordDomain } = await ledger.openAgreement(agreement);
  const binding: MeterRecordBinding = { agreementId: agreement.agreementId, ...recordDomain };

  // The register starts 2,500 m³ below its rollover, so the run also meters across a wrap.
  const modulus = "100000000";
  const model = compressorModel({
    seed: options.seed ?? 1,
    startTime: start,
    initialRegister: "99997500",
    registerModulus: modulus,
  });
  const scheduler = new FastForwardScheduler();
  const readings$ = fromSimulatedCompressor(
    {
      model,
      machineId: agreement.machineId,
      accelerate: options.sampleSeconds ?? 1,
      intervalMs: 1000,
      channels: ["volume", "state"],
      until: end,
    },
    scheduler,
  );

  const plugin = createMesPlugin({
    readings$,
    agreement,
    ledger,
    historySigners: [serviceSigner.address],
    // The simulated compressor delivers at most its rated 7.5 m³/min.
    channels: { rollover: modulus, capacity: { value: "7.5", per: "min" } },
    oee: { idealCycleTimeMs: IDEAL_MS_PER_M3, calendar: nightsOff },
  });

  // The gateway side: every window becomes a signed record, durable in the journal first.
  const journal = await openJournal({ dir: join(dir, "journal"), codec: meterRecordCodec });
  const recorder = createRecorder({
    journal,
    signer,
    binding,
    clock: "informative",
    oee: oeeElements,
    build: { channel: "volume", extraChannels: "none" },
  });

  const windows = lastValueFrom(plugin.windows$.pipe(toArray()));
  const usage = lastValueFrom(plugin.usage$.pipe(toArray()));
  const rollUps = lastValueFrom(plugin.oee$.pipe(toArray()));
  const quarantined = lastValueFrom(plugin.quarantine$.pipe(toArray()));
  const records = lastValueFrom(plugin.windows$.pipe(recorder.recordWindows(), toArray()));
  const t0 = performance.now();
  plugin.start();
  scheduler.flush();
  const meteringMs = performance.now() - t0;
  const signed = await records;

  // Deliver the journal to the ledger (at least once; the ledger makes it exactly once).
  const client = createSettlementClient({
    ledger,
    journal,
    delivery: { backoff: { initialMs: 10 } },
  });
  const lastSeq = signed.length - 1;
  const delivered = firstValueFrom(
    client.delivery!.events$.pipe(
      filter((e) => e.type === "failed" || (e.type === "caughtUp" && e.ackedThrough === lastSeq)),
    ),
  );
  client.start();
  const outcome = await delivered;
  if (outcome.type === "failed") throw outcome.error;
  await client.stop();
  await journal.close();

  for (let d = 0; d < days; d++) {
    const period = {
      start: new Date(start.getTime() + d * DAY),
      end: new Date(start.getTime() + (d + 1) * DAY),
    };
    await ledger.settlePeriod({ agreementId: agreement.agreementId, period });
  }

  const exportDir = join(dir, "exports");
  await mkdir(exportDir, { recursive: true });
  const recordsFile = join(exportDir, "records.jsonl");
  await writeFile(
    recordsFile,
    signed.map((r) => `${JSON.stringify(meterRecordToJson(r))}\n`).join(""),
  );

  // The service provider's side: the filter is changed at the end of the run.
  const history = await openMaintenanceHistory({
    machineId: agreement.machineId,
    signer: serviceSigner,
    file: join(dir, "maintenance", "history.jsonl"),
  });
  const before = model.snapshot();
  await history.append("serviceRequest", new Date(end.getTime() - 3_600_000), {
    conditionId: "filterDp",
    filterDp: before.filterDp.toFixed(),
  });
  await history.append("service.performed", end, {
    serviceType: "airFilter",
    conditionId: "filterDp",
    runHours: before.runHours.toFixed(),
    loadedHours: before.loadedHours.toFixed(),
    partsUsed: ["air filter element"],
    provider: serviceSigner.address,
  });
  model.service();
  const historyFile = join(exportDir, "history.jsonl");
  history.exportTo(historyFile);

  return {
    model,
    agreement,
    binding,
    ledger,
    plugin,
    start,
    end,
    windows: await windows,
    usage: await usage,
    rollUps: await rollUps,
    quarantined: await quarantined,
    records: signed,
    invoices: await plugin.invoices(),
    recordsFile,
    historyFile,
    warranty: {
      required: [{ serviceType: "airFilter", every: { runHours: 2000, months: 12 } }],
      commissioned: { at: start, runHours: "0" },
      now: { at: end, runHours: before.runHours },
    },
    meteringMs,
    close: () => ledger.close(),
  };
}
