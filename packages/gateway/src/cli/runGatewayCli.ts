import { isMaaskitError } from "@maaskit/metering";
import { EXIT, type GatewayCliIo } from "./common.js";
import { init } from "./init.js";
import { run } from "./run.js";
import { simulate } from "./simulate.js";
import { status, verify } from "./statusVerify.js";

export { EXIT, type GatewayCliIo } from "./common.js";

export const USAGE = `maaskit-gateway — meter a machine over OPC UA, sign and journal records, settle them on a ledger

Usage:
  maaskit-gateway init [dir] [--endpoint opc.tcp://…] [--machine-id id] [--billing day|month]
                       [--time-zone Europe/Berlin] [--rotate-key]
      writes gateway.json, agreement.json (starting now) and gateway.key (mode 0600) in dir
      (default .); never overwrites an existing key unless --rotate-key (the old one is kept
      as gateway.key.rotated-<time>), never overwrites gateway.json or agreement.json
  maaskit-gateway simulate [--port 4840] [--accelerate 60] [--start now|ISO] [--seed 42]
                           [--trust <gateway dataDir>/pki]…
      runs a simulated OPC 40250 compressor on 127.0.0.1 (SIGHUP restarts its server);
      --trust puts its certificate into a gateway's OPC UA trust list
  maaskit-gateway run [--config gateway.json] [--until <ISO time | duration after the agreement start, e.g. 2d>]
      meters, signs, journals, delivers and settles until --until (machine time) or SIGINT/SIGTERM
      on the local embedded ledger; retries the OPC UA connect with backoff (server not up,
      BadTooManySessions, connection lost); logs the profile's maintenance advisories
  maaskit-gateway status [--config gateway.json]
      chain head, unacknowledged records, last settled period, ledger health (JSON)
  maaskit-gateway verify [--config gateway.json]
      exports the journal to <outDir>/records.jsonl and verifies every signature and the chain

Exit codes: 0 ok; 1 run ended on an error / a record did not verify; 2 usage or invalid
config, agreement or key; 3 init refused to overwrite a key.
Logs: one JSON object per line on stdout ({"t","event",…}); problems on stderr.
`;

/** Runs `maaskit-gateway <command> …`; resolves to the exit code. */
export async function runGatewayCli(argv: readonly string[], io: GatewayCliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === "init") return await init(rest, io);
    if (command === "simulate") return await simulate(rest, io);
    if (command === "run") return await run(rest, io);
    if (command === "status") return await status(rest, io);
    if (command === "verify") return await verify(rest, io);
    io.stdout(USAGE);
    return command === undefined || command === "--help" || command === "-h" ? EXIT.ok : EXIT.usage;
  } catch (err) {
    if (isMaaskitError(err)) {
      io.stderr(`${err.code}: ${err.shortMessage}\n`);
      const problems = (err.details as { problems?: { path: string; message: string }[] }).problems;
      if (Array.isArray(problems))
        for (const p of problems) io.stderr(`  ${p.path || "(root)"}: ${p.message}\n`);
      return err.code === "gateway.init.keyExists" ? EXIT.refused : EXIT.usage;
    }
    if (err instanceof TypeError && (err as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      io.stderr(`${err.message}\n\n${USAGE}`);
      return EXIT.usage;
    }
    io.stderr(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return EXIT.failed;
  }
}
