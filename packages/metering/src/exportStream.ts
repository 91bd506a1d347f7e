import { MaaskitError } from "./errors.js";
import {
  type AnchorCheck,
  type ChainSummary,
  EXIT,
  type ExportLine,
  invalidLine,
  type LineKindVerifier,
  type LineVerdict,
  RECORD_KIND,
  type VerifyContext,
  type VerifyExportOptions,
  withReason,
} from "./exportReport.js";
import { RecordRun, verifyRecordLines } from "./recordRun.js";
import { parseStrictJson } from "./strictJson.js";

const utf8 = new TextDecoder("utf-8", { fatal: true });

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

/** Lines of one signer in a file. */
export interface SignerSummary {
  /** EIP-55 address, as the first line signed by it wrote it. */
  readonly signer: string;
  readonly valid: number;
  readonly invalid: number;
}

/** What a streamed verification found, without one verdict per line. */
export interface ExportSummary {
  /** Non-blank lines. */
  readonly lines: number;
  readonly validLines: number;
  readonly invalidLines: number;
  /** The first invalid lines' verdicts (at most `maxProblems`), in line order. */
  readonly problems: readonly LineVerdict[];
  /** Invalid lines beyond `problems` (counted, not kept). */
  readonly problemsNotKept: number;
  readonly anchors: readonly AnchorCheck[];
  /** One summary per agreement's chain of records. */
  readonly chains: readonly ChainSummary[];
  /** Lines per signer (signed lines whose signature could be read), first seen first. */
  readonly bySigner: readonly SignerSummary[];
  /** Who signed the valid lines (EIP-55, first seen first). */
  readonly signers: readonly string[];
  readonly signerChecked: boolean;
  readonly valid: boolean;
  readonly exitCode: number;
}

export interface ExportVerifierOptions extends VerifyExportOptions {
  /**
   * Keep every meter record so that period-statement lines of the file can be checked
   * against the records they cover (they may come after them). Off: records are checked
   * and forgotten, memory stays bounded, and a statement line is invalid
   * (`metering.statement.recordsMissing`) unless `statement` is given.
   */
  readonly retainRecords: boolean;
  /** Called with every line's verdict, in line order. */
  readonly onVerdict?: (verdict: LineVerdict) => void;
  /** How many invalid verdicts the summary keeps (default 100). */
  readonly maxProblems?: number;
}

/**
 * `maaskit verify` as a push parser, in one pass: feed the file's bytes (or text) in chunks
 * of any size, then `end()`. Lines are split across chunk boundaries and decoded as strict
 * UTF-8 one by one; meter records go through one incremental verifier per agreement as
 * they arrive and are then forgotten (unless `retainRecords`), so for a file of records
 * memory does not grow with its length: counts, the first problems, one summary per
 * agreement and signer. Lines of other kinds (statements, log entries) are verified in
 * batches at the end; verdicts are emitted in line order, so the verdicts after such a line
 * wait for the end.
 */
export class ExportVerifier {
  private readonly kinds: ReadonlyMap<string, LineKindVerifier>;
  private readonly signersExpected: readonly string[];
  private readonly streamRecords: boolean;
  private readonly run: RecordRun;
  private readonly groups = new Map<string, ExportLine[]>();
  private readonly batched: ExportLine[] = [];
  /** Verdicts waiting for an earlier batched line, from the first such line on. */
  private readonly waiting: (LineVerdict | undefined)[] = [];
  private waitingFrom = 0;
  private lineNo = 0;
  private restBytes: Uint8Array | undefined;
  private restText = "";
  private readonly bySigner = new Map<string, { signer: string; valid: number; invalid: number }>();
  private readonly validSigners: string[] = [];
  private firstSigner: string | undefined;
  private lines = 0;
  private invalidLines = 0;
  private readonly problems: LineVerdict[] = [];
  private readonly maxProblems: number;

  constructor(private readonly options: ExportVerifierOptions) {
    this.kinds = options.kinds ?? new Map([[RECORD_KIND, verifyRecordLines]]);
    this.signersExpected = options.signers ?? [];
    this.streamRecords = this.kinds.get(RECORD_KIND) === verifyRecordLines;
    this.maxProblems = options.maxProblems ?? 100;
    this.run = new RecordRun({
      signers: this.signersExpected,
      ...(options.agreement === undefined ? {} : { agreement: options.agreement }),
      retain: options.retainRecords || options.statement !== undefined,
      allowMultiple: options.allowMultiple === true,
      ...(options.after === undefined ? {} : { after: options.after }),
      ...(options.statement === undefined ? {} : { statement: options.statement }),
      ...(options.invoice === undefined ? {} : { invoice: options.invoice }),
      ...(options.capacity === undefined ? {} : { capacity: options.capacity }),
    });
  }

  /** Feeds the next chunk of the file. Do not mix bytes and text in one file. */
  push(chunk: Uint8Array | string): void {
    if (typeof chunk === "string") {
      const text = this.restText + chunk;
      let start = 0;
      for (let end = text.indexOf("\n"); end !== -1; end = text.indexOf("\n", start)) {
        this.textLine(text.slice(start, end));
        start = end + 1;
      }
      this.restText = text.slice(start);
      return;
    }
    let bytes = chunk;
    if (this.restBytes !== undefined) {
      bytes = new Uint8Array(this.restBytes.length + chunk.length);
      bytes.set(this.restBytes);
      bytes.set(chunk, this.restBytes.length);
      this.restBytes = undefined;
    }
    let start = 0;
    for (let end = bytes.indexOf(10); end !== -1; end = bytes.indexOf(10, start)) {
      this.byteLine(bytes.subarray(start, end));
      start = end + 1;
    }
    if (start < bytes.length) this.restBytes = bytes.slice(start);
  }

  /** The file ended: verifies the batched lines and the anchors, emits what waited. */
  end(): ExportSummary {
    if (this.restBytes !== undefined) this.byteLine(this.restBytes);
    else this.textLine(this.restText);
    this.restBytes = undefined;
    this.restText = "";
    const ctx: VerifyContext & { run: RecordRun } = {
      signers: this.signersExpected,
      ...(this.options.agreement === undefined ? {} : { agreement: this.options.agreement }),
      all: this.batched,
      run: this.run,
    };
    for (const [kind, lines] of this.groups) {
      for (const v of this.kinds.get(kind)!(lines, ctx)) this.settle(v);
    }
    for (const v of this.waiting) if (v !== undefined) this.emit(v);
    this.waiting.length = 0;
    const anchors = this.run.finish(this.options.head);
    const valid =
      this.lines > 0 && this.invalidLines === 0 && anchors.every((a: AnchorCheck) => a.valid);
    const signerChecked = this.signersExpected.length > 0;
    return {
      lines: this.lines,
      validLines: this.lines - this.invalidLines,
      invalidLines: this.invalidLines,
      problems: this.problems,
      problemsNotKept: this.invalidLines - this.problems.length,
      anchors,
      chains: this.run.summaries(this.options.head),
      bySigner: [...this.bySigner.values()].map((s) => ({ ...s })),
      signers: this.validSigners,
      signerChecked,
      valid,
      exitCode: !valid ? EXIT.invalid : signerChecked ? EXIT.valid : EXIT.unpinned,
    };
  }

  private byteLine(raw: Uint8Array): void {
    const line = ++this.lineNo;
    const bytes = raw.length > 0 && raw[raw.length - 1] === 13 ? raw.subarray(0, -1) : raw;
    let text: string;
    try {
      text = utf8.decode(bytes);
    } catch {
      this.settle(invalidLine(line, "?", "metering.cli.notUtf8", "the line is not valid UTF-8"));
      return;
    }
    this.check(line, text);
  }

  private textLine(raw: string): void {
    const line = ++this.lineNo;
    this.check(line, raw.endsWith("\r") ? raw.slice(0, -1) : raw);
  }

  private check(lineNo: number, text: string): void {
    if (text.trim() === "") return;
    let json: unknown;
    try {
      json = parseStrictJson(text);
    } catch (err) {
      const e = err instanceof MaaskitError ? err : undefined;
      this.settle(
        invalidLine(
          lineNo,
          "?",
          e === undefined || e.code === "metering.json.invalid" ? "metering.cli.badLine" : e.code,
          e?.shortMessage ?? String(err),
        ),
      );
      return;
    }
    if (json === null || typeof json !== "object" || Array.isArray(json)) {
      this.settle(invalidLine(lineNo, "?", "metering.cli.badLine", "not a JSON object"));
      return;
    }
    const o = json as Record<string, unknown>;
    const kind = o.kind === undefined ? RECORD_KIND : typeof o.kind === "string" ? o.kind : "?";
    if (kind === RECORD_KIND && this.streamRecords) {
      this.settle(this.run.check(lineNo, o));
      return;
    }
    if (!this.kinds.has(kind)) {
      this.settle(invalidLine(lineNo, kind, "metering.cli.unknownKind", `unknown kind ${kind}`));
      return;
    }
    // Verified at the end: hold this line's place (and every later verdict) until then.
    if (this.waiting.length === 0) this.waitingFrom = lineNo;
    this.hold(lineNo, undefined);
    const line = { line: lineNo, json: o };
    this.batched.push(line);
    let group = this.groups.get(kind);
    if (group === undefined) {
      group = [];
      this.groups.set(kind, group);
    }
    group.push(line);
  }

  private hold(lineNo: number, v: LineVerdict | undefined): void {
    this.waiting[lineNo - this.waitingFrom] = v;
  }

  /** A line's verdict is known: emit it, or keep it in line order behind a batched line. */
  private settle(v: LineVerdict): void {
    if (this.waiting.length === 0) this.emit(v);
    else this.hold(v.line, v);
  }

  /** One signer per file unless told otherwise: a second key's lines are invalid. */
  private emit(verdict: LineVerdict): void {
    let v = verdict;
    const signer = verdict.signer;
    if (signer !== undefined && !v.reasons.some((r) => UNSIGNED.has(r))) {
      const key = signer.toLowerCase();
      const first = this.firstSigner;
      this.firstSigner ??= signer;
      if (
        this.signersExpected.length === 0 &&
        this.options.allowMultiple !== true &&
        first !== undefined &&
        first.toLowerCase() !== key
      ) {
        v = withReason(
          v,
          "metering.cli.multipleSigners",
          `signed by ${signer}, the file's first signed line by ${first}: pass --signer for each expected key, or --allow-multiple`,
        );
      }
      let s = this.bySigner.get(key);
      if (s === undefined) {
        s = { signer, valid: 0, invalid: 0 };
        this.bySigner.set(key, s);
        this.validSigners.push(signer);
      }
      if (v.valid) s.valid++;
      else s.invalid++;
    }
    this.lines++;
    if (!v.valid) {
      this.invalidLines++;
      if (this.problems.length < this.maxProblems) this.problems.push(v);
    }
    this.options.onVerdict?.(v);
  }
}
