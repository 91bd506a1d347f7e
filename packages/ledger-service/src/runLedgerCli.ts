import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { embeddedLedger } from "@maaskit/settlement";
import { tokenTable } from "./auth.js";
import { createLedgerServer } from "./createLedgerServer.js";

const usage = `usage: maaskit-ledger serve (--data-dir <dir> | --database-url <postgres://…>) --auth <tokens.json>
  [--port 8545] [--host 127.0.0.1] [--max-body-bytes 1048576] [--rate 200] [--burst 400]
  [--verify-threads <cores>]

Serves a ledger over HTTP (docs/ledger-service.md): the embedded ledger in <dir>, or the
PostgreSQL ledger (@maaskit/settlement/postgres; needs the package "pg") in the database at
--database-url, migrating its schema on first use. Prints "listening on http://host:port"
once ready; SIGTERM or SIGINT stop it. Record signatures are checked on --verify-threads
worker threads (default the available cores; 0 = in the ledger's thread), started before it
listens.
`;

/**
 * `maaskit-ledger serve`: opens the embedded ledger and serves it until SIGTERM/SIGINT.
 * Resolves when the service stopped.
 */
export async function runLedgerCli(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== "serve") {
    process.stderr.write(usage);
    process.exitCode = command === undefined || command === "--help" ? 0 : 2;
    return;
  }
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      port: { type: "string", default: "8545" },
      host: { type: "string", default: "127.0.0.1" },
      "data-dir": { type: "string" },
      "database-url": { type: "string" },
      auth: { type: "string" },
      "max-body-bytes": { type: "string" },
      rate: { type: "string" },
      burst: { type: "string" },
      "verify-threads": { type: "string" },
    },
  });
  const dir = values["data-dir"];
  const databaseUrl = values["database-url"];
  const authFile = values.auth;
  if ((dir === undefined) === (databaseUrl === undefined) || authFile === undefined) {
    process.stderr.write(usage);
    process.exitCode = 2;
    return;
  }
  const auth = tokenTable(JSON.parse(readFileSync(authFile, "utf8")));
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const threads = num(values["verify-threads"]);
  const verifyThreads = threads === undefined ? {} : { verifyThreads: threads };
  const backend =
    databaseUrl !== undefined
      ? (await import("@maaskit/settlement/postgres")).postgresLedger({
          connectionString: databaseUrl,
          ...verifyThreads,
        })
      : embeddedLedger({ dir: dir as string, ...verifyThreads });
  await backend.ready;
  await backend.startVerifyThreads();
  const server = createLedgerServer({
    backend,
    auth,
    limits: {
      ...(values["max-body-bytes"] ? { maxBodyBytes: num(values["max-body-bytes"]) } : {}),
      ...(values.rate ? { ratePerSecond: num(values.rate) } : {}),
      ...(values.burst ? { burst: num(values.burst) } : {}),
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(Number(values.port), values.host, () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  process.stdout.write(`listening on http://${address}:${port}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGTERM", stop);
      process.off("SIGINT", stop);
      server.close(() => resolve());
    };
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
  });
  await backend.close();
}
