// `maaskit-gateway run` with `source: { type: "sparkplug" }`: the built CLI reads the simulated
// compressor's Sparkplug B edge node over a real broker (MQTT_URL, else a Mosquitto child process
// of this test), lives through an edge-node death and rebirth, records, settles on the embedded
// ledger, and bills exactly the edge node's ground truth.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Decimal } from "decimal.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Command, freePort, runToEnd, start, waitFor } from "./support/scenario.js";

const pkg = fileURLToPath(new URL("..", import.meta.url));
// The built command, as installed (`bin/maaskit-gateway.js` imports dist/cli.js), and the built
// edge node: the Sparkplug codec is loaded by a path next to the module, which is dist/.
const built = [join(pkg, "dist", "cli.js"), join(pkg, "..", "metering", "dist", "simulator.js")];
const cmd: Command = {
  exe: process.execPath,
  args: [join(pkg, "bin", "maaskit-gateway.js")],
  cwd: pkg,
};

const MOSQUITTO = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"];

/** MQTT_URL (Mosquitto here and in CI), else a Mosquitto child process on a free port. */
async function broker(dir: string): Promise<{ url: string; stop: () => Promise<void> }> {
  const url = process.env.MQTT_URL;
  if (url !== undefined && url !== "") {
    console.log(`gateway Sparkplug run against MQTT_URL=${url}`);
    return { url, stop: async () => {} };
  }
  const bin = MOSQUITTO.find((p) => existsSync(p));
  if (bin === undefined) {
    throw new Error(
      `the gateway Sparkplug test needs a real broker: set MQTT_URL or install mosquitto (looked at ${MOSQUITTO.join(", ")})`,
    );
  }
  const port = await freePort();
  const conf = join(dir, "mosquitto.conf");
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  const child: ChildProcess = spawn(bin, ["-c", conf], { stdio: "ignore" });
  const until = Date.now() + 10_000;
  for (;;) {
    const up = await new Promise<boolean>((ok) => {
      const s = connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        ok(true);
      });
      s.once("error", () => ok(false));
    });
    if (up) break;
    if (Date.now() > until) throw new Error(`mosquitto did not listen on ${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(`gateway Sparkplug run against a Mosquitto child process on 127.0.0.1:${port}`);
  return {
    url: `mqtt://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill("SIGTERM");
      await exited;
    },
  };
}

let dir: string;
let mqtt: { url: string; stop: () => Promise<void> };
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "maaskit-gw-sparkplug-"));
  for (const f of built)
    if (!existsSync(f)) throw new Error(`${f} is missing: run \`pnpm build\` first`);
  mqtt = await broker(dir);
});
afterAll(async () => {
  await mqtt?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

describe("maaskit-gateway run with a Sparkplug B source", () => {
  it("default: the compressor edge node over a real broker → records → embedded ledger through a death and rebirth; the bill equals the ground truth exactly", async () => {
    const init = await runToEnd(cmd, ["init", dir]);
    expect(init.code, init.stderr).toBe(0);
    const config = join(dir, "gateway.json");
    const json = JSON.parse(readFileSync(config, "utf8")) as Record<string, unknown>;
    const agreement = JSON.parse(readFileSync(join(dir, "agreement.json"), "utf8")) as {
      start: string;
    };
    const groupId = `gw-${process.pid}-${Date.now().toString(36)}`;
    delete json.endpoint;
    json.source = {
      type: "sparkplug",
      brokerUrl: mqtt.url,
      groupId,
      edgeNodeId: "edge1",
      deviceId: "compressor",
      hostId: `${groupId}-gateway`,
      // the profile's channels ← the edge node's birth metrics (the register in litres)
      metrics: {
        AccumulatedVolume: { name: "Volume", scale: "0.001" },
        OperatingState: { name: "State" },
      },
      reorderTimeoutMs: 300,
      rebirthCooldownMs: 1000,
    };
    writeFileSync(config, JSON.stringify(json, null, 2));

    // The gateway first: it waits for the edge node's births (it asks for them on connect).
    const run = start(cmd, ["run", "--config", config, "--until", "30h"]);
    // One model step is a minute of machine time; 30 h of it pass in seconds.
    const { startCompressorEdgeNode } = (await import(
      pathToFileURL(built[1]!).href
    )) as typeof import("@maaskit/metering/simulator");
    const edge = await startCompressorEdgeNode({
      brokerUrl: mqtt.url,
      groupId,
      edgeNodeId: "edge1",
      model: { seed: 42, startTime: agreement.start, stepSeconds: 60 },
      reconnectDelayMs: 200,
    });
    try {
      // the host is subscribed once it has read the births (its first reading logs progress)
      await waitFor(run, (l) => l.event === "progress", 60_000);
      const stopAt = Date.parse(agreement.start) + 30 * 3_600_000;
      let crashed = false;
      while (run.child.exitCode === null) {
        const t = edge.model.snapshot().time.getTime();
        if (t > stopAt + 3_600_000) break;
        if (!crashed && t >= Date.parse(agreement.start) + 10 * 3_600_000) {
          // the edge node dies (NDEATH will), runs on unobserved for an hour, is born again
          crashed = true;
          await edge.crash();
          await waitFor(run, (l) => l.event === "sparkplug.offline", 30_000);
          await edge.advance(60);
          await edge.reconnect();
        }
        await edge.advance(30);
        await new Promise((r) => setTimeout(r, 5));
      }
      const code = await run.exited;
      expect(code, run.stderr().slice(-3000)).toBe(0);
      expect(crashed).toBe(true);
      expect(run.lines).toContainEqual(
        expect.objectContaining({ event: "sparkplug.resync", reason: "sparkplug.death" }),
      );
      const summary = run.lines.find((l) => l.event === "run.summary") as {
        billedVolume: string;
        firstReading: { at: string; register: string };
        lastReading: { at: string; register: string };
        invoices: { period: string; usage: string }[];
        unacknowledged: number;
        verification: { invalid: number; valid: number };
      };
      expect(summary, JSON.stringify(run.lines.slice(-5))).toBeDefined();
      // the edge node's own model is the ground truth
      const truth = edge.model
        .groundTruthVolumeAt(new Date(summary.lastReading.at))
        .minus(edge.model.groundTruthVolumeAt(new Date(summary.firstReading.at)));
      expect(truth.gt(100)).toBe(true);
      expect(
        new Decimal(summary.billedVolume).eq(truth),
        `billed ${summary.billedVolume} vs truth ${truth}`,
      ).toBe(true);
      const records = readFileSync(join(dir, "out", "records.jsonl"), "utf8")
        .trim()
        .split("\n")
        .map(
          (l) =>
            JSON.parse(l) as {
              periodStart: string;
              periodEnd: string;
              quantity: { value: string };
            },
        );
      expect(records.reduce((s, r) => s.plus(r.quantity.value), new Decimal(0)).eq(truth)).toBe(
        true,
      );
      // settled on the embedded ledger: each invoice bills exactly its period's signed records
      expect(summary.invoices.length).toBeGreaterThanOrEqual(1);
      for (const inv of summary.invoices) {
        const [from, to] = inv.period.split("/").map((t) => Date.parse(t));
        const sum = records
          .filter((r) => Date.parse(r.periodStart) >= from! && Date.parse(r.periodEnd) <= to!)
          .reduce((s, r) => s.plus(r.quantity.value), new Decimal(0));
        expect(new Decimal(inv.usage).eq(sum), `${inv.period}: ${inv.usage} vs ${sum}`).toBe(true);
      }
      expect(summary.unacknowledged).toBe(0);
      expect(summary.verification.invalid).toBe(0);
      console.log(
        `gateway (Sparkplug): billed ${summary.billedVolume} m³ = ground truth ${truth.toFixed()} m³, ${records.length} records, ${summary.invoices.length} invoice(s)`,
      );
    } finally {
      await edge.stop();
      if (run.child.exitCode === null) {
        run.child.kill("SIGKILL");
        await run.exited;
      }
    }
  }, 180_000);
});
