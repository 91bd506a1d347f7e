// The JSON Schema files users point their editors and validators at, generated from the zod
// schemas (`pnpm --filter @maaskit/settlement schemas`); a unit test fails when a committed
// file is out of date.
import type { z } from "zod";
import { agreementSchema } from "./agreement.js";
import { invoiceSchema } from "./invoice.js";
import { jsonSchemaOf } from "./schemaFields.js";
import { tariffSchema } from "./tariff.js";

function titled(schema: z.ZodType, title: string, description: string): Record<string, unknown> {
  const { $schema, ...rest } = jsonSchemaOf(schema);
  return { $schema, title, description, ...rest };
}

/** File name under `schemas/` → the JSON Schema it holds. */
export function settlementJsonSchemas(): Record<string, Record<string, unknown>> {
  return {
    "agreement.schema.json": titled(
      agreementSchema,
      "maaskit agreement",
      "The JSON form parseAgreement accepts: parties, signer keys, tariff, currency, billing period and payment terms.",
    ),
    "tariff.schema.json": titled(
      tariffSchema,
      "maaskit tariff",
      "The JSON form parseTariff accepts: metered unit, pricing, allowances, fees, SLA and rounding.",
    ),
    "invoice.schema.json": titled(
      invoiceSchema,
      "maaskit invoice",
      "The JSON form invoiceToJson writes and invoiceFromJson reads.",
    ),
  };
}
