// Writes openapi.json from the protocol table (`pnpm --filter @maaskit/ledger-service openapi`);
// a test fails when the committed file is out of date.
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { openApiDocument } from "../src/openApi.js";

const file = fileURLToPath(new URL("../openapi.json", import.meta.url));
writeFileSync(file, `${JSON.stringify(openApiDocument(), null, 2)}\n`);
process.stdout.write(`wrote ${file}\n`);
