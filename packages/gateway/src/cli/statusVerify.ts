// `maaskit-gateway status` (chain head, unacknowledged records, last settled period, ledger
// health) and `verify` (export the journal and check every signature and the chain).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  isMaaskitError,
  loadSigner,
  type MeterRecord,
  meterRecordCodec,
  openJournal,
} from "@maaskit/metering";
import { parseAgreement } from "@maaskit/settlement";
import { configArg, EXIT, exportRecords, type GatewayCliIo } from "./common.js";
import { ledgerFromConfig } from "./ledgerFromConfig.js";

export async function status(args: string[], io: GatewayCliIo): Promise<number> {
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
    const { ledger } = await ledgerFromConfig(config, { now: () => new Date() });
    const invoices = await ledger.getInvoices(agreement.agreementId).catch((e) => {
      if (isMaaskitError(e, "settlement.agreement.notFound")) return [];
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

export async function verify(args: string[], io: GatewayCliIo): Promise<number> {
  const { config } = configArg(args);
  const signer = await loadSigner({ keyFile: config.signerKeyFile });
  const out = await exportRecords(config, await signer.getAddress());
  io.stdout(
    `${JSON.stringify({ event: "verify.done", file: out.file, records: out.records, billedVolume: out.billedVolume, ...out.verification })}\n`,
  );
  return out.verification.invalid === 0 ? EXIT.ok : EXIT.failed;
}
