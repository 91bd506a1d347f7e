import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { serviceAgreementJsonSchema } from "./serviceAgreement.js";

describe("service-agreement.schema.json", () => {
  test("behavior: the committed file is what the zod schema generates", () => {
    const file = fileURLToPath(
      new URL("../../schemas/service-agreement.schema.json", import.meta.url),
    );
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual(serviceAgreementJsonSchema());
  });

  test("args: addresses, hours and prices are described", () => {
    const schema = serviceAgreementJsonSchema();
    const props = schema.properties as Record<string, { type?: string }>;
    expect(props.responseHours?.type).toBe("number");
    expect(props.customer?.type).toBe("string");
    expect(schema.required).toEqual(
      expect.arrayContaining(["id", "machineId", "customer", "currency", "responseHours"]),
    );
  });
});
