// The `maaskit-gateway` command (bin/maaskit-gateway.js imports the built form of this file).
import { runGatewayCli } from "./cli/runGatewayCli.js";

runGatewayCli(process.argv.slice(2), {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exitCode = 1;
  },
);
