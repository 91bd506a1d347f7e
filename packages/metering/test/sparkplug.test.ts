import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embeddedLedger, openAgreementWithConsent } from "@maaskit/settlement";
import {
  conformanceWallets,
  scenarioAgreement,
  scenarioClock,
  scenarioDay,
} from "@maaskit/settlement/conformance";
import type { Decimal } from "decimal.js";
import { type Subscription, tap } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  GENESIS_HASH,
  meterRecordDigest,
  quantity,
  signMeterRecord,
  type UnsignedMeterRecord,
} from "../src/index.js";
import { counterDelta } from "../src/operators/counterDelta.js";
import { Dec } from "../src/quantity.js";
import type { MeterEvent, Reading, UsageEvent } from "../src/reading.js";
import { startCompressorEdgeNode } from "../src/simulator.js";
import { fromSparkplug, type SparkplugHostOutput } from "../src/sparkplug.js";
import {
  type AedesBroker,
  startAedesBroker,
  startTestBroker,
  type TestBroker,
  uniqueGroupId,
} from "./support/mqttBroker.js";

// inside day 0 of the settlement conformance agreement, while its machine key A is valid
const START = "2025-01-01T08:00:00Z";
const MACHINE = "compressor-7";

async function until(what: string, ok: () => boolean, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The compressor edge node → fromSparkplug → counterDelta, with everything observed kept. */
async function meter(brokerUrl: string, label: string) {
  const groupId = uniqueGroupId(label);
  const edge = await startCompressorEdgeNode({
    brokerUrl,
    groupId,
    edgeNodeId: "edge1",
    model: { seed: 3, startTime: START, registerModulus: "1000", initialRegister: "990" },
    reconnectDelayMs: 200,
  });
  const events: MeterEvent[] = [];
  const hostEvents: SparkplugHostOutput[] = [];
  const volumes: Reading[] = [];
  const sub: Subscription = fromSparkplug({
    brokerUrl,
    groupId,
    edgeNodeId: "edge1",
    deviceId: "compressor",
    hostId: `${groupId}-host`,
    machineId: MACHINE,
    metrics: [
      { name: "Volume", channel: "volume", unit: "MTQ", scale: "0.001" },
      { name: "Counter Resets", channel: "counterResets" },
      {
        name: "State",
        channel: "state",
        states: { 1: "Stopped", 2: "Starting", 3: "Stopping", 4: "Unloaded", 7: "Loaded" },
      },
    ],
    reorderTimeoutMs: 300,
    rebirthCooldownMs: 1000,
    reconnectPeriodMs: 200,
    onHostEvent: (e) => hostEvents.push(e),
  })
    .pipe(
      tap((e) => {
        if (e.kind === "reading" && e.channel === "volume") volumes.push(e);
      }),
      counterDelta({
        channel: "volume",
        unit: "MTQ",
        rollover: "1000",
        capacity: { value: "7.5", per: "min" },
        resetCounterChannel: "counterResets",
      }),
    )
    .subscribe({
      next: (e) => events.push(e),
      error: (err) =>
        events.push({
          kind: "quarantine",
          machineId: "x",
          reason: "stream.error",
          message: String(err),
          item: err,
        }),
    });
  /** Waits until the host has the edge node's last published register value. */
  const synced = (what: string) =>
    until(what, () => {
      // counterDelta runs synchronously behind the tap: the reading seen means its usage is out
      const p = edge.lastPublished();
      const r = volumes.at(-1);
      return p !== undefined && r !== undefined && r.sourceTime.getTime() === p.at.getTime();
    });
  const baseline = () => volumes[0]!;
  const billed = () =>
    events
      .filter((e): e is UsageEvent => e.kind === "usage")
      .reduce((sum: Decimal, u) => sum.plus(u.quantity.value), new Dec(0));
  const truth = () =>
    edge.groundTruth().minus(edge.model.groundTruthVolumeAt(baseline().sourceTime));
  return { edge, events, hostEvents, volumes, sub, synced, billed, truth, groupId };
}

/**
 * The usage as one signed meter record (a day window) of the settlement conformance agreement (machine key A),
 * submitted to an embedded ledger, day 0 settled: the invoice.
 */
async function settleOnEmbeddedLedger(events: MeterEvent[], label: string) {
  const usage = events.filter((e): e is UsageEvent => e.kind === "usage");
  const dir = await mkdtemp(join(tmpdir(), "maaskit-sparkplug-ledger-"));
  const clock = scenarioClock("2025-01-01T00:00:00Z");
  const ledger = embeddedLedger({ dir, clock });
  try {
    const agreement = scenarioAgreement(`sparkplug/${label}`, { invoiced: true });
    const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
    const total = usage.reduce((sum: Decimal, u) => sum.plus(u.quantity.value), new Dec(0));
    const flags = {
      ...(usage.some((u) => u.flags.bridged) ? { bridged: true } : {}),
      ...(usage.some((u) => u.flags.rollover) ? { rollover: true } : {}),
      ...(usage.some((u) => u.flags.reset) ? { reset: true } : {}),
    };
    // two windows of the billing day: 00–12 h (the whole run, machine key A) and 12–24 h
    // (nothing delivered, key B after the agreement's key rotation)
    const day = scenarioDay(0);
    const noon = new Date(day.start.getTime() + 12 * 3_600_000);
    const window = (
      seq: number,
      start: Date,
      end: Date,
      m3: string,
      prevHash: string,
    ): UnsignedMeterRecord => ({
      version: 1,
      agreementId: agreement.agreementId,
      chainId: recordDomain.chainId,
      verifyingContract: recordDomain.verifyingContract,
      machineId: MACHINE,
      channel: "volume",
      seq,
      periodStart: start,
      periodEnd: end,
      quantity: quantity(m3, "MTQ", "ISO1217-FAD"),
      flags: seq === 0 ? flags : {},
      clock: "synchronised",
      quarantined: 0,
      prevHash,
    });
    const wallets = conformanceWallets();
    const first = await signMeterRecord(window(0, day.start, noon, total.toFixed(), GENESIS_HASH), {
      signer: wallets.machineA,
    });
    const second = await signMeterRecord(window(1, noon, day.end, "0", meterRecordDigest(first)), {
      signer: wallets.machineB,
    });
    const out = await ledger.submitRecords({
      agreementId: agreement.agreementId,
      records: [first, second],
    });
    expect(out.accepted).toBe(2);
    clock.set("2025-01-02T00:00:00Z");
    return await ledger.settlePeriod({
      agreementId: agreement.agreementId,
      period: scenarioDay(0),
    });
  } finally {
    await ledger.close();
    await rm(dir, { recursive: true, force: true });
  }
}

describe("Sparkplug B end to end: compressor edge node → fromSparkplug → counterDelta → signed record → embedded ledger, billed = ground truth", () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(async () => broker.stop());

  it("through a register rollover, a seq gap with dropped messages, an edge-node death and rebirth, and a register reset", async () => {
    const m = await meter(broker.url, "e2e");
    const { edge } = m;
    try {
      // the host joined after the edge node's first birth: it asked for a rebirth
      await until("the births", () => m.volumes.length > 0);
      expect(edge.rebirthCommands).toBeGreaterThanOrEqual(1);

      await edge.advance(130); // the register rolls over at 1000 m³
      await m.synced("rollover");
      const usages = () => m.events.filter((e): e is UsageEvent => e.kind === "usage");
      expect(usages().some((u) => u.flags.rollover)).toBe(true);
      expect(m.billed().eq(m.truth())).toBe(true);

      // seq gap: three DDATA messages are never sent; the host waits, then asks for a rebirth
      const birthsBefore = edge.births;
      edge.dropNext(3);
      await edge.advance(40);
      await until("the rebirth after the gap", () => edge.births > birthsBefore);
      await m.synced("after the gap");
      expect(m.hostEvents).toContainEqual(
        expect.objectContaining({ kind: "rebirthRequested", cause: "sparkplug.seqGap" }),
      );
      expect(m.events).toContainEqual(
        expect.objectContaining({ kind: "gap", reason: "sparkplug.seqGap", bridgedBy: "register" }),
      );
      expect(m.billed().eq(m.truth())).toBe(true);

      // the edge node dies (NDEATH will from the broker), runs on unobserved, and is born again
      const bdSeq = edge.bdSeq;
      await edge.crash();
      await until("the NDEATH", () =>
        m.hostEvents.some((e) => e.kind === "offline" && e.reason === "NDEATH"),
      );
      await edge.advance(60);
      await edge.reconnect();
      expect(edge.bdSeq).toBe(bdSeq + 1);
      await edge.advance(5);
      await m.synced("after the death");
      expect(m.events).toContainEqual(
        expect.objectContaining({ kind: "gap", reason: "sparkplug.death" }),
      );
      expect(m.billed().eq(m.truth())).toBe(true);

      // the register is reset to 0 on the machine
      edge.resetRegister();
      await edge.advance(40);
      await m.synced("after the reset");
      expect(usages().some((u) => u.flags.reset)).toBe(true);
      expect(m.billed().eq(m.truth())).toBe(true);
      expect(m.truth().gt(20)).toBe(true);
      expect(m.events.filter((e) => e.kind === "quarantine")).toEqual([]);

      // records → the embedded ledger: the invoice bills exactly the ground truth
      const invoice = await settleOnEmbeddedLedger(m.events, m.groupId);
      expect(invoice.usage.value.eq(m.truth())).toBe(true);
      expect(invoice.usage.unit).toBe("MTQ");
      console.log(
        `invoiced ${invoice.usage.value.toFixed()} m³ = ground truth ${m.truth().toFixed()} m³`,
      );
    } finally {
      m.sub.unsubscribe();
      await edge.stop();
    }
  }, 60_000);
});

describe("Sparkplug B through a broker restart (an in-process aedes restarted on its port: the shared Mosquitto cannot be restarted by a test)", () => {
  let broker: AedesBroker;
  beforeAll(async () => {
    broker = await startAedesBroker();
  });
  afterAll(async () => broker.stop());

  it("the host and the edge node reconnect, the host asks for births, the gap is bridged from the register: billed = ground truth", async () => {
    const m = await meter(broker.url, "restart");
    const { edge } = m;
    try {
      await until("the births", () => m.volumes.length > 0);
      await edge.advance(50);
      await m.synced("before the restart");
      const births = edge.births;
      await broker.restart();
      await edge.advance(30); // while the broker is down or the edge reconnects: lost by QoS 0
      await until("the births after the restart", () => edge.births > births && edge.connected);
      await edge.advance(10);
      await m.synced("after the restart");
      expect(m.events).toContainEqual(
        expect.objectContaining({ kind: "gap", bridgedBy: "register" }),
      );
      expect(m.billed().eq(m.truth())).toBe(true);
      expect(m.truth().gt(0)).toBe(true);
    } finally {
      m.sub.unsubscribe();
      await edge.stop();
    }
  }, 60_000);
});
