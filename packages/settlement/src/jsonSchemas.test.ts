import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { settlementJsonSchemas } from "./jsonSchemas.js";

describe("settlement JSON Schemas", () => {
  test("behavior: every committed schemas/*.schema.json is what the zod schemas generate", () => {
    for (const [name, schema] of Object.entries(settlementJsonSchemas())) {
      const file = fileURLToPath(new URL(`../schemas/${name}`, import.meta.url));
      expect(JSON.parse(readFileSync(file, "utf8")), name).toEqual(schema);
    }
  });

  test("args: the schemas describe the JSON form (decimal strings, instants, strict members)", () => {
    const { "tariff.schema.json": tariff, "agreement.schema.json": agreement } =
      settlementJsonSchemas();
    const props = tariff?.properties as Record<string, { type?: string; pattern?: string }>;
    expect(props.baseFee?.type).toBe("string");
    expect(props.baseFee?.pattern).toBe("^\\d+(\\.\\d+)?$");
    expect(tariff?.additionalProperties).toBe(false);
    expect(agreement?.required).toEqual(
      expect.arrayContaining(["agreementId", "signers", "tariff", "currency", "start"]),
    );
  });
});
