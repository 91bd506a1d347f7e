import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeLedgerBackend } from "../../conformance/describeLedgerBackend.js";
import { embeddedLedger } from "./embeddedLedger.js";

describeLedgerBackend("embedded", async ({ clock }) => {
  const dir = await mkdtemp(join(tmpdir(), "maaskit-ledger-"));
  return {
    ledger: embeddedLedger({ dir, clock }),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
