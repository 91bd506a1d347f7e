// Generates the export fixtures of packages/metering/test/fixtures/exports from the code
// of the day they were made (records, a period statement, signed log lines); committed so
// later format changes are checked against what earlier versions exported. Run once:
//   npx tsx scripts/generateExportFixtures.ts
import { writeFileSync } from "node:fs";
import { Wallet } from "ethers";
import { signLogEntry } from "../src/log/signedLog.js";
import { buildPeriodStatement } from "../src/records/buildPeriodStatement.js";
import { meterRecordToJson } from "../src/records/meterRecord.js";
import { periodStatementToJson } from "../src/records/periodStatementJson.js";
import { sampleChain, TEST_KEY } from "../src/records/sampleMeterRecords.js";
import { signPeriodStatement } from "../src/records/signPeriodStatement.js";

const out = new URL("../test/fixtures/exports/", import.meta.url);
const wallet = new Wallet(TEST_KEY);
const records = await sampleChain(6, { oee: true });
const statement = await signPeriodStatement(buildPeriodStatement(records), { signer: wallet });
const lines = [
  ...records.map((r) => JSON.stringify(meterRecordToJson(r))),
  JSON.stringify(periodStatementToJson(statement)),
];
writeFileSync(new URL("records-and-statement.v1.jsonl", out), `${lines.join("\n")}\n`);
writeFileSync(
  new URL("statement.v1.jsonl", out),
  `${JSON.stringify(periodStatementToJson(statement))}\n`,
);

const logId = "maintenance/compressor-7";
const entries = [];
let head: Awaited<ReturnType<typeof signLogEntry>> | undefined;
const steps: [string, unknown][] = [
  ["trigger", { conditionId: "oil", runHours: "4000" }],
  ["serviceRequest", { conditionId: "oil", requestId: "req-1" }],
  ["workOrder.opened", { workOrderId: "wo-1", price: "120.50" }],
  [
    "service.performed",
    {
      serviceType: "oilChange",
      conditionId: "oil",
      workOrderId: "wo-1",
      runHours: "4012",
      partsUsed: ["oil-5l", "filter"],
    },
  ],
];
for (const [i, [type, payload]] of steps.entries()) {
  head = await signLogEntry(
    { logId, type, at: new Date(Date.UTC(2025, 0, 2, 8, i * 10)), payload, head },
    wallet,
  );
  entries.push(head);
}
writeFileSync(
  new URL("maintenance-history.v1.jsonl", out),
  entries.map((e) => `${JSON.stringify(e)}\n`).join(""),
);
console.log("signer", wallet.address);
