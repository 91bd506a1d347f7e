import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MeterRecord } from "@maaskit/metering";
import { httpLedger } from "@maaskit/settlement/http";
import {
  type Checkpoint,
  entryLeafHash,
  postgresLedger,
  verifyCheckpoint,
  verifyConsistencyProof,
  verifyProof,
} from "@maaskit/settlement/postgres";
import { keccak256, toUtf8Bytes, Wallet } from "ethers";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type DeliveryProgress,
  deliverAndSettle,
  fleetGateway,
  fleetRecords,
  openFleetAgreement,
} from "./fleet.js";
import { type PgCluster, startPgCluster } from "./pgCluster.js";
import { freePort, kill, retryingLedger, serve } from "./serveChild.js";
import { OPERATOR_TOKEN } from "./serverHarness.js";

const GATEWAYS = 6;
const RECORDS = 24;
const operatorKey = new Wallet(keccak256(toUtf8Bytes("maaskit.test.pgRestart.operator")));

/** A checkpoint signed by a second ledger process on the same database (then closed). */
async function checkpointOf(url: string): Promise<Checkpoint> {
  const ledger = postgresLedger({
    connectionString: url,
    operator: operatorKey,
    maxConnections: 2,
  });
  try {
    return await ledger.checkpoint();
  } finally {
    await ledger.close();
  }
}

describe("PostgreSQL restarted (crash, -m immediate) and the service SIGKILLed mid-load", () => {
  let cluster: PgCluster | undefined;
  let reason = "";
  let child: ChildProcess | undefined;
  let dir = "";
  beforeAll(async () => {
    const c = await startPgCluster();
    if ("unavailable" in c) {
      reason = c.unavailable;
      console.info(`[pg restart] cannot start a private PostgreSQL cluster: ${reason}`);
    } else cluster = c;
    dir = await mkdtemp(join(tmpdir(), "ledger-pg-restart-"));
  });
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) await kill(child);
    await cluster?.remove();
    await rm(dir, { recursive: true, force: true });
  });

  it("adversary: clients retrying through both — nothing lost, nothing doubled, checkpoints still verify", async (ctx) => {
    if (cluster === undefined) {
      ctx.skip(`no private PostgreSQL cluster here: ${reason}`);
      return;
    }
    const db = cluster;
    const tokens = join(dir, "tokens.json");
    await writeFile(
      tokens,
      JSON.stringify({ tokens: [{ name: "operator", token: OPERATOR_TOKEN, role: "operator" }] }),
    );
    const port = await freePort();
    const args = ["--database-url", db.url];
    child = await serve(args, tokens, port);
    const ledger = httpLedger({
      url: `http://127.0.0.1:${port}`,
      auth: OPERATOR_TOKEN,
      timeoutMs: 5000,
    });
    const retrying = retryingLedger(ledger);
    const gateways = Array.from({ length: GATEWAYS }, (_, i) => fleetGateway("pg-restart", i));
    const records: MeterRecord[][] = [];
    for (const g of gateways)
      records.push(await fleetRecords(g, await openFleetAgreement(retrying, g), RECORDS));
    const before = await checkpointOf(db.url);
    expect(before.treeSize).toBe(GATEWAYS * 3);

    const progress: DeliveryProgress = { delivered: 0, retries: 0 };
    const faults: string[] = [];
    const chaos = (async () => {
      const plan: [number, "postgres" | "service"][] = [
        [GATEWAYS * 4, "postgres"],
        [GATEWAYS * 10, "service"],
        [GATEWAYS * 16, "postgres"],
      ];
      for (const [threshold, what] of plan) {
        while (progress.delivered < threshold) await new Promise((r) => setTimeout(r, 5));
        if (what === "postgres") {
          await db.crash();
          await new Promise((r) => setTimeout(r, 300));
          await db.start();
        } else {
          await kill(child as ChildProcess);
          child = await serve(args, tokens, port);
        }
        faults.push(what);
      }
    })();
    await deliverAndSettle(ledger, gateways, records, progress);
    await chaos;
    expect(faults).toEqual(["postgres", "service", "postgres"]);
    // the faults were felt: deliveries failed as unavailable and were retried
    expect(progress.retries).toBeGreaterThan(0);
    console.info(
      `[pg restart] ${progress.retries} deliveries retried through ${faults.join(", ")}`,
    );

    const events = await retrying.getEvents();
    const accepted = events.filter((e) => e.type === "RecordAccepted");
    expect(accepted).toHaveLength(GATEWAYS * RECORDS);
    expect(new Set(accepted.map((e) => `${e.agreementId}/${e.seq}`)).size).toBe(GATEWAYS * RECORDS);
    expect(events.filter((e) => e.type === "FundsDeposited")).toHaveLength(GATEWAYS);
    expect(events.filter((e) => e.type === "PeriodSettled")).toHaveLength(GATEWAYS);
    for (const g of gateways) {
      expect((await retrying.getRecordsHead(g.agreement.agreementId)).nextSeq).toBe(RECORDS);
      expect(await retrying.getInvoices(g.agreement.agreementId)).toHaveLength(1);
    }
    await ledger.close();

    // The checkpoint signed before the crashes is a prefix of the one after; every entry
    // proves into the new root; the whole database re-verifies.
    const after = await checkpointOf(db.url);
    expect(verifyCheckpoint(before, operatorKey.address)).toBe(true);
    expect(verifyCheckpoint(after, operatorKey.address)).toBe(true);
    expect(after.treeSize).toBeGreaterThan(before.treeSize);
    const check = postgresLedger({
      connectionString: db.url,
      operator: operatorKey,
      maxConnections: 2,
    });
    try {
      const consistency = await check.getConsistencyProof(before.treeSize, after.treeSize);
      expect(verifyConsistencyProof(consistency, before, after)).toBe(true);
      // entry ids may skip after a crash (sequences are WAL-logged ahead): take them from the table
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query(
        "SELECT entry_id::text AS id FROM maaskit_ledger_leaves ORDER BY leaf_index",
      );
      await client.end();
      expect(rows).toHaveLength(after.treeSize);
      const ids = rows.map((r) => Number(r.id));
      for (const entryId of [ids[0]!, ids[before.treeSize]!, ids[ids.length - 1]!]) {
        const proof = await check.getProof(entryId, after.treeSize);
        expect(entryLeafHash(proof.entryHash)).toMatch(/^[0-9a-f]{64}$/);
        expect(verifyProof(proof, after)).toBe(true);
      }
      const report = await check.verify();
      expect(report.checkpoints).toBe(2);
      expect(report.leaves).toBe(after.treeSize);
    } finally {
      await check.close();
    }
  }, 240_000);
});
