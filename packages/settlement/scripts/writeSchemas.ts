// Writes schemas/*.schema.json from the zod schemas (`pnpm --filter @maaskit/settlement
// schemas`, then `pnpm format`); src/jsonSchemas.test.ts fails when a committed file is out of
// date (it compares the parsed JSON, so the formatting is biome's).
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { settlementJsonSchemas } from "../src/jsonSchemas.js";

const dir = fileURLToPath(new URL("../schemas/", import.meta.url));
mkdirSync(dir, { recursive: true });
for (const [name, schema] of Object.entries(settlementJsonSchemas())) {
  writeFileSync(`${dir}${name}`, `${JSON.stringify(schema, null, 2)}\n`);
  process.stdout.write(`wrote ${dir}${name}\n`);
}
