import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditPlant, type VolumeSeen } from "../lib/auditPlant.js";
import { bundleChild } from "../lib/bundleChild.js";
import { type ChildEvent, prng, sleep, spawnGateway } from "../lib/gatewayProcess.js";
import { type Plant, startPlant } from "../lib/plant.js";
import { startTcpProxy, type TcpProxy } from "../lib/tcpProxy.js";

// One gateway process stays up while its OPC UA side fails under it, each time in the middle
// of a window: the OPC UA server reboots (sessions and subscriptions gone, the compressor
// keeps delivering air), the server drops every TCP connection, and the network between
// gateway and server is cut (a TCP proxy in between resets every connection and refuses new
// ones for a while). The usage of every outage is bridged from the register into the next
// window (record flag `bridged`), the outage is reported as a gap, and the total is exact.
const ACCELERATE = 3600;
const T0 = new Date("2025-03-03T00:00:00.000Z");

let script: string;
let dir: string;
let plant: Plant;
let proxy: TcpProxy;

beforeAll(async () => {
  script = await bundleChild(
    join(import.meta.dirname, "../children/gatewayChild.ts"),
    "gatewayChild",
  );
  dir = mkdtempSync(join(tmpdir(), "maaskit-faults-opcua-"));
  proxy = await startTcpProxy();
  plant = await startPlant({
    dir,
    simStart: new Date(T0.getTime() - 4 * 3_600_000),
    agreementStart: T0,
    accelerate: ACCELERATE,
    endpoint: (server) => {
      proxy.setTarget(server.port);
      return `opc.tcp://127.0.0.1:${proxy.port}/UA/Compressor`;
    },
  });
});
afterAll(async () => {
  await proxy?.close();
  await plant?.server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("OPC UA faults", () => {
  test("behavior: server restart, server-side disconnect and a network cut, each mid-window: usage bridged from the register, gaps reported, total exact", async () => {
    const seed = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);
    const rnd = prng(seed);
    const started = Date.now();
    const until = new Date(T0.getTime() + 20 * 3_600_000);
    const g = spawnGateway(script, ["--config", plant.configFile, "--until", until.toISOString()]);
    const records = () => g.events.filter((e) => e.event === "record");
    const bridgedAfter = (n: number) => (e: ChildEvent) =>
      e.event === "record" &&
      records().indexOf(e) >= n &&
      (e.flags as { bridged?: boolean }).bridged === true;
    await g.waitFor((e) => e.event === "acked" && (e.seq as number) >= 3);

    const faults: { fault: string; atRecord: number }[] = [];
    const inject = async (fault: string, action: () => Promise<void>) => {
      // Somewhere inside a window (a 15-minute window lasts 250 ms here).
      await sleep(rnd() * 250);
      const n = records().length;
      faults.push({ fault, atRecord: n });
      await action();
      await g.waitFor(bridgedAfter(n), 60_000);
      await sleep(500);
    };
    await inject("server restart", () => plant.server.restart({ downtimeMs: 2000 }));
    await inject("server drops connections", () => plant.server.injectFault("disconnect"));
    await inject("network cut", () => proxy.cut(2000));

    const status = await g.exited;
    expect(status, g.stderr().slice(-3000)).toEqual({ code: 0, signal: null });
    const volumes: VolumeSeen[] = g.events
      .filter((e) => e.event === "volume")
      .map((e) => ({ t: e.t as number, v: e.v as string }));
    const audit = await auditPlant(plant, volumes);
    const bridged = audit.records.filter((r) => r.flags.bridged);
    console.info(
      `OPC UA faults: seed ${seed}, ${JSON.stringify(faults)}, ${audit.records.length} records, ` +
        `bridged seqs ${bridged.map((r) => r.seq).join(",")}, proxy connections ${proxy.accepted}, ` +
        `billed ${audit.billed.toFixed()} m³ = ground truth ${audit.groundTruth.toFixed()} m³, ` +
        `${((Date.now() - started) / 1000).toFixed(1)} s`,
    );

    // Every outage is bridged (one record per fault at least) and flagged, never billed as 0.
    expect(bridged.length).toBeGreaterThanOrEqual(faults.length);
    for (const r of bridged) expect(r.quantity.value.gt(0)).toBe(true);
    // The gateway reconnected through the proxy after the cut.
    expect(proxy.accepted).toBeGreaterThanOrEqual(2);
    // Exact total, intact chain, delivered once.
    expect(audit.billed.toFixed(), `seed ${seed}`).toBe(audit.groundTruth.toFixed());
    expect(audit.verification.valid).toBe(true);
    expect(audit.cli.code, audit.cli.out.slice(-2000)).toBe(0);
    expect(audit.accepted!.map((a) => a.seq)).toEqual(audit.records.map((r) => r.seq));
    expect(audit.journal.ackedThrough).toBe(audit.records.length - 1);
  });
});
