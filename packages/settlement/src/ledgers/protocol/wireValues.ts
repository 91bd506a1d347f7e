import {
  dec,
  decimalToString,
  type MeterRecord,
  meterRecordFromJson,
  meterRecordToJson,
  type PeriodStatement,
  periodStatementFromJson,
  periodStatementToJson,
  toDecimal,
} from "@maaskit/metering";
import {
  type EntitlementGrant,
  type EntitlementRevocation,
  entitlementGrantFromJson,
  entitlementGrantToJson,
  entitlementRevocationFromJson,
  entitlementRevocationToJson,
} from "@maaskit/metering/entitlements";
import type { Decimal } from "decimal.js";
import { z } from "zod";
import { type Agreement, agreementToJson, parseAgreement } from "../../agreement.js";
import { type Invoice, invoiceFromJson, invoiceToJson } from "../../invoice.js";
import type { WorkOrderStatus } from "../../ledger.js";
import type { LedgerEvent } from "../../ledgerEvents.js";

// The wire form of every value the ledger port carries, as zod 4 codecs: the input side is
// the JSON on the wire (what `z.toJSONSchema(…, { io: "input" })` documents), the output side
// the port's type. `decode` turns wire JSON into port values (Decimal stays Decimal, instants
// are Dates), `encode` the reverse (canonical decimal strings, ISO 8601 instants).

/** A canonical decimal string: no exponent, no leading `+`, no trailing fractional zeros. */
const DECIMAL = /^-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?$/;

function isDecimalValue(v: unknown): boolean {
  try {
    toDecimal(v);
    return true;
  } catch {
    return false;
  }
}

/** An exact amount: a canonical decimal string on the wire, a `Decimal` in the port. */
export const decimalWire = z.codec(
  z.string().regex(DECIMAL, "must be a canonical decimal string"),
  z.custom<Decimal>(isDecimalValue, "must be a Decimal"),
  { decode: (s) => dec(s), encode: (d) => decimalToString(toDecimal(d)) },
);

/** An instant: ISO 8601 UTC on the wire, a `Date` in the port. */
export const instantWire = z.codec(z.iso.datetime(), z.date(), {
  decode: (s) => new Date(s),
  encode: (d) => d.toISOString(),
});

const jsonObject = z.record(z.string(), z.unknown());

/**
 * A value whose JSON form has its own hand-written, specified reader (records, statements,
 * agreements, invoices): the reader reports every problem with its path.
 */
function specified<T>(
  description: string,
  decode: (json: unknown) => T,
  encode: (value: T) => unknown,
) {
  return z.codec(jsonObject.meta({ description }), z.custom<T>(), {
    decode: (j) => decode(j),
    encode: (v) => encode(v) as Record<string, unknown>,
  });
}

export const agreementWire = specified<Agreement>(
  "An agreement (docs/tariffs.md), as agreementToJson writes it",
  parseAgreement,
  agreementToJson,
);
export const meterRecordWire = specified<MeterRecord>(
  "A signed meter record (docs/meter-record.md)",
  meterRecordFromJson,
  meterRecordToJson,
);
export const entitlementGrantWire = specified<EntitlementGrant>(
  "A signed entitlement grant (docs/entitlements.md §2)",
  entitlementGrantFromJson,
  entitlementGrantToJson,
);
export const entitlementRevocationWire = specified<EntitlementRevocation>(
  "A signed entitlement revocation (docs/entitlements.md §3)",
  entitlementRevocationFromJson,
  entitlementRevocationToJson,
);
export const periodStatementWire = specified<PeriodStatement>(
  "A signed period statement (docs/meter-record.md)",
  periodStatementFromJson,
  periodStatementToJson,
);
export const invoiceWire = specified<Invoice>(
  "An invoice, as invoiceToJson writes it",
  invoiceFromJson,
  invoiceToJson,
);

/** An event: plain JSON already (ledgerEvents.ts), the same on the wire and in the port. */
export const eventWire = z.codec(
  jsonObject.meta({ description: "A ledger event (LedgerEvent)" }),
  z.custom<LedgerEvent>(),
  {
    decode: (j) => j as unknown as LedgerEvent,
    encode: (e) => e as unknown as Record<string, unknown>,
  },
);

export const currencyWire = z.object({
  symbol: z.string(),
  decimals: z.number().int().min(0),
  address: z.string().optional(),
});

export const domainWire = z.object({
  chainId: z.number().int().min(0),
  verifyingContract: z.string(),
});

export const balanceWire = z.object({
  agreementId: z.string(),
  currency: currencyWire,
  available: decimalWire,
  due: decimalWire,
  paidToProvider: decimalWire,
});

export const agreementStateWire = z.object({
  agreement: agreementWire,
  status: z.enum(["pending", "active", "suspended"]),
  recordDomain: domainWire,
});

export const recordsHeadWire = z.object({
  agreementId: z.string(),
  nextSeq: z.number().int().min(0),
  headHash: z.string(),
  periodEnd: instantWire.nullable(),
});

export const workOrderTermsWire = z.object({
  workOrderId: z.string(),
  customer: z.string(),
  provider: z.string(),
  arbiter: z.string(),
  funder: z.string().optional(),
  machineSigner: z.string().optional(),
  amount: decimalWire,
  currency: currencyWire,
  acceptBy: instantWire,
  completeBy: instantWire,
  conditionHash: z.string(),
});

const workOrderStatuses = [
  "open",
  "funded",
  "accepted",
  "completed",
  "released",
  "refunded",
  "cancelled",
  "disputed",
  "resolved",
] as const satisfies readonly WorkOrderStatus[];

export const workOrderWire = workOrderTermsWire.extend({
  status: z.enum(workOrderStatuses),
  proofHash: z.string().nullable(),
});

/** `{ agreementId }` on the wire, the bare id in the port (the getters take a string). */
export const agreementIdWire = z.codec(z.object({ agreementId: z.string() }), z.string(), {
  decode: (o) => o.agreementId,
  encode: (agreementId) => ({ agreementId }),
});

/** `{ workOrderId }` on the wire, the bare id in the port. */
export const workOrderIdWire = z.codec(z.object({ workOrderId: z.string() }), z.string(), {
  decode: (o) => o.workOrderId,
  encode: (workOrderId) => ({ workOrderId }),
});

export const entitlementStateWire = z.object({
  agreementId: z.string(),
  featureId: z.string(),
  grants: z.array(entitlementGrantWire),
  revocations: z.array(entitlementRevocationWire),
  usage: z.array(z.object({ grant: z.string(), windowStart: instantWire, used: decimalWire })),
});
