// A Sparkplug B consumer child of sparkplug.bench.ts. variant "bare": an mqtt client whose
// handler decodes each payload with the generated @bufbuild/protobuf code and counts metrics;
// variant "fromSparkplug": @maaskit/metering/sparkplug (built dist) counting readings.
// Prints one JSON line when subscribed ({ready}), one when done ({result}).
import { type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { connect } from "mqtt";

// the code generated from Tahu's sparkplug_b.proto, run by tsx (outside bench/'s rootDir)
const GENERATED = "../../packages/metering/src/sources/sparkplug/generated/sparkplug_b_pb.ts";
const { PayloadSchema } = (await import(GENERATED)) as { PayloadSchema: DescMessage };

const { variant, brokerUrl, groupId, expected, warmup } = JSON.parse(process.argv[2]!) as {
  variant: "bare" | "fromSparkplug";
  brokerUrl: string;
  groupId: string;
  /** Metrics in all (the DBIRTH's and every DDATA's). */
  expected: number;
  /** The first this many metrics warm the consumer up (JIT): counted, not timed. */
  warmup: number;
};
const gc = (globalThis as { gc?: () => void }).gc;
const mib = (b: number) => b / 2 ** 20;
let count = 0;
let timed = 0; // metrics after the warm-up, the ones the rate and the CPU time are over
let first = 0;
let last = 0;
let peakRss = 0;
let cpuFirst = 0;
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);
const seen = () => {
  count += 1;
  if (count <= warmup) return;
  const now = performance.now();
  if (timed === 0) {
    first = now;
    cpuFirst = cpuMs();
  }
  timed += 1;
  last = now;
  if (count === expected) finish();
};
const finish = () => {
  clearInterval(sampler);
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
  console.log(
    JSON.stringify({
      result: {
        variant,
        count: timed,
        seconds: (last - first) / 1000,
        cpuSeconds: (cpuMs() - cpuFirst) / 1000,
        peakRssMiB: mib(peakRss),
        idleRssMiB,
      },
    }),
  );
  process.exit(0);
};
setTimeout(() => {
  console.log(
    JSON.stringify({
      result: {
        variant,
        count: timed,
        seconds: (last - first) / 1000,
        cpuSeconds: timed === 0 ? 0 : (cpuMs() - cpuFirst) / 1000,
        peakRssMiB: mib(peakRss),
        idleRssMiB,
        timedOut: true,
      },
    }),
  );
  process.exit(0);
}, 120_000).unref();

let idleRssMiB = 0;
const ready = () => {
  gc?.();
  idleRssMiB = mib(process.memoryUsage().rss);
  console.log(JSON.stringify({ ready: true }));
};

if (variant === "bare") {
  const client = connect(brokerUrl, { clean: true });
  client.on("connect", () => {
    client.subscribe([`spBv1.0/${groupId}/+/edge/+`, `spBv1.0/${groupId}/+/edge`], { qos: 0 }, () =>
      ready(),
    );
  });
  client.on("message", (topic, payload) => {
    if (!topic.includes("/DDATA/") && !topic.includes("/DBIRTH/")) return;
    const p = fromBinary(PayloadSchema, payload) as unknown as {
      metrics: { value: { case: string | undefined } }[];
    };
    for (const m of p.metrics) {
      if (m.value.case !== undefined) seen();
    }
  });
} else {
  const { fromSparkplug } = await import("@maaskit/metering/sparkplug");
  const metrics = Array.from({ length: 10 }, (_, i) => ({
    name: `m${i}`,
    channel: `c${i}`,
    unit: "MTQ" as const,
  }));
  fromSparkplug({
    brokerUrl,
    groupId,
    edgeNodeId: "edge",
    deviceId: "dev",
    hostId: `${groupId}-host`,
    metrics,
    onHostEvent: (e) => {
      if (e.kind === "publish" && e.topic.includes("STATE")) setTimeout(ready, 200);
    },
  }).subscribe((e) => {
    if (e.kind === "reading") seen();
  });
}
