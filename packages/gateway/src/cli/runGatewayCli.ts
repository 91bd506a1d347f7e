import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  isMaaskitError,
  loadSigner,
  type MeterEvent,
  type MeterRecord,
  meterRecordCodec,
  meterRecordToJson,
  openJournal,
  type UnitCode,
  verifyExport,
  type WindowSize,
} from "@maaskit/metering";
import type { OpcUaSecurityOptions } from "@maaskit/metering/opcua";
import {
  type AgreementJson,
  embeddedLedger,
  type Invoice,
  invoiceToJson,
  parseAgreement,
} from "@maaskit/settlement";
import { Decimal } from "decimal.js";
import { id, Wallet } from "ethers";
import {
  defer,
  from,
  type Observable,
  retry,
  switchMap,
  takeWhile,
  tap,
  throwError,
  timer,
} from "rxjs";
import { type GatewayConfig, loadGatewayConfig, parseDuration } from "../config/gatewayConfig.js";
import { createGateway } from "../createGateway.js";
import { GatewayError } from "../errors.js";
import type { GatewayEvent, GatewayHealth } from "../gatewayTypes.js";

/** Where the CLI writes (tests capture it). */
export interface GatewayCliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Registers a handler for SIGINT/SIGTERM (default: process signals). */
  onSignal?(handler: (signal: string) => void): void;
}

/**
 * Exit codes of `maaskit-gateway`.
 * - 0: done (run reached `--until` or was stopped by a signal with everything drained; verify found every record valid)
 * - 1: the run ended on an error (journal write failure, delivery halted), or verify found an invalid record
 * - 2: usage error, or an invalid or unreadable config, agreement or key
 * - 3: `init` refused to overwrite an existing key (use `--rotate-key`)
 */
export const EXIT = { ok: 0, failed: 1, usage: 2, refused: 3 } as const;

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

function logger(io: GatewayCliIo) {
  return (e: { event: string; [k: string]: unknown }) =>
    io.stdout(`${JSON.stringify({ t: new Date().toISOString(), ...e })}\n`);
}

// ─── init ─────────────────────────────────────────────────────────────────────────────

async function init(args: string[], io: GatewayCliIo): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      endpoint: { type: "string", default: "opc.tcp://127.0.0.1:4840/UA/Compressor" },
      "machine-id": { type: "string", default: "compressor-1" },
      billing: { type: "string", default: "day" },
      "time-zone": { type: "string", default: "UTC" },
      "rotate-key": { type: "boolean", default: false },
    },
  });
  if (values.billing !== "day" && values.billing !== "month") {
    throw new GatewayError("gateway.cli.usage", "--billing must be day or month", {
      billing: values.billing,
    });
  }
  const dir = resolve(positionals[0] ?? ".");
  mkdirSync(dir, { recursive: true });
  const log = logger(io);
  const keyFile = join(dir, "gateway.key");
  let rotatedFrom: string | undefined;
  if (existsSync(keyFile)) {
    if (!values["rotate-key"]) {
      throw new GatewayError(
        "gateway.init.keyExists",
        `${keyFile} exists; init never overwrites a signing key (pass --rotate-key to replace it, keeping the old one)`,
        { keyFile },
      );
    }
    const old = await loadSigner({ keyFile });
    rotatedFrom = await old.getAddress();
    const kept = `${keyFile}.rotated-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    renameSync(keyFile, kept);
    log({ event: "init.keyRotated", previousSigner: rotatedFrom, keptAs: kept });
  }
  const key = new Wallet(Wallet.createRandom().privateKey);
  // `wx`: fail rather than replace a key that appeared meanwhile.
  writeFileSync(keyFile, `${key.privateKey}\n`, { mode: 0o600, flag: "wx" });
  const now = new Date();
  // The agreement starts now, at the start of the current window (15 min), so windows and
  // billing periods line up with it.
  const start = new Date(Math.floor(now.getTime() / 900_000) * 900_000);
  const agreementFile = join(dir, "agreement.json");
  if (existsSync(agreementFile)) {
    if (rotatedFrom) {
      // The new key signs from now on; the old one until now.
      const a = JSON.parse(readFileSync(agreementFile, "utf8")) as AgreementJson;
      a.signers = a.signers.map((s) =>
        s.address.toLowerCase() === rotatedFrom!.toLowerCase() && s.validUntil === undefined
          ? { ...s, validUntil: now.toISOString() }
          : s,
      );
      a.signers.push({ address: key.address, validFrom: now.toISOString() });
      parseAgreement(a);
      writeFileSync(agreementFile, `${JSON.stringify(a, null, 2)}\n`);
      log({ event: "init.agreementSignerAdded", signer: key.address, file: agreementFile });
    } else {
      log({ event: "init.kept", file: agreementFile });
    }
  } else {
    const tz = values["time-zone"]!;
    const agreement: AgreementJson = {
      agreementId: id(`maaskit-gateway/${key.address}/${start.toISOString()}`),
      name: "Compressed air per m³",
      parties: { provider: Wallet.createRandom().address, customer: Wallet.createRandom().address },
      machineId: values["machine-id"]!,
      signers: [{ address: key.address, validFrom: start.toISOString() }],
      tariff: {
        version: 1,
        metered: { unit: "MTQ", basis: "ISO1217-FAD" },
        pricing: { model: "perUnit", unitPrice: "0.021" },
        includedVolume: "0",
        baseFee: "0",
        minimumCommitment: "0",
        rounding: { mode: "halfEven", decimals: 2 },
      },
      currency: { symbol: "EUR", decimals: 2 },
      billingPeriod:
        values.billing === "month"
          ? { kind: "calendarMonth", timeZone: tz }
          : { kind: "days", days: 1, timeZone: tz },
      paymentTerms: { kind: "invoiced", netDays: 14 },
      start: start.toISOString(),
      status: "active",
    };
    parseAgreement(agreement);
    writeFileSync(agreementFile, `${JSON.stringify(agreement, null, 2)}\n`);
  }
  const configFile = join(dir, "gateway.json");
  if (existsSync(configFile)) log({ event: "init.kept", file: configFile });
  else {
    writeFileSync(
      configFile,
      `${JSON.stringify(
        {
          $schema: "./node_modules/@maaskit/gateway/gateway.schema.json",
          machineId: values["machine-id"],
          endpoint: values.endpoint,
          profile: { base: "compressor" },
          agreement: "agreement.json",
          signerKeyFile: "gateway.key",
          dataDir: "data",
          outDir: "out",
        },
        null,
        2,
      )}\n`,
    );
  }
  log({
    event: "init.done",
    dir,
    signer: key.address,
    agreementStart: start.toISOString(),
    files: ["gateway.json", "agreement.json", "gateway.key"],
  });
  return EXIT.ok;
}

// ─── simulate ─────────────────────────────────────────────────────────────────────────

async function simulate(args: string[], io: GatewayCliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "4840" },
      accelerate: { type: "string", default: "60" },
      start: { type: "string", default: "now" },
      seed: { type: "string", default: "42" },
      "restart-downtime": { type: "string", default: "2s" },
      trust: { type: "string", multiple: true },
    },
  });
  const { startCompressorServer } = await import("@maaskit/metering/simulator");
  const startTime = values.start === "now" ? new Date() : new Date(values.start!);
  if (Number.isNaN(startTime.getTime()))
    throw new GatewayError("gateway.cli.usage", "--start must be now or an ISO time", {
      start: values.start,
    });
  const log = logger(io);
  const server = await startCompressorServer({
    host: "127.0.0.1",
    port: Number(values.port),
    accelerate: Number(values.accelerate),
    startTime,
    seed: Number(values.seed),
    tickMs: 20,
    // Provisioning: put the simulator's certificate into these gateways' trust lists.
    trustedBy: (values.trust ?? []).map((d) => resolve(d)),
  });
  log({
    event: "simulator.started",
    endpointUrl: server.endpointUrl,
    startTime: startTime.toISOString(),
    accelerate: Number(values.accelerate),
    seed: Number(values.seed),
    nodeIds: server.nodeIds,
  });
  const downtimeMs = parseDuration(values["restart-downtime"]!) ?? 2000;
  await new Promise<void>((ok) => {
    const onHup = () => {
      log({ event: "simulator.restarting", downtimeMs });
      void server.restart({ downtimeMs }).then(() => log({ event: "simulator.restarted" }));
    };
    process.on("SIGHUP", onHup);
    const end = () => {
      process.off("SIGHUP", onHup);
      ok();
    };
    if (io.onSignal) io.onSignal(end);
    else {
      process.once("SIGINT", end);
      process.once("SIGTERM", end);
    }
  });
  await server.stop();
  log({ event: "simulator.stopped" });
  return EXIT.ok;
}

// ─── run ──────────────────────────────────────────────────────────────────────────────

function configArg(args: string[]) {
  const { values } = parseArgs({
    args,
    options: { config: { type: "string", default: "gateway.json" }, until: { type: "string" } },
  });
  return { config: loadGatewayConfig(resolve(values.config)), values };
}

function toWindowSize(ms: number): WindowSize {
  if (ms % 3_600_000 === 0) return { hours: ms / 3_600_000 };
  if (ms % 60_000 === 0) return { minutes: ms / 60_000 };
  return { seconds: Math.max(1, Math.round(ms / 1000)) };
}

async function run(args: string[], io: GatewayCliIo): Promise<number> {
  const { config, values } = configArg(args);
  const log = logger(io);
  const agreement = parseAgreement(JSON.parse(readFileSync(config.agreementFile, "utf8")));
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
  const ledger = embeddedLedger({ dir: config.ledger.dir, clock: { now: () => machineNow } });
  const gateway = await createGateway({
    agreement,
    // The CLI's ledger is the local embedded one, holding both parties' consent.
    acceptAsCustomer: true,
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
    const line = logLine(e);
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
  const source$ = opcuaSource(config, log).pipe(
    tap((e) => {
      if (e.kind !== "reading") return;
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
  const final = await gateway.stop();
  writeStatus(final, true);
  writeJsonAtomic(statusFile, {
    running: false,
    updatedAt: new Date().toISOString(),
    ...healthJson(final),
  });
  const invoices = await ledger.getInvoices(agreement.agreementId);
  await ledger.close();
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
    verification: exported.verification,
    ...(failure ? { error: failure } : {}),
  });
  return failure === undefined && exported.verification.invalid === 0 ? EXIT.ok : EXIT.failed;
}

/**
 * The machine's readings over OPC UA; a failed connect (server not up yet, `BadTooManySessions`)
 * is retried with backoff forever, and so is a connection that cannot be re-established —
 * the register is re-read on every connect, so counting bridges the gap.
 */
function opcuaSource(
  config: GatewayConfig,
  log: ReturnType<typeof logger>,
): Observable<MeterEvent> {
  const { profile } = config;
  const states = profile.stateNames
    ? Object.fromEntries(Object.entries(profile.stateNames).map(([k, v]) => [Number(k), v]))
    : undefined;
  const nodes = Object.entries(profile.channels).map(([channel, c]) => ({
    nodeId: c.nodeId,
    channel,
    kind: c.kind,
    ...(c.unit ? { unit: c.unit as UnitCode } : {}),
    ...(c.kind === "state" && states ? { states } : {}),
  }));
  const { initialDelayMs, maxDelayMs } = config.opcua.reconnect;
  return defer(() => from(import("@maaskit/metering/opcua"))).pipe(
    switchMap(({ fromOpcUa }) =>
      fromOpcUa({
        endpointUrl: config.endpoint,
        machineId: config.machineId,
        nodes,
        samplingInterval: config.opcua.samplingIntervalMs,
        publishingInterval: config.opcua.publishingIntervalMs,
        queueSize: 1000,
        pkiDir: join(config.dataDir, "pki"),
        connect: { maxRetry: 1, initialDelay: 250, maxDelay: 1000 },
        ...(config.opcua.sessionTimeoutMs
          ? { clientOptions: { requestedSessionTimeout: config.opcua.sessionTimeoutMs } }
          : {}),
        // fromOpcUa is secure by default (strongest mode, server certificate from the trust
        // list in pkiDir); the config's `opcua.security` is passed through as it is.
        ...(config.opcua.security
          ? { security: config.opcua.security as OpcUaSecurityOptions }
          : {}),
        logger: {
          warn: (message, details) => log({ event: "opcua.warning", message, ...details }),
          info: (message, details) => log({ event: "opcua.security", message, ...details }),
        },
      }),
    ),
    retry({
      delay: (err, attempt) => {
        // By code, not instanceof: the opcua entry of a built @maaskit/metering bundles its
        // own copy of the error class.
        const code = (err as { code?: unknown } | undefined)?.code;
        if (code !== "metering.opcua.connectionFailed" && code !== "metering.opcua.connectionLost")
          return throwError(() => err);
        const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** Math.min(attempt - 1, 20));
        log({
          event: "opcua.retrying",
          attempt,
          delayMs,
          reason: code,
          message: String((err as { details?: { message?: string } }).details?.message ?? ""),
        });
        return timer(delayMs);
      },
      resetOnSuccess: true,
    }),
  );
}

function logLine(e: GatewayEvent): { event: string; [k: string]: unknown } | undefined {
  switch (e.type) {
    case "record":
      return undefined; // progress lines summarise records
    case "period.settled":
    case "period.alreadySettled":
      return {
        event: e.type,
        period: `${e.invoice.period.start.toISOString()}/${e.invoice.period.end.toISOString()}`,
        usage: e.invoice.usage.value.toFixed(),
        total: e.invoice.total.toFixed(),
        currency: e.invoice.currency.symbol,
      };
    case "period.due":
      return {
        event: e.type,
        period: `${e.period.start.toISOString()}/${e.period.end.toISOString()}`,
      };
    case "period.retrying":
      return { event: e.type, attempt: e.attempt, delayMs: e.delayMs, error: String(e.error) };
    case "reading.quarantined":
      return {
        event: e.type,
        reason: e.event.reason,
        channel: e.event.channel,
        message: e.event.message,
      };
    case "baseline.set":
      return { event: e.type, register: e.register, at: e.at.toISOString(), source: e.source };
    case "baseline.late":
      return {
        event: e.type,
        firstReadingAt: e.firstReadingAt.toISOString(),
        agreementStart: e.agreementStart.toISOString(),
        note: "usage between the agreement start and the first reading is unknown and not billed",
      };
    case "record.unobserved":
      return { event: e.type, start: e.start.toISOString(), end: e.end.toISOString() };
    case "window.alreadyRecorded":
      return { event: e.type, start: e.start.toISOString() };
    default:
      return { event: e.type, ...(e as object) };
  }
}

function healthJson(h: GatewayHealth) {
  return {
    chainHead: h.chainHead,
    unacknowledged: h.unacknowledged,
    ackedThrough: h.ackedThrough,
    ledger: h.ledger,
    lastSettledPeriod: h.lastSettledPeriod
      ? {
          start: h.lastSettledPeriod.start.toISOString(),
          end: h.lastSettledPeriod.end.toISOString(),
        }
      : null,
    duePeriods: h.duePeriods,
  };
}

function writeJsonAtomic(file: string, v: unknown) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(v, null, 2)}\n`);
  renameSync(tmp, file);
}

async function exportRecords(config: GatewayConfig, signer: string) {
  const journal = await openJournal({
    dir: join(config.dataDir, "journal"),
    codec: meterRecordCodec,
  });
  const lines: string[] = [];
  let billed = new Decimal(0);
  const all: MeterRecord[] = [];
  try {
    for await (const r of journal.read(0)) {
      all.push(r);
      lines.push(JSON.stringify(meterRecordToJson(r)));
      billed = billed.plus(r.quantity.value);
    }
  } finally {
    await journal.close();
  }
  mkdirSync(config.outDir, { recursive: true });
  const file = join(config.outDir, "records.jsonl");
  writeFileSync(file, lines.length ? `${lines.join("\n")}\n` : "");
  const verdicts = verifyExport(lines.join("\n"), { signers: [signer] });
  const valid = verdicts.filter((v) => v.valid).length;
  return {
    file,
    records: all.length,
    billedVolume: billed.toFixed(),
    verification: { lines: verdicts.length, valid, invalid: verdicts.length - valid },
  };
}

function writeInvoices(config: GatewayConfig, invoices: readonly Invoice[]) {
  const dir = join(config.outDir, "invoices");
  mkdirSync(dir, { recursive: true });
  for (const i of invoices)
    writeFileSync(
      join(dir, `${i.period.start.toISOString().replace(/[:.]/g, "-")}.json`),
      `${JSON.stringify(invoiceToJson(i), null, 2)}\n`,
    );
}

// ─── status, verify ───────────────────────────────────────────────────────────────────

async function status(args: string[], io: GatewayCliIo): Promise<number> {
  const { config } = configArg(args);
  const agreement = parseAgreement(JSON.parse(readFileSync(config.agreementFile, "utf8")));
  let journal: Awaited<ReturnType<typeof openJournal<MeterRecord>>> | undefined;
  try {
    journal = await openJournal({ dir: join(config.dataDir, "journal"), codec: meterRecordCodec });
  } catch (err) {
    // Locked: a gateway is running; report what it last wrote.
    const file = join(config.dataDir, "status.json");
    if (existsSync(file)) {
      io.stdout(
        `${JSON.stringify({ running: true, ...JSON.parse(readFileSync(file, "utf8")) }, null, 2)}\n`,
      );
      return EXIT.ok;
    }
    throw err;
  }
  const s = journal.state();
  const last = journal.last();
  await journal.close();
  let ledgerHealth: unknown;
  let lastSettled: unknown = null;
  try {
    const ledger = embeddedLedger({ dir: config.ledger.dir });
    const invoices = await ledger.getInvoices(agreement.agreementId).catch((e) => {
      if (isMaaskitError(e, "settlement.agreement.unknown")) return [];
      throw e;
    });
    const l = invoices.at(-1);
    lastSettled = l
      ? {
          start: l.period.start.toISOString(),
          end: l.period.end.toISOString(),
          total: l.total.toFixed(),
        }
      : null;
    await ledger.close();
    ledgerHealth = "ok";
  } catch (err) {
    ledgerHealth = { error: isMaaskitError(err) ? err.code : String(err) };
  }
  io.stdout(
    `${JSON.stringify(
      {
        running: false,
        agreementId: agreement.agreementId,
        chainHead: {
          seq: s.nextSeq - 1,
          hash: s.head,
          periodEnd: last?.periodEnd.toISOString() ?? null,
        },
        unacknowledged: s.unacked,
        ackedThrough: s.ackedThrough,
        lastSettledPeriod: lastSettled,
        ledger: ledgerHealth,
      },
      null,
      2,
    )}\n`,
  );
  return EXIT.ok;
}

async function verify(args: string[], io: GatewayCliIo): Promise<number> {
  const { config } = configArg(args);
  const signer = await loadSigner({ keyFile: config.signerKeyFile });
  const out = await exportRecords(config, await signer.getAddress());
  io.stdout(
    `${JSON.stringify({ event: "verify.done", file: out.file, records: out.records, billedVolume: out.billedVolume, ...out.verification })}\n`,
  );
  return out.verification.invalid === 0 ? EXIT.ok : EXIT.failed;
}
