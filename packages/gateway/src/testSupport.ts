// Test helpers of the gateway package (not exported from the entry point).
import { dec, type MeterEvent, type MeterRecord, type Reading } from "@maaskit/metering";
import {
  type Agreement,
  type Invoice,
  type LedgerBackend,
  ledgerError,
  parseAgreement,
} from "@maaskit/settlement";
import { Wallet } from "ethers";
import { Subject, type VirtualTimeScheduler } from "rxjs";
import { createGateway } from "./createGateway.js";
import type { CreateGatewayParameters, Gateway, GatewayEvent } from "./gatewayTypes.js";
import type { MachineProfile } from "./machineProfile.js";

export const MACHINE = "compressor-1";

/** A fixed key, so records are byte-identical between runs. */
export const testSigner = new Wallet(`0x${"11".repeat(32)}`);

export function testAgreement(start = "2025-01-01T00:00:00.000Z", end?: string): Agreement {
  return parseAgreement({
    agreementId: `0x${"ab".repeat(32)}`,
    name: "test air per m³",
    parties: { provider: `0x${"01".repeat(20)}`, customer: `0x${"02".repeat(20)}` },
    machineId: MACHINE,
    signers: [{ address: testSigner.address, validFrom: start }],
    tariff: {
      version: 1,
      metered: { unit: "MTQ", basis: "ISO1217-FAD" },
      pricing: { model: "perUnit", unitPrice: "0.02" },
      includedVolume: "0",
      baseFee: "0",
      minimumCommitment: "0",
      rounding: { mode: "halfEven", decimals: 2 },
    },
    currency: { symbol: "EUR", decimals: 2 },
    billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
    paymentTerms: { kind: "invoiced", netDays: 14 },
    start,
    ...(end !== undefined ? { end } : {}),
    status: "active",
  });
}

export const testProfile: MachineProfile = {
  name: "test register",
  billed: "volume",
  channels: { volume: { kind: "register", nodeId: "ns=1;s=V", unit: "MTQ" } },
};

/** A good register reading. */
export function volume(at: string | number, value: string): Reading {
  return {
    kind: "reading",
    machineId: MACHINE,
    channel: "volume",
    sourceTime: new Date(at),
    value: dec(value),
    unit: "MTQ",
    quality: "good",
  } as Reading;
}

/** Register readings every `stepMs` from `fromMs` to `toMs` (inclusive), +`perStep` m³ each. */
export function volumeSeries(
  fromMs: number,
  toMs: number,
  stepMs: number,
  start: string,
  perStep: string,
): MeterEvent[] {
  const out: MeterEvent[] = [];
  let v = dec(start);
  for (let t = fromMs; t <= toMs; t += stepMs) {
    out.push(volume(t, v.toFixed()));
    v = v.plus(perStep);
  }
  return out;
}

/**
 * A real ledger behind a switch: while `down`, every call answers
 * `settlement.ledger.unavailable` (a network partition, a node restart). `gate` holds
 * `submitRecords` calls until released (a batch in flight).
 */
export function switchableLedger(real: LedgerBackend) {
  const state = {
    down: false,
    /** While set, submitRecords waits for it before calling the real ledger. */
    gate: undefined as Promise<void> | undefined,
    submitCalls: 0,
    settleCalls: 0,
    /** While set, only settlePeriod is unreachable (records still go through). */
    settleDown: false,
    /** Settles on the real ledger, then fails the reply once (a lost response). */
    loseNextSettleReply: false,
  };
  const unavailable = () =>
    ledgerError("settlement.ledger.unavailable", "test: the ledger is unreachable", {});
  const ledger: LedgerBackend = new Proxy(real, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver);
      if (typeof v !== "function") return v;
      if (prop === "submitRecords") {
        return async (...args: unknown[]) => {
          state.submitCalls++;
          if (state.gate) await state.gate;
          if (state.down) throw unavailable();
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      if (prop === "settlePeriod") {
        return async (...args: unknown[]) => {
          state.settleCalls++;
          if (state.down || state.settleDown) throw unavailable();
          const out = await (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (state.loseNextSettleReply) {
            state.loseNextSettleReply = false;
            throw unavailable();
          }
          return out;
        };
      }
      if (prop === "getInvoices" || prop === "openAgreement") {
        return async (...args: unknown[]) => {
          if (state.down) throw unavailable();
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      }
      return v.bind(target);
    },
  });
  return { ledger, state };
}

/**
 * Lets promises and file I/O settle (the journal fsyncs in the thread pool), then runs the
 * virtual-time actions due up to `untilMs`, until `done()` — giving up after 20 s real time.
 */
export async function runUntil(
  scheduler: VirtualTimeScheduler,
  done: () => boolean,
  untilMs = Number.POSITIVE_INFINITY,
): Promise<boolean> {
  const giveUpAt = Date.now() + 20_000;
  while (!done() && Date.now() < giveUpAt) {
    await new Promise((r) => setImmediate(r));
    scheduler.maxFrames = untilMs;
    scheduler.flush();
    if (untilMs !== Number.POSITIVE_INFINITY && scheduler.now() >= untilMs) {
      await new Promise((r) => setImmediate(r));
    }
  }
  return done();
}

/** Runs virtual time forward to `untilMs`, letting I/O settle between steps. */
export async function advanceTo(
  scheduler: VirtualTimeScheduler,
  untilMs: number,
  stepMs = 1000,
): Promise<void> {
  for (let t = scheduler.now() + stepMs; t <= untilMs; t += stepMs) {
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    scheduler.maxFrames = t;
    scheduler.flush();
    scheduler.frame = t;
  }
}

/**
 * A gateway on the test agreement and profile with hourly windows, fast deterministic retries
 * and the customer's consent given (override any of it), collecting its invoices and events.
 */
export async function startTestGateway(
  p: Pick<CreateGatewayParameters, "ledger" | "dataDir" | "scheduler"> &
    Partial<CreateGatewayParameters>,
) {
  const gateway = await createGateway({
    agreement: testAgreement(),
    signer: testSigner,
    profile: testProfile,
    window: { size: { hours: 1 }, allowedLatenessMs: 0 },
    acceptAsCustomer: true,
    delivery: { backoff: { initialMs: 1000, maxMs: 60_000 }, random: () => 0 },
    settleRetry: { initialMs: 1000, maxMs: 60_000 },
    ...p,
  });
  const invoices: Invoice[] = [];
  const events: GatewayEvent[] = [];
  const records: MeterRecord[] = [];
  gateway.invoices$.subscribe((i) => invoices.push(i));
  gateway.events$.subscribe((e) => events.push(e));
  return { gateway, invoices, events, records };
}

/** Feeds readings into the gateway's pipeline; the returned subject keeps the source open. */
export function feed(gateway: Gateway, records: MeterRecord[]): Subject<MeterEvent> {
  const source = new Subject<MeterEvent>();
  source.pipe(gateway.meter()).subscribe((r) => records.push(r));
  return source;
}
