import {
  type InvoiceAnchor,
  invoiceAnchorFromJson,
  isMaaskitError,
  type LineVerdict,
  type MeterRecord,
  type MeterRecordBinding,
  meterRecordFromJson,
  parseStrictJson,
  verifyExportReport,
  ZERO_ADDRESS,
} from "@maaskit/metering";
import {
  type Agreement,
  type Invoice,
  type InvoiceLine,
  invoiceFromJson,
  parseAgreement,
  priceRecords,
} from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import { lineRecords, type RecordSpan } from "./lineRecords.js";

/** What the customer drops into the page: the texts of the files. */
export interface CustomerFiles {
  /** The records export (JSON Lines, `maaskit verify`'s format). */
  readonly records: string;
  /** The ledger's invoice (`invoiceToJson`). */
  readonly invoice: string;
  /** The agreement (`agreementToJson`): signer keys, tariff, currency. */
  readonly agreement: string;
  /** Optional: the maintenance history (signed log lines, JSON Lines). */
  readonly history?: string;
  /** Optional: the ledger's records head (`{ agreementId, nextSeq, headHash }`). */
  readonly checkpoint?: string;
}

/** One named problem: a code (`metering.record.badSignature`, `verifier.invoice.lineMismatch`…) and where. */
export interface Finding {
  readonly code: string;
  /** What failed, for people: `line 7 (seq 6)`, `invoice line 2 (usage tier 1)`. */
  readonly where: string;
  readonly message: string;
}

/** One line of the invoice beside the re-computed one. */
export interface LineComparison {
  readonly label: string;
  /** The ledger's figures (quantity, unit price, amount), or absent when the ledger has no such line. */
  readonly ledger?: LineFigures;
  /** The re-computed figures, or absent when the re-computation has no such line. */
  readonly recomputed?: LineFigures;
  readonly match: boolean;
  /** The records behind the number. */
  readonly records: RecordSpan | null;
}

export interface LineFigures {
  readonly quantity?: string;
  readonly unitPrice?: string;
  readonly amount: string;
}

/** One record, for the usage chart and the table. */
export interface RecordPoint {
  readonly line: number;
  readonly seq: number;
  readonly start: number;
  readonly end: number;
  /** For display only (the chart's y axis); the figures above are exact strings. */
  readonly quantity: string;
  readonly flags: readonly string[];
  readonly quarantined: number;
  readonly valid: boolean;
}

/** Everything the page shows. */
export interface CustomerReport {
  readonly valid: boolean;
  readonly findings: readonly Finding[];
  readonly verdicts: readonly LineVerdict[];
  readonly lines: readonly LineComparison[];
  readonly total?: {
    readonly ledger: string;
    readonly recomputed?: string;
    readonly match: boolean;
  };
  readonly usage?: { readonly ledger: string; readonly recomputed?: string; readonly unit: string };
  readonly currency?: string;
  readonly points: readonly RecordPoint[];
  readonly signers: readonly string[];
  readonly history?: { readonly entries: number; readonly valid: boolean };
}

/**
 * Checks what a vendor handed the customer, with maaskit's own code: every record's
 * signature (libsecp256k1), the chain, the registers, the agreement binding and the allowed
 * keys (`verifyExportReport`, as `maaskit verify`), the records against the invoice's
 * anchor; then prices the records again under the agreement's tariff (`priceRecords`, as
 * the ledger does) and compares the invoice line by line, to the cent.
 */
export function checkExport(files: CustomerFiles): CustomerReport {
  const findings: Finding[] = [];
  // verdict messages start with their code: shown once, beside the place
  const note = (code: string, where: string, message: string) =>
    findings.push({
      code,
      where,
      message: message.startsWith(`${code}: `) ? message.slice(code.length + 2) : message,
    });

  const agreement = attempt(note, "agreement", () =>
    parseAgreement(parseStrictJson(files.agreement)),
  );
  const invoiceJson = attempt(note, "invoice", () => parseStrictJson(files.invoice));
  const invoice =
    invoiceJson === undefined
      ? undefined
      : attempt(note, "invoice", () => invoiceFromJson(invoiceJson));
  const anchor: InvoiceAnchor | undefined =
    invoiceJson === undefined
      ? undefined
      : attempt(note, "invoice", () => invoiceAnchorFromJson(invoiceJson));
  const checkpoint =
    files.checkpoint === undefined
      ? undefined
      : attempt(note, "checkpoint", () => readCheckpoint(files.checkpoint!));

  // Records: parsed once for the binding, the chart and the re-computation.
  const parsed = parseRecordLines(files.records);
  const binding = agreement === undefined ? undefined : bindingOf(agreement, parsed);
  if (
    agreement !== undefined &&
    invoice?.agreementId !== undefined &&
    invoice.agreementId !== agreement.agreementId
  ) {
    note(
      "verifier.invoice.wrongAgreement",
      "invoice",
      `the invoice is for ${invoice.agreementId}, the agreement is ${agreement.agreementId}`,
    );
  }
  if (
    agreement !== undefined &&
    checkpoint !== undefined &&
    checkpoint.agreementId !== agreement.agreementId
  ) {
    note(
      "verifier.checkpoint.wrongAgreement",
      "checkpoint",
      `the checkpoint is for ${checkpoint.agreementId}`,
    );
  }
  const report = verifyExportReport(files.records, {
    signers: agreement?.signers.map((s) => s.address) ?? [],
    ...(binding === undefined ? {} : { agreement: binding }),
    ...(anchor === undefined ? {} : { invoice: anchor }),
    ...(checkpoint === undefined ? {} : { head: checkpoint.headHash }),
    ...(agreement?.capacity === undefined
      ? {}
      : { capacity: { ...agreement.capacity, unit: agreement.tariff.metered.unit } }),
  });
  const byLine = new Map(report.verdicts.map((v) => [v.line, v]));
  for (const v of report.verdicts) {
    if (v.valid) continue;
    for (const [i, code] of v.reasons.entries())
      note(code, `line ${v.line} (${v.label})`, v.messages[i] ?? code);
  }
  for (const a of report.anchors) {
    if (a.valid) continue;
    for (const [i, code] of a.reasons.entries())
      note(code, `${a.anchor} anchor`, a.messages[i] ?? code);
  }
  if (report.verdicts.length === 0)
    note("verifier.records.empty", "records", "the export holds no lines");

  const points: RecordPoint[] = parsed.map(({ line, record }) => ({
    line,
    seq: Number(record.seq),
    start: record.periodStart.getTime(),
    end: record.periodEnd.getTime(),
    quantity: record.quantity.value.toFixed(),
    flags: Object.entries(record.flags)
      .filter(([, on]) => on)
      .map(([name]) => name),
    quarantined: record.quarantined,
    valid: byLine.get(line)?.valid === true,
  }));

  let lines: LineComparison[] = [];
  let total: CustomerReport["total"];
  let usage: CustomerReport["usage"];
  if (agreement !== undefined && invoice !== undefined) {
    // Price what the file holds for this agreement, as the ledger would have: a changed
    // quantity changes the figures (the broken signature and chain are named above, by the
    // verification; pricing without the digests shows what the changed figures would bill),
    // a missing record stops the pricing with its reason.
    const own = parsed
      .filter(({ record }) => record.agreementId === agreement.agreementId)
      .map(({ record }) => record);
    const recomputed = attempt(note, "re-computation", () =>
      priceRecords(agreement.tariff, own, {
        period: invoice.period,
        currency: agreement.currency,
        agreementId: agreement.agreementId,
      }),
    );
    lines = compareLines(invoice, recomputed, own, agreement);
    lines.forEach((l, i) => {
      if (!l.match) {
        note(
          "verifier.invoice.lineMismatch",
          `invoice line ${i + 1} (${l.label})`,
          recomputed === undefined
            ? `the ledger says ${describe(l.ledger)}; these records cannot be priced (see the re-computation problem)`
            : `the ledger says ${describe(l.ledger)}, the records and the tariff give ${describe(l.recomputed)}`,
        );
      }
    });
    const totalMatch = recomputed?.total.eq(invoice.total) === true;
    total = {
      ledger: money(invoice.total, invoice),
      ...(recomputed === undefined ? {} : { recomputed: money(recomputed.total, invoice) }),
      match: totalMatch,
    };
    usage = {
      ledger: invoice.usage.value.toFixed(),
      ...(recomputed === undefined ? {} : { recomputed: recomputed.usage.value.toFixed() }),
      unit: invoice.usage.unit,
    };
    if (recomputed !== undefined && !totalMatch) {
      note(
        "verifier.invoice.totalMismatch",
        "invoice total",
        `the ledger says ${total.ledger}, re-computed ${total.recomputed}`,
      );
    }
    if (recomputed !== undefined && !recomputed.usage.value.eq(invoice.usage.value)) {
      note(
        "verifier.invoice.usageMismatch",
        "invoice usage",
        `the ledger says ${usage.ledger}, the records sum to ${usage.recomputed} ${usage.unit}`,
      );
    }
    if (invoice.currency.symbol !== agreement.currency.symbol) {
      note(
        "verifier.invoice.currencyMismatch",
        "invoice currency",
        `the invoice is in ${invoice.currency.symbol}, the agreement in ${agreement.currency.symbol}`,
      );
    }
  }

  let history: CustomerReport["history"];
  if (files.history !== undefined) {
    const h = verifyExportReport(files.history, { allowMultiple: true });
    for (const v of h.verdicts) {
      if (v.valid) continue;
      for (const [i, code] of v.reasons.entries())
        note(code, `history line ${v.line} (${v.label})`, v.messages[i] ?? code);
    }
    history = {
      entries: h.verdicts.length,
      valid: h.verdicts.length > 0 && h.verdicts.every((v) => v.valid),
    };
  }

  return {
    valid: findings.length === 0,
    findings,
    verdicts: report.verdicts,
    lines,
    ...(total === undefined ? {} : { total }),
    ...(usage === undefined ? {} : { usage }),
    ...(invoice === undefined ? {} : { currency: invoice.currency.symbol }),
    points,
    signers: report.signers,
    ...(history === undefined ? {} : { history }),
  };
}

function attempt<T>(
  note: (code: string, where: string, message: string) => void,
  where: string,
  f: () => T,
): T | undefined {
  try {
    return f();
  } catch (err) {
    if (isMaaskitError(err)) {
      const problems = (
        err.details as { problems?: { path: string; message: string }[] } | undefined
      )?.problems;
      const more = problems?.map((p) => `${p.path}: ${p.message}`).join("; ");
      note(err.code, where, more ? `${err.shortMessage} — ${more}` : err.shortMessage);
    } else note("verifier.input.unreadable", where, String(err));
    return undefined;
  }
}

function parseRecordLines(text: string): { line: number; record: MeterRecord }[] {
  const out: { line: number; record: MeterRecord }[] = [];
  text.split("\n").forEach((raw, i) => {
    if (raw.trim() === "") return;
    try {
      const json = JSON.parse(raw) as { kind?: unknown };
      if (json.kind !== undefined && json.kind !== "meterRecord") return;
      out.push({ line: i + 1, record: meterRecordFromJson(json) });
    } catch {
      // a line that does not parse is named by verifyExportReport
    }
  });
  return out;
}

/** The agreement's record domain: off-chain unless its records say which chain they are bound to. */
function bindingOf(
  agreement: Agreement,
  parsed: readonly { record: MeterRecord }[],
): MeterRecordBinding {
  const first = parsed.find((p) => p.record.agreementId === agreement.agreementId)?.record;
  return {
    agreementId: agreement.agreementId,
    chainId: first?.chainId ?? 0,
    verifyingContract: first?.verifyingContract ?? ZERO_ADDRESS,
  };
}

function readCheckpoint(text: string): { agreementId: string; headHash: string } {
  const o = parseStrictJson(text) as Record<string, unknown> | null;
  if (
    o === null ||
    typeof o !== "object" ||
    typeof o.agreementId !== "string" ||
    typeof o.headHash !== "string" ||
    !/^0x[0-9a-f]{64}$/.test(o.headHash)
  ) {
    throw new Error(
      "the checkpoint must be the ledger's records head { agreementId, nextSeq, headHash }",
    );
  }
  return { agreementId: o.agreementId, headHash: o.headHash };
}

function figures(l: InvoiceLine): LineFigures {
  return {
    ...(l.quantity === undefined ? {} : { quantity: l.quantity.value.toFixed() }),
    ...(l.unitPrice === undefined ? {} : { unitPrice: l.unitPrice.toFixed() }),
    amount: l.amount.toFixed(),
  };
}

function sameLine(a: InvoiceLine, b: InvoiceLine): boolean {
  const eq = (x?: Decimal, y?: Decimal) =>
    x === undefined ? y === undefined : y !== undefined && x.eq(y);
  return (
    a.kind === b.kind &&
    a.tier === b.tier &&
    eq(a.quantity?.value, b.quantity?.value) &&
    (a.quantity?.unit ?? "") === (b.quantity?.unit ?? "") &&
    eq(a.unitPrice, b.unitPrice) &&
    eq(a.rate, b.rate) &&
    a.amount.eq(b.amount)
  );
}

/** Invoice lines paired by position: kind, tier, quantity, price and amount must all agree. */
function compareLines(
  invoice: Invoice,
  recomputed: Invoice | undefined,
  records: readonly MeterRecord[],
  agreement: Agreement,
): LineComparison[] {
  const n = Math.max(invoice.lines.length, recomputed?.lines.length ?? 0);
  const out: LineComparison[] = [];
  for (let i = 0; i < n; i++) {
    const ledger = invoice.lines[i];
    const mine = recomputed?.lines[i];
    const shown = (ledger ?? mine)!;
    out.push({
      label: lineLabel(shown),
      ...(ledger === undefined ? {} : { ledger: figures(ledger) }),
      ...(mine === undefined ? {} : { recomputed: figures(mine) }),
      match: ledger !== undefined && mine !== undefined && sameLine(ledger, mine),
      records: lineRecords(shown, records, agreement.tariff),
    });
  }
  return out;
}

/** A person's name for an invoice line. */
export function lineLabel(l: InvoiceLine): string {
  switch (l.kind) {
    case "usage":
      return `usage tier ${(l.tier ?? 0) + 1}`;
    case "included":
      return "included volume";
    case "baseFee":
      return "base fee";
    case "minimumTopUp":
      return "minimum commitment top-up";
    case "slaCredit":
      return "availability SLA credit";
    default:
      return l.kind;
  }
}

function describe(f: LineFigures | undefined): string {
  if (f === undefined) return "no such line";
  const q = f.quantity === undefined ? "" : `${f.quantity} × ${f.unitPrice ?? "?"} = `;
  return `${q}${f.amount}`;
}

function money(d: Decimal, invoice: Invoice): string {
  return `${d.toFixed(invoice.rounding.decimals)} ${invoice.currency.symbol}`;
}
