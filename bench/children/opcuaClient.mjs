// One OPC UA ingest measurement in its own process, so CPU and resident memory are its own.
// variant "bare": node-opcua-client, a monitored-item group and a counting handler.
// variant "gateway": @maaskit/metering (+ /opcua), the journal and the embedded ledger of
// @maaskit/settlement imported and opened, fromOpcUa feeding a counting subscriber.
// Prints one JSON line with the figures.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const opts = JSON.parse(process.argv[2]);
const {
  variant,
  endpointUrl,
  nodeIds,
  samplingInterval,
  publishingInterval,
  warmupMs,
  durationMs,
  pkiDir,
} = opts;

const gc = () => {
  globalThis.gc?.();
  globalThis.gc?.();
};
const rss = () => process.memoryUsage().rss;
const mib = (b) => Math.round((b / 2 ** 20) * 10) / 10;

const out = { variant };
const rssStart = rss();
const temp = [];
let count = 0;
let stop;

if (variant === "bare") {
  const { OPCUAClient, AttributeIds, TimestampsToReturn } = await import("node-opcua-client");
  const { OPCUACertificateManager } = await import("node-opcua-certificate-manager");
  gc();
  out.rssImportMiB = mib(rss());
  out.rssIdleMiB = out.rssImportMiB;
  const client = OPCUAClient.create({
    applicationName: "bench-bare",
    endpointMustExist: false,
    keepSessionAlive: true,
    connectionStrategy: { maxRetry: 2, initialDelay: 250, maxDelay: 2000 },
    clientCertificateManager: new OPCUACertificateManager({
      rootFolder: pkiDir,
      automaticallyAcceptUnknownCertificate: true,
    }),
  });
  await client.connect(endpointUrl);
  const session = await client.createSession();
  const sub = await session.createSubscription2({
    requestedPublishingInterval: publishingInterval,
    requestedLifetimeCount: 600,
    requestedMaxKeepAliveCount: 10,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 1,
  });
  for (let i = 0; i < nodeIds.length; i += 500) {
    const group = await sub.monitorItems(
      nodeIds.slice(i, i + 500).map((nodeId) => ({ nodeId, attributeId: AttributeIds.Value })),
      { samplingInterval, queueSize: 10, discardOldest: true },
      TimestampsToReturn.Both,
    );
    group.on("changed", () => {
      count++;
    });
  }
  stop = async () => {
    await sub.terminate();
    await session.close(true);
    await client.disconnect();
  };
} else {
  const metering = await import("@maaskit/metering");
  const { fromOpcUa } = await import("@maaskit/metering/opcua");
  const { embeddedLedger } = await import("@maaskit/settlement");
  gc();
  out.rssImportMiB = mib(rss());
  const journalDir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-bench-journal-"));
  const ledgerDir = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-bench-ledger-"));
  temp.push(journalDir, ledgerDir);
  const journal = await metering.openJournal({ dir: journalDir, codec: metering.meterRecordCodec });
  const ledger = embeddedLedger({ dir: ledgerDir });
  await ledger.ready;
  let other = 0;
  // Built before the idle figure: fromOpcUa() loads node-opcua-client (an optional peer, loaded
  // on first use), which the bare process has loaded by then too; it connects on subscribe.
  const source = fromOpcUa({
    endpointUrl,
    machineId: "bench",
    nodes: nodeIds.map((nodeId, i) => ({ nodeId, channel: `v${i}`, unit: "G53", kind: "rate" })),
    samplingInterval,
    publishingInterval,
    pkiDir,
    // security None like the bare client: the ratio measures the pipeline, not the crypto
    // (fromOpcUa defaults to SignAndEncrypt with a trust list)
    security: { mode: "None" },
    logger: { warn: (m) => process.stderr.write(`${m}\n`) },
    clientOptions: { applicationName: "bench-gateway" },
  });
  gc();
  out.rssIdleMiB = mib(rss());
  const subscription = source.subscribe({
    next: (e) => {
      if (e.kind === "reading") count++;
      else other++;
    },
    error: (err) => {
      process.stderr.write(`fromOpcUa failed: ${err.stack ?? err}\n`);
      process.exit(2);
    },
  });
  stop = async () => {
    subscription.unsubscribe();
    await journal.close();
    await ledger.close();
    out.otherEvents = other;
    await new Promise((r) => setTimeout(r, 300));
  };
}

// Wait for the first notification, warm up, then measure.
const t0 = performance.now();
while (count === 0) {
  if (performance.now() - t0 > 30_000) throw new Error("no notification within 30 s");
  await new Promise((r) => setTimeout(r, 20));
}
out.firstNotificationMs = Math.round(performance.now() - t0);
await new Promise((r) => setTimeout(r, warmupMs));
let peak = 0;
let heapPeak = 0;
const sampler = setInterval(() => {
  const m = process.memoryUsage();
  peak = Math.max(peak, m.rss);
  heapPeak = Math.max(heapPeak, m.heapTotal);
}, 100);
const startCount = count;
const cpu0 = process.cpuUsage();
const wall0 = performance.now();
await new Promise((r) => setTimeout(r, durationMs));
const n = count - startCount;
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - wall0;
clearInterval(sampler);
peak = Math.max(peak, rss());
out.notifications = n;
out.seconds = wall / 1000;
out.notificationsPerSecond = (n * 1000) / wall;
out.cpuMs = (cpu.user + cpu.system) / 1000;
out.cpuUtilisation = out.cpuMs / wall;
out.cpuMsPer1000 = n === 0 ? null : (out.cpuMs * 1000) / n;
out.rssLoadPeakMiB = mib(peak);
out.heapTotalPeakMiB = mib(heapPeak);
out.rssStartMiB = mib(rssStart);
await stop();
for (const d of temp) fs.rmSync(d, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
