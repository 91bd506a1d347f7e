import { dec, MaaskitError } from "@maaskit/metering";
import { problemsOf } from "@maaskit/metering/internal";
import type { Currency } from "@maaskit/settlement";
import type { Decimal } from "decimal.js";
import { isAddress } from "ethers/address";
import { z } from "zod";
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

const addressError = "must be a 20-byte hex address";
const address = z
  .string({ error: addressError })
  .refine((v) => isAddress(v), { error: addressError });
const nonEmpty = z.string({ error: "must be a non-empty string" }).min(1, {
  error: "must be a non-empty string",
});
const hoursError = "must be a positive number of hours";
const hours = z.number({ error: hoursError }).positive({ error: hoursError });
const currencyError = "must be { symbol, decimals }";
const priceError = "must be a decimal string";

/** The members of a service agreement's JSON form, one schema each (unknown ones ignored). */
export const serviceAgreementShape = z.object(
  {
    id: nonEmpty,
    machineId: nonEmpty,
    customer: address,
    provider: address,
    arbiter: address,
    funder: address.optional(),
    machineSigner: address.optional(),
    currency: z.object(
      {
        symbol: z.string({ error: currencyError }),
        decimals: z.int({ error: currencyError }),
        address: z.string().optional(),
      },
      { error: currencyError },
    ),
    prices: z.record(z.string(), z.string({ error: priceError })).optional(),
    responseHours: hours,
    completionHours: hours,
    warranty: z
      .array(
        z.object({
          serviceType: z.string(),
          every: z.looseObject({
            runHours: z.union([z.string(), z.number()]).optional(),
            months: z.number().optional(),
          }),
        }),
        { error: "must be a list of { serviceType, every }" },
      )
      .optional(),
  },
  { error: "must be a JSON object" },
);

/** Prices (positive, within the currency's decimals) and hours that must agree. */
function crossChecks(json: unknown, ctx: z.RefinementCtx): void {
  const j = json as Partial<Record<string, unknown>>;
  const decimals = (j.currency as { decimals?: unknown } | undefined)?.decimals;
  const prices = j.prices;
  if (typeof prices === "object" && prices !== null) {
    for (const [type, price] of Object.entries(prices)) {
      if (typeof price !== "string") continue;
      let d: Decimal;
      try {
        d = dec(price);
      } catch {
        ctx.addIssue({ code: "custom", path: ["prices", type], message: priceError });
        continue;
      }
      if (d.lte(0))
        ctx.addIssue({ code: "custom", path: ["prices", type], message: "must be > 0" });
      else if (Number.isInteger(decimals) && d.decimalPlaces() > (decimals as number)) {
        ctx.addIssue({
          code: "custom",
          path: ["prices", type],
          message: `has more than ${decimals} decimals`,
        });
      }
    }
  }
  const { responseHours, completionHours } = j;
  if (
    typeof responseHours === "number" &&
    typeof completionHours === "number" &&
    completionHours < responseHours
  ) {
    ctx.addIssue({
      code: "custom",
      path: ["completionHours"],
      message: "must be >= responseHours",
    });
  }
}

const memberOrder = Object.keys(serviceAgreementShape.shape);

/** The service agreement schema: its JSON form in, a `ServiceAgreement` out. */
export const serviceAgreementSchema = serviceAgreementShape
  .superRefine(crossChecks, {
    when: (payload) => typeof payload.value === "object" && payload.value !== null,
  })
  .transform(
    (json): ServiceAgreement => ({
      id: json.id,
      machineId: json.machineId,
      customer: json.customer,
      provider: json.provider,
      arbiter: json.arbiter,
      ...(json.funder ? { funder: json.funder } : {}),
      ...(json.machineSigner ? { machineSigner: json.machineSigner } : {}),
      currency: json.currency,
      prices: Object.fromEntries(
        Object.entries(json.prices ?? {}).map(([type, price]) => [type, dec(price)]),
      ),
      responseMs: Math.round(json.responseHours * 3_600_000),
      completionMs: Math.round(json.completionHours * 3_600_000),
      warranty: (json.warranty ?? []).map((w) => ({ serviceType: w.serviceType, every: w.every })),
    }),
  );

/**
 * Validates a service agreement's JSON, reporting every problem at once
 * (`maintenance.serviceAgreement.invalid`, `details.problems`, in the order of the members).
 */
export function parseServiceAgreement(input: ServiceAgreementJson): ServiceAgreement {
  const result = serviceAgreementSchema.safeParse(input);
  if (result.success) return result.data;
  const rank = (path: string) => {
    const i = memberOrder.indexOf(path.split(/[.[]/)[0] ?? "");
    return i === -1 ? memberOrder.length : i;
  };
  const problems = problemsOf(result.error)
    .map((p, i) => ({ p, i }))
    .sort((a, b) => rank(a.p.path) - rank(b.p.path) || a.i - b.i)
    .map(({ p }) => p);
  throw new MaaskitError(
    "maintenance.serviceAgreement.invalid",
    `Service agreement has ${problems.length} problem(s): ${problems.map((x) => `${x.path}: ${x.message}`).join("; ")}`,
    { details: { problems } },
  );
}

/** The JSON Schema of a service agreement's JSON form (`schemas/service-agreement.schema.json`). */
export function serviceAgreementJsonSchema(): Record<string, unknown> {
  const { $schema, ...rest } = z.toJSONSchema(serviceAgreementShape, {
    io: "input",
    unrepresentable: "any",
  }) as Record<string, unknown>;
  return {
    $schema,
    title: "maaskit service agreement",
    description:
      "The JSON form parseServiceAgreement accepts: parties, currency, fixed prices per service type, response and completion hours, warranty intervals.",
    ...rest,
  };
}
