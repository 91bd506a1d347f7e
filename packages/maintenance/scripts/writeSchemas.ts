// Writes schemas/service-agreement.schema.json from the zod schema (`pnpm --filter
// @maaskit/maintenance schemas`, then `pnpm format`); a unit test fails when the committed file
// is out of date (it compares the parsed JSON).
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { serviceAgreementJsonSchema } from "../src/workOrders/serviceAgreement.js";

const dir = fileURLToPath(new URL("../schemas/", import.meta.url));
mkdirSync(dir, { recursive: true });
const file = `${dir}service-agreement.schema.json`;
writeFileSync(file, `${JSON.stringify(serviceAgreementJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${file}\n`);
