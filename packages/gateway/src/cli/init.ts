// `maaskit-gateway init`: an agreement starting now, a key that is never overwritten, a config.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadSigner } from "@maaskit/metering";
import { type AgreementJson, parseAgreement } from "@maaskit/settlement";
import { id, Wallet } from "ethers";
import { GatewayError } from "../errors.js";
import { EXIT, type GatewayCliIo, logger } from "./common.js";

export async function init(args: string[], io: GatewayCliIo): Promise<number> {
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
