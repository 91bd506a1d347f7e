// Writes docs/signed-log.vectors.json from fixed test keys (deterministic: RFC 6979).
// Run: pnpm --filter @maaskit/metering vectors
import { writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { buildSignedLogVectors } from "../src/log/signedLogVectors.js";

const target = fileURLToPath(new URL("../../../docs/signed-log.vectors.json", import.meta.url));
const vectors = await buildSignedLogVectors();
await writeFile(target, `${JSON.stringify(vectors, null, 2)}\n`);
console.log(`wrote ${vectors.vectors.length} vectors to ${target}`);
