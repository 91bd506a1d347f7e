// Writes gateway.schema.json from the zod schema (`pnpm --filter @maaskit/gateway schema`);
// a unit test fails when the committed file is out of date.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gatewayConfigJsonSchema } from "../src/config/gatewayConfig.js";

const file = fileURLToPath(new URL("../gateway.schema.json", import.meta.url));
writeFileSync(file, `${JSON.stringify(gatewayConfigJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${file}\n`);
