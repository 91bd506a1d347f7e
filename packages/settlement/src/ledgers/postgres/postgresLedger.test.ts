import { postgresTarget } from "@maaskit/test-support/postgres";
import { describeLedgerBackend } from "../../conformance/describeLedgerBackend.js";
import { postgresLedger } from "./postgresLedger.js";

describeLedgerBackend("postgres", async ({ clock }) => {
  const target = await postgresTarget("conformance-unit");
  const pool = target.pool();
  return { ledger: postgresLedger({ pool, clock }), cleanup: () => target.drop() };
});
