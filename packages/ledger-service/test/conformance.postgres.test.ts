import { describeLedgerBackend } from "@maaskit/settlement/conformance";
import { httpLedger } from "@maaskit/settlement/http";
import { postgresLedger } from "@maaskit/settlement/postgres";
import { postgresTarget } from "@maaskit/test-support/postgres";
import { OPERATOR_TOKEN, startService } from "./serverHarness.js";

// The whole conformance suite through HTTP into PostgreSQL: httpLedger → maaskit ledger
// service → postgresLedger on the server at DATABASE_URL (a fresh database, dropped after),
// or on in-process PGlite without it — the target prints which one it used.
describeLedgerBackend("http → postgres", async ({ clock }) => {
  const target = await postgresTarget("http_conformance");
  const backend =
    target.connectionString === undefined
      ? postgresLedger({ pool: target.pool(), clock })
      : postgresLedger({ connectionString: target.connectionString, clock });
  const service = await startService({ clock, backend, limits: { ratePerSecond: 100_000 } });
  return {
    ledger: httpLedger({ url: service.url, auth: OPERATOR_TOKEN, pollWaitSeconds: 2 }),
    cleanup: async () => {
      await service.stop();
      await target.drop();
    },
  };
});
