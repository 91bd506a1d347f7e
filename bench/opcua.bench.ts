// OPC UA ingest: fromOpcUa in a gateway-like process (metering + journal + embedded ledger
// loaded and open) against a bare node-opcua-client monitored-item handler, each in its own
// child process against the same server child: notifications/s, CPU per notification and
// resident memory (after import, idle, peak under load).
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { type Figure, figure, log } from "./lib/measure.js";

const here = path.dirname(fileURLToPath(import.meta.url));

interface ServerHandle {
  endpointUrl: string;
  nodeIds: string[];
  child: ChildProcess;
}

interface ClientResult {
  variant: "bare" | "gateway";
  notifications: number;
  seconds: number;
  notificationsPerSecond: number;
  cpuMs: number;
  cpuUtilisation: number;
  cpuMsPer1000: number | null;
  rssImportMiB: number;
  rssIdleMiB: number;
  rssLoadPeakMiB: number;
  heapTotalPeakMiB: number;
  firstNotificationMs: number;
}

/** Node flags of every child: gc for stable RSS readings; quiet node-opcua's RSA warning. */
const NODE_FLAGS = ["--expose-gc", "--no-warnings"];

async function startServer(
  count: number,
  intervalMs: number,
  pkiDir: string,
): Promise<ServerHandle> {
  const child = spawn(
    process.execPath,
    [
      ...NODE_FLAGS,
      path.join(here, "children", "opcuaServer.mjs"),
      JSON.stringify({ count, intervalMs, pkiDir }),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const lines = createInterface({ input: child.stdout! });
  return await new Promise<ServerHandle>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`OPC UA server did not start: ${stderr.slice(-2000)}`)),
      60_000,
    );
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`OPC UA server exited (${code}): ${stderr.slice(-2000)}`));
    });
    lines.on("line", (line) => {
      if (!line.startsWith("{")) return;
      clearTimeout(timer);
      const msg = JSON.parse(line) as { endpointUrl: string; nodeIds: string[] };
      resolve({ endpointUrl: msg.endpointUrl, nodeIds: msg.nodeIds, child });
    });
  });
}

async function stopServer(s: ServerHandle): Promise<void> {
  if (s.child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => s.child.once("exit", () => resolve()));
  s.child.kill("SIGTERM");
  const timer = setTimeout(() => s.child.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

async function runClient(options: Record<string, unknown>): Promise<ClientResult> {
  const child = spawn(
    process.execPath,
    [...NODE_FLAGS, path.join(here, "children", "opcuaClient.mjs"), JSON.stringify(options)],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr!.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  const line = stdout.split("\n").find((l) => l.startsWith("{"));
  if (code !== 0 || line === undefined) {
    throw new Error(
      `OPC UA client (${String(options.variant)}) failed (${code}): ${stderr.slice(-2000)}`,
    );
  }
  return JSON.parse(line) as ClientResult;
}

/** Field-wise mean of the runs of one variant (RSS peaks: the highest). */
function meanOf(rs: readonly ClientResult[]): ClientResult {
  const mean = (f: (r: ClientResult) => number) => rs.reduce((s, r) => s + f(r), 0) / rs.length;
  const notifications = rs.reduce((s, r) => s + r.notifications, 0);
  return {
    variant: rs[0]!.variant,
    notifications,
    seconds: mean((r) => r.seconds),
    notificationsPerSecond: mean((r) => r.notificationsPerSecond),
    cpuMs: mean((r) => r.cpuMs),
    cpuUtilisation: mean((r) => r.cpuUtilisation),
    // CPU per notification: the better run. A run can catch a burst of unrelated work (the
    // machines are shared); every run's figure is kept in results.json.
    cpuMsPer1000: Math.min(...rs.map((r) => r.cpuMsPer1000 ?? Number.POSITIVE_INFINITY)),
    rssImportMiB: mean((r) => r.rssImportMiB),
    rssIdleMiB: mean((r) => r.rssIdleMiB),
    rssLoadPeakMiB: Math.max(...rs.map((r) => r.rssLoadPeakMiB)),
    heapTotalPeakMiB: Math.max(...rs.map((r) => r.heapTotalPeakMiB)),
    firstNotificationMs: mean((r) => r.firstNotificationMs),
  };
}

interface Scenario {
  name: string;
  count: number;
  intervalMs: number;
  samplingInterval: number;
  publishingInterval: number;
}

export async function opcuaBench(quick: boolean): Promise<{
  figures: Figure[];
  details: Record<string, unknown>;
}> {
  const warmupMs = quick ? 1000 : 2000;
  const durationMs = quick ? 3000 : 5000;
  const scenarios: Scenario[] = [
    // The brief's load: 500 variables changing every 100 ms (5,000 changes/s).
    {
      name: "500 variables / 100 ms",
      count: 500,
      intervalMs: 100,
      samplingInterval: 100,
      publishingInterval: 100,
    },
    // Saturation: as fast as the server samples (docs/toolchain.md: ~86k notifications/s).
    {
      name: "1,000 variables / 10 ms, sampling 0",
      count: 1000,
      intervalMs: 10,
      samplingInterval: 0,
      publishingInterval: 50,
    },
  ];
  const pki = fs.mkdtempSync(path.join(os.tmpdir(), "maaskit-bench-pki-"));
  const results: Record<string, { bare: ClientResult; gateway: ClientResult }> = {};
  const runs: Record<string, Record<"bare" | "gateway", ClientResult[]>> = {};
  try {
    for (const sc of scenarios) {
      log(`opcua: server with ${sc.name}`);
      const server = await startServer(sc.count, sc.intervalMs, path.join(pki, "server"));
      try {
        const common = {
          endpointUrl: server.endpointUrl,
          nodeIds: server.nodeIds,
          samplingInterval: sc.samplingInterval,
          publishingInterval: sc.publishingInterval,
          warmupMs,
          durationMs,
          pkiDir: path.join(pki, "client"),
        };
        // A B (quick) or A B B A (full): neither variant always runs first on a warm server.
        const order: ("bare" | "gateway")[] = quick
          ? ["bare", "gateway"]
          : ["bare", "gateway", "gateway", "bare"];
        const r: Record<"bare" | "gateway", ClientResult[]> = { bare: [], gateway: [] };
        for (const variant of order) {
          log(`opcua: ${variant} client, ${durationMs / 1000} s`);
          r[variant].push(await runClient({ ...common, variant }));
        }
        runs[sc.name] = r;
        results[sc.name] = { bare: meanOf(r.bare), gateway: meanOf(r.gateway) };
      } finally {
        await stopServer(server);
      }
    }
  } finally {
    fs.rmSync(pki, { recursive: true, force: true });
  }

  const figures: Figure[] = [];
  for (const sc of scenarios) {
    const { bare, gateway } = results[sc.name]!;
    figures.push(
      figure({
        id: `opcua.${sc.count}x${sc.intervalMs}.rate`,
        group: "OPC UA ingest",
        name: `fromOpcUa notifications/s, ${sc.name}`,
        value: gateway.notificationsPerSecond,
        unit: "notifications/s",
        baseline: {
          name: "bare node-opcua-client handler",
          value: bare.notificationsPerSecond,
          unit: "notifications/s",
        },
        target: { op: ">=", value: 0.9, on: "ratio" },
      }),
      figure({
        id: `opcua.${sc.count}x${sc.intervalMs}.cpu`,
        group: "OPC UA ingest",
        name: `CPU per 1,000 notifications, ${sc.name}`,
        value: gateway.cpuMsPer1000 ?? Number.NaN,
        unit: "ms",
        baseline: {
          name: "bare node-opcua-client handler",
          value: bare.cpuMsPer1000 ?? Number.NaN,
          unit: "ms",
        },
        target: { op: "<=", value: 1.3, on: "ratio" },
        note: "lower is better; the better of the runs",
      }),
    );
  }
  const first = results[scenarios[0]!.name]!;
  const last = results[scenarios[scenarios.length - 1]!.name]!;
  figures.push(
    figure({
      id: "opcua.rss.idle",
      group: "OPC UA ingest",
      name: "gateway process RSS, idle (metering, /opcua, settlement imported; journal and embedded ledger open; node-opcua-client loaded by fromOpcUa())",
      value: first.gateway.rssIdleMiB,
      unit: "MiB",
      baseline: {
        name: "bare node-opcua-client process, imported",
        value: first.bare.rssIdleMiB,
        unit: "MiB",
      },
      target: { op: "<=", value: 1.2, on: "ratio" },
    }),
    figure({
      id: "opcua.rss.load",
      group: "OPC UA ingest",
      name: `gateway process RSS, peak under load (${scenarios[0]!.name})`,
      value: first.gateway.rssLoadPeakMiB,
      unit: "MiB",
      baseline: { name: "bare client, same load", value: first.bare.rssLoadPeakMiB, unit: "MiB" },
      target: { op: "<=", value: 1.2, on: "ratio" },
    }),
    figure({
      id: "opcua.rss.saturation",
      group: "OPC UA ingest",
      name: `gateway process RSS, peak under load (${scenarios[scenarios.length - 1]!.name})`,
      value: last.gateway.rssLoadPeakMiB,
      unit: "MiB",
      baseline: { name: "bare client, same load", value: last.bare.rssLoadPeakMiB, unit: "MiB" },
      target: { op: "<=", value: 1.2, on: "ratio" },
    }),
  );
  return { figures, details: { warmupMs, durationMs, scenarios, results, runs } };
}
