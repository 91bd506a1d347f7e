// Run in a fresh child process: imports the modules named on the command line and prints,
// as one JSON line, every module that got loaded (ESM imports and CommonJS requires),
// the wall time of the imports and the heap used after them. Plain JavaScript, so the
// probe itself adds nothing to what it measures but the loader the parent starts it with.
import { createRequire, register } from "node:module";
import { MessageChannel } from "node:worker_threads";

const { port1, port2 } = new MessageChannel();
register("./recordLoads.mjs", import.meta.url, { data: { port: port2 }, transferList: [port2] });

const specifiers = process.argv.slice(2);
const start = performance.now();
for (const specifier of specifiers) await import(specifier);
const importMs = performance.now() - start;

const esm = await new Promise((resolve) => {
  port1.once("message", resolve);
  port1.postMessage("dump");
});
port1.close();
const cjs = Object.keys(createRequire(import.meta.url).cache);
const { heapUsed, rss } = process.memoryUsage();
process.stdout.write(
  `\nIMPORT_COST ${JSON.stringify({ specifiers, esm, cjs, importMs, heapUsed, rss })}\n`,
);
