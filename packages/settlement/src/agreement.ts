import { decimalToString, MaaskitError } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import { getAddress, isAddress } from "ethers/address";
import { type Currency, readCurrency } from "./currency.js";
import { join, type Problem, ProblemList } from "./problems.js";
import { readTariff, type Tariff, type TariffJson, tariffToJson } from "./tariff.js";

/**
 * A key allowed to sign the agreement's records during `[validFrom, validUntil)`.
 * Rotating a key = adding the new one (ranges of different keys may overlap for a
 * hand-over) and closing the old one's range.
 */
export interface AgreementSigner {
  /** EVM address of the signing key, EIP-55 checksummed. */
  readonly address: string;
  readonly validFrom: Date;
  /** Exclusive; absent = until further notice. */
  readonly validUntil?: Date;
}

/**
 * How periods are cut: calendar months in an IANA time zone (local midnight on the 1st to
 * local midnight on the next 1st), or `days` local calendar days from an anchor instant
 * (default: the agreement's start), keeping the anchor's local time of day. Both follow
 * the zone's DST rules, so a period is not a fixed number of hours. See `billingPeriodAt`.
 */
export type BillingPeriod =
  | { readonly kind: "calendarMonth"; readonly timeZone: string }
  | {
      readonly kind: "days";
      readonly days: number;
      readonly timeZone: string;
      readonly anchor?: Date;
    };

/**
 * How usage is paid: from a prepaid balance that settlement draws down (`overdraft` says
 * what happens when it runs out: `suspend` the agreement, or `accrueDebt` and keep
 * metering), or invoiced with payment due `netDays` after the period's settlement.
 */
export type PaymentTerms =
  | { readonly kind: "prepaid"; readonly overdraft: "suspend" | "accrueDebt" }
  | { readonly kind: "invoiced"; readonly netDays: number };

/**
 * The most the machine can deliver of the metered quantity (in the tariff's metered unit)
 * per `per`: e.g. `{ value: 12.5, per: "min" }` for a compressor rated at 12.5 m³/min. A
 * record claiming more than `value × its duration` is rejected, whatever its flags say.
 */
export interface AgreementCapacity {
  readonly value: Decimal;
  readonly per: "s" | "min" | "h";
}

/**
 * Who pays whom for which machine's usage, signed by which keys, under which tariff and
 * terms. `agreementId` is `0x` + 64 lower-case hex digits (a bytes32 on chain); records
 * carry the same string.
 *
 * @example
 * const agreement = parseAgreement(JSON.parse(fs.readFileSync("agreement.json", "utf8")));
 */
export interface Agreement {
  readonly agreementId: string;
  /** Human-readable name. */
  readonly name: string;
  /** Addresses (0x…) or other ids of the provider (who is paid) and the customer (who pays). */
  readonly parties: { readonly provider: string; readonly customer: string };
  readonly machineId: string;
  readonly signers: readonly AgreementSigner[];
  readonly tariff: Tariff;
  readonly currency: Currency;
  readonly billingPeriod: BillingPeriod;
  readonly paymentTerms: PaymentTerms;
  /**
   * The machine's maximum delivery; ledgers then reject records above it. Absent = no
   * bound is checked (records are trusted up to their signature and chain).
   */
  readonly capacity?: AgreementCapacity;
  readonly start: Date;
  /** Exclusive end; absent = open-ended. */
  readonly end?: Date;
  readonly status: "active" | "suspended" | "terminated";
}

/** JSON form of an agreement: instants as ISO-8601 strings, the tariff as `TariffJson`. */
export interface AgreementJson {
  agreementId: string;
  name: string;
  parties: { provider: string; customer: string };
  machineId: string;
  signers: { address: string; validFrom: string; validUntil?: string }[];
  tariff: TariffJson;
  currency: { symbol: string; decimals: number; address?: string };
  billingPeriod:
    | { kind: "calendarMonth"; timeZone: string }
    | { kind: "days"; days: number; timeZone: string; anchor?: string };
  paymentTerms:
    | { kind: "prepaid"; overdraft: "suspend" | "accrueDebt" }
    | { kind: "invoiced"; netDays: number };
  capacity?: { value: string; per: "s" | "min" | "h" };
  start: string;
  end?: string;
  status: "active" | "suspended" | "terminated";
}

export type AgreementErrorCode = "settlement.agreement.invalid";

/**
 * Validates an agreement's JSON (its tariff included) and returns ALL problems found.
 *
 * @example validateAgreement(json) // [] when valid
 */
export function validateAgreement(json: unknown): readonly Problem[] {
  const p = new ProblemList();
  readAgreement(json, p);
  return p.items;
}

/**
 * Parses an agreement from JSON, or throws one `settlement.agreement.invalid` whose
 * `details.problems` lists every problem (tariff problems under `tariff.…`).
 *
 * @example const agreement = parseAgreement(json);
 */
export function parseAgreement(json: unknown): Agreement {
  const p = new ProblemList();
  const agreement = readAgreement(json, p);
  if (!p.empty || agreement === undefined) {
    throw new MaaskitError<AgreementErrorCode>(
      "settlement.agreement.invalid",
      `Agreement is invalid (${p.items.length} problem${p.items.length === 1 ? "" : "s"})`,
      { details: { problems: p.items } },
    );
  }
  return agreement;
}

/**
 * Serialises an agreement to canonical JSON (fixed key order, ISO instants in UTC with
 * milliseconds, canonical tariff).
 *
 * @example JSON.stringify(agreementToJson(agreement))
 */
export function agreementToJson(a: Agreement): AgreementJson {
  const billingPeriod: AgreementJson["billingPeriod"] =
    a.billingPeriod.kind === "calendarMonth"
      ? { kind: "calendarMonth", timeZone: a.billingPeriod.timeZone }
      : {
          kind: "days",
          days: a.billingPeriod.days,
          timeZone: a.billingPeriod.timeZone,
          ...(a.billingPeriod.anchor === undefined
            ? {}
            : { anchor: a.billingPeriod.anchor.toISOString() }),
        };
  return {
    agreementId: a.agreementId,
    name: a.name,
    parties: { provider: a.parties.provider, customer: a.parties.customer },
    machineId: a.machineId,
    signers: a.signers.map((s) => ({
      address: s.address,
      validFrom: s.validFrom.toISOString(),
      ...(s.validUntil === undefined ? {} : { validUntil: s.validUntil.toISOString() }),
    })),
    tariff: tariffToJson(a.tariff),
    currency:
      a.currency.address === undefined
        ? { symbol: a.currency.symbol, decimals: a.currency.decimals }
        : { symbol: a.currency.symbol, decimals: a.currency.decimals, address: a.currency.address },
    billingPeriod,
    paymentTerms:
      a.paymentTerms.kind === "prepaid"
        ? { kind: "prepaid", overdraft: a.paymentTerms.overdraft }
        : { kind: "invoiced", netDays: a.paymentTerms.netDays },
    ...(a.capacity === undefined
      ? {}
      : { capacity: { value: decimalToString(a.capacity.value), per: a.capacity.per } }),
    start: a.start.toISOString(),
    ...(a.end === undefined ? {} : { end: a.end.toISOString() }),
    status: a.status,
  };
}

function readAgreement(json: unknown, p: ProblemList): Agreement | undefined {
  const o = p.object(json, "");
  if (o === undefined) return undefined;
  p.unknownKeys(o, "", [
    "agreementId",
    "name",
    "parties",
    "machineId",
    "signers",
    "tariff",
    "currency",
    "billingPeriod",
    "paymentTerms",
    "capacity",
    "start",
    "end",
    "status",
  ]);
  let agreementId: string | undefined;
  if (typeof o.agreementId !== "string" || !/^0x[0-9a-f]{64}$/.test(o.agreementId)) {
    p.add("agreementId", "must be 0x followed by 64 lower-case hex digits (a bytes32)");
  } else agreementId = o.agreementId;
  const name = p.string(o.name, "name");
  const parties = readParties(o.parties, p);
  const machineId = p.string(o.machineId, "machineId");
  const signers = readSigners(o.signers, p);
  const tariff = readTariff(o.tariff, "tariff", p);
  const currency = readCurrency(o.currency, "currency", p);
  // Cross-check on the raw JSON, so it is reported even when other tariff terms are wrong.
  const rawRounding = (o.tariff as { rounding?: { decimals?: unknown } } | undefined)?.rounding;
  const rawCurrency = (o.currency as { decimals?: unknown } | undefined)?.decimals;
  if (
    typeof rawCurrency === "number" &&
    Number.isInteger(rawCurrency) &&
    typeof rawRounding?.decimals === "number" &&
    Number.isInteger(rawRounding.decimals) &&
    rawRounding.decimals > rawCurrency
  ) {
    p.add("tariff.rounding.decimals", `must not exceed the currency's decimals (${rawCurrency})`);
  }
  const billingPeriod = readBillingPeriod(o.billingPeriod, p);
  const paymentTerms = readPaymentTerms(o.paymentTerms, p);
  const capacity = o.capacity === undefined ? undefined : readCapacity(o.capacity, p);
  const start = p.instant(o.start, "start");
  const end = o.end === undefined ? undefined : p.instant(o.end, "end");
  if (start !== undefined && end !== undefined && !(end.getTime() > start.getTime())) {
    p.add("end", "must be after start");
  }
  const status = p.oneOf(o.status, "status", ["active", "suspended", "terminated"] as const);
  if (
    !p.empty ||
    agreementId === undefined ||
    name === undefined ||
    parties === undefined ||
    machineId === undefined ||
    signers === undefined ||
    tariff === undefined ||
    currency === undefined ||
    billingPeriod === undefined ||
    paymentTerms === undefined ||
    start === undefined ||
    status === undefined
  ) {
    return undefined;
  }
  return {
    agreementId,
    name,
    parties,
    machineId,
    signers,
    tariff,
    currency,
    billingPeriod,
    paymentTerms,
    ...(capacity === undefined ? {} : { capacity }),
    start,
    ...(end === undefined ? {} : { end }),
    status,
  };
}

function readCapacity(value: unknown, p: ProblemList): AgreementCapacity | undefined {
  const o = p.object(value, "capacity");
  if (o === undefined) return undefined;
  p.unknownKeys(o, "capacity", ["value", "per"]);
  const v = p.decimal(o.value, "capacity.value", { positive: true });
  const per = p.oneOf(o.per, "capacity.per", ["s", "min", "h"] as const);
  return v === undefined || per === undefined ? undefined : { value: v, per };
}

function readParties(value: unknown, p: ProblemList): Agreement["parties"] | undefined {
  const o = p.object(value, "parties");
  if (o === undefined) return undefined;
  p.unknownKeys(o, "parties", ["provider", "customer"]);
  const party = (key: "provider" | "customer") => {
    const path = `parties.${key}`;
    const v = p.string(o[key], path);
    // A 0x-prefixed party is meant to be an address: check it, rather than accept a typo.
    if (v?.startsWith("0x") && !isAddress(v)) {
      p.add(path, "starts with 0x but is not a valid 20-byte address");
      return undefined;
    }
    return v;
  };
  const provider = party("provider");
  const customer = party("customer");
  return provider === undefined || customer === undefined ? undefined : { provider, customer };
}

function readSigners(value: unknown, p: ProblemList): AgreementSigner[] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    p.add("signers", "must be a non-empty array of signer keys");
    return undefined;
  }
  const before = p.items.length;
  const signers: (AgreementSigner | undefined)[] = value.map((raw: unknown, i: number) => {
    const path = `signers[${i}]`;
    const o = p.object(raw, path);
    if (o === undefined) return undefined;
    p.unknownKeys(o, path, ["address", "validFrom", "validUntil"]);
    let address: string | undefined;
    if (typeof o.address !== "string" || !isAddress(o.address)) {
      p.add(join(path, "address"), "must be a 20-byte hex address");
    } else address = getAddress(o.address);
    const validFrom = p.instant(o.validFrom, join(path, "validFrom"));
    const validUntil =
      o.validUntil === undefined ? undefined : p.instant(o.validUntil, join(path, "validUntil"));
    if (validFrom !== undefined && validUntil !== undefined && !(validUntil > validFrom)) {
      p.add(join(path, "validUntil"), "must be after validFrom");
      return undefined;
    }
    if (address === undefined || validFrom === undefined) return undefined;
    if (o.validUntil !== undefined && validUntil === undefined) return undefined;
    return validUntil === undefined ? { address, validFrom } : { address, validFrom, validUntil };
  });
  // One key must not have two overlapping ranges: which range applies would be ambiguous.
  signers.forEach((s, i) => {
    if (s === undefined) return;
    for (let j = 0; j < i; j++) {
      const t = signers[j];
      if (t === undefined || t.address !== s.address) continue;
      const sEnd = s.validUntil?.getTime() ?? Number.POSITIVE_INFINITY;
      const tEnd = t.validUntil?.getTime() ?? Number.POSITIVE_INFINITY;
      if (s.validFrom.getTime() < tEnd && t.validFrom.getTime() < sEnd) {
        p.add(`signers[${i}]`, `overlaps the validity range of signers[${j}] (same key)`);
        return;
      }
    }
  });
  if (p.items.length > before || signers.some((s) => s === undefined)) return undefined;
  return signers as AgreementSigner[];
}

function readBillingPeriod(value: unknown, p: ProblemList): BillingPeriod | undefined {
  const o = p.object(value, "billingPeriod");
  if (o === undefined) return undefined;
  const kind = p.oneOf(o.kind, "billingPeriod.kind", ["calendarMonth", "days"] as const);
  const timeZone = readTimeZone(o.timeZone, p);
  if (kind === "calendarMonth") {
    p.unknownKeys(o, "billingPeriod", ["kind", "timeZone"]);
    return timeZone === undefined ? undefined : { kind, timeZone };
  }
  if (kind === undefined) return undefined;
  p.unknownKeys(o, "billingPeriod", ["kind", "days", "timeZone", "anchor"]);
  const days = p.integer(o.days, "billingPeriod.days", 1, 3660);
  const anchor = o.anchor === undefined ? undefined : p.instant(o.anchor, "billingPeriod.anchor");
  if (timeZone === undefined || days === undefined) return undefined;
  if (o.anchor !== undefined && anchor === undefined) return undefined;
  return anchor === undefined ? { kind, days, timeZone } : { kind, days, timeZone, anchor };
}

function readTimeZone(value: unknown, p: ProblemList): string | undefined {
  const path = "billingPeriod.timeZone";
  const tz = p.string(value, path);
  if (tz === undefined) return undefined;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return tz;
  } catch {
    p.add(path, 'must be an IANA time zone such as "Europe/Berlin" or "UTC"');
    return undefined;
  }
}

function readPaymentTerms(value: unknown, p: ProblemList): PaymentTerms | undefined {
  const o = p.object(value, "paymentTerms");
  if (o === undefined) return undefined;
  const kind = p.oneOf(o.kind, "paymentTerms.kind", ["prepaid", "invoiced"] as const);
  if (kind === "prepaid") {
    p.unknownKeys(o, "paymentTerms", ["kind", "overdraft"]);
    const overdraft = p.oneOf(o.overdraft, "paymentTerms.overdraft", [
      "suspend",
      "accrueDebt",
    ] as const);
    return overdraft === undefined ? undefined : { kind, overdraft };
  }
  if (kind === undefined) return undefined;
  p.unknownKeys(o, "paymentTerms", ["kind", "netDays"]);
  const netDays = p.integer(o.netDays, "paymentTerms.netDays", 0, 365);
  return netDays === undefined ? undefined : { kind, netDays };
}
