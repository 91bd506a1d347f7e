import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compressorStateNames } from "@maaskit/gateway";
import { compressorStates } from "@maaskit/metering";
import { type CompressorServer, startCompressorServer } from "@maaskit/metering/simulator";
import { type Agreement, type AgreementJson, parseAgreement } from "@maaskit/settlement";
import { demoTariff } from "compressor-pay-per-volume/src/demo.js";
import { id, Wallet } from "ethers";

/** A simulated compressor and a gateway configuration for it, on disk. */
export interface Plant {
  readonly server: CompressorServer;
  readonly dir: string;
  readonly configFile: string;
  readonly dataDir: string;
  readonly journalDir: string;
  readonly ledgerDir: string;
  readonly outDir: string;
  readonly agreement: Agreement;
  readonly signer: Wallet;
}

export interface StartPlantOptions {
  /** Work directory (a temp dir owned by the test). */
  readonly dir: string;
  /** Simulated start of the compressor (before the agreement, so a baseline exists). */
  readonly simStart: Date;
  /** Start of the agreement: the first billed window. */
  readonly agreementStart: Date;
  /** Simulated seconds per real second. */
  readonly accelerate: number;
  readonly windowSize?: string;
  readonly allowedLatenessMs?: number;
  /** Endpoint override (e.g. a TCP proxy in front of the server), given the server's port. */
  readonly endpoint?: (server: CompressorServer) => string;
  readonly evmParties?: { customer: string; provider: string };
  readonly currency?: AgreementJson["currency"];
}

/**
 * Starts the compressor simulator (real node-opcua server on 127.0.0.1, free port) and
 * writes what `maaskit-gateway init` writes: a signer key, an agreement (billed per day, the
 * demo tariff) and a `@maaskit/gateway` `gateway.json` for the simulator (the compressor
 * profile), with a persistent data directory (journal, embedded ledger) and an output directory.
 */
export async function startPlant(o: StartPlantOptions): Promise<Plant> {
  const server = await startCompressorServer({
    host: "127.0.0.1",
    port: 0,
    startTime: o.simStart,
    accelerate: o.accelerate,
    tickMs: 20,
    seed: 7,
    pkiDir: join(o.dir, "server-pki"),
    // the gateway (dataDir "data", PKI in data/pki) trusts this machine's certificate
    trustedBy: [join(o.dir, "data", "pki")],
  });
  const signer = new Wallet(Wallet.createRandom().privateKey);
  mkdirSync(o.dir, { recursive: true });
  writeFileSync(join(o.dir, "gateway.key"), `${signer.privateKey}\n`, { mode: 0o600 });
  const agreementJson: AgreementJson = {
    agreementId: id(`faults/${signer.address}`),
    name: "Compressed air per m³ (fault harness)",
    parties: o.evmParties ?? {
      provider: Wallet.createRandom().address,
      customer: Wallet.createRandom().address,
    },
    machineId: "compressor-1",
    signers: [{ address: signer.address, validFrom: o.agreementStart.toISOString() }],
    tariff: demoTariff,
    currency: o.currency ?? { symbol: "EUR", decimals: 2 },
    billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
    paymentTerms: { kind: "prepaid", overdraft: "accrueDebt" },
    start: o.agreementStart.toISOString(),
    status: "active",
  };
  writeFileSync(join(o.dir, "agreement.json"), JSON.stringify(agreementJson, null, 2));
  const dataDir = join(o.dir, "data");
  const outDir = join(o.dir, "out");
  // the @maaskit/gateway config: the simulator's volume register (its modulus), flow and OPC
  // 40250 operating state, rated as a producing machine against its 7.5 m³/min nameplate
  const config = {
    machineId: "compressor-1",
    endpoint: o.endpoint ? o.endpoint(server) : server.endpointUrl,
    profile: {
      name: "compressor simulator (fault harness)",
      billed: "volume",
      state: "state",
      channels: {
        volume: {
          kind: "register",
          nodeId: server.nodeIds.volume,
          unit: "MTQ",
          rollover: server.model.registerModulus.toFixed(),
        },
        flow: { kind: "rate", nodeId: server.nodeIds.flow, unit: "G53" },
        state: { kind: "state", nodeId: server.nodeIds.state },
      },
      stateNames: compressorStateNames,
      stateMapping: compressorStates,
      idealRate: { value: "7.5", per: "min" },
    },
    window: {
      size: o.windowSize ?? "15m",
      timeZone: "UTC",
      allowedLatenessMs: o.allowedLatenessMs ?? 20 * 60_000,
    },
    agreement: "agreement.json",
    signerKeyFile: "gateway.key",
    ledger: { type: "embedded", dir: "data/ledger" },
    dataDir: "data",
    outDir: "out",
  };
  const configFile = join(o.dir, "gateway.json");
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  return {
    server,
    dir: o.dir,
    configFile,
    dataDir,
    journalDir: join(dataDir, "journal"),
    ledgerDir: join(dataDir, "ledger"),
    outDir,
    agreement: parseAgreement(agreementJson),
    signer,
  };
}
