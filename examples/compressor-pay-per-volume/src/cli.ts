import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parseServiceAgreement, type ServiceAgreementJson } from "@maaskit/maintenance";
import { compressorStates, loadSigner, MaaskitError } from "@maaskit/metering";
import { startCompressorServer } from "@maaskit/metering/simulator";
import {
  type AgreementJson,
  agreementToJson,
  embeddedLedger,
  type LedgerBackend,
  parseAgreement,
} from "@maaskit/settlement";
import { id, Wallet } from "ethers";
import { startDashboard } from "./dashboard/server.js";
import { createDashboardFeed } from "./dashboardFeed.js";
import { airServiceStates, demoTariff } from "./demo.js";
import { loadGatewayConfig, parseDuration } from "./gateway/config.js";
import { startGateway } from "./gateway/gateway.js";

const USAGE = `Usage:
  compressor-gateway init <dir> [--endpoint opc.tcp://…]   write a key, an agreement, a node mapping and gateway.json
  compressor-gateway simulate [--port 4840] [--accelerate 3600] [--start ISO] [--trust data/pki]
                                 run the compressor simulator (OPC UA); --trust puts its certificate
                                 into a gateway's trust list (its dataDir/pki)
  compressor-gateway run --config <gateway.json> [--endpoint opc.tcp://…] [--nodes <nodes.json>]
                         [--out <dir>] [--until <ISO time | duration like 30d>]
                         [--ledger embedded|evm|cactus] [--session-timeout <ms>]

run: meters the machine at --endpoint, signs and journals records, settles them on the ledger,
runs maintenance triggers and work orders, serves the dashboard on 127.0.0.1, and exports
records, history and invoices (JSON Lines / JSON) to --out. Stops at --until (source time)
or on SIGINT / SIGTERM, with the journal flushed.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "init") return init(rest);
  if (command === "simulate") return simulate(rest);
  if (command === "run") return run(rest);
  process.stdout.write(USAGE);
  return command === undefined || command === "--help" || command === "-h" ? 0 : 2;
}

/** Writes a ready-to-run configuration for one compressor (the simulator's node ids). */
async function init(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { endpoint: { type: "string" } },
  });
  const dir = resolve(positionals[0] ?? "gateway");
  mkdirSync(dir, { recursive: true });
  const key = new Wallet(Wallet.createRandom().privateKey);
  const others = [1, 2, 3].map(() => Wallet.createRandom().address);
  writeFileSync(join(dir, "gateway.key"), `${key.privateKey}\n`, { mode: 0o600 });
  const start = "2025-01-01T00:00:00.000Z";
  const agreement: AgreementJson = {
    agreementId: id(`agreement/${key.address}`),
    name: "Compressed air per m³",
    parties: { provider: others[0]!, customer: others[1]! },
    machineId: "compressor-1",
    signers: [{ address: key.address, validFrom: start }],
    tariff: demoTariff,
    currency: { symbol: "EUR", decimals: 2 },
    billingPeriod: { kind: "calendarMonth", timeZone: "Europe/Berlin" },
    paymentTerms: { kind: "prepaid", overdraft: "accrueDebt" },
    start,
    status: "active",
  };
  const service: ServiceAgreementJson = {
    id: "service-1",
    machineId: "compressor-1",
    customer: others[1]!,
    provider: others[0]!,
    arbiter: others[2]!,
    machineSigner: key.address,
    currency: { symbol: "EUR", decimals: 2 },
    prices: { airFilterChange: "180.00", oilAndSeparatorService: "640.00" },
    responseHours: 24,
    completionHours: 72,
    warranty: [{ serviceType: "oilAndSeparatorService", every: { runHours: "4000", months: 12 } }],
  };
  const s = "ns=1;s=Compressor";
  const nodes = {
    volume: {
      nodeId: `${s}.Operational.AccumulatedVolume`,
      kind: "register",
      unit: "MTQ",
      basis: "ISO1217-FAD",
      rollover: "100000000",
    },
    flow: { nodeId: `${s}.Operational.FlowRate`, kind: "rate", unit: "G53" },
    state: { nodeId: `${s}.Operational.OperatingState`, kind: "state" },
    runHours: { nodeId: `${s}.Maintenance.OperatingHours`, kind: "value", unit: "HUR" },
    filterDp: {
      nodeId: `${s}.Maintenance.AirFilterDifferentialPressure`,
      kind: "value",
      unit: "BAR",
    },
  };
  const write = (name: string, v: unknown) =>
    writeFileSync(join(dir, name), `${JSON.stringify(v, null, 2)}\n`);
  write("agreement.json", agreement);
  write("service-agreement.json", service);
  write("nodes.json", nodes);
  write("gateway.json", {
    machineId: "compressor-1",
    endpoint: values.endpoint ?? "opc.tcp://127.0.0.1:4840",
    nodes,
    window: { size: "15m", timeZone: "Europe/Berlin", allowedLatenessMs: 5000 },
    agreement: "agreement.json",
    serviceAgreement: "service-agreement.json",
    signerKeyFile: "gateway.key",
    ledger: { type: "embedded", dir: "data/ledger" },
    dataDir: "data",
    outDir: "out",
    dashboard: { enabled: true, port: 0 },
  });
  process.stdout.write(
    `wrote ${dir}/{gateway.json,nodes.json,agreement.json,service-agreement.json,gateway.key}\nsigner ${key.address}\n`,
  );
  return 0;
}

async function simulate(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: "string", default: "4840" },
      accelerate: { type: "string", default: "3600" },
      start: { type: "string", default: "2025-01-01T00:00:00.000Z" },
      // a gateway's PKI folder (its dataDir/pki) that gets this machine's certificate
      trust: { type: "string", multiple: true },
    },
  });
  const server = await startCompressorServer({
    host: "127.0.0.1",
    port: Number(values.port),
    accelerate: Number(values.accelerate),
    startTime: new Date(values.start!),
    tickMs: 20,
    trustedBy: (values.trust ?? []).map((d) => resolve(d)),
  });
  process.stdout.write(
    `${JSON.stringify({ event: "simulator.started", endpointUrl: server.endpointUrl, nodeIds: server.nodeIds, certificateThumbprint: server.thumbprint, trustedBy: values.trust ?? [] })}\n`,
  );
  await new Promise<void>((ok) => {
    process.once("SIGINT", ok);
    process.once("SIGTERM", ok);
  });
  await server.stop();
  return 0;
}

async function run(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: "string" },
      endpoint: { type: "string" },
      nodes: { type: "string" },
      out: { type: "string" },
      until: { type: "string" },
      ledger: { type: "string" },
      "session-timeout": { type: "string" },
    },
  });
  if (!values.config) {
    process.stderr.write(`--config is required\n\n${USAGE}`);
    return 2;
  }
  const configFile = resolve(values.config);
  const raw = JSON.parse(readFileSync(configFile, "utf8")) as Record<string, unknown>;
  if (values.endpoint) raw.endpoint = values.endpoint;
  if (values.nodes) raw.nodes = JSON.parse(readFileSync(resolve(values.nodes), "utf8"));
  if (values.out) raw.outDir = resolve(values.out);
  if (values.ledger) raw.ledger = { ...(raw.ledger as object), type: values.ledger };
  const tmp = join(dirname(configFile), ".gateway.effective.json");
  writeFileSync(tmp, JSON.stringify(raw));
  const config = loadGatewayConfig(tmp);
  const base = dirname(configFile);
  let agreement = parseAgreement(JSON.parse(readFileSync(config.agreementFile, "utf8")));
  const signer = await loadSigner({ keyFile: config.signerKeyFile });
  const serviceFile =
    typeof raw.serviceAgreement === "string" ? resolve(base, raw.serviceAgreement) : undefined;
  let service =
    serviceFile && existsSync(serviceFile)
      ? parseServiceAgreement(JSON.parse(readFileSync(serviceFile, "utf8")))
      : undefined;

  let until: Date | undefined;
  let untilSpan: number | undefined;
  if (values.until) {
    untilSpan = parseDuration(values.until);
    if (untilSpan === undefined) {
      until = new Date(values.until);
      if (Number.isNaN(until.getTime()))
        throw new MaaskitError(
          "example.cli.badUntil",
          `--until: not a time or duration: ${values.until}`,
        );
    }
  }

  const log0 = (e: { event: string; [k: string]: unknown }) =>
    process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), ...e })}\n`);
  let simNow = new Date(0);
  const clock = {
    now: () => simNow,
    observe: (t: Date) => {
      if (t > simNow) simNow = t;
    },
  };
  let ledger: LedgerBackend;
  let stopLedger: (() => Promise<void>) | undefined;
  if (config.ledger.type === "evm") {
    const { startEvmLedger } = await import("./gateway/evm.js");
    const evm = await startEvmLedger({
      ...(config.ledger.rpcUrl
        ? { rpcUrl: config.ledger.rpcUrl, stateFile: join(config.dataDir, "evm-contracts.json") }
        : {}),
      clock,
      agreementCurrency: agreement.currency,
    });
    ledger = evm.ledger;
    stopLedger = evm.stop;
    if (agreement.currency.address === undefined) {
      // An agreement written for the embedded ledger (`init`) names no token and no on-chain
      // parties: on a development chain, settle in the test token between anvil's accounts.
      log0({ event: "agreement.devChain", token: evm.currency.address, ...evm.parties });
      agreement = parseAgreement({
        ...agreementToJson(agreement),
        parties: { provider: evm.parties.provider, customer: evm.parties.customer },
        currency: evm.currency,
      });
      if (service) {
        service = { ...service, ...evm.parties, currency: evm.currency };
      }
    }
  } else if (config.ledger.type === "embedded") {
    ledger = embeddedLedger({ dir: config.ledger.dir, clock });
  } else {
    const { startCactusLedger } = await import("./gateway/cactus.js");
    const cactus = startCactusLedger({ dir: join(config.dataDir, "cactus-ledger"), clock });
    ledger = cactus.ledger;
    stopLedger = cactus.stop;
  }

  const dashboard = config.dashboard.enabled
    ? await startDashboard(config.dashboard.port)
    : undefined;
  const feed = dashboard
    ? createDashboardFeed(dashboard, config.machineId, ledger.kind)
    : undefined;
  feed?.agreement(agreement);
  if (dashboard)
    process.stdout.write(`${JSON.stringify({ event: "dashboard.started", url: dashboard.url })}\n`);
  const log = (e: { event: string; [k: string]: unknown }) => {
    process.stdout.write(`${JSON.stringify({ t: new Date().toISOString(), ...e })}\n`);
    feed?.log(e);
  };
  let records = 0;
  let lastProgress = 0;
  const gateway = await startGateway({
    config,
    agreement,
    signer: signer as Wallet,
    ledger,
    clock,
    stateMapping: raw.stateMapping === "compressor" ? compressorStates : airServiceStates,
    ...(until ? { until } : {}),
    ...(untilSpan !== undefined ? { untilSpanMs: untilSpan } : {}),
    log,
    // A short OPC UA session timeout frees the server's sessions quickly after a crash loop.
    ...(values["session-timeout"]
      ? { opcua: { clientOptions: { requestedSessionTimeout: Number(values["session-timeout"]) } } }
      : {}),
    onReading: (r) => {
      feed?.reading(r);
      if (Date.now() - lastProgress > 2000) {
        lastProgress = Date.now();
        process.stdout.write(
          `${JSON.stringify({ event: "progress", sourceTime: r.sourceTime.toISOString(), records })}\n`,
        );
      }
    },
    onRecord: (r, w) => {
      records += 1;
      feed?.record(r, w);
    },
    onAcknowledged: (seq) => feed?.acknowledged(seq),
    onInvoice: (i) => feed?.invoice(i, true),
    ...(service
      ? {
          maintenance: {
            agreement: service,
            plan: {
              filter: {
                channel: "filterDp",
                above: "0.05",
                clearAt: "0.03",
                minDurationMs: 30 * 60_000,
              },
              service: { channel: "runHours", runHours: "4000", months: 12 },
            },
            machineId: config.machineId,
            signer: signer as Wallet,
            dataDir: config.dataDir,
            technician: async (wo) => {
              log({
                event: "technician.dispatched",
                workOrder: wo.id,
                serviceType: wo.request.serviceType,
              });
              return {
                report: `${wo.request.serviceType} requested; confirm on site`,
                technician: "field service",
              };
            },
          },
        }
      : {}),
  });
  const onSignal = (signal: string) => {
    log({ event: "signal", signal });
    void gateway.stop();
  };
  process.once("SIGINT", () => onSignal("SIGINT"));
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  const summary = await gateway.done;
  await ledger.close();
  await stopLedger?.();
  await dashboard?.close();
  // Non-zero when the run ended on an error (e.g. a full disk: metering.journal.writeFailed),
  // so a supervisor restarts it, or when an exported record does not verify.
  return summary.error === undefined && summary.verification.invalid === 0 ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(
      `${err instanceof MaaskitError ? `${err.code}: ${err.shortMessage}` : String(err)}\n`,
    );
    if (
      err instanceof MaaskitError &&
      Array.isArray((err.details as { problems?: unknown }).problems)
    ) {
      for (const p of (err.details as { problems: { path: string; message: string }[] }).problems) {
        process.stderr.write(`  ${p.path || "(root)"}: ${p.message}\n`);
      }
    }
    process.exitCode = 2;
  },
);
