import {
  decimalToString,
  type Quantity,
  type QuantityJson,
  quantity,
  type UnitCode,
  volumeBases,
} from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { z } from "zod";
import { type Currency, currencySchema } from "./currency.js";
import {
  decimalField,
  instantField,
  integerField,
  objectField,
  oneOfField,
  parseWith,
  textField,
} from "./schemaFields.js";
import type { RoundingMode } from "./tariff.js";

/** What an invoice line is for; lines appear in this order. */
export type InvoiceLineKind =
  | "included"
  | "usage"
  | "featureActivation"
  | "featurePeriod"
  | "baseFee"
  | "minimumTopUp"
  | "slaCredit";

/**
 * One line of an invoice. `amount` is already rounded (per line) in currency units;
 * the SLA credit is negative.
 */
export interface InvoiceLine {
  readonly kind: InvoiceLineKind;
  /** Feature lines (`featureActivation`, `featurePeriod`): the feature's id. */
  readonly feature?: string;
  /** Usage lines: the 0-based index of the tariff tier. */
  readonly tier?: number;
  /** Included, usage and feature-activation lines (`C62`): the quantity the line prices. */
  readonly quantity?: Quantity;
  /** Included (0), usage and feature-activation lines: the unit price applied. */
  readonly unitPrice?: Decimal;
  /** SLA credit line: the credited fraction of the period charge. */
  readonly rate?: Decimal;
  readonly amount: Decimal;
}

/** The availability an SLA credit was computed from (time elements in milliseconds). */
export interface InvoiceAvailability {
  readonly plannedBusyTime: Decimal;
  readonly actualProductionTime: Decimal;
  /**
   * Σ APT / Σ PBT rounded half-even to 6 decimals, for display only (the credit is
   * computed from the time elements exactly); null when Σ PBT is 0.
   */
  readonly ratio: Decimal | null;
  /** Shortfall steps counted below the threshold (0 when at or above it). */
  readonly shortfallSteps: Decimal;
  /** Credited fraction of the period charge, after the cap. */
  readonly creditRate: Decimal;
}

/** The records an invoice was derived from: its `seq` range and chain head. */
export interface InvoiceRecords {
  readonly count: number;
  readonly firstSeq: bigint;
  readonly lastSeq: bigint;
  /** `hash` of the last record, when the input carried it. */
  readonly headHash?: string;
  /** `prevHash` of the last record, when the input carried it. */
  readonly headPrevHash?: string;
}

/**
 * The price of one period, derived by `priceRecords` from a tariff and the period's records
 * alone, so a customer can re-derive and check it. `total` = Σ line amounts.
 */
export interface Invoice {
  readonly version: 1;
  readonly agreementId?: string;
  readonly period: { readonly start: Date; readonly end: Date };
  readonly currency: Currency;
  readonly rounding: { readonly mode: RoundingMode; readonly decimals: number };
  /** Total metered quantity of the period (before the included volume). */
  readonly usage: Quantity;
  readonly lines: readonly InvoiceLine[];
  readonly total: Decimal;
  /** null when the period had no records. */
  readonly records: InvoiceRecords | null;
  /** Present when the tariff has an availability SLA. */
  readonly availability?: InvoiceAvailability;
}

/** JSON form of an invoice line. */
export interface InvoiceLineJson {
  kind: InvoiceLineKind;
  feature?: string;
  tier?: number;
  quantity?: QuantityJson;
  unitPrice?: string;
  rate?: string;
  amount: string;
}

/** JSON form of an invoice: decimals as plain decimal strings, seq as decimal strings, ISO instants. */
export interface InvoiceJson {
  version: 1;
  agreementId?: string;
  period: { start: string; end: string };
  currency: { symbol: string; decimals: number; address?: string };
  rounding: { mode: RoundingMode; decimals: number };
  usage: QuantityJson;
  lines: InvoiceLineJson[];
  total: string;
  records: {
    count: number;
    firstSeq: string;
    lastSeq: string;
    headHash?: string;
    headPrevHash?: string;
  } | null;
  availability?: {
    plannedBusyTime: string;
    actualProductionTime: string;
    ratio: string | null;
    shortfallSteps: string;
    creditRate: string;
  };
}

export type InvoiceErrorCode = "settlement.invoice.invalid";

/**
 * Serialises an invoice to canonical JSON: fixed key order, normalised decimal strings
 * (no exponent, no trailing zeros), ISO-8601 UTC instants. `JSON.stringify` of the result
 * gives the same bytes for the same invoice.
 *
 * @example JSON.stringify(invoiceToJson(invoice))
 */
export function invoiceToJson(invoice: Invoice): InvoiceJson {
  const out: InvoiceJson = { version: 1 } as InvoiceJson;
  if (invoice.agreementId !== undefined) out.agreementId = invoice.agreementId;
  out.period = { start: invoice.period.start.toISOString(), end: invoice.period.end.toISOString() };
  out.currency =
    invoice.currency.address === undefined
      ? { symbol: invoice.currency.symbol, decimals: invoice.currency.decimals }
      : {
          symbol: invoice.currency.symbol,
          decimals: invoice.currency.decimals,
          address: invoice.currency.address,
        };
  out.rounding = { mode: invoice.rounding.mode, decimals: invoice.rounding.decimals };
  out.usage = quantityJson(invoice.usage);
  out.lines = invoice.lines.map((line) => {
    const l: InvoiceLineJson = { kind: line.kind } as InvoiceLineJson;
    if (line.feature !== undefined) l.feature = line.feature;
    if (line.tier !== undefined) l.tier = line.tier;
    if (line.quantity !== undefined) l.quantity = quantityJson(line.quantity);
    if (line.unitPrice !== undefined) l.unitPrice = decimalToString(line.unitPrice);
    if (line.rate !== undefined) l.rate = decimalToString(line.rate);
    l.amount = decimalToString(line.amount);
    return l;
  });
  out.total = decimalToString(invoice.total);
  if (invoice.records === null) out.records = null;
  else {
    const r = invoice.records;
    const records: NonNullable<InvoiceJson["records"]> = {
      count: r.count,
      firstSeq: r.firstSeq.toString(),
      lastSeq: r.lastSeq.toString(),
    };
    if (r.headHash !== undefined) records.headHash = r.headHash;
    if (r.headPrevHash !== undefined) records.headPrevHash = r.headPrevHash;
    out.records = records;
  }
  if (invoice.availability !== undefined) {
    const a = invoice.availability;
    out.availability = {
      plannedBusyTime: decimalToString(a.plannedBusyTime),
      actualProductionTime: decimalToString(a.actualProductionTime),
      ratio: a.ratio === null ? null : decimalToString(a.ratio),
      shortfallSteps: decimalToString(a.shortfallSteps),
      creditRate: decimalToString(a.creditRate),
    };
  }
  return out;
}

// Invoice figures are sums over a period and amounts at up to 36 decimals: wider bounds
// than the tariff's inputs.
const wide = { maxFractionDigits: 64, maxIntegerDigits: 64 };
const wideDecimal = () => decimalField(wide);
const amountField = () => decimalField({ ...wide, signed: true });

const quantitySchema = z
  .object(
    {
      value: wideDecimal(),
      unit: textField(),
      basis: oneOfField(volumeBases).optional(),
    },
    { error: "must be an object" },
  )
  .transform((q): Quantity => quantity(q.value, q.unit as UnitCode, q.basis));

const lineSchema = objectField({
  kind: oneOfField([
    "included",
    "usage",
    "featureActivation",
    "featurePeriod",
    "baseFee",
    "minimumTopUp",
    "slaCredit",
  ]),
  feature: textField().optional(),
  tier: integerField(0, 1e6).optional(),
  quantity: quantitySchema.optional(),
  unitPrice: wideDecimal().optional(),
  rate: wideDecimal().optional(),
  amount: amountField(),
}).transform(
  (l): InvoiceLine => ({
    kind: l.kind,
    ...(l.feature === undefined ? {} : { feature: l.feature }),
    ...(l.tier === undefined ? {} : { tier: l.tier }),
    ...(l.quantity === undefined ? {} : { quantity: l.quantity }),
    ...(l.unitPrice === undefined ? {} : { unitPrice: l.unitPrice }),
    ...(l.rate === undefined ? {} : { rate: l.rate }),
    amount: l.amount,
  }),
);

const seqError = "must be a decimal integer string";
const seqField = () =>
  z
    .string({ error: seqError })
    .regex(/^\d+$/, { error: seqError })
    .transform((v) => BigInt(v));

const recordsSchema = objectField({
  count: integerField(1, Number.MAX_SAFE_INTEGER),
  firstSeq: seqField(),
  lastSeq: seqField(),
  headHash: textField().optional(),
  headPrevHash: textField().optional(),
}).transform(
  (r): InvoiceRecords => ({
    count: r.count,
    firstSeq: r.firstSeq,
    lastSeq: r.lastSeq,
    ...(r.headHash === undefined ? {} : { headHash: r.headHash }),
    ...(r.headPrevHash === undefined ? {} : { headPrevHash: r.headPrevHash }),
  }),
);

const availabilitySchema = objectField({
  plannedBusyTime: wideDecimal(),
  actualProductionTime: wideDecimal(),
  ratio: wideDecimal().nullable(),
  shortfallSteps: wideDecimal(),
  creditRate: wideDecimal(),
});

/** The members of an invoice's JSON form (what `invoiceToJson` writes), one schema each. */
export const invoiceShape = objectField({
  version: z.literal(1, { error: "must be 1" }),
  agreementId: textField().optional(),
  period: z.object({ start: instantField(), end: instantField() }, { error: "must be an object" }),
  currency: currencySchema,
  rounding: z.object(
    { mode: oneOfField(["halfEven", "halfUp"]), decimals: integerField(0, 36) },
    { error: "must be an object" },
  ),
  usage: quantitySchema,
  lines: z.array(lineSchema, { error: "must be an array" }),
  total: amountField(),
  records: recordsSchema.nullable(),
  availability: availabilitySchema.optional(),
});

/** The invoice schema: its JSON form in, an `Invoice` out. */
export const invoiceSchema = invoiceShape.transform(
  (o): Invoice => ({
    version: 1,
    ...(o.agreementId === undefined ? {} : { agreementId: o.agreementId }),
    period: { start: o.period.start, end: o.period.end },
    currency: o.currency,
    rounding: { mode: o.rounding.mode, decimals: o.rounding.decimals },
    usage: o.usage,
    lines: o.lines,
    total: o.total,
    records: o.records,
    ...(o.availability === undefined ? {} : { availability: o.availability }),
  }),
);

/**
 * Parses an invoice from its JSON form, or throws one `settlement.invoice.invalid` whose
 * `details.problems` lists every problem as `{ path, message }`.
 *
 * @example invoiceFromJson(JSON.parse(text))
 */
export function invoiceFromJson(json: unknown): Invoice {
  return parseWith(
    invoiceSchema,
    json,
    "settlement.invoice.invalid" satisfies InvoiceErrorCode,
    "Invoice",
  );
}

function quantityJson(q: Quantity): QuantityJson {
  const out: QuantityJson = { value: decimalToString(q.value), unit: q.unit };
  if (q.basis !== undefined) out.basis = q.basis;
  return out;
}
