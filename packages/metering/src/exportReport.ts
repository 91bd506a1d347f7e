import type { Decimal } from "decimal.js";
import type { MeterRecordBinding } from "./records/meterRecord.js";
import type { MeterRecordCapacity } from "./records/meterRecordVerifier.js";
import type { PeriodStatement } from "./records/periodStatement.js";

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
 * history entries) in `lineKinds` or pass them to `runCli`.
 */
export type LineKindVerifier = (lines: readonly ExportLine[], ctx: VerifyContext) => LineVerdict[];

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

/** Options of `verifyExport` and `verifyExportReport`. */
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

/** Everything `verifyExportReport` found. */
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

export const RECORD_KIND = "meterRecord";

export const EMPTY: readonly string[] = Object.freeze([]);

export function withReason(v: LineVerdict, code: string, message: string): LineVerdict {
  return {
    ...v,
    valid: false,
    reasons: [...v.reasons, code],
    messages: [...v.messages, `${code}: ${message}`],
  };
}

export function invalidLine(
  line: number,
  kind: string,
  code: string,
  message: string,
): LineVerdict {
  return {
    line,
    kind,
    label: kind,
    valid: false,
    reasons: [code],
    messages: [`${code}: ${message}`],
  };
}

export function bindingKey(b: MeterRecordBinding): string {
  return `${b.chainId}|${b.verifyingContract.toLowerCase()}|${b.agreementId}`;
}
