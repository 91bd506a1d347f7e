// `maaskit-gateway run`: the OPC UA source (connect retried with backoff), createGateway on the
// local embedded ledger, progress and JSON logs, and the run's summary.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isMaaskitError, loadSigner, type Reading } from "@maaskit/metering";
import { agreementToJson, parseAgreement } from "@maaskit/settlement";
import { Subject, takeWhile, tap } from "rxjs";
import { parseDuration } from "../config/gatewayConfig.js";
import { createGateway } from "../createGateway.js";
import { GatewayError } from "../errors.js";
import { gatewayLogLine } from "../gatewayLogLine.js";
import type { GatewayHealth } from "../gatewayTypes.js";
import { maintenanceAdvisories } from "../maintenanceAdvisories.js";
import {
  configArg,
  EXIT,
  exportRecords,
  type GatewayCliIo,
  healthJson,
  logger,
  toWindowSize,
  writeInvoices,
  writeJsonAtomic,
} from "./common.js";
import { ledgerFromConfig } from "./ledgerFromConfig.js";
import { opcuaSource } from "./opcuaSource.js";
import { sparkplugSource } from "./sparkplugSource.js";

export async function run(args: string[], io: GatewayCliIo): Promise<number> {
  const { config, values } = configArg(args);
  const log = logger(io);
  let agreement = parseAgreement(JSON.parse(readFileSync(config.agreementFile, "utf8")));
  const signer = await loadSigner({ keyFile: config.signerKeyFile });
  let stopAt: number | undefined;
  if (values.until !== undefined) {
    const span = parseDuration(String(values.until));
    stopAt =
      span !== undefined ? agreement.start.getTime() + span : Date.parse(String(values.until));
    if (Number.isNaN(stopAt))
      throw new GatewayError(
        "gateway.cli.usage",
        "--until must be an ISO time or a duration like 2d",
        {
          until: values.until,
        },
      );
  }
  // Ledger time follows the machine's time (a simulator may run accelerated).
  let machineNow = new Date();
  const configured = await ledgerFromConfig(config, { now: () => machineNow });
  const { ledger, local } = configured;
  await ledger.ready;
  if (configured.evm && agreement.currency.address === undefined) {
    // An agreement without a token on an EVM chain: settle in the ledger's test token between
    // the parties it acts for (a development chain), logged.
    const { parties, currency } = configured.evm;
    log({ event: "agreement.devChain", token: currency.address, ...parties });
    agreement = parseAgreement({
      ...agreementToJson(agreement),
      parties: { provider: parties.provider, customer: parties.customer },
      currency,
    });
  }
  const gateway = await createGateway({
    agreement,
    // The local embedded ledger holds both parties' consent; on a central ledger (PostgreSQL,
    // HTTP) the gateway offers the agreement and the customer accepts it there.
    acceptAsCustomer: local,
    ledger,
    signer,
    dataDir: config.dataDir,
    profile: config.profile,
    window: {
      size: toWindowSize(config.window.sizeMs),
      ...(config.window.timeZone ? { timeZone: config.window.timeZone } : {}),
      allowedLatenessMs: config.window.allowedLatenessMs,
    },
    baseline: config.baseline,
    unobservedTime: config.unobservedTime,
    insecureSource: (config.opcua.security as { mode?: string } | undefined)?.mode === "None",
  });
  let records = 0;
  let failure: string | undefined;
  gateway.events$.subscribe((e) => {
    if (e.type === "record") records++;
    const line = gatewayLogLine(e);
    if (line) log(line);
    if (e.type === "delivery.failed") failure = `delivery halted at seq ${e.seq}: ${e.error}`;
  });
  const statusFile = join(config.dataDir, "status.json");
  let lastStatus = 0;
  const writeStatus = (h: GatewayHealth, force = false) => {
    if (!force && Date.now() - lastStatus < 1000) return;
    lastStatus = Date.now();
    writeJsonAtomic(statusFile, {
      running: !h.stopping,
      updatedAt: new Date().toISOString(),
      ...healthJson(h),
    });
  };
  gateway.health$.subscribe((h) => writeStatus(h));

  const billed = config.profile.billed;
  let first: { at: Date; register: string } | undefined;
  let last: { at: Date; register: string } | undefined;
  let lastProgress = 0;
  // The profile's maintenance triggers watch the same readings (advisories are logged).
  const readings$ = new Subject<Reading>();
  const advisories: Record<string, number> = {};
  maintenanceAdvisories(config.profile, config.machineId, readings$).subscribe({
    next: (a) => {
      advisories[a.severity] = (advisories[a.severity] ?? 0) + 1;
      log({
        event: "maintenance.advisory",
        condition: a.conditionId,
        serviceType: a.serviceType,
        severity: a.severity,
        stage: a.stage,
        at: a.at.toISOString(),
        since: a.since.toISOString(),
        errorCode: a.errorCode,
        message: a.message,
      });
    },
    error: (err) =>
      log({ event: "maintenance.error", error: isMaaskitError(err) ? err.code : String(err) }),
  });
  const source$ = (
    config.source.type === "sparkplug" ? sparkplugSource(config, log) : opcuaSource(config, log)
  ).pipe(
    tap((e) => {
      if (e.kind !== "reading") return;
      if (stopAt === undefined || e.sourceTime.getTime() < stopAt) readings$.next(e);
      if (e.sourceTime > machineNow) machineNow = e.sourceTime;
      if (
        e.channel === billed &&
        e.quality !== "bad" &&
        stopAt !== undefined &&
        e.sourceTime.getTime() >= stopAt
      )
        return;
      if (e.channel === billed && e.quality !== "bad") {
        const r = { at: e.sourceTime, register: String(e.value) };
        first ??= r;
        last = r;
      }
      if (Date.now() - lastProgress > 2000) {
        lastProgress = Date.now();
        const h = gateway.health();
        log({
          event: "progress",
          machineTime: e.sourceTime.toISOString(),
          records: h.chainHead.seq + 1,
          ackedThrough: h.ackedThrough,
          ledger: h.ledger,
        });
      }
    }),
    // `--until`: the first reading at or past it ends the run (open windows close on completion).
    takeWhile(
      (e) => stopAt === undefined || e.kind !== "reading" || e.sourceTime.getTime() < stopAt,
    ),
  );
  const finished = new Promise<void>((ok) => {
    source$.pipe(gateway.meter()).subscribe({
      error: (err) => {
        failure = isMaaskitError(err) ? `${err.code}: ${err.shortMessage}` : String(err);
        log({ event: "metering.error", error: failure });
        ok();
      },
      complete: () => ok(),
    });
    const onSignal = (signal: string) => {
      log({ event: "signal", signal });
      ok();
    };
    if (io.onSignal) io.onSignal(onSignal);
    else {
      process.once("SIGINT", () => onSignal("SIGINT"));
      process.once("SIGTERM", () => onSignal("SIGTERM"));
    }
  });
  log({ event: "gateway.started", endpoint: config.endpoint, agreementId: agreement.agreementId });
  await finished;
  readings$.complete();
  const final = await gateway.stop();
  writeStatus(final, true);
  writeJsonAtomic(statusFile, {
    running: false,
    updatedAt: new Date().toISOString(),
    ...healthJson(final),
  });
  const invoices = await ledger.getInvoices(agreement.agreementId);
  await configured.close();
  const exported = await exportRecords(config, await signer.getAddress());
  writeInvoices(config, invoices);
  log({
    event: "run.summary",
    records,
    journaled: exported.records,
    billedVolume: exported.billedVolume,
    unit: agreement.tariff.metered.unit,
    firstReading: first ? { at: first.at.toISOString(), register: first.register } : null,
    lastReading: last ? { at: last.at.toISOString(), register: last.register } : null,
    invoices: invoices.map((i) => ({
      period: `${i.period.start.toISOString()}/${i.period.end.toISOString()}`,
      usage: i.usage.value.toFixed(),
      total: i.total.toFixed(),
    })),
    unacknowledged: final.unacknowledged,
    maintenanceAdvisories: advisories,
    verification: exported.verification,
    ...(failure ? { error: failure } : {}),
  });
  return failure === undefined && exported.verification.invalid === 0 ? EXIT.ok : EXIT.failed;
}
