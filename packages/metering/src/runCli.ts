import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { runExportCli } from "./aas/exportAasCli.js";
import { MaaskitError } from "./errors.js";
import {
  EXIT,
  type InvoiceAnchor,
  type LineKindVerifier,
  type LineVerdict,
} from "./exportReport.js";
import type { ExportSummary } from "./exportStream.js";
import { type MeterRecordBinding, ZERO_ADDRESS } from "./records/meterRecord.js";
import type { MeterRecordCapacity } from "./records/meterRecordVerifier.js";
import type { PeriodStatement } from "./records/periodStatement.js";
import { periodStatementFromJson } from "./records/periodStatementJson.js";
import { parseStrictJson } from "./strictJson.js";
import {
  decodeUtf8,
  invoiceAnchorFromJson,
  lineKinds,
  mayHoldStatements,
  verifyExportStream,
} from "./verifyExport.js";

/** Where the CLI writes and reads; replaceable in tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Reads a file as bytes (or text, taken as already decoded). */
  readonly readFile?: (path: string) => Promise<Uint8Array | string>;
}

const USAGE = `Usage: maaskit verify <file.jsonl> [options]
       maaskit export aas --records <file.jsonl> --nameplate <file.json> --id <iri> [options]
                       (maaskit export aas --help)

Verifies an exported file of signed meter records (JSON Lines, one record per line):
signatures, signer, agreement, gapless seq from 0 (or from an anchor), hash chain,
contiguous periods, registers, strict JSON (UTF-8, no duplicate or unknown members,
canonical decimals). Period statements in the same file are checked against its records;
signed log entries ("kind":"logEntry", e.g. a maintenance history) as hash chains per log;
entitlement grants ("kind":"entitlementGrant") and revocations ("kind":"entitlementRevocation")
by their issuer's signature (an expected --signer) and each feature's generation chain.
Feature usage records (channel feature/<id>) are meter records.

Options:
  --signer <0x…>       expected signer address (repeatable). Without it the file is never
                       called valid: exit 3 and the output names who signed
  --agreement <id>     expected agreement id (with --chain-id and --contract)
  --chain-id <n>       expected chain id (default 0: off-chain / embedded ledger)
  --contract <0x…>     expected verifying contract (default: the zero address)
  --allow-multiple     accept several agreements or signers in one file (default: error)
  --after <0x…hash>    the records continue the chain after this head hash (default: seq 0)
  --head <0x…hash>     the last record's digest must be this hash (detects a cut-off end)
  --statement <file>   the records must be exactly those this signed period statement covers
  --invoice <file>     the records must be exactly those this invoice covers
                       (count, seq range, head hash, usage total)
  --capacity <v>/<per> the machine's capacity, e.g. 12.5/min (per s, min or h, in the
                       records' unit): a record above capacity × its duration is invalid
  --quiet              print only invalid lines and the summary
  --json               machine-readable output
  -h, --help           this text

A deleted LAST record is detectable only against --head, --statement or --invoice.

Exit status: 0 every line valid and signed by an expected key; 1 a line invalid, an anchor
not met or no lines; 2 usage or I/O error; 3 every line valid but no --signer given.
`;

/**
 * The `maaskit` command line, as a function: `argv` without node and script, output
 * through `io`; resolves to the exit status ({@link EXIT}).
 *
 * @example process.exitCode = await runCli(["verify", "records.jsonl", "--signer", "0x…"], { stdout: console.log, stderr: console.error })
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  options: { kinds?: ReadonlyMap<string, LineKindVerifier> } = {},
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    io.stdout(USAGE);
    return command === undefined ? EXIT.usage : EXIT.valid;
  }
  if (command === "export") return runExportCli(rest, io);
  if (command !== "verify") {
    io.stderr(`Unknown command ${command}\n\n${USAGE}`);
    return EXIT.usage;
  }
  let parsed: ReturnType<typeof parseVerifyArgs>;
  try {
    parsed = parseVerifyArgs(rest);
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return EXIT.usage;
  }
  if (parsed.values.help === true) {
    io.stdout(USAGE);
    return EXIT.valid;
  }
  const file = parsed.positionals[0];
  if (file === undefined || parsed.positionals.length > 1) {
    io.stderr(`verify takes exactly one file\n\n${USAGE}`);
    return EXIT.usage;
  }
  const read = io.readFile ?? ((p: string) => readFile(p));
  const load = async (path: string): Promise<Uint8Array | string | undefined> => {
    try {
      return await read(path);
    } catch (err) {
      io.stderr(`Cannot read ${path}: ${err instanceof Error ? err.message : String(err)}\n`);
      return undefined;
    }
  };
  const v = parsed.values;
  const hash = /^0x[0-9a-f]{64}$/;
  for (const name of ["after", "head"] as const) {
    if (v[name] !== undefined && !hash.test(v[name])) {
      io.stderr(`--${name} must be a 32-byte lowercase 0x hash\n`);
      return EXIT.usage;
    }
  }
  let capacity: MeterRecordCapacity | undefined;
  if (v.capacity !== undefined) {
    const m = /^(\d+(?:\.\d+)?)\/(s|min|h)$/.exec(v.capacity);
    if (m === null || !(Number(m[1]) > 0)) {
      io.stderr("--capacity must be <value>/<s|min|h>, e.g. 12.5/min\n");
      return EXIT.usage;
    }
    capacity = { value: m[1]!, per: m[2] as MeterRecordCapacity["per"] };
  }
  for (const s of v.signer ?? []) {
    if (!/^0x[0-9a-fA-F]{40}$/.test(s)) {
      io.stderr(`--signer ${s} is not an address\n`);
      return EXIT.usage;
    }
  }
  if (v["chain-id"] !== undefined && !/^(0|[1-9][0-9]*)$/.test(v["chain-id"])) {
    io.stderr("--chain-id must be a non-negative integer\n");
    return EXIT.usage;
  }
  let statement: PeriodStatement | undefined;
  if (v.statement !== undefined) {
    const bytes = await load(v.statement);
    if (bytes === undefined) return EXIT.usage;
    try {
      statement = periodStatementFromJson(parseStrictJson(decodeUtf8(bytes).trim()));
    } catch (err) {
      io.stderr(`${v.statement} is not a period statement: ${describe(err)}\n`);
      return EXIT.usage;
    }
  }
  let invoice: InvoiceAnchor | undefined;
  if (v.invoice !== undefined) {
    const bytes = await load(v.invoice);
    if (bytes === undefined) return EXIT.usage;
    try {
      invoice = invoiceAnchorFromJson(parseStrictJson(decodeUtf8(bytes).trim()));
    } catch (err) {
      io.stderr(`${v.invoice} is not an invoice with records: ${describe(err)}\n`);
      return EXIT.usage;
    }
  }
  // The file is streamed (bounded memory) unless the caller reads files itself (tests).
  let source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>;
  let retainRecords: boolean;
  if (io.readFile !== undefined) {
    const input = await load(file);
    if (input === undefined) return EXIT.usage;
    source = [input];
    retainRecords = mayHoldStatements(input);
  } else {
    try {
      retainRecords = await fileContains(file, STATEMENT_WORD);
    } catch (err) {
      io.stderr(`Cannot read ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
      return EXIT.usage;
    }
    source = createReadStream(file, { highWaterMark: 1 << 20 });
  }
  const agreement: MeterRecordBinding | undefined =
    v.agreement === undefined
      ? undefined
      : {
          agreementId: v.agreement,
          chainId: Number(v["chain-id"] ?? 0),
          verifyingContract: v.contract ?? ZERO_ADDRESS,
        };
  const json = v.json === true;
  const quiet = v.quiet === true;
  // One io.stdout call per output line (callers filter line by line); in --json the results
  // are written as they come, the summary after them.
  const say = io.stdout;
  let results = 0;
  if (json) say(`{"file":${JSON.stringify(file)},"results":[`);
  const onVerdict = (x: LineVerdict) => {
    if (json) {
      if (!quiet || !x.valid) say(`${results++ === 0 ? "" : ","}${JSON.stringify(x)}`);
      return;
    }
    const head = `line ${x.line}  ${x.label}`;
    if (x.valid) {
      if (!quiet) say(`${head}  valid\n`);
    } else for (const m of x.messages) say(`${head}  INVALID  ${m}\n`);
  };
  let report: ExportSummary;
  try {
    report = await verifyExportStream(source, {
      signers: v.signer ?? [],
      ...(agreement === undefined ? {} : { agreement }),
      kinds: options.kinds ?? lineKinds,
      allowMultiple: v["allow-multiple"] === true,
      ...(v.after === undefined ? {} : { after: v.after }),
      ...(v.head === undefined ? {} : { head: v.head }),
      ...(statement === undefined ? {} : { statement }),
      ...(invoice === undefined ? {} : { invoice }),
      ...(capacity === undefined ? {} : { capacity }),
      retainRecords,
      onVerdict,
      maxProblems: 0,
    });
  } catch (err) {
    if (json) say("]}\n");
    io.stderr(`Cannot read ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.usage;
  }
  const notes = reportNotes(report);
  if (json) {
    const tail = {
      valid: report.valid,
      exitCode: report.exitCode,
      signerChecked: report.signerChecked,
      signers: report.signers,
      summary: { lines: report.lines, valid: report.validLines, invalid: report.invalidLines },
      bySigner: report.bySigner,
      chains: report.chains,
      anchors: report.anchors,
      notes,
    };
    say(`],${JSON.stringify(tail).slice(1)}\n`);
  } else {
    for (const a of report.anchors) {
      if (a.valid) say(`anchor --${a.anchor}  met\n`);
      else for (const m of a.messages) say(`anchor --${a.anchor}  NOT MET  ${m}\n`);
    }
    say(
      report.lines === 0
        ? `${file}: no records\n`
        : `${file}: ${report.lines} lines, ${report.validLines} valid, ${report.invalidLines} invalid\n`,
    );
    for (const n of notes) say(`${n}\n`);
  }
  return report.exitCode;
}

const STATEMENT_WORD = Buffer.from("periodStatement");

/** Whether the file holds `word` (a byte scan in chunks, overlapping by the word's length). */
async function fileContains(path: string, word: Buffer): Promise<boolean> {
  let tail = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const b = Buffer.concat([tail, chunk as Buffer]);
    if (b.includes(word)) return true;
    tail = b.subarray(Math.max(0, b.length - word.length + 1));
  }
  return false;
}

function describe(err: unknown): string {
  return err instanceof MaaskitError
    ? `${err.code}: ${err.shortMessage}`
    : err instanceof Error
      ? err.message
      : String(err);
}

/** What the people reading the output must know beyond the verdicts. */
function reportNotes(report: ExportSummary): string[] {
  const notes: string[] = [];
  for (const c of report.chains) {
    notes.push(
      `agreement ${c.agreementId} (chain ${c.chainId}, contract ${c.verifyingContract}): ${c.records} records, seq ${c.firstSeq}..${c.lastSeq}, head ${c.head}, total ${c.total}`,
    );
    if (c.startAnchor === "invoiceSeq") {
      notes.push(
        `  start anchored by seq only: the invoice names no hash before seq ${c.firstSeq}; pass --after <hash> to pin it`,
      );
    }
    if (c.endAnchor === "none") {
      notes.push(
        `  end not anchored: a deleted last record is detectable only against --head ${c.head}, --statement or --invoice`,
      );
    }
  }
  if (report.signers.length > 0) {
    notes.push(
      `signed by ${report.signers.join(", ")}${report.signerChecked ? " (expected)" : ""}`,
    );
    for (const s of report.bySigner) {
      notes.push(`  ${s.signer}: ${s.valid} valid, ${s.invalid} invalid lines`);
    }
  }
  if (!report.signerChecked && report.valid) {
    notes.push(
      `valid signatures, but NOT checked against an expected signer: pass --signer ${report.signers[0] ?? "0x…"} if that is the key you expect (exit ${EXIT.unpinned})`,
    );
  }
  return notes;
}

function parseVerifyArgs(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    strict: true,
    options: {
      signer: { type: "string", multiple: true },
      agreement: { type: "string" },
      "chain-id": { type: "string" },
      contract: { type: "string" },
      "allow-multiple": { type: "boolean" },
      after: { type: "string" },
      head: { type: "string" },
      statement: { type: "string" },
      invoice: { type: "string" },
      capacity: { type: "string" },
      quiet: { type: "boolean" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}
