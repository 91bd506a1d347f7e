// Integration: a real node-opcua server (the compressor simulator) on 127.0.0.1, metered by
// fromOpcUa + counterDelta over TCP (default security: SignAndEncrypt, the server's
// certificate in the client's trust list), through a dropped connection and a server restart.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OPCUACertificateManager } from "node-opcua-certificate-manager";
import { AttributeIds, makeBrowsePath, OPCUAClient } from "node-opcua-client";
import type { Observable } from "rxjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  compressorStateCodes,
  counterDelta,
  Dec,
  type GapEvent,
  isMaaskitError,
  type MeterEvent,
  type QuarantineEvent,
  type Reading,
  type UsageEvent,
} from "../src/index.js";
import { fromOpcUa, type OpcUaNode } from "../src/opcua.js";
import { type CompressorServer, startCompressorServer } from "../src/simulator.js";

const stateNames = Object.fromEntries(
  Object.entries(compressorStateCodes).map(([name, code]) => [code, name]),
) as Record<number, string>;

let pki: string;
let server: CompressorServer;
const figures: Record<string, number | string> = {};

function nodesOf(s: CompressorServer): OpcUaNode[] {
  return [
    { nodeId: s.nodeIds.volume, channel: "volume", unit: "MTQ", kind: "register" },
    { nodeId: s.nodeIds.flow, channel: "flow", unit: "G53", kind: "rate" },
    { nodeId: s.nodeIds.state, channel: "state", kind: "state", states: stateNames },
    { nodeId: s.nodeIds.runHours, channel: "runHours", unit: "HUR", kind: "value" },
  ];
}

/** Subscribes and records every event; `until` waits (bounded) for a condition on them. */
function record(source: Observable<MeterEvent>) {
  const events: MeterEvent[] = [];
  let error: unknown;
  const sub = source.subscribe({
    next: (e) => events.push(e),
    error: (e) => {
      error = e;
    },
  });
  const until = async (what: string, ok: (events: MeterEvent[]) => boolean, timeoutMs = 20_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!ok(events)) {
      if (error !== undefined) throw error;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    events,
    sub,
    until,
    error: () => error,
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a ? a.port : 0));
    });
  });
}

let startedAt: number;

beforeAll(async () => {
  pki = await mkdtemp(join(tmpdir(), "maaskit-opcua-test-"));
  const t0 = performance.now();
  server = await startCompressorServer({
    host: "127.0.0.1",
    port: 0,
    pkiDir: join(pki, "server"),
    accelerate: 120,
    // 06:00 on a Monday: first shift, the compressor loads and unloads every minute or so
    startTime: "2025-01-06T06:00:00Z",
    seed: 11,
    registerModulus: "100000",
    initialRegister: "99960",
    // provisioning: the client (pkiDir below) trusts this server's certificate
    trustedBy: [join(pki, "client")],
  });
  figures.serverStartMs = Math.round(performance.now() - t0);
  // simulated time starts once the server is up, however long booting took
  startedAt = server.model.time.getTime();
});

afterAll(async () => {
  await server?.stop();
  await rm(pki, { recursive: true, force: true });
  figures.rssMB = Math.round(process.memoryUsage().rss / 1e6);
  console.info("opcua integration figures", figures);
});

describe("startCompressorServer + fromOpcUa", () => {
  it("default: simulated time starts at startTime once the server is up (booting takes none of it)", () => {
    expect(new Date(startedAt).toISOString()).toBe("2025-01-06T06:00:00.000Z");
  });

  it("default: serves OPC 40250-style variables with UNECE units in simulated time", async () => {
    const client = OPCUAClient.create({
      endpointMustExist: false,
      connectionStrategy: { maxRetry: 0 },
      clientCertificateManager: new OPCUACertificateManager({
        rootFolder: join(pki, "rawClient"),
        automaticallyAcceptUnknownCertificate: true,
      }),
    });
    await client.connect(server.endpointUrl);
    const session = await client.createSession();
    try {
      const paths = await session.translateBrowsePath([
        makeBrowsePath("i=85", "/1:Compressor/1:Operational/1:AccumulatedVolume"),
        makeBrowsePath(server.nodeIds.volume, ".EngineeringUnits"),
        makeBrowsePath(server.nodeIds.flow, ".EngineeringUnits"),
      ]);
      expect(paths[0]!.targets![0]!.targetId.toString()).toBe(server.nodeIds.volume);
      const [volume, volumeEu, flowEu] = await session.read([
        { nodeId: server.nodeIds.volume, attributeId: AttributeIds.Value },
        { nodeId: paths[1]!.targets![0]!.targetId, attributeId: AttributeIds.Value },
        { nodeId: paths[2]!.targets![0]!.targetId, attributeId: AttributeIds.Value },
      ]);
      // UNECE common codes travel as unitId = 4-byte ASCII code (OPC UA Part 8)
      const unitCode = (id: number) =>
        String.fromCharCode(...[16, 8, 0].map((s) => (id >> s) & 0xff).filter((c) => c !== 0));
      expect(unitCode(volumeEu!.value.value.unitId)).toBe("MTQ");
      expect(unitCode(flowEu!.value.value.unitId)).toBe("G53");
      // the source timestamp is the model's simulated clock, the value its exact register
      const t = volume!.sourceTimestamp!;
      expect(t.getTime()).toBeGreaterThanOrEqual(Date.parse("2025-01-06T06:00:00Z"));
      expect(t.getTime()).toBeLessThanOrEqual(server.model.time.getTime());
      const truth = server.model.groundTruthVolumeAt(t);
      expect(new Dec(String(volume!.value.value)).eq(truth.plus("99960").mod("100000"))).toBe(true);
    } finally {
      await session.close();
      await client.disconnect();
    }
  });

  it("behavior: metered volume equals ground truth exactly across a dropped connection and a server restart", async () => {
    const rec = record(
      fromOpcUa({
        endpointUrl: server.endpointUrl,
        machineId: "compressor-1",
        nodes: nodesOf(server),
        samplingInterval: 0,
        queueSize: 100,
        groupSize: 2,
        pkiDir: join(pki, "client"),
      }).pipe(
        counterDelta({
          channel: "volume",
          unit: "MTQ",
          basis: "ISO1217-FAD",
          rollover: "100000",
          // No capacity here: the wrap is guessed with explicit permission (half the modulus).
          maxWrapIncrement: "50000",
        }),
      ),
    );
    const usages = () => rec.events.filter((e): e is UsageEvent => e.kind === "usage");
    const gaps = () => rec.events.filter((e): e is GapEvent => e.kind === "gap");
    try {
      await rec.until("usage", () => usages().length >= 5);

      await server.injectFault("disconnect");
      await rec.until("reconnect gap", () => gaps().length >= 1);
      const reconnectGap = gaps()[0]!;
      expect(reconnectGap.reason).toMatch(/^source\.(reconnected|subscriptionRecreated)$/);
      const afterReconnect = usages().length;
      await rec.until("usage after reconnect", () => usages().length >= afterReconnect + 3);

      const t0 = performance.now();
      await server.restart({ downtimeMs: 500 });
      figures.restartMs = Math.round(performance.now() - t0);
      await rec.until("restart gap", () => gaps().length >= 2, 30_000);
      figures.reconnectAfterRestartMs = Math.round(performance.now() - t0);
      const restartGap = gaps()[1]!;
      expect(restartGap.reason).toBe("source.serverRestarted");
      expect(restartGap.bridgedBy).toBe("register");
      expect(restartGap.end.getTime()).toBeGreaterThan(restartGap.start.getTime());
      const afterRestart = usages().length;
      await rec.until("usage after restart", () => usages().length >= afterRestart + 3);
    } finally {
      rec.sub.unsubscribe();
    }
    expect(rec.error()).toBeUndefined();

    // the gap comes before the usage that bridges it, and that usage spans it exactly
    for (const gap of gaps()) {
      const gi = rec.events.indexOf(gap);
      const bridging = rec.events.slice(gi).find((e): e is UsageEvent => e.kind === "usage")!;
      expect(bridging.flags.bridged).toBe(true);
      expect(bridging.start.getTime()).toBeLessThanOrEqual(gap.start.getTime());
      expect(bridging.end.getTime()).toBeGreaterThanOrEqual(gap.end.getTime());
    }

    const all = usages();
    const metered = all.reduce((sum, u) => sum.plus(u.quantity.value), new Dec(0));
    const from = all[0]!.start;
    const to = all[all.length - 1]!.end;
    const truth = server.model
      .groundTruthVolumeAt(to)
      .minus(server.model.groundTruthVolumeAt(from));
    expect(truth.gt(0)).toBe(true);
    expect(metered.toFixed()).toBe(truth.toFixed());
    // the register started 10 m³ below its modulus: the span includes a rollover
    // the register starts 40 m³ below its modulus, so it usually rolls over within the span;
    // counterDelta must flag a rollover exactly when the displayed register wrapped
    const register = (t: Date) => server.model.groundTruthVolumeAt(t).plus("99960");
    const wrapped = register(from).lt("100000") && register(to).gte("100000");
    expect(all.some((u) => u.flags.rollover === true)).toBe(wrapped);
    figures.rolloverInSpan = String(wrapped);
    expect(rec.events.filter((e) => e.kind === "quarantine")).toEqual([]);

    const readings = rec.events.filter((e): e is Reading => e.kind === "reading");
    expect(readings.some((r) => r.channel === "state" && r.value === "Loaded")).toBe(true);
    figures.simulatedSeconds = (to.getTime() - from.getTime()) / 1000;
    figures.meteredM3 = metered.toFixed();
    figures.usageEvents = all.length;
    figures.readingsPassedThrough = readings.length;
  });

  it("behavior: unsubscribing closes the subscription, session and connection", async () => {
    // earlier tests unsubscribed too: their sessions close in the background
    const settle = async () => {
      for (let i = 0; server.sessions > 0 && i < 250; i++)
        await new Promise((r) => setTimeout(r, 20));
    };
    await settle();
    expect(server.sessions).toBe(0);
    const rec = record(
      fromOpcUa({
        endpointUrl: server.endpointUrl,
        machineId: "compressor-1",
        nodes: nodesOf(server),
        pkiDir: join(pki, "client"),
      }),
    );
    await rec.until("a reading", (ev) => ev.some((e) => e.kind === "reading"));
    expect(server.sessions).toBe(1);
    rec.sub.unsubscribe();
    await settle();
    expect(server.sessions).toBe(0);
  });

  it("error: with reconnect: false a dropped connection is metering.opcua.connectionLost", async () => {
    const rec = record(
      fromOpcUa({
        endpointUrl: server.endpointUrl,
        machineId: "compressor-1",
        nodes: nodesOf(server),
        pkiDir: join(pki, "client"),
        reconnect: false,
      }),
    );
    await rec.until("a reading", (ev) => ev.some((e) => e.kind === "reading"));
    await server.injectFault("disconnect");
    await expect(rec.until("error", () => false)).rejects.toSatisfy((e) =>
      isMaaskitError(e, "metering.opcua.connectionLost"),
    );
    rec.sub.unsubscribe();
  });

  it("behavior: a rejected node is quarantined with badNodes: quarantine, the rest is metered", async () => {
    const rec = record(
      fromOpcUa({
        endpointUrl: server.endpointUrl,
        machineId: "compressor-1",
        nodes: [
          ...nodesOf(server),
          { nodeId: "ns=1;s=Compressor.Nope", channel: "nope", kind: "value" },
        ],
        samplingInterval: 100,
        pkiDir: join(pki, "client"),
        badNodes: "quarantine",
      }),
    );
    try {
      await rec.until(
        "quarantine and a reading",
        (ev) => ev.some((e) => e.kind === "quarantine") && ev.some((e) => e.kind === "reading"),
      );
    } finally {
      rec.sub.unsubscribe();
    }
    const q = rec.events.find((e): e is QuarantineEvent => e.kind === "quarantine")!;
    expect(q.reason).toBe("node.bad");
    expect(q.channel).toBe("nope");
    expect(q.message).toContain("BadNodeIdUnknown");
  });

  it("error: a rejected node ends the stream with metering.opcua.badNode by default", async () => {
    const rec = record(
      fromOpcUa({
        endpointUrl: server.endpointUrl,
        machineId: "compressor-1",
        nodes: [
          { nodeId: server.nodeIds.volume, channel: "volume", unit: "MTQ", kind: "register" },
          { nodeId: "ns=1;s=Compressor.Nope", channel: "nope", kind: "value" },
          { nodeId: "ns=7;i=4242", channel: "nope2", kind: "register" },
        ],
        pkiDir: join(pki, "client"),
      }),
    );
    await expect(rec.until("error", () => false)).rejects.toSatisfy((e) =>
      isMaaskitError(e, "metering.opcua.badNode"),
    );
    const err = rec.error() as { details: { nodes: { channel: string }[] } };
    expect(err.details.nodes.map((n) => n.channel)).toEqual(["nope2", "nope"]);
  });

  it("error: an unreachable endpoint is metering.opcua.connectionFailed", async () => {
    const port = await freePort();
    const rec = record(
      fromOpcUa({
        endpointUrl: `opc.tcp://127.0.0.1:${port}/UA/Nothing`,
        machineId: "compressor-1",
        nodes: nodesOf(server),
        pkiDir: join(pki, "client"),
        connect: { maxRetry: 0 },
      }),
    );
    await expect(rec.until("error", () => false)).rejects.toSatisfy((e) =>
      isMaaskitError(e, "metering.opcua.connectionFailed"),
    );
    expect(rec.events).toEqual([]);
  });

  it("behavior: a counter reset fault is detected by counterDelta as a reset, not billed twice", async () => {
    const rec = record(
      fromOpcUa({
        endpointUrl: server.endpointUrl,
        machineId: "compressor-1",
        nodes: [
          { nodeId: server.nodeIds.volume, channel: "volume", unit: "MTQ", kind: "register" },
        ],
        samplingInterval: 0,
        pkiDir: join(pki, "client"),
      }).pipe(
        counterDelta({ channel: "volume", unit: "MTQ", rollover: "100000", resetThreshold: "100" }),
      ),
    );
    try {
      await rec.until("usage", (ev) => ev.filter((e) => e.kind === "usage").length >= 2);
      await server.injectFault("counterReset");
      await rec.until("reset", (ev) =>
        ev.some((e) => e.kind === "usage" && e.flags.reset === true),
      );
    } finally {
      rec.sub.unsubscribe();
    }
    const gap = rec.events.find((e): e is GapEvent => e.kind === "gap")!;
    expect(gap.reason).toBe("counter.reset");
    const reset = rec.events.find(
      (e): e is UsageEvent => e.kind === "usage" && e.flags.reset === true,
    )!;
    // register.start is the raw register before the reset (records stay continuous)
    const before = rec.events
      .filter((e): e is UsageEvent => e.kind === "usage")
      .find((u) => u.end.getTime() === reset.start.getTime());
    if (before !== undefined) expect(reset.register!.start.eq(before.register!.end)).toBe(true);
    // usage after the reset is counted from 0: at most what was delivered since the reset
    expect(reset.quantity.value.lte(server.model.groundTruthVolumeAt(reset.end))).toBe(true);
  });
});
