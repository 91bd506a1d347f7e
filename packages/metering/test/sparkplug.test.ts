import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  agreementToJson,
  embeddedLedger,
  openAgreementWithConsent,
  parseAgreement,
} from "@maaskit/settlement";
import {
  conformanceWallets,
  scenarioAgreement,
  scenarioClock,
} from "@maaskit/settlement/conformance";
import type { Decimal } from "decimal.js";
import { filter, firstValueFrom, type Observable, Subject, takeUntil, tap, toArray } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRecorder } from "../src/journal/createRecorder.js";
import { meterRecordCodec } from "../src/journal/meterRecordCodec.js";
import { openJournal } from "../src/journal/openJournal.js";
import { counterDelta } from "../src/operators/counterDelta.js";
import { tumblingWindow } from "../src/operators/tumblingWindow.js";
import { Dec } from "../src/quantity.js";
import type { MeterEvent, Reading, UsageEvent } from "../src/reading.js";
import type { MeterRecord } from "../src/records/meterRecord.js";
import { startCompressorEdgeNode } from "../src/simulator.js";
import { fromSparkplug, type SparkplugHostOutput } from "../src/sparkplug.js";
import type { MeterWindow } from "../src/window.js";
import {
  type RestartableBroker,
  startRestartableBroker,
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

/**
 * The agreement of the settlement conformance scenario, signed for its whole term by machine
 * key A (the scenario rotates to key B at noon; this run's one day window is all key A's).
 */
function oneKeyAgreement(label: string) {
  const json = agreementToJson(scenarioAgreement(`sparkplug/${label}`, { invoiced: true }));
  return parseAgreement({
    ...json,
    signers: [{ address: conformanceWallets().machineA.address, validFrom: json.start }],
  });
}

/**
 * The real metering path: the compressor edge node → fromSparkplug → counterDelta →
 * tumblingWindow (the billing day, UTC) → createRecorder (signed, hash-chained records in a
 * journal) → an embedded ledger, with everything observed kept. `finish()` ends the source,
 * so the day window closes, is recorded, and the records are submitted and day 0 settled.
 */
async function meter(brokerUrl: string, label: string) {
  const groupId = uniqueGroupId(label);
  const dir = await mkdtemp(join(tmpdir(), "maaskit-sparkplug-e2e-"));
  const clock = scenarioClock("2025-01-01T00:00:00Z");
  const ledger = embeddedLedger({ dir: join(dir, "ledger"), clock });
  const agreement = oneKeyAgreement(groupId);
  const { recordDomain } = await openAgreementWithConsent(ledger, agreement);
  const journal = await openJournal({ dir: join(dir, "journal"), codec: meterRecordCodec });
  const recorder = createRecorder({
    journal,
    signer: conformanceWallets().machineA,
    binding: {
      agreementId: agreement.agreementId,
      chainId: recordDomain.chainId,
      verifyingContract: recordDomain.verifyingContract,
    },
    clock: "synchronised",
    build: { channel: "volume", unit: "MTQ", basis: "ISO1217-FAD", extraChannels: "none" },
  });
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
  const windows: MeterWindow[] = [];
  const stop$ = new Subject<void>();
  const source: Observable<MeterEvent> = fromSparkplug({
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
  });
  const records: Promise<MeterRecord[]> = firstValueFrom(
    source.pipe(
      takeUntil(stop$),
      tap((e) => {
        if (e.kind === "reading" && e.channel === "volume") volumes.push(e);
      }),
      counterDelta({
        channel: "volume",
        unit: "MTQ",
        basis: "ISO1217-FAD",
        rollover: "1000",
        capacity: { value: "7.5", per: "min" },
        resetCounterChannel: "counterResets",
      }),
      tap({
        next: (e) => events.push(e),
        error: (err) =>
          events.push({
            kind: "quarantine",
            machineId: "x",
            reason: "stream.error",
            message: String(err),
            item: err,
          }),
      }),
      tumblingWindow({ size: { days: 1 }, timeZone: "UTC" }),
      filter((e): e is MeterWindow => e.kind === "window"),
      tap((w) => windows.push(w)),
      recorder.recordWindows(),
      toArray(),
    ),
  );
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
  /** Ends the source: the open day window is flushed and recorded; day 0 is settled. */
  const finish = async () => {
    stop$.next();
    const recorded = await records;
    const out = await ledger.submitRecords({
      agreementId: agreement.agreementId,
      records: recorded,
    });
    expect(out.accepted).toBe(recorded.length);
    clock.set("2025-01-02T00:00:00Z");
    const invoice = await ledger.settlePeriod({
      agreementId: agreement.agreementId,
      period: { start: new Date("2025-01-01T00:00:00Z"), end: new Date("2025-01-02T00:00:00Z") },
    });
    const journaled: MeterRecord[] = [];
    for await (const r of journal.read()) journaled.push(r);
    return { recorded, journaled, invoice };
  };
  const close = async () => {
    stop$.next();
    await records.catch(() => []);
    await edge.stop();
    await journal.close();
    await ledger.close();
    await rm(dir, { recursive: true, force: true });
  };
  return { edge, events, hostEvents, volumes, windows, synced, billed, truth, finish, close };
}

/** The usage events' flags, for the checks that rollover, reset and bridging happened. */
function usages(events: readonly MeterEvent[]): UsageEvent[] {
  return events.filter((e): e is UsageEvent => e.kind === "usage");
}

/**
 * The whole scenario: a register rollover, a seq gap with dropped messages, an edge-node death
 * and rebirth, a register reset and (on a broker of the test's own) a broker restart; billed =
 * the edge node's ground truth at every step, and the invoice of the settled day = the signed
 * records' total = the ground truth.
 */
async function scenario(brokerUrl: string, label: string, restart?: () => Promise<void>) {
  const m = await meter(brokerUrl, label);
  const { edge } = m;
  try {
    // the host joined after the edge node's first birth: it asked for a rebirth
    await until("the births", () => m.volumes.length > 0);
    expect(edge.rebirthCommands).toBeGreaterThanOrEqual(1);

    await edge.advance(130); // the register rolls over at 1000 m³
    await m.synced("rollover");
    expect(usages(m.events).some((u) => u.flags.rollover)).toBe(true);
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

    if (restart !== undefined) {
      // the broker dies and comes back on its port: both clients reconnect, the host asks for
      // births, what was published meanwhile (QoS 0) is lost and bridged from the register
      const births = edge.births;
      await restart();
      await edge.advance(30);
      await until("the births after the restart", () => edge.births > births && edge.connected);
      await edge.advance(10);
      await m.synced("after the restart");
      expect(m.events).toContainEqual(
        expect.objectContaining({
          kind: "gap",
          reason: "source.reconnected",
          bridgedBy: "register",
        }),
      );
      expect(m.billed().eq(m.truth())).toBe(true);
    }

    // the register is reset to 0 on the machine
    edge.resetRegister();
    await edge.advance(40);
    await m.synced("after the reset");
    expect(usages(m.events).some((u) => u.flags.reset)).toBe(true);
    expect(m.billed().eq(m.truth())).toBe(true);
    expect(m.truth().gt(20)).toBe(true);
    expect(m.events.filter((e) => e.kind === "quarantine")).toEqual([]);

    // the day window closes: one signed record in the journal, submitted, day 0 settled
    const truth = m.truth();
    const { recorded, journaled, invoice } = await m.finish();
    expect(m.windows).toHaveLength(1);
    expect(recorded.map((r) => r.seq)).toEqual([0]);
    expect(journaled).toEqual(recorded);
    const total = recorded.reduce((s: Decimal, r) => s.plus(r.quantity.value), new Dec(0));
    expect(total.eq(truth), `records ${total} vs truth ${truth}`).toBe(true);
    expect(recorded[0]!.flags).toMatchObject({ rollover: true, reset: true, bridged: true });
    expect(invoice.usage.value.eq(truth), `invoice ${invoice.usage.value} vs ${truth}`).toBe(true);
    expect(invoice.usage.unit).toBe("MTQ");
    console.log(
      `${label}: invoiced ${invoice.usage.value.toFixed()} m³ = ground truth ${truth.toFixed()} m³`,
    );
  } finally {
    await m.close();
  }
}

describe("Sparkplug B end to end: compressor edge node → fromSparkplug → counterDelta → tumblingWindow → createRecorder (journal) → embedded ledger, billed = ground truth", () => {
  let broker: TestBroker;
  beforeAll(async () => {
    broker = await startTestBroker();
  });
  afterAll(async () => broker.stop());

  it("through a register rollover, a seq gap with dropped messages, an edge-node death and rebirth, and a register reset", async () => {
    await scenario(broker.url, "e2e");
  }, 60_000);
});

describe("Sparkplug B end to end through a broker restart, on a broker of the test's own (a Mosquitto child process killed and started again on its port; aedes only without the binary)", () => {
  let broker: RestartableBroker;
  beforeAll(async () => {
    broker = await startRestartableBroker();
  });
  afterAll(async () => broker.stop());

  it("rollover, seq gap, death and rebirth, broker restart, register reset: the clients reconnect, the host asks for births, the gaps are bridged from the register, the invoice = ground truth", async () => {
    await scenario(broker.url, `restart-${broker.kind}`, () => broker.restart());
  }, 90_000);
});
