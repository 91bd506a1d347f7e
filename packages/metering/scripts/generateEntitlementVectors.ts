// Writes docs/entitlements.vectors.json from fixed test keys (deterministic: RFC 6979).
// Run: pnpm --filter @maaskit/metering vectors
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { buildEntitlementVectors } from "../src/entitlements/entitlementVectors.js";

const target = fileURLToPath(new URL("../../../docs/entitlements.vectors.json", import.meta.url));
const vectors = await buildEntitlementVectors();
await writeFile(target, `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${vectors.vectors.length} vectors to ${target}`);
