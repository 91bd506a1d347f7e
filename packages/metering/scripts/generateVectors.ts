// Writes docs/meter-record.vectors.json from fixed test keys (deterministic: RFC 6979).
// Run: pnpm --filter @maaskit/metering vectors
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { buildMeterRecordVectors } from "../src/records/meterRecordVectors.js";

const target = fileURLToPath(new URL("../../../docs/meter-record.vectors.json", import.meta.url));
const vectors = await buildMeterRecordVectors();
await writeFile(target, `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${vectors.vectors.length} vectors to ${target}`);
