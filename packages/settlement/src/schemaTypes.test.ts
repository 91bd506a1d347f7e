// Compile-time checks (enforced by `pnpm --filter @maaskit/settlement typecheck`, which
// covers this file) that the hand-written external types and their zod schemas cannot drift:
// each schema's output (and, for JSON forms, input) and the interface are mutually
// assignable. `Tariff`, `Agreement` and `Invoice` stay hand-written interfaces (their JSDoc
// per member is the API documentation; the schemas' transforms fill defaults and canonical
// order, so the shapes' raw outputs differ) — these assertions tie them to the schemas.
import { describe, expectTypeOf, test } from "vitest";
import type { z } from "zod";
import type { Agreement, agreementSchema } from "./agreement.js";
import type { Invoice, invoiceSchema } from "./invoice.js";
import type { WorkOrderTerms } from "./ledger.js";
import type { workOrderTermsWire } from "./ledgers/protocol/wireValues.js";
import type { workOrderTermsSchema } from "./rules/workOrderTerms.js";
import type { Tariff, TariffInput, TariffJson, tariffSchema } from "./tariff.js";

describe("default: schema types and interfaces are mutually assignable", () => {
  test("Tariff, Agreement, Invoice are their schemas' outputs", () => {
    expectTypeOf<z.output<typeof tariffSchema>>().toEqualTypeOf<Tariff>();
    expectTypeOf<z.output<typeof agreementSchema>>().toEqualTypeOf<Agreement>();
    expectTypeOf<z.output<typeof invoiceSchema>>().toEqualTypeOf<Invoice>();
  });

  test("TariffJson is accepted as the tariff schema's input", () => {
    expectTypeOf<TariffJson>().toExtend<TariffInput>();
  });

  test("work-order terms: one schema, the wire's and the logged command's", () => {
    expectTypeOf<z.output<typeof workOrderTermsSchema>>().toEqualTypeOf<WorkOrderTerms>();
    expectTypeOf<z.output<typeof workOrderTermsWire>>().toExtend<WorkOrderTerms>();
    expectTypeOf<WorkOrderTerms>().toExtend<z.output<typeof workOrderTermsWire>>();
  });
});
