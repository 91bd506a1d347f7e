import { verifyGrantLines, verifyRevocationLines } from "./entitlements/verifyGrantLines.js";
import { MaaskitError } from "./errors.js";
import {
  EXIT,
  type ExportLine,
  type ExportReport,
  type InvoiceAnchor,
  invalidLine,
  type LineKindVerifier,
  type LineVerdict,
  RECORD_KIND,
  type VerifyContext,
  type VerifyExportOptions,
  withReason,
} from "./exportReport.js";
import { verifyLogLines } from "./log/verifyLogLines.js";
import { toDecimal } from "./quantity.js";
import { RecordRun, verifyRecordLines } from "./recordRun.js";
import { parseStrictJson } from "./strictJson.js";
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

/** Reasons after which a line's `signer` field proves nothing. */
const UNSIGNED = new Set([
  "metering.record.badSignature",
  "metering.record.malformed",
  "metering.log.badSignature",
  "metering.log.malformed",
  "metering.entitlement.badSignature",
  "metering.entitlement.malformed",
  "metering.entitlement.notRepresentable",
]);

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
