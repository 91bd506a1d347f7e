// The ledger service end to end: signed records accepted per second through HTTP
// (httpLedger → maaskit ledger service → backend) by 1 and by 50 concurrent gateways (each
// its own agreement and key), p99 latency of a delivery, against the physical floor of the
// work — the same records' signature checks on all cores (worker_threads) in the same run.
// The backend is a parameter (default: the embedded ledger); client and service share this
// process, so the figures include the client's own cost.
import { mkdtemp, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { createLedgerServer, tokenTable } from "@maaskit/ledger-service";
import { type MeterRecord, meterRecordToJson } from "@maaskit/metering";
import { embeddedLedger, type LedgerBackend } from "@maaskit/settlement";
import { httpLedger } from "@maaskit/settlement/http";
import { postgresLedger } from "@maaskit/settlement/postgres";
import {
  type FleetGateway,
  fleetGateway,
  fleetRecords,
  openFleetAgreement,
  untilDelivered,
} from "../packages/ledger-service/test/fleet.js";
import { type Figure, figure, log, perSecond } from "./lib/measure.js";
import { freshDatabase } from "./postgres.bench.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const TOKEN = "bench-operator-token-0123456789abcdef";
const BATCH = 10;

/** Builds a fresh, empty backend for one measurement; `dispose` removes what it made. */
export type BenchBackendFactory = () => Promise<{
  backend: LedgerBackend;
  dispose(): Promise<void>;
}>;

const embedded: BenchBackendFactory = async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "bench-ledger-service-"));
  const backend = embeddedLedger({ dir });
  await backend.ready;
  // Signature checks run on worker threads before the rules; loading them is not timed.
  await backend.startVerifyThreads();
  return {
    backend,
    dispose: async () => {
      await backend.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

interface Run {
  readonly recordsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly records: number;
  readonly retries: number;
}

/** One fleet delivering its records through a fresh service; every record must be accepted. */
async function deliver(
  factory: BenchBackendFactory,
  label: string,
  gateways: number,
  perGateway: number,
): Promise<Run> {
  const { backend, dispose } = await factory();
  const server = createLedgerServer({
    backend,
    auth: tokenTable({ tokens: [{ name: "bench", token: TOKEN, role: "operator" }] }),
    limits: { ratePerSecond: 1_000_000 },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = httpLedger({ url, auth: TOKEN });
  try {
    const fleet: { g: FleetGateway; records: MeterRecord[] }[] = [];
    for (let i = 0; i < gateways; i++) {
      const g = fleetGateway(label, i);
      fleet.push({
        g,
        records: await fleetRecords(g, await openFleetAgreement(client, g), perGateway),
      });
    }
    const latencies: number[] = [];
    let accepted = 0;
    let retries = 0;
    const t0 = performance.now();
    await Promise.all(
      fleet.map(async ({ g, records }) => {
        for (let from = 0; from < records.length; from += BATCH) {
          const t = performance.now();
          // as a gateway's delivery loop: retried while the service is unavailable (overloaded)
          const out = await untilDelivered((attempt) => {
            if (attempt > 0) retries++;
            return client.submitRecords({
              agreementId: g.agreement.agreementId,
              records: records.slice(from, from + BATCH),
            });
          });
          latencies.push(performance.now() - t);
          accepted += out.accepted;
        }
      }),
    );
    const ms = performance.now() - t0;
    if (accepted !== gateways * perGateway) {
      throw new Error(`accepted ${accepted} of ${gateways * perGateway} records`);
    }
    latencies.sort((a, b) => a - b);
    const at = (q: number) =>
      latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
    return {
      recordsPerSecond: perSecond(accepted, ms),
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      records: accepted,
      retries,
    };
  } finally {
    await client.close();
    await new Promise<void>((r) => server.close(() => r()));
    await dispose();
  }
}

/** Signature (and chain) checks of the records of `gateways` chains, on every core. */
async function floor(label: string, gateways: number, perGateway: number): Promise<number> {
  const domain = { chainId: 0, verifyingContract: "0x0000000000000000000000000000000000000000" };
  const chains: { signer: string; records: unknown[] }[] = [];
  for (let i = 0; i < gateways; i++) {
    const g = fleetGateway(label, i);
    const records = await fleetRecords(g, domain, perGateway);
    chains.push({ signer: g.key.address, records: records.map((r) => meterRecordToJson(r)) });
  }
  const cores = Math.max(1, os.availableParallelism());
  const shares = Array.from({ length: cores }, (_, w) => chains.filter((_, i) => i % cores === w));
  const workers = shares.map(
    (share) =>
      new Worker(path.join(here, "children/verifyWorker.mjs"), { workerData: { chains: share } }),
  );
  await Promise.all(
    workers.map(
      (w) =>
        new Promise<void>((resolve, reject) => {
          w.once("message", () => resolve());
          w.once("error", reject);
        }),
    ),
  );
  const t0 = performance.now();
  const results = await Promise.all(
    workers.map(
      (w) =>
        new Promise<{ valid: number }>((resolve, reject) => {
          w.once("message", resolve);
          w.once("error", reject);
          w.postMessage("go");
        }),
    ),
  );
  const ms = performance.now() - t0;
  await Promise.all(workers.map((w) => w.terminate()));
  const valid = results.reduce((s, r) => s + r.valid, 0);
  if (valid !== gateways * perGateway) throw new Error(`only ${valid} records verified`);
  return perSecond(valid, ms);
}

/** The PostgreSQL backend: postgresLedger on a fresh database at DATABASE_URL (dropped after). */
const postgres: BenchBackendFactory = async () => {
  const url = process.env.DATABASE_URL || "postgres://postgres@127.0.0.1:5432/postgres";
  const db = await freshDatabase(url, "service");
  const backend = postgresLedger({ connectionString: db.connectionString, maxConnections: 20 });
  await backend.ready;
  await backend.startVerifyThreads();
  return {
    backend,
    dispose: async () => {
      await backend.close();
      await db.drop();
    },
  };
};

const BACKENDS = {
  embedded: {
    factory: embedded,
    prefix: "ledgerService",
    group: "Ledger service (HTTP → embedded)",
  },
  postgres: {
    factory: postgres,
    prefix: "ledgerServicePostgres",
    group: "Ledger service (HTTP → PostgreSQL)",
  },
} as const;

export async function ledgerServiceBench(
  quick: boolean,
  backendName: keyof typeof BACKENDS = "embedded",
): Promise<{ figures: Figure[]; details: Record<string, unknown> }> {
  const { factory, prefix, group } = BACKENDS[backendName];
  const perGateway = quick ? 40 : 100;
  log(
    `ledger service: 1 gateway × ${perGateway * 10} and 50 gateways × ${perGateway} records, batches of ${BATCH}`,
  );
  const one = await deliver(factory, "bench-one", 1, perGateway * 10);
  const fifty = await deliver(factory, "bench-fifty", 50, perGateway);
  const bare = await floor("bench-floor", 50, perGateway);
  const base = {
    name: `signature checks on all ${os.availableParallelism()} cores (worker_threads)`,
    value: bare,
    unit: "records/s",
  };
  return {
    figures: [
      figure({
        id: `${prefix}.accepted.gateways50`,
        group,
        name: "records accepted end to end, 50 concurrent gateways",
        value: fifty.recordsPerSecond,
        unit: "records/s",
        baseline: base,
        target: { op: ">=", value: 0.5, on: "ratio" },
        note: "issue 16 also asks ≥ 2,000/s",
      }),
      figure({
        id: `${prefix}.accepted.gateways1`,
        group,
        name: "records accepted end to end, 1 gateway",
        value: one.recordsPerSecond,
        unit: "records/s",
        baseline: base,
      }),
      figure({
        id: `${prefix}.latency.p99`,
        group,
        name: `p99 latency of one delivery (${BATCH} records), 50 gateways`,
        value: fifty.p99Ms,
        unit: "ms",
      }),
      figure({
        id: `${prefix}.floor`,
        group,
        name: "physical floor: signature checks of the same records on all cores",
        value: bare,
        unit: "records/s",
      }),
    ],
    details: { batch: BATCH, one, fifty, floorRecordsPerSecond: bare },
  };
}
