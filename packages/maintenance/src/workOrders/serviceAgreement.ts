import { dec, MaaskitError } from "@maaskit/metering";
import type { Currency } from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import { isAddress } from "ethers/address";
import type { RequiredInterval } from "../history/checkWarranty.js";

/**
 * The contract under which a provider services a machine: who does the work, what each
 * type of work costs (or that it is quoted), how fast it must be accepted and finished,
 * who arbitrates, and which service intervals the warranty requires.
 */
export interface ServiceAgreement {
  readonly id: string;
  readonly machineId: string;
  readonly customer: string;
  readonly provider: string;
  readonly arbiter: string;
  /** Who else may fund work orders (e.g. the usage agreement's wallet). */
  readonly funder?: string;
  /** The machine's key: its signed "condition cleared" confirms completion. */
  readonly machineSigner?: string;
  readonly currency: Currency;
  /** Fixed price per service type; a type not listed needs a quote. */
  readonly prices: Readonly<Record<string, Decimal>>;
  /** The provider must accept (and the customer fund) within this many ms of the request. */
  readonly responseMs: number;
  /** The work must be reported complete within this many ms of the request. */
  readonly completionMs: number;
  readonly warranty: readonly RequiredInterval[];
}

/** JSON form of a service agreement (prices as decimal strings, times as hours). */
export interface ServiceAgreementJson {
  id: string;
  machineId: string;
  customer: string;
  provider: string;
  arbiter: string;
  funder?: string;
  machineSigner?: string;
  currency: Currency;
  prices: Record<string, string>;
  responseHours: number;
  completionHours: number;
  warranty?: { serviceType: string; every: { runHours?: string; months?: number } }[];
}

/**
 * Validates a service agreement's JSON, reporting every problem at once
 * (`maintenance.serviceAgreement.invalid`, `details.problems`).
 */
export function parseServiceAgreement(input: ServiceAgreementJson): ServiceAgreement {
  const problems: { path: string; message: string }[] = [];
  const p = (path: string, message: string) => problems.push({ path, message });
  // The JSON comes from a file: anything can be in it. A non-object is checked as an empty
  // one, so every missing field is reported instead of a TypeError.
  const isObject = typeof input === "object" && input !== null && !Array.isArray(input);
  if (!isObject) p("", "must be a JSON object");
  const json = (isObject ? input : {}) as ServiceAgreementJson;
  for (const k of ["id", "machineId"] as const) {
    if (typeof json[k] !== "string" || json[k].length === 0) p(k, "must be a non-empty string");
  }
  for (const k of ["customer", "provider", "arbiter", "funder", "machineSigner"] as const) {
    const v = json[k];
    if (
      (v !== undefined || k === "customer" || k === "provider" || k === "arbiter") &&
      !(typeof v === "string" && isAddress(v))
    ) {
      p(k, "must be a 20-byte hex address");
    }
  }
  if (
    !json.currency ||
    typeof json.currency.symbol !== "string" ||
    !Number.isInteger(json.currency.decimals)
  ) {
    p("currency", "must be { symbol, decimals }");
  }
  const prices: Record<string, Decimal> = {};
  for (const [type, price] of Object.entries(json.prices ?? {})) {
    try {
      const d = dec(price);
      if (d.lte(0)) p(`prices.${type}`, "must be > 0");
      else if (json.currency && d.decimalPlaces() > json.currency.decimals) {
        p(`prices.${type}`, `has more than ${json.currency.decimals} decimals`);
      }
      prices[type] = d;
    } catch {
      p(`prices.${type}`, "must be a decimal string");
    }
  }
  for (const k of ["responseHours", "completionHours"] as const) {
    if (typeof json[k] !== "number" || !(json[k] > 0)) p(k, "must be a positive number of hours");
  }
  if (json.completionHours < json.responseHours) p("completionHours", "must be >= responseHours");
  if (
    json.warranty !== undefined &&
    !(
      Array.isArray(json.warranty) &&
      json.warranty.every(
        (w) =>
          typeof w === "object" &&
          w !== null &&
          typeof w.serviceType === "string" &&
          typeof w.every === "object" &&
          w.every !== null,
      )
    )
  ) {
    p("warranty", "must be a list of { serviceType, every }");
  }
  if (problems.length > 0) {
    throw new MaaskitError(
      "maintenance.serviceAgreement.invalid",
      `Service agreement has ${problems.length} problem(s): ${problems.map((x) => `${x.path}: ${x.message}`).join("; ")}`,
      { details: { problems } },
    );
  }
  return {
    id: json.id,
    machineId: json.machineId,
    customer: json.customer,
    provider: json.provider,
    arbiter: json.arbiter,
    ...(json.funder ? { funder: json.funder } : {}),
    ...(json.machineSigner ? { machineSigner: json.machineSigner } : {}),
    currency: json.currency,
    prices,
    responseMs: Math.round(json.responseHours * 3_600_000),
    completionMs: Math.round(json.completionHours * 3_600_000),
    warranty: (json.warranty ?? []).map((w) => ({ serviceType: w.serviceType, every: w.every })),
  };
}
