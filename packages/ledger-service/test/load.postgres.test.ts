import { postgresLedger } from "@maaskit/settlement/postgres";
import { type PostgresTarget, postgresTarget } from "@maaskit/test-support/postgres";
import { afterAll, beforeAll, describe, it } from "vitest";
import { runFleetLoad } from "./loadScenario.js";

// The load test through the service into PostgreSQL (a fresh database at DATABASE_URL,
// dropped after), or into in-process PGlite without it — the target prints which. PGlite is
// one session, so the gateways' transactions queue there; on PostgreSQL they run at once
// and meet at the per-chain locks.
describe("ledger service under load into PostgreSQL: 50 gateways, duplicates and retries", () => {
  let target: PostgresTarget;
  beforeAll(async () => {
    target = await postgresTarget("load");
  });
  afterAll(async () => {
    await target.drop();
  });

  it("behavior: every record accepted exactly once, every period settled once, totals exact", async () => {
    await runFleetLoad("load-pg", { gateways: 50, records: 24, batch: 4 }, (clock) =>
      target.connectionString === undefined
        ? postgresLedger({ pool: target.pool(), clock })
        : postgresLedger({ connectionString: target.connectionString, clock, maxConnections: 20 }),
    );
  }, 240_000);
});
