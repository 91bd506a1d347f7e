// The compressor gateway as the fault harness runs it: `@maaskit/gateway` as a script uses it
// (config file → agreement, signer, ledger → createGateway, the profile's OPC UA source), as a
// plain Node process the harness can SIGKILL, limit (prlimit) and restart. It also prints every
// good reading of the billed register it consumes (`{"event":"volume",…}`), so the harness can
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
import {
  createGateway,
  exportRecords,
  ledgerFromConfig,
  loadGatewayConfig,
  opcuaProfileSource,
  startEvmLedger,
} from "@maaskit/gateway";
import { loadSigner, MaaskitError, meterRecordDigest } from "@maaskit/metering";
import { type LedgerBackend, parseAgreement } from "@maaskit/settlement";
import { takeWhile, tap } from "rxjs";

function emit(e: Record<string, unknown>): void {
  // events carry Decimals (toJSON), Dates and, from ledgers, bigints
  process.stdout.write(
    `${JSON.stringify(e, (_k, v) => (typeof v === "bigint" ? v.toString() : v))}\n`,
  );
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
  const signer = await loadSigner({ keyFile: config.signerKeyFile });
  // Ledger time follows the machine's source time (the simulator runs accelerated).
  let simNow = new Date(0);
  const clock = { now: () => simNow };
  let ledger: LedgerBackend;
  let closeLedger: () => Promise<void>;
  if (values.rpc !== undefined) {
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
    closeLedger = async () => {
      await evm.ledger.close();
      await evm.stop();
    };
    emit({ event: "evm.ready", addresses: evm.addresses, rpcUrl: evm.rpcUrl });
  } else {
    const configured = await ledgerFromConfig(config, clock);
    ledger = configured.ledger;
    closeLedger = configured.close;
  }
  const { profile } = config;
  const gateway = await createGateway({
    agreement,
    ledger,
    signer,
    dataDir: config.dataDir,
    profile,
    // this process holds both parties' consent (the harness's single-operator plant)
    acceptAsCustomer: true,
    window: {
      size: { minutes: config.window.sizeMs / 60_000 },
      ...(config.window.timeZone ? { timeZone: config.window.timeZone } : {}),
      allowedLatenessMs: config.window.allowedLatenessMs,
    },
    baseline: config.baseline,
    unobservedTime: config.unobservedTime,
    delivery: { backoff: { initialMs: 50, maxMs: 2000 } },
    settleRetry: { initialMs: 200, maxMs: 5000 },
  });
  gateway.events$.subscribe((e) => {
    switch (e.type) {
      case "reading":
        if (e.reading.channel === profile.billed && e.reading.quality === "good")
          emit({ event: "volume", t: e.reading.sourceTime.getTime(), v: String(e.reading.value) });
        return;
      case "record":
        emit({
          event: "record",
          seq: e.record.seq,
          hash: meterRecordDigest(e.record),
          flags: e.record.flags,
        });
        return;
      case "record.acknowledged":
        emit({ event: "acked", seq: e.seq });
        return;
      case "delivery.retrying":
      case "delivery.failed":
        emit({ event: e.type, seq: e.seq, detail: e.error });
        return;
      default:
        emit({ ...e, event: e.type });
    }
  });
  emit({ event: "child.ready", pid: process.pid });
  if (process.env.FAULTS_CHILD_DEBUG) {
    setInterval(() => emit({ event: "debug.journal", ...gateway.journal.state() }), 500).unref();
  }
  const until = values.until ? Date.parse(values.until) : undefined;
  // A gateway restarted after a crash leaves its old OPC UA session on the server until the
  // session times out; a short timeout keeps a crash loop from exhausting the server's sessions.
  const sessionTimeoutMs = values["session-timeout"]
    ? Number(values["session-timeout"])
    : undefined;
  await new Promise<void>((done) => {
    const sub = opcuaProfileSource({
      endpointUrl: config.endpoint,
      machineId: config.machineId,
      profile,
      pkiDir: join(config.dataDir, "pki"),
      samplingIntervalMs: config.opcua.samplingIntervalMs,
      publishingIntervalMs: config.opcua.publishingIntervalMs,
      reconnect: config.opcua.reconnect,
      ...(sessionTimeoutMs ? { sessionTimeoutMs } : {}),
      log: emit,
    })
      .pipe(
        // `--until`: the first reading at or past it is the last one; completing the source
        // closes (flushes) the open windows and ends the run cleanly.
        takeWhile(
          (e) => e.kind !== "reading" || until === undefined || e.sourceTime.getTime() < until,
          true,
        ),
        tap((e) => {
          if (e.kind === "reading" && e.sourceTime > simNow) simNow = e.sourceTime;
        }),
        gateway.meter(),
      )
      .subscribe({
        error: (err) => {
          emit({
            event: "metering.error",
            error: String(err),
            code: (err as { code?: string }).code,
          });
          done();
        },
        complete: () => done(),
      });
    const onSignal = () => {
      sub.unsubscribe();
      done();
    };
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
  });
  emit({ event: "gateway.stopping" });
  await gateway.stop();
  await closeLedger();
  const exported = await exportRecords(config, await signer.getAddress());
  emit({ event: "child.done", records: exported.records, billedVolume: exported.billedVolume });
  return exported.verification.invalid === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    emit({
      event: "child.failed",
      code: err instanceof MaaskitError ? err.code : (err as { code?: string }).code,
      error: String(err),
    });
    process.exitCode = 2;
  },
);
