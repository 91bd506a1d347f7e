// What the maaskit-gateway commands share: exit codes, the JSON-lines logger, the config
// argument, and the exports (records, invoices, status file) a run leaves behind.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import {
  type MeterRecord,
  meterRecordCodec,
  meterRecordToJson,
  openJournal,
  verifyExport,
  type WindowSize,
} from "@maaskit/metering";
import { type Invoice, invoiceToJson } from "@maaskit/settlement";
import { Decimal } from "decimal.js";
import { type GatewayConfig, loadGatewayConfig } from "../config/gatewayConfig.js";
import type { GatewayHealth } from "../gatewayTypes.js";

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

export function logger(io: GatewayCliIo) {
  return (e: { event: string; [k: string]: unknown }) =>
    io.stdout(`${JSON.stringify({ t: new Date().toISOString(), ...e })}\n`);
}

export function configArg(args: string[]) {
  const { values } = parseArgs({
    args,
    options: { config: { type: "string", default: "gateway.json" }, until: { type: "string" } },
  });
  return { config: loadGatewayConfig(resolve(values.config)), values };
}

export function toWindowSize(ms: number): WindowSize {
  if (ms % 3_600_000 === 0) return { hours: ms / 3_600_000 };
  if (ms % 60_000 === 0) return { minutes: ms / 60_000 };
  return { seconds: Math.max(1, Math.round(ms / 1000)) };
}

export function healthJson(h: GatewayHealth) {
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

export function writeJsonAtomic(file: string, v: unknown) {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(v, null, 2)}\n`);
  renameSync(tmp, file);
}

/**
 * Exports the journal in `dataDir` as `outDir/records.jsonl` (JSON Lines, one signed record a
 * line) and verifies every signature and the chain; returns the file, the number of records,
 * the billed volume (sum of their quantities) and the verification counts.
 */
export async function exportRecords(
  config: Pick<GatewayConfig, "dataDir" | "outDir">,
  signer: string,
) {
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

/** Writes each invoice as `outDir/invoices/<period start>.json`. */
export function writeInvoices(config: Pick<GatewayConfig, "outDir">, invoices: readonly Invoice[]) {
  const dir = join(config.outDir, "invoices");
  mkdirSync(dir, { recursive: true });
  for (const i of invoices)
    writeFileSync(
      join(dir, `${i.period.start.toISOString().replace(/[:.]/g, "-")}.json`),
      `${JSON.stringify(invoiceToJson(i), null, 2)}\n`,
    );
}
