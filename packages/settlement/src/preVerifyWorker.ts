// A worker thread of the pre-verification pool (preVerifyPool.ts): for each message
// `{ id, texts }` (records' JSON texts) it answers `{ id, verdicts }`, one
// `preVerifyMeterRecord` verdict (or null) per text, in order. Pure: no state but
// metering's cache of recovered public keys. Its first message, "ready", says it is loaded.
import { parentPort } from "node:worker_threads";
import { preVerifyMeterRecord } from "@maaskit/metering/internal";

const port = parentPort;
if (port === null) throw new Error("preVerifyWorker runs only as a worker thread");
port.on("message", (m: { id: number; texts: readonly string[] }) => {
  port.postMessage({ id: m.id, verdicts: m.texts.map((t) => preVerifyMeterRecord(t) ?? null) });
});
port.postMessage("ready");
