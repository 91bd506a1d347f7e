import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { MeterRecord } from "@maaskit/metering";
import { httpLedger } from "@maaskit/settlement/http";
import { type PostgresTarget, postgresTarget } from "@maaskit/test-support/postgres";
import { afterAll, describe, expect, it } from "vitest";
import {
  type DeliveryProgress,
  deliverAndSettle,
  fleetGateway,
  fleetRecords,
  openFleetAgreement,
} from "./fleet.js";
import { freePort, kill, retryingLedger, serve } from "./serveChild.js";
import { OPERATOR_TOKEN } from "./serverHarness.js";

const GATEWAYS = 6;
const RECORDS = 24;

const dirs: string[] = [];
let current: ChildProcess | undefined;
afterAll(async () => {
  if (current !== undefined) await kill(current);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/**
 * Delivers GATEWAYS × RECORDS records and one settlement each through a service that is
 * SIGKILLed twice mid-load and restarted on the same ledger; checks nothing is lost or doubled.
 */
async function killScenario(ledgerArgs: (dir: string) => readonly string[]): Promise<void> {
  {
    const dir = await mkdtemp(join(tmpdir(), "ledger-kill-"));
    dirs.push(dir);
    const tokens = join(dir, "tokens.json");
    await writeFile(
      tokens,
      JSON.stringify({ tokens: [{ name: "operator", token: OPERATOR_TOKEN, role: "operator" }] }),
    );
    const port = await freePort();
    current = await serve(ledgerArgs(dir), tokens, port);
    const ledger = httpLedger({
      url: `http://127.0.0.1:${port}`,
      auth: OPERATOR_TOKEN,
      timeoutMs: 5000,
    });
    const gateways = Array.from({ length: GATEWAYS }, (_, i) => fleetGateway("kill", i));
    const retrying = retryingLedger(ledger);
    const records: MeterRecord[][] = [];
    for (const g of gateways)
      records.push(await fleetRecords(g, await openFleetAgreement(retrying, g), RECORDS));

    const progress: DeliveryProgress = { delivered: 0, retries: 0 };
    let kills = 0;
    const killer = (async () => {
      for (const threshold of [GATEWAYS * 4, GATEWAYS * 12]) {
        while (progress.delivered < threshold) await new Promise((r) => setTimeout(r, 5));
        await kill(current as ChildProcess);
        kills++;
        current = await serve(ledgerArgs(dir), tokens, port);
      }
    })();
    await deliverAndSettle(ledger, gateways, records, progress);
    await killer;
    expect(kills).toBe(2);

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
    // this scenario's last server: the next scenario reassigns `current`, so stop it here
    await kill(current);
  }
}

describe("maaskit-ledger serve: SIGKILLed mid-load and restarted on the same data dir", () => {
  it("adversary: clients retrying with the same idempotency keys — nothing lost, nothing doubled", async () => {
    await killScenario((dir) => ["--data-dir", join(dir, "ledger")]);
  }, 180_000);
});

// A second process cannot open an in-process PGlite: this case needs the PostgreSQL server
// at DATABASE_URL (CI sets it; .ci/run starts the machine's server).
const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl)
  console.info("[kill → postgres] DATABASE_URL is not set: the PostgreSQL kill case is skipped");
describe.runIf(databaseUrl)(
  "maaskit-ledger serve --database-url: SIGKILLed mid-load and restarted on the same database",
  () => {
    let target: PostgresTarget | undefined;
    afterAll(async () => {
      await target?.drop();
    });
    it("adversary: clients retrying with the same idempotency keys — nothing lost, nothing doubled", async () => {
      target = await postgresTarget("kill");
      const url = target.connectionString as string;
      await killScenario(() => ["--database-url", url]);
    }, 180_000);
  },
);
