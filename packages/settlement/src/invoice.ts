import {
  decimalToString,
  MaaskitError,
  type Quantity,
  type QuantityJson,
  quantity,
  type UnitCode,
  type VolumeBasis,
} from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { type Currency, readCurrency } from "./currency.js";
import { join, ProblemList } from "./problems.js";
import type { RoundingMode } from "./tariff.js";

/** What an invoice line is for; lines appear in this order. */
export type InvoiceLineKind = "included" | "usage" | "baseFee" | "minimumTopUp" | "slaCredit";

/**
 * One line of an invoice. `amount` is already rounded (per line) in currency units;
 * the SLA credit is negative.
 */
export interface InvoiceLine {
  readonly kind: InvoiceLineKind;
  /** Usage lines: the 0-based index of the tariff tier. */
  readonly tier?: number;
  /** Included and usage lines: the quantity the line prices. */
  readonly quantity?: Quantity;
  /** Included (0) and usage lines: the unit price applied. */
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

/**
 * Parses an invoice from its JSON form, or throws one `settlement.invoice.invalid` whose
 * `details.problems` lists every problem as `{ path, message }`.
 *
 * @example invoiceFromJson(JSON.parse(text))
 */
export function invoiceFromJson(json: unknown): Invoice {
  const p = new ProblemList();
  const invoice = readInvoice(json, p);
  if (!p.empty || invoice === undefined) {
    throw new MaaskitError<InvoiceErrorCode>(
      "settlement.invoice.invalid",
      `Invoice is invalid (${p.items.length} problem${p.items.length === 1 ? "" : "s"})`,
      { details: { problems: p.items } },
    );
  }
  return invoice;
}

// Invoice figures are sums over a period and amounts at up to 36 decimals: wider bounds
// than the tariff's inputs.
const wide = { maxFractionDigits: 64, maxIntegerDigits: 64 };

function readInvoice(json: unknown, p: ProblemList): Invoice | undefined {
  const o = p.object(json, "");
  if (o === undefined) return undefined;
  p.unknownKeys(o, "", [
    "version",
    "agreementId",
    "period",
    "currency",
    "rounding",
    "usage",
    "lines",
    "total",
    "records",
    "availability",
  ]);
  if (o.version !== 1) p.add("version", "must be 1");
  const agreementId =
    o.agreementId === undefined ? undefined : p.string(o.agreementId, "agreementId");
  const periodObj = p.object(o.period, "period");
  const start = periodObj && p.instant(periodObj.start, "period.start");
  const end = periodObj && p.instant(periodObj.end, "period.end");
  const currency = readCurrency(o.currency, "currency", p);
  const roundingObj = p.object(o.rounding, "rounding");
  const mode =
    roundingObj && p.oneOf(roundingObj.mode, "rounding.mode", ["halfEven", "halfUp"] as const);
  const decimals = roundingObj && p.integer(roundingObj.decimals, "rounding.decimals", 0, 36);
  const usage = readQuantity(o.usage, "usage", p);
  const lines: InvoiceLine[] = [];
  if (!Array.isArray(o.lines)) p.add("lines", "must be an array");
  else {
    o.lines.forEach((raw: unknown, i: number) => {
      const line = readLine(raw, `lines[${i}]`, p);
      if (line !== undefined) lines.push(line);
    });
  }
  const total = p.decimal(o.total, "total", { ...wide, signed: true });
  const records = readRecords(o.records, p);
  const availability =
    o.availability === undefined ? undefined : readAvailability(o.availability, p);
  if (
    !p.empty ||
    start === undefined ||
    end === undefined ||
    currency === undefined ||
    mode === undefined ||
    decimals === undefined ||
    usage === undefined ||
    total === undefined ||
    records === undefined
  ) {
    return undefined;
  }
  const invoice: Invoice = {
    version: 1,
    ...(agreementId === undefined ? {} : { agreementId }),
    period: { start, end },
    currency,
    rounding: { mode, decimals },
    usage,
    lines,
    total,
    records,
    ...(availability === undefined ? {} : { availability }),
  };
  return invoice;
}

function readQuantity(value: unknown, path: string, p: ProblemList): Quantity | undefined {
  const o = p.object(value, path);
  if (o === undefined) return undefined;
  const v = p.decimal(o.value, join(path, "value"), wide);
  const unit = p.string(o.unit, join(path, "unit"));
  const basis =
    o.basis === undefined
      ? undefined
      : p.oneOf(o.basis, join(path, "basis"), [
          "ISO1217-FAD",
          "DIN1343-normal",
          "ISO2533-standard",
          "actual",
        ] as const);
  if (v === undefined || unit === undefined) return undefined;
  return quantity(v, unit as UnitCode, basis as VolumeBasis | undefined);
}

function readLine(value: unknown, path: string, p: ProblemList): InvoiceLine | undefined {
  const o = p.object(value, path);
  if (o === undefined) return undefined;
  p.unknownKeys(o, path, ["kind", "tier", "quantity", "unitPrice", "rate", "amount"]);
  const kind = p.oneOf(o.kind, join(path, "kind"), [
    "included",
    "usage",
    "baseFee",
    "minimumTopUp",
    "slaCredit",
  ] as const);
  const amount = p.decimal(o.amount, join(path, "amount"), { ...wide, signed: true });
  const tier = o.tier === undefined ? undefined : p.integer(o.tier, join(path, "tier"), 0, 1e6);
  const q =
    o.quantity === undefined ? undefined : readQuantity(o.quantity, join(path, "quantity"), p);
  const unitPrice =
    o.unitPrice === undefined ? undefined : p.decimal(o.unitPrice, join(path, "unitPrice"), wide);
  const rate = o.rate === undefined ? undefined : p.decimal(o.rate, join(path, "rate"), wide);
  if (kind === undefined || amount === undefined) return undefined;
  return {
    kind,
    ...(tier === undefined ? {} : { tier }),
    ...(q === undefined ? {} : { quantity: q }),
    ...(unitPrice === undefined ? {} : { unitPrice }),
    ...(rate === undefined ? {} : { rate }),
    amount,
  };
}

function readRecords(value: unknown, p: ProblemList): InvoiceRecords | null | undefined {
  if (value === null) return null;
  const o = p.object(value, "records");
  if (o === undefined) return undefined;
  p.unknownKeys(o, "records", ["count", "firstSeq", "lastSeq", "headHash", "headPrevHash"]);
  const count = p.integer(o.count, "records.count", 1, Number.MAX_SAFE_INTEGER);
  const seq = (key: string): bigint | undefined => {
    const v = o[key];
    if (typeof v !== "string" || !/^\d+$/.test(v)) {
      p.add(`records.${key}`, "must be a decimal integer string");
      return undefined;
    }
    return BigInt(v);
  };
  const firstSeq = seq("firstSeq");
  const lastSeq = seq("lastSeq");
  const headHash = o.headHash === undefined ? undefined : p.string(o.headHash, "records.headHash");
  const headPrevHash =
    o.headPrevHash === undefined ? undefined : p.string(o.headPrevHash, "records.headPrevHash");
  if (count === undefined || firstSeq === undefined || lastSeq === undefined) return undefined;
  return {
    count,
    firstSeq,
    lastSeq,
    ...(headHash === undefined ? {} : { headHash }),
    ...(headPrevHash === undefined ? {} : { headPrevHash }),
  };
}

function readAvailability(value: unknown, p: ProblemList): InvoiceAvailability | undefined {
  const o = p.object(value, "availability");
  if (o === undefined) return undefined;
  p.unknownKeys(o, "availability", [
    "plannedBusyTime",
    "actualProductionTime",
    "ratio",
    "shortfallSteps",
    "creditRate",
  ]);
  const num = (key: string) => p.decimal(o[key], `availability.${key}`, wide);
  const plannedBusyTime = num("plannedBusyTime");
  const actualProductionTime = num("actualProductionTime");
  const ratio = o.ratio === null ? null : num("ratio");
  const shortfallSteps = num("shortfallSteps");
  const creditRate = num("creditRate");
  if (
    plannedBusyTime === undefined ||
    actualProductionTime === undefined ||
    ratio === undefined ||
    shortfallSteps === undefined ||
    creditRate === undefined
  ) {
    return undefined;
  }
  return { plannedBusyTime, actualProductionTime, ratio, shortfallSteps, creditRate };
}

function quantityJson(q: Quantity): QuantityJson {
  const out: QuantityJson = { value: decimalToString(q.value), unit: q.unit };
  if (q.basis !== undefined) out.basis = q.basis;
  return out;
}
