// Sparkplug B ingest: fromSparkplug (the host application, readings out) against a bare
// mqtt + @bufbuild/protobuf decode handler, each in its own child process on the same broker
// (MQTT_URL, else an in-process aedes): readings/s while the parent floods DDATA (10 metrics
// each, by alias), CPU time per 1,000 readings, and peak resident memory. The payloads are
// encoded before a run starts (the flood costs the publisher no protobuf work), both consumers
// take the same flood at the same time, and each figure is the median over the runs with its
// spread.
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { create, type DescMessage, toBinary } from "@bufbuild/protobuf";
import { Aedes } from "aedes";
import { connect } from "mqtt";
import { type Figure, figure, log, median } from "./lib/measure.js";

const here = path.dirname(fileURLToPath(import.meta.url));

// The code generated from Tahu's sparkplug_b.proto (run by tsx; a path outside bench/'s rootDir,
// so it is imported by a path in a variable and typed loosely here).
const GENERATED = "../packages/metering/src/sources/sparkplug/generated/sparkplug_b_pb.ts";
const { PayloadSchema } = (await import(GENERATED)) as { PayloadSchema: DescMessage };
const payload = (init: object) => toBinary(PayloadSchema, create(PayloadSchema, init as never));

interface Result {
  variant: string;
  count: number;
  seconds: number;
  /** CPU time (user + system) of the consumer from its first to its last metric. */
  cpuSeconds: number;
  peakRssMiB: number;
  idleRssMiB: number;
  timedOut?: boolean;
}

function child(args: object): {
  proc: ChildProcess;
  ready: Promise<void>;
  result: Promise<Result>;
} {
  const proc = spawn(
    process.execPath,
    [
      "--expose-gc",
      ...(process.env.SPARKPLUG_BENCH_CPU_PROF
        ? ["--cpu-prof", `--cpu-prof-dir=${process.env.SPARKPLUG_BENCH_CPU_PROF}`]
        : []),
      "--no-warnings",
      "--import",
      "tsx",
      path.join(here, "children", "sparkplugClient.ts"),
      JSON.stringify(args),
    ],
    { stdio: ["ignore", "pipe", "inherit"], cwd: here },
  );
  const lines = createInterface({ input: proc.stdout! });
  let onReady: () => void = () => {};
  let onResult: (r: Result) => void = () => {};
  const ready = new Promise<void>((r) => {
    onReady = r;
  });
  const result = new Promise<Result>((r) => {
    onResult = r;
  });
  lines.on("line", (line) => {
    if (!line.startsWith("{")) return;
    const msg = JSON.parse(line) as { ready?: true; result?: Result };
    if (msg.ready) onReady();
    if (msg.result) onResult(msg.result);
  });
  return { proc, ready, result };
}

const metric = (i: number, v: bigint, withName: boolean) => ({
  ...(withName ? { name: `m${i}`, datatype: 8 } : {}),
  alias: BigInt(i + 1),
  timestamp: 1_733_220_000_000n + v,
  value: { case: "longValue", value: v },
});

/** The NBIRTH, the DBIRTH (10 UInt64 metrics with names and aliases), then `messages` DDATA. */
function encodeFlood(messages: number): Uint8Array[] {
  let seq = 0n;
  const next = () => {
    const s = seq;
    seq = (seq + 1n) % 256n;
    return s;
  };
  const out = [
    payload({
      seq: next(),
      metrics: [{ name: "bdSeq", datatype: 8, value: { case: "longValue", value: 0n } }],
    }),
    payload({ seq: next(), metrics: Array.from({ length: 10 }, (_, i) => metric(i, 0n, true)) }),
  ];
  for (let n = 1; n <= messages; n++) {
    out.push(
      payload({
        seq: next(),
        metrics: Array.from({ length: 10 }, (_, i) => metric(i, BigInt(n), false)),
      }),
    );
  }
  return out;
}

type Variant = "bare" | "fromSparkplug";

/**
 * Both consumers at once on the same flood (one group id, both subscribed before the first
 * message): each run of a pair meets the same broker, publisher and machine load at the same
 * moment, so the ratio within the pair is about the consumers, not about when each ran.
 */
async function runPair(brokerUrl: string, order: readonly Variant[], flood: readonly Uint8Array[]) {
  const groupId = `bench-${Date.now().toString(36)}`;
  const expected = (flood.length - 1) * 10; // the DBIRTH's 10 metrics, then the data
  // the first tenth warms each consumer up (JIT): counted, not timed
  const warmup = Math.floor(expected / 10);
  const children = new Map<Variant, ReturnType<typeof child>>();
  // the first of the order is spawned (and subscribes) first; the order alternates per pair
  for (const variant of order) {
    const c = child({ variant, brokerUrl, groupId, expected, warmup });
    children.set(variant, c);
    await c.ready;
  }
  const pub = connect(brokerUrl, { clean: true });
  await new Promise((r) => pub.once("connect", r));
  const send = (topic: string, bytes: Uint8Array) =>
    new Promise<void>((r) => pub.publish(topic, Buffer.from(bytes), { qos: 0 }, () => r()));
  const [nbirth, dbirth, ...data] = flood;
  await send(`spBv1.0/${groupId}/NBIRTH/edge`, nbirth!);
  await send(`spBv1.0/${groupId}/DBIRTH/edge/dev`, dbirth!);
  const dataTopic = `spBv1.0/${groupId}/DDATA/edge/dev`;
  for (let n = 0; n < data.length; n++) {
    await send(dataTopic, data[n]!);
    if ((n + 1) % 200 === 0) await new Promise((r) => setImmediate(r));
  }
  const results = new Map<Variant, Result>();
  for (const [variant, c] of children) results.set(variant, await c.result);
  pub.end(true);
  for (const c of children.values()) {
    if (process.env.SPARKPLUG_BENCH_CPU_PROF) await new Promise((r) => c.proc.once("exit", r));
    c.proc.kill();
  }
  return results;
}

export async function sparkplugBench(quick: boolean) {
  let brokerUrl = process.env.MQTT_URL ?? "";
  let close = async () => {};
  let brokerName = `MQTT_URL ${brokerUrl}`;
  if (brokerUrl === "") {
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    const port = (server.address() as { port: number }).port;
    brokerUrl = `mqtt://127.0.0.1:${port}`;
    brokerName = "in-process aedes";
    close = async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await new Promise<void>((r) => broker.close(() => r()));
    };
  }
  const messages = quick ? 2_000 : 10_000;
  const flood = encodeFlood(messages);
  const runs: Record<string, Result[]> = { bare: [], fromSparkplug: [] };
  const pairs = quick ? 1 : 6; // even: each variant subscribes first equally often
  try {
    for (let i = 0; i < pairs; i++) {
      // alternate which variant subscribes first (the broker sends to it first)
      const order: Variant[] = i % 2 === 0 ? ["bare", "fromSparkplug"] : ["fromSparkplug", "bare"];
      const results = await runPair(brokerUrl, order, flood);
      for (const v of order) {
        const r = results.get(v)!;
        if (r.timedOut) throw new Error(`sparkplug ${v}: timed out (messages lost?)`);
        log(
          `sparkplug ${v}: ${r.count} in ${r.seconds.toFixed(3)} s (CPU ${r.cpuSeconds.toFixed(3)} s), peak RSS ${r.peakRssMiB.toFixed(1)} MiB`,
        );
        runs[v]!.push(r);
      }
    }
  } finally {
    await close();
  }
  const rate = (r: Result) => r.count / r.seconds;
  const cpuMs = (r: Result) => (r.cpuSeconds * 1e6) / r.count; // CPU ms per 1,000 readings
  const maxRss = (v: string) => Math.max(...runs[v]!.map((r) => r.peakRssMiB));
  const of = (v: string, f: (r: Result) => number) => runs[v]!.map(f);
  const spread = (xs: number[]) => [Math.min(...xs), Math.max(...xs)] as const;
  const round2 = (x: number) => Math.round(x * 100) / 100;
  // the ratio within each pair (both consumers on the same flood at the same time)
  const pairRatios = (f: (r: Result) => number) =>
    runs.fromSparkplug!.map((r, i) => round2(f(r) / f(runs.bare![i]!)));
  const rateSpread = (v: string) =>
    spread(of(v, rate))
      .map((x) => Math.round(x).toLocaleString("en"))
      .join("–");
  const cpuSpread = (v: string) =>
    spread(of(v, cpuMs))
      .map((x) => x.toFixed(2))
      .join("–");
  const n = runs.bare!.length;
  const figures: Figure[] = [
    figure({
      id: "sparkplug.readingsPerSecond",
      group: "Sparkplug ingest",
      name: `fromSparkplug readings/s, ${messages.toLocaleString("en")} DDATA × 10 metrics flooded (${brokerName}; median of ${n} runs, both consumers on the same flood at once; spread ${rateSpread("fromSparkplug")} vs ${rateSpread("bare")}; pair ratios ${pairRatios(rate).join(", ")})`,
      value: Math.round(median(of("fromSparkplug", rate))),
      unit: "readings/s",
      baseline: {
        name: "bare mqtt + protobuf decode handler",
        value: Math.round(median(of("bare", rate))),
        unit: "metrics/s",
      },
      target: { op: ">=", value: 0.9, on: "ratio" },
    }),
    figure({
      id: "sparkplug.cpuPerThousand",
      group: "Sparkplug ingest",
      name: `consumer CPU per 1,000 readings (lower is better; median of ${n} runs, spread ${cpuSpread("fromSparkplug")} vs ${cpuSpread("bare")} ms; pair ratios ${pairRatios(cpuMs).join(", ")}; information: the flood is publisher-bound, so both consumers idle part of the wall time and the rate moves with the machine's load, the CPU figure is what each consumer costs)`,
      value: round2(median(of("fromSparkplug", cpuMs))),
      unit: "ms",
      baseline: {
        name: "bare mqtt + protobuf decode handler",
        value: round2(median(of("bare", cpuMs))),
        unit: "ms",
      },
    }),
    figure({
      id: "sparkplug.peakRss",
      group: "Sparkplug ingest",
      name: "peak RSS under that load (lower is better)",
      value: Math.round(maxRss("fromSparkplug") * 10) / 10,
      unit: "MiB",
      baseline: {
        name: "bare mqtt + protobuf decode handler",
        value: Math.round(maxRss("bare") * 10) / 10,
        unit: "MiB",
      },
      target: { op: "<=", value: 1.2, on: "ratio" },
    }),
  ];
  const details = {
    brokerName,
    messages,
    pairs,
    rateRatios: pairRatios(rate),
    cpuRatios: pairRatios(cpuMs),
    runs,
  };
  return { figures, details: { sparkplug: details } };
}
