import { readFile, writeFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { isMaaskitError } from "../errors.js";
import { EXIT } from "../exportReport.js";
import type { LogEntry } from "../log/signedLog.js";
import { toDecimal } from "../quantity.js";
import { type MeterRecord, meterRecordFromJson } from "../records/meterRecord.js";
import type { CliIo } from "../runCli.js";
import { parseStrictJson } from "../strictJson.js";
import { decodeUtf8, verifyExportReport } from "../verifyExport.js";
import { type AasNameplate, exportAas } from "./exportAas.js";

export const EXPORT_USAGE = `Usage: maaskit export aas --records <file.jsonl> --nameplate <file.json> --id <iri> [options]

Writes an Asset Administration Shell (AAS 3.0 JSON) of the machine: its Digital Nameplate
(IDTA 02006), its metered usage as Time Series Data (IDTA 02008, one segment per invoice's
billing period; each record with register, delta, seq and digest) and its maintenance
history as Service Request Notifications (IDTA 02010, each entry with its signed log
line's digest). Built and verified with @aas-core-works/aas-core3.0-typescript (install it).
The records and the history are verified first (as maaskit verify does); nothing is
exported from a file with an invalid line, and a segment whose total differs from its
invoice's usage fails the export.

Options:
  --records <file>     the meter records (JSON Lines, maaskit verify's format)
  --nameplate <file>   { uriOfTheProduct, manufacturerName, manufacturerProductDesignation,
                       serialNumber, yearOfConstruction? }
  --id <iri>           the twin's identifier; shell and submodel ids derive from it
  --invoice <file>     an invoice (invoiceToJson) whose period becomes a segment (repeatable)
  --history <file>     the signed maintenance history (JSON Lines of log entries)
  --signer <0x…>       expected signer of the records (repeatable); without it the output
                       says the records were NOT checked against an expected key
  --out <file>         where to write the environment (default: standard output)
  -h, --help           this text

Exit status: 0 written; 1 an input does not verify or a total differs; 2 usage or I/O error.
`;

/** `maaskit export aas …`: resolves to the exit status. */
export async function runExportCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [what, ...rest] = argv;
  if (what !== "aas") {
    io.stderr(`export knows one format: aas\n\n${EXPORT_USAGE}`);
    return EXIT.usage;
  }
  let values: ReturnType<typeof parse>["values"];
  try {
    values = parse(rest).values;
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n\n${EXPORT_USAGE}`);
    return EXIT.usage;
  }
  if (values.help === true) {
    io.stdout(EXPORT_USAGE);
    return EXIT.valid;
  }
  if (values.records === undefined || values.nameplate === undefined || values.id === undefined) {
    io.stderr(`--records, --nameplate and --id are required\n\n${EXPORT_USAGE}`);
    return EXIT.usage;
  }
  const read = io.readFile ?? ((p: string) => readFile(p));
  const texts = new Map<string, string>();
  for (const path of [
    values.records,
    values.nameplate,
    ...(values.invoice ?? []),
    ...(values.history === undefined ? [] : [values.history]),
  ]) {
    try {
      texts.set(path, decodeUtf8(await read(path)));
    } catch (err) {
      io.stderr(`Cannot read ${path}: ${err instanceof Error ? err.message : String(err)}\n`);
      return EXIT.usage;
    }
  }
  const recordsText = texts.get(values.records)!;
  const signers = values.signer ?? [];
  const checked = verifyExportReport(recordsText, { signers });
  const history = values.history === undefined ? undefined : texts.get(values.history)!;
  const historyReport =
    history === undefined ? undefined : verifyExportReport(history, { allowMultiple: true });
  let failed = false;
  for (const [name, report] of [
    [values.records, checked],
    [values.history, historyReport],
  ] as const) {
    if (report === undefined) continue;
    for (const v of report.verdicts.filter((x) => !x.valid)) {
      io.stderr(`${name}: line ${v.line} ${v.label}: ${v.reasons.join(", ")}\n`);
      failed = true;
    }
  }
  if (failed) {
    io.stderr("Not exported: an input does not verify\n");
    return EXIT.invalid;
  }
  if (signers.length === 0) {
    io.stderr(
      `Records signed by ${checked.signers.join(", ")}: NOT checked against an expected signer (pass --signer 0x…)\n`,
    );
  }
  try {
    const records = jsonLines(recordsText)
      .filter((o) => o.kind === undefined || o.kind === "meterRecord")
      .map((o) => meterRecordFromJson(o) as MeterRecord);
    const invoices = (values.invoice ?? []).map((path) => readInvoice(texts.get(path)!, path));
    const out = exportAas({
      id: values.id,
      nameplate: parseStrictJson(texts.get(values.nameplate)!) as AasNameplate,
      records,
      periods: invoices.map((i) => i.period),
      ...(history === undefined ? {} : { history: jsonLines(history) as unknown as LogEntry[] }),
    });
    for (const [i, inv] of invoices.entries()) {
      const seg = out.segments[i]!;
      const same = seg.total.eq(inv.usage);
      io.stderr(
        `${seg.idShort} ${inv.period.start.toISOString()} – ${inv.period.end.toISOString()}: ${seg.records} records, ${seg.total.toFixed()} ${same ? "=" : "≠"} invoice usage ${inv.usage.toFixed()} (${inv.path})\n`,
      );
      failed ||= !same;
    }
    if (failed) {
      io.stderr("Not exported: a Time Series total differs from its invoice's usage\n");
      return EXIT.invalid;
    }
    if (values.out === undefined) io.stdout(out.json);
    else {
      await writeFile(values.out, out.json);
      io.stderr(`wrote ${values.out}\n`);
    }
    return EXIT.valid;
  } catch (err) {
    io.stderr(
      `${isMaaskitError(err) ? `${err.code}: ${err.shortMessage}` : String(err)}${
        isMaaskitError(err) && err.details !== undefined ? ` ${JSON.stringify(err.details)}` : ""
      }\n`,
    );
    return isMaaskitError(err, "maaskit.dependency.missing") ? EXIT.usage : EXIT.invalid;
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: false,
    options: {
      records: { type: "string" },
      nameplate: { type: "string" },
      id: { type: "string" },
      invoice: { type: "string", multiple: true },
      history: { type: "string" },
      signer: { type: "string", multiple: true },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => parseStrictJson(l) as Record<string, unknown>);
}

/** The period and usage of an invoice's JSON form (`invoiceToJson` of @maaskit/settlement). */
function readInvoice(text: string, path: string) {
  const o = parseStrictJson(text) as {
    period?: { start?: unknown; end?: unknown };
    usage?: { value?: unknown };
  };
  const start = new Date(String(o.period?.start));
  const end = new Date(String(o.period?.end));
  if (Number.isNaN(start.getTime()) || Number.isNaN(end.getTime())) {
    throw new Error(`${path}: not an invoice (period.start / period.end missing)`);
  }
  return { path, period: { start, end }, usage: toDecimal(o.usage?.value, `${path}: usage.value`) };
}
