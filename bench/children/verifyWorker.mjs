// A worker of the ledger-service bench's physical floor: once loaded it says "ready"; on
// "go" it decodes its share of the records from JSON and checks every signature (and chain
// link) with metering's verifier — the check a ledger must make per record — and posts
// { valid, ms }. Loading the worker is not part of the measured work.
import { parentPort, workerData } from "node:worker_threads";
import { meterRecordFromJson, verifyMeterRecords } from "@maaskit/metering";

parentPort.once("message", () => {
  const t0 = performance.now();
  let valid = 0;
  for (const chain of workerData.chains) {
    const records = chain.records.map((r) => meterRecordFromJson(r));
    const out = verifyMeterRecords(records, { signer: chain.signer });
    valid += out.results.filter((r) => r.valid).length;
  }
  parentPort.postMessage({ valid, ms: performance.now() - t0 });
});
parentPort.postMessage("ready");
