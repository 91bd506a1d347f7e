// The compressor gateway as the fault harness runs it: the same library calls as the
// example's `compressor-gateway run` (config file → agreement, signer, ledger → startGateway),
// as a plain Node process the harness can SIGKILL, limit (prlimit) and restart. It also
// prints every good volume reading it consumes (`{"event":"volume",…}`), so the harness can
// price the simulator's ground truth at exactly the instants the gateway metered.
//
//   node gatewayChild.mjs --config <gateway.json> [--until <ISO time>]
//                         [--rpc <url> --evm-keys <dir>] [--session-timeout <ms>]
//
// With --rpc the gateway signs only with the keys it is given (never anvil's dev mnemonic on a
// node it did not start): <dir> holds relayer.key, customer.key, provider.key and arbiter.key.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compressorStates, loadSigner, MaaskitError, meterRecordDigest } from "@maaskit/metering";
import { compressorStateCodes } from "@maaskit/metering/simulator";
import { embeddedLedger, type LedgerBackend, parseAgreement } from "@maaskit/settlement";
import { loadGatewayConfig } from "compressor-pay-per-volume/src/gateway/config.js";
import { startGateway } from "compressor-pay-per-volume/src/gateway/gateway.js";
import type { Wallet } from "ethers";

function emit(e: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(e)}\n`);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      config: { type: "string" },
      until: { type: "string" },
      rpc: { type: "string" },
      "evm-keys": { type: "string" },
      "session-timeout": { type: "string" },
    },
  });
  const config = loadGatewayConfig(values.config!);
  const agreement = parseAgreement(JSON.parse(readFileSync(config.agreementFile, "utf8")));
  const signer = (await loadSigner({ keyFile: config.signerKeyFile })) as Wallet;
  let simNow = new Date(0);
  const clock = {
    now: () => simNow,
    observe: (t: Date) => {
      if (t > simNow) simNow = t;
    },
  };
  let ledger: LedgerBackend;
  let stopEvm: (() => Promise<void>) | undefined;
  if (values.rpc !== undefined) {
    const { startEvmLedger } = await import("compressor-pay-per-volume/src/gateway/evm.js");
    const keysDir = values["evm-keys"];
    if (keysDir === undefined) {
      throw new MaaskitError("faults.child.ledger", "--rpc needs --evm-keys <dir>");
    }
    const key = (name: string) => ({ keyFile: join(keysDir, `${name}.key`) });
    const evm = await startEvmLedger({
      rpcUrl: values.rpc,
      keys: {
        relayer: key("relayer"),
        customer: key("customer"),
        provider: key("provider"),
        arbiter: key("arbiter"),
      },
      clock,
    });
    ledger = evm.ledger;
    stopEvm = evm.stop;
    emit({
      event: "evm.ready",
      addresses: (ledger as unknown as { addresses: unknown }).addresses,
      rpcUrl: evm.rpcUrl,
    });
  } else if (config.ledger.type === "embedded") {
    ledger = embeddedLedger({ dir: config.ledger.dir, clock });
  } else {
    throw new MaaskitError("faults.child.ledger", "embedded, or evm with --rpc");
  }
  const states = Object.fromEntries(Object.entries(compressorStateCodes).map(([n, c]) => [c, n]));
  const gateway = await startGateway({
    config,
    agreement,
    signer,
    ledger,
    clock,
    states,
    stateMapping: compressorStates,
    ...(values.until ? { until: new Date(values.until) } : {}),
    // A gateway restarted after a crash leaves its old OPC UA session on the server until the
    // session times out; a short timeout keeps a crash loop from exhausting the server's sessions.
    ...(values["session-timeout"]
      ? { opcua: { clientOptions: { requestedSessionTimeout: Number(values["session-timeout"]) } } }
      : {}),
    log: (e) => emit(e),
    onReading: (r) => {
      if (r.channel === "volume" && r.quality === "good") {
        emit({ event: "volume", t: r.sourceTime.getTime(), v: String(r.value) });
      }
    },
    onRecord: (r) =>
      emit({ event: "record", seq: r.seq, hash: meterRecordDigest(r), flags: r.flags }),
    onAcknowledged: (seq) => emit({ event: "acked", seq }),
  });
  emit({ event: "child.ready", pid: process.pid });
  if (process.env.FAULTS_CHILD_DEBUG) {
    gateway.client.delivery?.events$.subscribe((e) =>
      emit({ event: `debug.delivery.${e.type}`, seq: (e as { seq?: number }).seq }),
    );
    setInterval(() => emit({ event: "debug.journal", ...gateway.journal.state() }), 500).unref();
  }
  const onSignal = () => void gateway.stop();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const summary = await gateway.done;
  await ledger.close();
  await stopEvm?.();
  emit({ event: "child.done", records: summary.records, billedVolume: summary.billedVolume });
  return summary.verification.invalid === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    emit({
      event: "child.failed",
      code: err instanceof MaaskitError ? err.code : undefined,
      error: String(err),
    });
    process.exitCode = 2;
  },
);
