import { describeLedgerBackend } from "@maaskit/settlement/conformance";
import { httpLedger } from "@maaskit/settlement/http";
import { OPERATOR_TOKEN, startService } from "./serverHarness.js";

// The whole conformance suite through HTTP: httpLedger → maaskit ledger service → embedded
// ledger; the same golden snapshot, events and error codes as every other backend.
describeLedgerBackend("http → embedded", async ({ clock }) => {
  const service = await startService({ clock, limits: { ratePerSecond: 100_000 } });
  return {
    ledger: httpLedger({ url: service.url, auth: OPERATOR_TOKEN, pollWaitSeconds: 2 }),
    cleanup: () => service.stop(),
  };
});
