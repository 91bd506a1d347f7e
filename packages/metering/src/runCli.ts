import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { MaaskitError } from "./errors.js";
import { verifyLogLines } from "./log/verifyLogLines.js";
import {
  type MeterRecord,
  type MeterRecordBinding,
  meterRecordFromJson,
} from "./records/meterRecord.js";
import type { MeterRecordCapacity } from "./records/meterRecordVerifier.js";
import { periodStatementFromJson, verifyPeriodStatement } from "./records/periodStatement.js";
import { verifyMeterRecords } from "./records/verifyMeterRecords.js";

/** Where the CLI writes and reads; replaceable in tests. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly readFile?: (path: string) => Promise<string>;
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
}

/** What the verify command was told to expect. */
export interface VerifyContext {
  /** Allowed signer addresses (empty: any valid signature). */
  readonly signers: readonly string[];
  readonly agreement?: MeterRecordBinding;
  /** The machine's capacity: records above capacity × duration are invalid. */
  readonly capacity?: MeterRecordCapacity;
  /** Every line of the file, for kinds that check against others (statements vs records). */
  readonly all: readonly ExportLine[];
}

/**
 * Verifies all lines of one `kind` in a file. Register more kinds (e.g. maintenance
 * history entries) in {@link lineKinds} or pass them to `runCli`.
 */
export type LineKindVerifier = (lines: readonly ExportLine[], ctx: VerifyContext) => LineVerdict[];

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

const USAGE = `Usage: maaskit verify <file.jsonl> [options]

Verifies an exported file of signed meter records (JSON Lines, one record per line):
signatures, signer, agreement, gapless seq, hash chain, contiguous periods, registers.
Period statements in the same file are checked against its records; signed log entries
("kind":"logEntry", e.g. a maintenance history) are checked as hash chains per log.

Options:
  --signer <0x…>       allowed signer address (repeatable; default: any valid signature)
  --agreement <id>     expected agreement id (with --chain-id and --contract)
  --chain-id <n>       expected chain id (default 0: off-chain / embedded ledger)
  --contract <0x…>     expected verifying contract (default: the zero address)
  --capacity <v>/<per> the machine's capacity, e.g. 12.5/min (per s, min or h, in the
                       records' unit): a record above capacity × its duration is invalid
  --json               machine-readable output
  -h, --help           this text

Exit status: 0 if every line is valid, 1 if any is not, 2 on usage or I/O errors.
`;

/**
 * The `maaskit` command line, as a function: `argv` without node and script, output
 * through `io`; resolves to the exit status.
 *
 * @example process.exitCode = await runCli(["verify", "records.jsonl", "--json"], { stdout: console.log, stderr: console.error })
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  options: { kinds?: ReadonlyMap<string, LineKindVerifier> } = {},
): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    io.stdout(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command !== "verify") {
    io.stderr(`Unknown command ${command}\n\n${USAGE}`);
    return 2;
  }
  let parsed: ReturnType<typeof parseVerifyArgs>;
  try {
    parsed = parseVerifyArgs(rest);
  } catch (err) {
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.values.help === true) {
    io.stdout(USAGE);
    return 0;
  }
  const file = parsed.positionals[0];
  if (file === undefined || parsed.positionals.length > 1) {
    io.stderr(`verify takes exactly one file\n\n${USAGE}`);
    return 2;
  }
  let text: string;
  try {
    text = await (io.readFile ?? ((p: string) => readFile(p, "utf8")))(file);
  } catch (err) {
    io.stderr(`Cannot read ${file}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 2;
  }
  const v = parsed.values;
  const agreement: MeterRecordBinding | undefined =
    v.agreement === undefined
      ? undefined
      : {
          agreementId: v.agreement,
          chainId: Number(v["chain-id"] ?? 0),
          verifyingContract: v.contract ?? `0x${"00".repeat(20)}`,
        };
  let capacity: MeterRecordCapacity | undefined;
  if (v.capacity !== undefined) {
    const m = /^(\d+(?:\.\d+)?)\/(s|min|h)$/.exec(v.capacity);
    if (m === null || !(Number(m[1]) > 0)) {
      io.stderr(`--capacity must be <value>/<s|min|h>, e.g. 12.5/min\n\n${USAGE}`);
      return 2;
    }
    capacity = { value: m[1]!, per: m[2] as MeterRecordCapacity["per"] };
  }
  const verdicts = verifyExport(text, {
    signers: v.signer ?? [],
    ...(agreement === undefined ? {} : { agreement }),
    ...(capacity === undefined ? {} : { capacity }),
    kinds: options.kinds ?? lineKinds,
  });
  const invalid = verdicts.filter((x) => !x.valid);
  const ok = verdicts.length > 0 && invalid.length === 0;
  if (v.json === true) {
    io.stdout(
      `${JSON.stringify({
        file,
        valid: ok,
        summary: {
          lines: verdicts.length,
          valid: verdicts.length - invalid.length,
          invalid: invalid.length,
        },
        results: verdicts,
      })}\n`,
    );
  } else {
    for (const x of verdicts) {
      const head = `line ${x.line}  ${x.label}`;
      if (x.valid) io.stdout(`${head}  valid\n`);
      else for (const m of x.messages) io.stdout(`${head}  INVALID  ${m}\n`);
    }
    io.stdout(
      verdicts.length === 0
        ? `${file}: no records\n`
        : `${file}: ${verdicts.length} lines, ${verdicts.length - invalid.length} valid, ${invalid.length} invalid\n`,
    );
  }
  return ok ? 0 : 1;
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
      capacity: { type: "string" },
      json: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
}

/**
 * Verifies the text of an export file (JSON Lines): groups lines by `kind`, hands each
 * group to its verifier and returns the verdicts in line order. Lines that are not JSON
 * objects, or of an unknown kind, are invalid.
 *
 * @example const verdicts = verifyExport(text, { signers: ["0x…"] })
 */
export function verifyExport(
  text: string,
  options: {
    signers?: readonly string[];
    agreement?: MeterRecordBinding;
    capacity?: MeterRecordCapacity;
    kinds?: ReadonlyMap<string, LineKindVerifier>;
  } = {},
): LineVerdict[] {
  const kinds = options.kinds ?? lineKinds;
  const verdicts: LineVerdict[] = [];
  const all: ExportLine[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (raw.trim() === "") return;
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      json = undefined;
    }
    if (json === null || typeof json !== "object" || Array.isArray(json)) {
      verdicts.push(invalidLine(i + 1, "?", "metering.cli.badLine", "not a JSON object"));
      return;
    }
    all.push({ line: i + 1, json: json as Record<string, unknown> });
  });
  const groups = new Map<string, ExportLine[]>();
  for (const l of all) {
    const kind = typeof l.json.kind === "string" ? l.json.kind : "meterRecord";
    if (!kinds.has(kind)) {
      verdicts.push(invalidLine(l.line, kind, "metering.cli.unknownKind", `unknown kind ${kind}`));
      continue;
    }
    groups.set(kind, [...(groups.get(kind) ?? []), l]);
  }
  const ctx: VerifyContext = {
    signers: options.signers ?? [],
    ...(options.agreement === undefined ? {} : { agreement: options.agreement }),
    ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
    all,
  };
  for (const [kind, lines] of groups) verdicts.push(...kinds.get(kind)!(lines, ctx));
  return verdicts.sort((a, b) => a.line - b.line);
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

interface ParsedRecordLine {
  line: number;
  json: Record<string, unknown>;
  record?: MeterRecord;
  error?: MaaskitError;
}

function parseRecordLines(lines: readonly ExportLine[]): ParsedRecordLine[] {
  return lines.map((l) => {
    try {
      return { line: l.line, json: l.json, record: meterRecordFromJson(l.json) };
    } catch (err) {
      return {
        line: l.line,
        json: l.json,
        error:
          err instanceof MaaskitError
            ? err
            : new MaaskitError("metering.record.malformed", String(err)),
      };
    }
  });
}

/** Verifies meter record lines: each agreement's chain in file order. */
function verifyRecordLines(lines: readonly ExportLine[], ctx: VerifyContext): LineVerdict[] {
  const out: LineVerdict[] = [];
  const chains = new Map<string, ParsedRecordLine[]>();
  for (const p of parseRecordLines(lines)) {
    if (p.record === undefined) {
      const seq = typeof p.json.seq === "number" ? p.json.seq : undefined;
      out.push({
        line: p.line,
        kind: "meterRecord",
        label: seq === undefined ? "record" : `seq ${seq}`,
        ...(seq === undefined ? {} : { seq }),
        valid: false,
        reasons: [p.error!.code],
        messages: [`${p.error!.code}: ${p.error!.shortMessage}`],
      });
      continue;
    }
    // With an expected agreement every record joins one chain, so strays are named.
    const key = ctx.agreement === undefined ? bindingKey(p.record) : "expected";
    chains.set(key, [...(chains.get(key) ?? []), p]);
  }
  for (const chain of chains.values()) {
    const { results } = verifyMeterRecords(
      chain.map((p) => p.record!),
      {
        signers: ctx.signers,
        ...(ctx.agreement === undefined ? {} : { agreement: ctx.agreement }),
        ...(ctx.capacity === undefined ? {} : { capacity: ctx.capacity }),
      },
    );
    results.forEach((r, i) => {
      out.push({
        line: chain[i]!.line,
        kind: "meterRecord",
        label: `seq ${r.seq}`,
        ...(r.seq === undefined ? {} : { seq: r.seq }),
        valid: r.valid,
        reasons: r.reasons,
        messages: r.errors.map((e) => `${e.code}: ${e.shortMessage}`),
      });
    });
  }
  return out;
}

/** Verifies period statement lines against the records of the same file. */
function verifyStatementLines(lines: readonly ExportLine[], ctx: VerifyContext): LineVerdict[] {
  const records = parseRecordLines(
    ctx.all.filter(
      (l) => (typeof l.json.kind === "string" ? l.json.kind : "meterRecord") === "meterRecord",
    ),
  )
    .map((p) => p.record)
    .filter((r): r is MeterRecord => r !== undefined);
  return lines.map((l) => {
    let statement: ReturnType<typeof periodStatementFromJson>;
    try {
      statement = periodStatementFromJson(l.json);
    } catch (err) {
      const e = err as MaaskitError;
      return invalidLine(l.line, "periodStatement", e.code, e.shortMessage);
    }
    const covered = records.filter(
      (r) =>
        bindingKey(r) === bindingKey(statement) &&
        r.seq >= statement.firstSeq &&
        r.seq <= statement.lastSeq,
    );
    const result = verifyPeriodStatement(statement, {
      signers: ctx.signers,
      ...(ctx.agreement === undefined ? {} : { agreement: ctx.agreement }),
      ...(covered.length > 0 ? { records: covered } : {}),
    });
    return {
      line: l.line,
      kind: "periodStatement",
      label: `statement ${statement.firstSeq}..${statement.lastSeq}`,
      valid: result.valid,
      reasons: result.reasons,
      messages: result.errors.map((e) => `${e.code}: ${e.shortMessage}`),
    };
  });
}
