import { verifyGrantLines, verifyRevocationLines } from "./entitlements/verifyGrantLines.js";
import { MaaskitError } from "./errors.js";
import type {
  ExportReport,
  InvoiceAnchor,
  LineKindVerifier,
  LineVerdict,
  VerifyExportOptions,
} from "./exportReport.js";
import { type ExportSummary, ExportVerifier } from "./exportStream.js";
import { verifyLogLines } from "./log/verifyLogLines.js";
import { toDecimal } from "./quantity.js";
import { verifyRecordLines } from "./recordRun.js";
import { verifyStatementLines } from "./verifyStatementLines.js";

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
  ["entitlementGrant", verifyGrantLines],
  ["entitlementRevocation", verifyRevocationLines],
]);

const utf8 = new TextDecoder("utf-8", { fatal: true });

export function decodeUtf8(input: Uint8Array | string): string {
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

// Bytes, not Buffer: this module is bundled into the browser verifier (examples/verifier-web).
const STATEMENT_BYTES = new TextEncoder().encode("periodStatement");

/** Whether `needle` occurs in `haystack` (native indexOf for the first byte, then a compare). */
function includesBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  const first = needle[0];
  const last = haystack.length - needle.length;
  for (
    let i = haystack.indexOf(first!);
    i !== -1 && i <= last;
    i = haystack.indexOf(first!, i + 1)
  ) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return true;
  }
  return false;
}

/** Whether period-statement lines may be in the input (then its records are kept for them). */
export function mayHoldStatements(input: string | Uint8Array): boolean {
  return typeof input === "string"
    ? input.includes("periodStatement")
    : includesBytes(input, STATEMENT_BYTES);
}

/**
 * Verifies an export file (JSON Lines; bytes are decoded as strict UTF-8 per line) in one
 * pass: meter records are streamed through one incremental verifier per agreement (from
 * seq 0, or from the anchor), other kinds are verified in batches by {@link lineKinds}.
 * A line is invalid when it is not strict JSON (invalid UTF-8, duplicate member, number not
 * written canonically), of an unknown kind, or fails its kind's checks. Without
 * `allowMultiple`, a record or statement of a second agreement, and a line signed by a
 * second key when no signers are expected, is invalid. Returns one verdict per line: for
 * files too big to hold, use {@link verifyExportStream}.
 *
 * @example const { exitCode, verdicts } = verifyExportReport(bytes, { signers: ["0x…"] })
 */
export function verifyExportReport(
  input: string | Uint8Array,
  options: VerifyExportOptions = {},
): ExportReport {
  const verdicts: LineVerdict[] = [];
  const verifier = new ExportVerifier({
    ...options,
    kinds: options.kinds ?? lineKinds,
    retainRecords: mayHoldStatements(input),
    onVerdict: (v) => verdicts.push(v),
    maxProblems: 0,
  });
  verifier.push(input);
  const s = verifier.end();
  return {
    verdicts,
    anchors: s.anchors,
    chains: s.chains,
    signers: s.signers,
    signerChecked: s.signerChecked,
    valid: s.valid,
    exitCode: s.exitCode,
  };
}

/** Options of {@link verifyExportStream}. */
export interface VerifyExportStreamOptions extends VerifyExportOptions {
  /**
   * Keep the records for period-statement lines of the file (default: false — memory stays
   * bounded and a statement line in the file is invalid as its records are not at hand;
   * `maaskit verify` sets it when the file contains the word `periodStatement`).
   */
  readonly retainRecords?: boolean;
  /** Called with every line's verdict, in line order (e.g. to print it). */
  readonly onVerdict?: (verdict: LineVerdict) => void;
  /** How many invalid verdicts the summary keeps (default 100). */
  readonly maxProblems?: number;
}

/**
 * Verifies an export file streamed in chunks (e.g. `fs.createReadStream(path)`) in one
 * pass with bounded memory: what it returns is counts, the first invalid verdicts and one
 * summary per agreement and signer, not a verdict per line (pass `onVerdict` to see each).
 * The same checks, verdicts and exit status as {@link verifyExportReport}.
 *
 * @example const { exitCode, invalidLines } = await verifyExportStream(createReadStream(file), { signers: ["0x…"] })
 */
export async function verifyExportStream(
  source: AsyncIterable<Uint8Array | string> | Iterable<Uint8Array | string>,
  options: VerifyExportStreamOptions = {},
): Promise<ExportSummary> {
  const verifier = new ExportVerifier({
    ...options,
    kinds: options.kinds ?? lineKinds,
    retainRecords: options.retainRecords === true,
  });
  for await (const chunk of source) verifier.push(chunk);
  return verifier.end();
}
