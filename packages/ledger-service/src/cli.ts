// The `maaskit-ledger` command (bin/maaskit-ledger.js imports the built form of this file).
import { runLedgerCli } from "./runLedgerCli.js";

runLedgerCli(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
