import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { billingPeriodAt } from "@maaskit/settlement";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { auditPlant, digests, type VolumeSeen } from "../lib/auditPlant.js";
import { bundleChild } from "../lib/bundleChild.js";
import {
  type ChildEvent,
  type GatewayProcess,
  prng,
  sleep,
  spawnGateway,
} from "../lib/gatewayProcess.js";
import { type Plant, startPlant } from "../lib/plant.js";

// The gateway (OPC UA client → windows → signed records → journal → embedded ledger) runs
// as a child process against ONE simulated compressor, with one persistent data directory,
// and is SIGKILLed at random instants — during start-up, while connecting, while metering,
// recording, delivering and settling — then started again, KILLS times. A last run goes to
// `--until` and stops cleanly. Nothing it billed may differ from what the machine delivered.
const KILLS = Number(process.env.FAULTS_KILLS ?? "50");
const ACCELERATE = 3600; // one simulated hour per second: a 15-minute window every 250 ms
const T0 = new Date("2025-03-03T00:00:00.000Z"); // agreement start, a UTC midnight

let script: string;
let dir: string;
let plant: Plant;

beforeAll(async () => {
  script = await bundleChild(
    join(import.meta.dirname, "../children/gatewayChild.ts"),
    "gatewayChild",
  );
  dir = mkdtempSync(join(tmpdir(), "maaskit-faults-kill-"));
  // The compressor runs 20 simulated hours (20 s) before the agreement starts, so the first
  // gateway run reads a register baseline before the first billed window. Its first start
  // (secure OPC UA: client certificate created, signed and encrypted channel) takes ~6 s
  // on two busy cores, longer than the 5 hours it had before.
  plant = await startPlant({
    dir,
    simStart: new Date(T0.getTime() - 20 * 3_600_000),
    agreementStart: T0,
    accelerate: ACCELERATE,
  });
});
afterAll(async () => {
  await plant?.server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const isVolume = (e: ChildEvent) => e.event === "volume";

describe("gateway SIGKILL", () => {
  test(`behavior: ${KILLS} SIGKILLs at random instants, then a clean run to --until: billed volume equals ground truth exactly, the chain verifies, no seq duplicated or forked, the ledger accepted each record once`, async () => {
    const seed = Number(process.env.FAULTS_SEED ?? Date.now() % 1_000_000);
    const rnd = prng(seed);
    const volumes: VolumeSeen[] = [];
    /** Every record a run reported durable: seq → digest (a second digest would be a fork). */
    const reported = new Map<number, string>();
    const stats = {
      kills: 0,
      duringStartup: 0,
      whileMetering: 0,
      beforeFirstRecord: 0,
      runsFailed: 0,
      selfStops: 0,
      recordsReported: 0,
    };
    const started = Date.now();
    const runLog: string[] = [];

    const collect = (g: GatewayProcess) => {
      for (const e of g.events) {
        if (e.event === "volume") volumes.push({ t: e.t as number, v: e.v as string });
        if (e.event === "record") {
          stats.recordsReported++;
          const seq = e.seq as number;
          const before = reported.get(seq);
          expect(before === undefined || before === e.hash, `seed ${seed}: seq ${seq} forked`).toBe(
            true,
          );
          reported.set(seq, e.hash as string);
        }
        if (e.event === "child.failed") stats.runsFailed++;
      }
    };

    const args = ["--config", plant.configFile, "--session-timeout", "10000"];
    for (let kill = 0; stats.kills < KILLS; kill++) {
      const g = spawnGateway(script, args);
      try {
        if (kill === 0) {
          // The first kill is placed on purpose: after the agreement started and a billed
          // reading was consumed, before the first record was journaled. The register
          // baseline of the agreement exists only in that process's memory.
          await g.waitFor((e) => isVolume(e) && (e.t as number) > T0.getTime());
          if (!g.events.some((e) => e.event === "record")) stats.beforeFirstRecord++;
        } else if (rnd() < 0.3) {
          // Anywhere in start-up: loading, opening journal and ledger, connecting, subscribing.
          stats.duringStartup++;
          await sleep(rnd() * 2500);
        } else {
          stats.whileMetering++;
          await g.waitFor(isVolume);
          await sleep(rnd() * 1500);
        }
      } catch (err) {
        // The run ended by itself (e.g. the server refused a session): a supervisor would
        // start it again, and so does the harness. It must have stopped cleanly.
        if (g.running) throw err;
      }
      if (g.running) {
        g.child.kill("SIGKILL");
        stats.kills++;
      } else {
        stats.selfStops++;
        expect(stats.selfStops, `seed ${seed}: too many runs ended by themselves`).toBeLessThan(15);
        await sleep(1000);
      }
      await g.exited;
      collect(g);
      const vs = g.events.filter(isVolume);
      runLog.push(
        `run ${kill}: volumes ${vs.length} ${vs[0] ? new Date(vs[0].t as number).toISOString() : ""}..${vs.at(-1) ? new Date(vs.at(-1)!.t as number).toISOString() : ""} records ${g.events
          .filter((e) => e.event === "record")
          .map((e) => e.seq)
          .join(",")} ${g.events.find((e) => e.event === "metering.error")?.code ?? ""}`,
      );
    }

    // The final run: until a few simulated hours past now, then a clean stop (journal
    // flushed, everything delivered, files exported).
    const until = new Date(plant.server.model.time.getTime() + 8 * 3_600_000);
    const last = spawnGateway(script, [
      "--config",
      plant.configFile,
      "--until",
      until.toISOString(),
    ]);
    const status = await last.exited;
    collect(last);
    expect(status, last.stderr()).toEqual({ code: 0, signal: null });
    const finalVolumes = last.events.filter(isVolume);
    expect(finalVolumes.length).toBeGreaterThan(0);

    const audit = await auditPlant(plant, volumes);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const bridged = audit.records.filter((r) => r.flags.bridged).length;
    const offline = audit.records.filter((r) => r.flags.gap).length;
    console.info(
      `gateway SIGKILL: seed ${seed}, ${JSON.stringify(stats)}, ${audit.records.length} records ` +
        `(${bridged} bridged, ${offline} offline gaps), billed ${audit.billed.toFixed()} m³, ` +
        `ground truth ${audit.groundTruth.toFixed()} m³, invoices ${audit.invoices!.length}, ${seconds} s`,
    );
    const context = `seed ${seed}`;
    if (process.env.FAULTS_DEBUG) {
      for (const r of audit.records)
        console.info(
          r.seq,
          r.periodStart.toISOString(),
          r.periodEnd.toISOString(),
          r.quantity.value.toFixed(),
          r.register?.start.toFixed(),
          r.register?.end.toFixed(),
          JSON.stringify(r.flags),
        );
      console.info(runLog.join("\n"));
      console.info(
        JSON.stringify(
          last.events.filter((e) => e.event.startsWith("period") || e.event.startsWith("delivery")),
        ),
      );
    }

    // Exact: every m³ the compressor delivered between the baseline and the last metered
    // reading is billed once — none lost in a crash, none counted twice after a restart.
    expect(audit.baselineAt, context).toBeLessThanOrEqual(T0.getTime());
    expect(audit.lastAt, context).toBe(finalVolumes.at(-1)!.t);
    expect(audit.billed.toFixed(), context).toBe(audit.groundTruth.toFixed());
    expect(audit.groundTruth.gt(0)).toBe(true);

    // The chain: signatures, gapless seq, prevHash, contiguous periods, register deltas.
    expect(
      audit.verification.valid,
      JSON.stringify(audit.verification.results.filter((r) => !r.valid).slice(0, 3)),
    ).toBe(true);
    expect(audit.cli.code, audit.cli.out.slice(-2000)).toBe(0);
    expect(audit.records.map((r) => r.seq)).toEqual(audit.records.map((_, i) => i));

    // No seq forked: everything any run reported durable is in the journal, unchanged.
    const hashes = digests(audit.records);
    for (const [seq, hash] of reported) expect(hashes[seq], `${context}: seq ${seq}`).toBe(hash);

    // The ledger accepted each record exactly once, and holds the journal's head.
    expect(audit.journal.ackedThrough).toBe(audit.records.length - 1);
    expect(audit.ledgerHead!.nextSeq).toBe(audit.records.length);
    expect(audit.ledgerHead!.headHash).toBe(audit.journal.head);
    expect(audit.accepted!.map((a) => a.seq)).toEqual(audit.records.map((r) => r.seq));
    expect(audit.accepted!.map((a) => a.recordHash)).toEqual(hashes);

    // Restarts were bridged from the register, not billed as zero.
    expect(bridged).toBeGreaterThan(0);

    // Every complete billing day was settled exactly once.
    const lastEnd = audit.records.at(-1)!.periodEnd.getTime();
    const complete: number[] = [];
    for (let p = billingPeriodAt(plant.agreement, T0); p.end.getTime() <= lastEnd; ) {
      complete.push(p.start.getTime());
      p = billingPeriodAt(plant.agreement, p.end);
    }
    const settled = audit.invoices!.map((i) => i.period.start.getTime());
    expect(new Set(settled).size, context).toBe(settled.length);
    expect(settled.sort(), context).toEqual(complete);
    expect(stats.kills).toBe(KILLS);
  });
});
