import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import type { Decimal } from "decimal.js";
import { MaaskitError } from "./errors.js";
import { verifyLogLines } from "./log/verifyLogLines.js";
import { toDecimal } from "./quantity.js";
import {
  GENESIS_HASH,
  type MeterRecord,
  type MeterRecordBinding,
  meterRecordFromJson,
  ZERO_ADDRESS,
} from "./records/meterRecord.js";
import type { MeterRecordChainState } from "./records/meterRecordChain.js";
import {
  createMeterRecordVerifier,
  type MeterRecordCapacity,
  type MeterRecordVerifier,
} from "./records/meterRecordVerifier.js";
import type { PeriodStatement } from "./records/periodStatement.js";
import { periodStatementFromJson } from "./records/periodStatementJson.js";
import { verifyPeriodStatement } from "./records/verifyPeriodStatement.js";
import { parseStrictJson } from "./strictJson.js";

/** Where the CLI writes and reads; replaceable in tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Reads a file as bytes (or text, taken as already decoded). */
  readonly readFile?: (path: string) => Promise<Uint8Array | string>;
}

/** One non-blank line of an export file (JSON Lines), with its 1-based line number. */
export interface ExportLine {
  readonly line: number;
  readonly json: Record<string, unknown>;
}

/** The verdict on one line. */
export interface LineVerdict {
  readonly line: number;
  readonly kind: string;
  /** What the line is, for people: `seq 12`, `statement 0..2879`. */
  readonly label: string;
  readonly seq?: number;
  readonly valid: boolean;
  /** Error codes, e.g. `metering.record.seqGap`. */
  readonly reasons: readonly string[];
  readonly messages: readonly string[];
  /** Who signed the line (EIP-55), when it carries a readable signer. */
  readonly signer?: string;
  /** The agreement the line is bound to (`agreementId`), for records and statements. */
  readonly agreementId?: string;
}

/** What the verify command was told to expect. */
export interface VerifyContext {
  /** Allowed signer addresses (empty: any valid signature, reported as not checked). */
  readonly signers: readonly string[];
  readonly agreement?: MeterRecordBinding;
  /** The lines of the kinds verified in batches (not meter records, which are streamed). */
  readonly all: readonly ExportLine[];
}

/**
 * Verifies all lines of one `kind` in a file. Register more kinds (e.g. maintenance
 * history entries) in {@link lineKinds} or pass them to `runCli`.
 */
export type LineKindVerifier = (lines: readonly ExportLine[], ctx: VerifyContext) => LineVerdict[];

/**
 * Meter record lines as a batch: each agreement's chain in file order from seq 0. `maaskit
 * verify` streams records through the same checks instead of calling this (a file of a
 * million records is not held in memory); it is here for callers that build their own
 * kind map.
 */
export function verifyRecordLines(lines: readonly ExportLine[], ctx: VerifyContext): LineVerdict[] {
  const run = new RecordRun({
    signers: ctx.signers,
    ...(ctx.agreement === undefined ? {} : { agreement: ctx.agreement }),
    retain: false,
  });
  return lines.map((l) => run.check(l.line, l.json));
}

/**
 * The line kinds `maaskit verify` knows, by the `kind` field of each line (a line without
 * `kind` is a `meterRecord`). Extend it to verify other signed histories in the same file.
 *
 * @example lineKinds.set("maintenanceEntry", verifyMaintenanceLines)
 */
export const lineKinds: Map<string, LineKindVerifier> = new Map([
  ["meterRecord", verifyRecordLines],
  ["periodStatement", verifyStatementLines],
  ["logEntry", verifyLogLines],
]);

/** Exit statuses of `maaskit verify` (also in the package README). */
export const EXIT = {
  /** Every line valid, signed by an expected key (`--signer`), every anchor met. */
  valid: 0,
  /** A line is invalid, an anchor is not met, or the file holds no lines. */
  invalid: 1,
  /** Usage or I/O error (nothing was verified). */
  usage: 2,
  /** Every line valid, but no expected signer was given: the output names who signed. */
  unpinned: 3,
} as const;

const USAGE = `Usage: maaskit verify <file.jsonl> [options]

Verifies an exported file of signed meter records (JSON Lines, one record per line):
signatures, signer, agreement, gapless seq from 0 (or from an anchor), hash chain,
contiguous periods, registers, strict JSON (UTF-8, no duplicate or unknown members,
canonical decimals). Period statements in the same file are checked against its records;
signed log entries ("kind":"logEntry", e.g. a maintenance history) as hash chains per log.

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

/** Options of {@link verifyExport} and {@link verifyExportReport}. */
export interface VerifyExportOptions {
  /** Expected signer addresses; without any, the report says the signer was not checked. */
  readonly signers?: readonly string[];
  readonly agreement?: MeterRecordBinding;
  readonly kinds?: ReadonlyMap<string, LineKindVerifier>;
  /** Accept several agreements or signers in one file (default: a line of a second one is invalid). */
  readonly allowMultiple?: boolean;
  /** The records continue the chain after this head hash (default: they start at seq 0). */
  readonly after?: string;
  /** The last record's digest must be this hash. */
  readonly head?: string;
  /** The records must be exactly those this statement covers (it also anchors the start). */
  readonly statement?: PeriodStatement;
  /** The records must be exactly those this invoice covers. */
  readonly invoice?: InvoiceAnchor;
  /** The machine's capacity: a record above capacity × its duration is invalid. */
  readonly capacity?: MeterRecordCapacity;
}

/** What an invoice (`@maaskit/settlement` `invoiceToJson`) says about its records. */
export interface InvoiceAnchor {
  readonly agreementId?: string;
  readonly count: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly headHash?: string;
  readonly usage: { readonly value: Decimal; readonly unit: string; readonly basis?: string };
}

/** A check of the records against an anchor given beside the file. */
export interface AnchorCheck {
  readonly anchor: "after" | "head" | "statement" | "invoice";
  readonly valid: boolean;
  readonly reasons: readonly string[];
  readonly messages: readonly string[];
}

/** One agreement's records in the file. */
export interface ChainSummary {
  readonly agreementId: string;
  readonly chainId: number;
  readonly verifyingContract: string;
  readonly records: number;
  readonly firstSeq: number;
  readonly lastSeq: number;
  /** Digest of the last record. */
  readonly head: string;
  /** Sum of the billed quantities, with unit. */
  readonly total: string;
  /** How the end was anchored; `"none"`: a deleted last record would go unnoticed. */
  readonly endAnchor: "none" | "head" | "statement" | "invoice";
  /**
   * How the start was anchored: at seq 0 with the genesis hash, after `--after`, at a
   * statement's `firstSeq`/`startHash`, or — `"invoiceSeq"` — at an invoice's first seq
   * only (an invoice names no hash before its first record; pass `--after` to pin it).
   */
  readonly startAnchor: "genesis" | "after" | "statement" | "invoiceSeq";
}

/** Everything {@link verifyExportReport} found. */
export interface ExportReport {
  /** One verdict per non-blank line, in line order. */
  readonly verdicts: readonly LineVerdict[];
  readonly anchors: readonly AnchorCheck[];
  readonly chains: readonly ChainSummary[];
  /** Who signed the valid lines (EIP-55, first seen first). */
  readonly signers: readonly string[];
  /** Whether the signers were checked against expected keys. */
  readonly signerChecked: boolean;
  /** Every line valid and every anchor met. */
  readonly valid: boolean;
  /** The `maaskit verify` exit status this report gives ({@link EXIT}). */
  readonly exitCode: number;
}

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
  const input = await load(file);
  if (input === undefined) return EXIT.usage;
  const agreement: MeterRecordBinding | undefined =
    v.agreement === undefined
      ? undefined
      : {
          agreementId: v.agreement,
          chainId: Number(v["chain-id"] ?? 0),
          verifyingContract: v.contract ?? ZERO_ADDRESS,
        };
  const report = verifyExportReport(input, {
    signers: v.signer ?? [],
    ...(agreement === undefined ? {} : { agreement }),
    kinds: options.kinds ?? lineKinds,
    allowMultiple: v["allow-multiple"] === true,
    ...(v.after === undefined ? {} : { after: v.after }),
    ...(v.head === undefined ? {} : { head: v.head }),
    ...(statement === undefined ? {} : { statement }),
    ...(invoice === undefined ? {} : { invoice }),
    ...(capacity === undefined ? {} : { capacity }),
  });
  const { verdicts } = report;
  const invalid = verdicts.filter((x) => !x.valid).length;
  const notes = reportNotes(report);
  if (v.json === true) {
    io.stdout(
      `${JSON.stringify({
        file,
        valid: report.valid,
        exitCode: report.exitCode,
        signerChecked: report.signerChecked,
        signers: report.signers,
        summary: { lines: verdicts.length, valid: verdicts.length - invalid, invalid },
        chains: report.chains,
        anchors: report.anchors,
        notes,
        results: v.quiet === true ? verdicts.filter((x) => !x.valid) : verdicts,
      })}\n`,
    );
  } else {
    // One io.stdout call per output line: callers filter line by line.
    const say = io.stdout;
    for (const x of verdicts) {
      const head = `line ${x.line}  ${x.label}`;
      if (x.valid) {
        if (v.quiet !== true) say(`${head}  valid\n`);
      } else for (const m of x.messages) say(`${head}  INVALID  ${m}\n`);
    }
    for (const a of report.anchors) {
      if (a.valid) say(`anchor --${a.anchor}  met\n`);
      else for (const m of a.messages) say(`anchor --${a.anchor}  NOT MET  ${m}\n`);
    }
    say(
      verdicts.length === 0
        ? `${file}: no records\n`
        : `${file}: ${verdicts.length} lines, ${verdicts.length - invalid} valid, ${invalid} invalid\n`,
    );
    for (const n of notes) say(`${n}\n`);
  }
  return report.exitCode;
}

function describe(err: unknown): string {
  return err instanceof MaaskitError
    ? `${err.code}: ${err.shortMessage}`
    : err instanceof Error
      ? err.message
      : String(err);
}

/** What the people reading the output must know beyond the verdicts. */
function reportNotes(report: ExportReport): string[] {
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

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeUtf8(input: Uint8Array | string): string {
  return typeof input === "string" ? input : utf8.decode(input);
}

/**
 * Parses what an invoice's JSON form (`@maaskit/settlement` `invoiceToJson`) says about its
 * records: `agreementId`, `records.{count, firstSeq, lastSeq, headHash}` and `usage`.
 */
export function invoiceAnchorFromJson(json: unknown): InvoiceAnchor {
  const fail = (message: string) =>
    new MaaskitError("metering.cli.badAnchor", `invoice: ${message}`);
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw fail("not an object");
  const o = json as Record<string, unknown>;
  const r = o.records as Record<string, unknown> | null | undefined;
  if (typeof r !== "object" || r === null)
    throw fail("records missing (an invoice of no records anchors nothing)");
  const seq = (v: unknown, name: string) => {
    if (typeof v !== "string" || !/^(0|[1-9][0-9]*)$/.test(v) || !Number.isSafeInteger(Number(v))) {
      throw fail(`records.${name} must be a decimal seq string`);
    }
    return Number(v);
  };
  if (typeof r.count !== "number" || !Number.isSafeInteger(r.count) || r.count < 1) {
    throw fail("records.count must be a positive integer");
  }
  if (
    r.headHash !== undefined &&
    (typeof r.headHash !== "string" || !/^0x[0-9a-f]{64}$/.test(r.headHash))
  ) {
    throw fail("records.headHash must be a 32-byte lowercase 0x hash");
  }
  const u = o.usage as Record<string, unknown> | undefined;
  if (
    typeof u !== "object" ||
    u === null ||
    typeof u.value !== "string" ||
    typeof u.unit !== "string"
  ) {
    throw fail("usage must be a quantity");
  }
  if (o.agreementId !== undefined && typeof o.agreementId !== "string")
    throw fail("agreementId must be a string");
  return {
    ...(typeof o.agreementId === "string" ? { agreementId: o.agreementId } : {}),
    count: r.count,
    firstSeq: seq(r.firstSeq, "firstSeq"),
    lastSeq: seq(r.lastSeq, "lastSeq"),
    ...(typeof r.headHash === "string" ? { headHash: r.headHash } : {}),
    usage: {
      value: toDecimal(u.value, "usage.value"),
      unit: u.unit,
      ...(typeof u.basis === "string" ? { basis: u.basis } : {}),
    },
  };
}

/**
 * Verifies the text of an export file (JSON Lines) and returns one verdict per non-blank
 * line, in line order. See {@link verifyExportReport} for the anchors, chains and signers.
 *
 * @example const verdicts = verifyExport(text, { signers: ["0x…"] })
 */
export function verifyExport(
  input: string | Uint8Array,
  options: VerifyExportOptions = {},
): LineVerdict[] {
  return [...verifyExportReport(input, options).verdicts];
}

const RECORD_KIND = "meterRecord";
/** Reasons after which a line's `signer` field proves nothing. */
const UNSIGNED = new Set([
  "metering.record.badSignature",
  "metering.record.malformed",
  "metering.log.badSignature",
  "metering.log.malformed",
]);
const EMPTY: readonly string[] = Object.freeze([]);
const STATEMENT_BYTES = new TextEncoder().encode("periodStatement");

/**
 * Verifies an export file (JSON Lines; bytes are decoded as strict UTF-8 per line) in one
 * pass: meter records are streamed through one incremental verifier per agreement (from
 * seq 0, or from the anchor), other kinds are verified in batches by {@link lineKinds}.
 * A line is invalid when it is not strict JSON (invalid UTF-8, duplicate member, number not
 * written canonically), of an unknown kind, or fails its kind's checks. Without
 * `allowMultiple`, a record or statement of a second agreement, and a line signed by a
 * second key when no signers are expected, is invalid.
 *
 * @example const { exitCode, verdicts } = verifyExportReport(bytes, { signers: ["0x…"] })
 */
export function verifyExportReport(
  input: string | Uint8Array,
  options: VerifyExportOptions = {},
): ExportReport {
  const kinds = options.kinds ?? lineKinds;
  const signers = options.signers ?? [];
  const streamRecords = kinds.get(RECORD_KIND) === verifyRecordLines;
  const retain =
    options.statement !== undefined ||
    (typeof input === "string"
      ? input.includes("periodStatement")
      : containsBytes(input, STATEMENT_BYTES));
  const run = new RecordRun({
    signers,
    ...(options.agreement === undefined ? {} : { agreement: options.agreement }),
    retain,
    allowMultiple: options.allowMultiple === true,
    ...(options.after === undefined ? {} : { after: options.after }),
    ...(options.statement === undefined ? {} : { statement: options.statement }),
    ...(options.invoice === undefined ? {} : { invoice: options.invoice }),
    ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
  });
  const byLine: (LineVerdict | undefined)[] = [];
  const groups = new Map<string, ExportLine[]>();
  const batched: ExportLine[] = [];
  forEachLine(
    input,
    (lineNo, text) => {
      let json: unknown;
      try {
        json = parseStrictJson(text);
      } catch (err) {
        const e = err instanceof MaaskitError ? err : undefined;
        byLine[lineNo] = invalidLine(
          lineNo,
          "?",
          e === undefined || e.code === "metering.json.invalid" ? "metering.cli.badLine" : e.code,
          e?.shortMessage ?? String(err),
        );
        return;
      }
      if (json === null || typeof json !== "object" || Array.isArray(json)) {
        byLine[lineNo] = invalidLine(lineNo, "?", "metering.cli.badLine", "not a JSON object");
        return;
      }
      const o = json as Record<string, unknown>;
      const kind = o.kind === undefined ? RECORD_KIND : typeof o.kind === "string" ? o.kind : "?";
      if (kind === RECORD_KIND && streamRecords) {
        byLine[lineNo] = run.check(lineNo, o);
        return;
      }
      if (!kinds.has(kind)) {
        byLine[lineNo] = invalidLine(
          lineNo,
          kind,
          "metering.cli.unknownKind",
          `unknown kind ${kind}`,
        );
        return;
      }
      const line = { line: lineNo, json: o };
      batched.push(line);
      let group = groups.get(kind);
      if (group === undefined) {
        group = [];
        groups.set(kind, group);
      }
      group.push(line);
    },
    (lineNo) => {
      byLine[lineNo] = invalidLine(
        lineNo,
        "?",
        "metering.cli.notUtf8",
        "the line is not valid UTF-8",
      );
    },
  );
  const ctx: VerifyContext & { run: RecordRun } = {
    signers,
    ...(options.agreement === undefined ? {} : { agreement: options.agreement }),
    all: batched,
    run,
  };
  for (const [kind, lines] of groups) {
    for (const v of kinds.get(kind)!(lines, ctx)) byLine[v.line] = v;
  }
  const verdicts: LineVerdict[] = [];
  for (const v of byLine) if (v !== undefined) verdicts.push(v);
  // One signer per file unless told otherwise: a second key's lines are invalid.
  const seenSigners: string[] = [];
  const out = verdicts.map((v) => {
    if (v.signer === undefined || v.reasons.some((r) => UNSIGNED.has(r))) return v;
    const first = seenSigners[0];
    if (!seenSigners.some((s) => s.toLowerCase() === v.signer!.toLowerCase()))
      seenSigners.push(v.signer);
    if (
      signers.length === 0 &&
      options.allowMultiple !== true &&
      first !== undefined &&
      first.toLowerCase() !== v.signer.toLowerCase()
    ) {
      return withReason(
        v,
        "metering.cli.multipleSigners",
        `signed by ${v.signer}, the file's first signed line by ${first}: pass --signer for each expected key, or --allow-multiple`,
      );
    }
    return v;
  });
  const anchors = run.finish(options.head);
  const valid = out.length > 0 && out.every((v) => v.valid) && anchors.every((a) => a.valid);
  const signerChecked = signers.length > 0;
  return {
    verdicts: out,
    anchors,
    chains: run.summaries(options.head),
    signers: seenSigners,
    signerChecked,
    valid,
    exitCode: !valid ? EXIT.invalid : signerChecked ? EXIT.valid : EXIT.unpinned,
  };
}

function withReason(v: LineVerdict, code: string, message: string): LineVerdict {
  return {
    ...v,
    valid: false,
    reasons: [...v.reasons, code],
    messages: [...v.messages, `${code}: ${message}`],
  };
}

function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  const first = needle[0]!;
  outer: for (let i = haystack.indexOf(first); i !== -1; i = haystack.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

/** Calls `each` for every non-blank line (1-based numbers); bytes are decoded per line, strictly. */
function forEachLine(
  input: string | Uint8Array,
  each: (line: number, text: string) => void,
  notUtf8: (line: number) => void,
): void {
  if (typeof input === "string") {
    let line = 0;
    let start = 0;
    while (start <= input.length) {
      let end = input.indexOf("\n", start);
      if (end === -1) end = input.length;
      line++;
      const text = input.slice(
        start,
        end > start && input.charCodeAt(end - 1) === 13 ? end - 1 : end,
      );
      if (text.trim() !== "") each(line, text);
      start = end + 1;
    }
    return;
  }
  let line = 0;
  let start = 0;
  while (start <= input.length) {
    let end = input.indexOf(10, start);
    if (end === -1) end = input.length;
    line++;
    const stop = end > start && input[end - 1] === 13 ? end - 1 : end;
    let text: string;
    try {
      text = utf8.decode(input.subarray(start, stop));
    } catch {
      notUtf8(line);
      start = end + 1;
      continue;
    }
    if (text.trim() !== "") each(line, text);
    start = end + 1;
  }
}

function invalidLine(line: number, kind: string, code: string, message: string): LineVerdict {
  return {
    line,
    kind,
    label: kind,
    valid: false,
    reasons: [code],
    messages: [`${code}: ${message}`],
  };
}

function bindingKey(b: MeterRecordBinding): string {
  return `${b.chainId}|${b.verifyingContract.toLowerCase()}|${b.agreementId}`;
}

/** One agreement's chain as it streams by. */
interface Chain {
  readonly binding: MeterRecordBinding;
  readonly verifier: MeterRecordVerifier;
  records: number;
  firstSeq: number;
  lastSeq: number;
  head: string;
  total: Decimal;
  unit: string;
  /** Unit or basis changed between records: no total. */
  mixedUnits: boolean;
  /** Records in file order, when statements need them. */
  readonly kept: MeterRecord[];
  readonly startAnchor: ChainSummary["startAnchor"];
  /** Kept records by seq (first occurrence). */
  readonly bySeq: Map<number, MeterRecord>;
}

/**
 * Streams meter records through one incremental verifier per agreement and remembers, per
 * chain, what the anchors are checked against.
 */
class RecordRun {
  private readonly chains = new Map<string, Chain>();
  private firstKey: string | undefined;

  constructor(
    private readonly opts: {
      signers: readonly string[];
      agreement?: MeterRecordBinding;
      retain: boolean;
      allowMultiple?: boolean;
      after?: string;
      statement?: PeriodStatement;
      invoice?: InvoiceAnchor;
      capacity?: MeterRecordCapacity;
    },
  ) {}

  /** Where the chain of the first record `r` of an agreement must start, and by what anchor. */
  private start(r: MeterRecord): [MeterRecordChainState, ChainSummary["startAnchor"]] {
    const st = this.opts.statement;
    if (st !== undefined && bindingKey(st) === bindingKey(r)) {
      return [{ seq: st.firstSeq, prevHash: st.startHash }, "statement"];
    }
    const inv = this.opts.invoice;
    if (this.opts.after !== undefined) {
      return [{ seq: inv?.firstSeq ?? r.seq, prevHash: this.opts.after }, "after"];
    }
    if (inv !== undefined && (inv.agreementId === undefined || inv.agreementId === r.agreementId)) {
      // An invoice names the first seq but not the hash before it: from seq 0 that is
      // genesis; later, only --after pins it (the output says so).
      return inv.firstSeq === 0
        ? [{ seq: 0, prevHash: GENESIS_HASH }, "genesis"]
        : [{ seq: inv.firstSeq, prevHash: r.prevHash }, "invoiceSeq"];
    }
    return [{ seq: 0, prevHash: GENESIS_HASH }, "genesis"];
  }

  check(lineNo: number, json: Record<string, unknown>): LineVerdict {
    let record: MeterRecord;
    try {
      record = meterRecordFromJson(json);
    } catch (err) {
      const e =
        err instanceof MaaskitError
          ? err
          : new MaaskitError("metering.record.malformed", String(err));
      const seq = typeof json.seq === "number" ? json.seq : undefined;
      return {
        line: lineNo,
        kind: RECORD_KIND,
        label: seq === undefined ? "record" : `seq ${seq}`,
        ...(seq === undefined ? {} : { seq }),
        valid: false,
        reasons: [e.code],
        messages: [`${e.code}: ${e.shortMessage}`],
      };
    }
    // With an expected agreement every record joins one chain, so strays are named.
    const key = this.opts.agreement === undefined ? bindingKey(record) : "expected";
    let chain = this.chains.get(key);
    if (chain === undefined) {
      const [expectedStart, startAnchor] = this.start(record);
      chain = {
        binding: this.opts.agreement ?? record,
        verifier: createMeterRecordVerifier({
          signers: this.opts.signers,
          ...(this.opts.agreement === undefined ? {} : { agreement: this.opts.agreement }),
          ...(this.opts.capacity === undefined ? {} : { capacity: this.opts.capacity }),
          expectedStart,
        }),
        startAnchor,
        records: 0,
        firstSeq: record.seq,
        lastSeq: record.seq,
        head: GENESIS_HASH,
        total: toDecimal(0),
        unit: unitOf(record),
        mixedUnits: false,
        kept: [],
        bySeq: new Map(),
      };
      this.chains.set(key, chain);
    }
    this.firstKey ??= key;
    const result = chain.verifier.check(record);
    chain.records++;
    chain.lastSeq = record.seq;
    if (result.digest !== undefined) chain.head = result.digest;
    if (unitOf(record) !== chain.unit) chain.mixedUnits = true;
    else chain.total = chain.total.plus(record.quantity.value);
    if (this.opts.retain) {
      chain.kept.push(record);
      if (!chain.bySeq.has(record.seq)) chain.bySeq.set(record.seq, record);
    }
    let verdict: LineVerdict = {
      line: lineNo,
      kind: RECORD_KIND,
      label: `seq ${record.seq}`,
      seq: record.seq,
      valid: result.valid,
      reasons: result.valid ? EMPTY : result.reasons,
      messages: result.valid ? EMPTY : result.errors.map((e) => `${e.code}: ${e.shortMessage}`),
      signer: record.signer,
      agreementId: record.agreementId,
    };
    if (key !== this.firstKey && this.opts.allowMultiple !== true) {
      const first = this.chains.get(this.firstKey)!.binding;
      verdict = withReason(
        verdict,
        "metering.cli.multipleAgreements",
        `record of agreement ${record.agreementId}, the file's first record is of ${first.agreementId}: pass --agreement, or --allow-multiple`,
      );
    }
    return verdict;
  }

  /**
   * The file's first agreement when `b` is another one and several are not allowed (and no
   * agreement is expected: then `wrongAgreement` names it), else undefined.
   */
  otherAgreementThan(b: MeterRecordBinding): MeterRecordBinding | undefined {
    if (this.opts.allowMultiple === true || this.opts.agreement !== undefined) return undefined;
    const first = this.firstKey === undefined ? undefined : this.chains.get(this.firstKey)?.binding;
    return first !== undefined && bindingKey(first) !== bindingKey(b) ? first : undefined;
  }

  /** Kept records of the statement's agreement with seq in its range, in seq order. */
  covered(st: PeriodStatement): { records: MeterRecord[]; missing: number } {
    const chain = this.chains.get(this.opts.agreement === undefined ? bindingKey(st) : "expected");
    const records: MeterRecord[] = [];
    let missing = 0;
    for (let s = st.firstSeq; s <= st.lastSeq; s++) {
      const r = chain?.bySeq.get(s);
      if (r === undefined || bindingKey(r) !== bindingKey(st)) missing++;
      else records.push(r);
    }
    return { records, missing };
  }

  private chainFor(agreementId: string | undefined): Chain | undefined {
    if (agreementId === undefined)
      return this.firstKey === undefined ? undefined : this.chains.get(this.firstKey);
    for (const c of this.chains.values()) if (c.binding.agreementId === agreementId) return c;
    return undefined;
  }

  /** Checks the anchors given beside the file against the chains. */
  finish(head: string | undefined): AnchorCheck[] {
    const out: AnchorCheck[] = [];
    const check = (anchor: AnchorCheck["anchor"], problems: [string, string][]) => {
      out.push({
        anchor,
        valid: problems.length === 0,
        reasons: [...new Set(problems.map(([c]) => c))],
        messages: problems.map(([c, m]) => `${c}: ${m}`),
      });
    };
    if (this.opts.after !== undefined) {
      // The first record's prevHash is checked by the chain's verifier (its expected start).
      check(
        "after",
        this.chainFor(this.opts.agreement?.agreementId) === undefined
          ? [["metering.cli.anchorNotMet", "the file holds no records to continue the chain"]]
          : [],
      );
    }
    if (head !== undefined) {
      const c = this.chainFor(this.opts.agreement?.agreementId);
      check(
        "head",
        c === undefined
          ? [["metering.cli.anchorNotMet", "the file holds no records"]]
          : c.head !== head
            ? [
                [
                  "metering.cli.anchorNotMet",
                  `the last record (seq ${c.lastSeq}) has digest ${c.head}, not ${head}: records are missing at the end or the file was changed`,
                ],
              ]
            : [],
      );
    }
    const st = this.opts.statement;
    if (st !== undefined) {
      const c = this.chains.get(this.opts.agreement === undefined ? bindingKey(st) : "expected");
      const problems: [string, string][] = [];
      if (c === undefined)
        problems.push([
          "metering.cli.anchorNotMet",
          `the file holds no records of agreement ${st.agreementId}`,
        ]);
      else {
        const result = verifyPeriodStatement(st, {
          signers: this.opts.signers,
          ...(this.opts.agreement === undefined ? {} : { agreement: this.opts.agreement }),
          records: c.kept,
        });
        for (const e of result.errors) problems.push([e.code, e.shortMessage]);
        const expected = st.lastSeq - st.firstSeq + 1;
        if (c.records !== expected) {
          problems.push([
            "metering.cli.anchorNotMet",
            `the statement covers ${expected} records (seq ${st.firstSeq}..${st.lastSeq}), the file holds ${c.records}`,
          ]);
        }
      }
      check("statement", problems);
    }
    const inv = this.opts.invoice;
    if (inv !== undefined) {
      const c = this.chainFor(inv.agreementId ?? this.opts.agreement?.agreementId);
      const problems: [string, string][] = [];
      const not = (m: string) => problems.push(["metering.cli.anchorNotMet", m]);
      if (c === undefined) not(`the file holds no records of agreement ${inv.agreementId ?? "?"}`);
      else {
        if (c.records !== inv.count)
          not(`the invoice covers ${inv.count} records, the file holds ${c.records}`);
        if (c.firstSeq !== inv.firstSeq || c.lastSeq !== inv.lastSeq) {
          not(
            `the invoice covers seq ${inv.firstSeq}..${inv.lastSeq}, the file holds seq ${c.firstSeq}..${c.lastSeq}`,
          );
        }
        if (inv.headHash !== undefined && inv.headHash !== c.head) {
          not(`the invoice's head hash ${inv.headHash} is not the last record's digest ${c.head}`);
        }
        const unit = `${inv.usage.unit}${inv.usage.basis === undefined ? "" : ` ${inv.usage.basis}`}`;
        if (c.mixedUnits || unit !== c.unit || !c.total.eq(inv.usage.value)) {
          not(
            `the invoice bills a usage of ${inv.usage.value.toFixed()} ${unit}, the records sum to ${c.mixedUnits ? "mixed units" : `${c.total.toFixed()} ${c.unit}`}`,
          );
        }
      }
      check("invoice", problems);
    }
    return out;
  }

  summaries(head: string | undefined): ChainSummary[] {
    const out: ChainSummary[] = [];
    for (const c of this.chains.values()) {
      const st = this.opts.statement;
      const endAnchor: ChainSummary["endAnchor"] =
        st !== undefined && bindingKey(st) === bindingKey(c.binding)
          ? "statement"
          : this.opts.invoice?.headHash !== undefined &&
              c === this.chainFor(this.opts.invoice.agreementId ?? this.opts.agreement?.agreementId)
            ? "invoice"
            : head !== undefined && c === this.chainFor(this.opts.agreement?.agreementId)
              ? "head"
              : "none";
      out.push({
        agreementId: c.binding.agreementId,
        chainId: c.binding.chainId,
        verifyingContract: c.binding.verifyingContract,
        records: c.records,
        firstSeq: c.firstSeq,
        lastSeq: c.lastSeq,
        head: c.head,
        total: c.mixedUnits ? "mixed units" : `${c.total.toFixed()} ${c.unit}`,
        endAnchor,
        startAnchor: c.startAnchor,
      });
    }
    return out;
  }
}

function unitOf(r: MeterRecord): string {
  return `${r.quantity.unit}${r.quantity.basis === undefined ? "" : ` ${r.quantity.basis}`}`;
}

/**
 * Verifies period statement lines against the records of the same file: a statement
 * whose records are not all in the file is invalid (`metering.statement.recordsMissing`) —
 * its signature alone proves only that its signer said so.
 */
export function verifyStatementLines(
  lines: readonly ExportLine[],
  ctx: VerifyContext,
): LineVerdict[] {
  const run = (ctx as VerifyContext & { run?: RecordRun }).run;
  let fallback: RecordRun | undefined;
  const records = (): RecordRun => {
    if (run !== undefined) return run;
    if (fallback === undefined) {
      fallback = new RecordRun({
        signers: ctx.signers,
        ...(ctx.agreement === undefined ? {} : { agreement: ctx.agreement }),
        retain: true,
        allowMultiple: true,
      });
      for (const l of ctx.all) {
        if ((l.json.kind ?? RECORD_KIND) === RECORD_KIND) fallback.check(l.line, l.json);
      }
    }
    return fallback;
  };
  return lines.map((l) => {
    let statement: PeriodStatement;
    try {
      statement = periodStatementFromJson(l.json);
    } catch (err) {
      const e = err as MaaskitError;
      return invalidLine(l.line, "periodStatement", e.code, e.shortMessage);
    }
    const label = `statement ${statement.firstSeq}..${statement.lastSeq}`;
    const { records: covered, missing } = records().covered(statement);
    const result = verifyPeriodStatement(statement, {
      signers: ctx.signers,
      ...(ctx.agreement === undefined ? {} : { agreement: ctx.agreement }),
      ...(missing === 0 ? { records: covered } : {}),
    });
    const reasons: string[] = [...result.reasons];
    const messages = result.errors.map((e) => `${e.code}: ${e.shortMessage}`);
    const first = records().otherAgreementThan(statement);
    if (first !== undefined) {
      const code = "metering.cli.multipleAgreements";
      reasons.push(code);
      messages.push(
        `${code}: statement of agreement ${statement.agreementId}, the file's first record is of ${first.agreementId}: pass --agreement, or --allow-multiple`,
      );
    }
    if (missing > 0) {
      const code = "metering.statement.recordsMissing";
      reasons.push(code);
      messages.push(
        `${code}: ${missing} of the ${statement.lastSeq - statement.firstSeq + 1} records it covers are not in the file; a statement is checked against its records (or use it as --statement beside them)`,
      );
    }
    return {
      line: l.line,
      kind: "periodStatement",
      label,
      valid: reasons.length === 0,
      reasons,
      messages,
      signer: statement.signer,
      agreementId: statement.agreementId,
    };
  });
}
