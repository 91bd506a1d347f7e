// Writes storage directories in the format of the file-based storage (before SQLite), so the
// migration tests open data exactly as the old code wrote it. Run once, with the OLD code:
//   (in packages/maintenance) ../metering/node_modules/.bin/tsx --conditions source \
//     scripts/generateLegacyStorageFixtures.ts <outDir>
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openMaintenanceHistory } from "@maaskit/maintenance";
import { dec, openJournal } from "@maaskit/metering";
import { embeddedLedger, invoiceToJson } from "@maaskit/settlement";
import {
  balanceToJson,
  conformanceWallets,
  scenarioAgreement,
  scenarioClock,
  scenarioDay,
  scenarioRecords,
} from "../../settlement/src/conformance/ledgerScenario.js";

const root = process.argv[2] ?? "fixtures-out";
rmSync(root, { recursive: true, force: true });

// Embedded ledger: an agreement, a deposit with a reference, 8 records in two calls, two settled days.
const ledgerDir = join(root, "ledger");
const clock = scenarioClock("2025-01-01T00:00:00Z");
const ledger = embeddedLedger({ dir: ledgerDir, clock });
const agreement = scenarioAgreement("legacy-fixture");
const id = agreement.agreementId;
const { recordDomain } = await ledger.openAgreement(agreement);
await ledger.deposit({
  agreementId: id,
  amount: dec("500"),
  by: conformanceWallets().customer.address,
  reference: "legacy-deposit-1",
});
const records = await scenarioRecords(agreement, recordDomain);
await ledger.submitRecords({ agreementId: id, records: records.slice(0, 3) });
await ledger.submitRecords({ agreementId: id, records: records.slice(3) });
clock.set("2025-01-03T00:00:00Z");
await ledger.settlePeriod({ agreementId: id, period: scenarioDay(0) });
await ledger.settlePeriod({ agreementId: id, period: scenarioDay(1) });
const expected = {
  agreementId: id,
  balance: balanceToJson(await ledger.getBalance(id)),
  head: await ledger.getRecordsHead(id),
  invoices: (await ledger.getInvoices(id)).map((i) => invoiceToJson(i)),
  events: await ledger.getEvents(),
};
await ledger.close();
writeFileSync(join(root, "ledger.expected.json"), `${JSON.stringify(expected, null, 2)}\n`);

// Journal: five chained entries with registers, the first three acknowledged.
const journalDir = join(root, "journal");
const journal = await openJournal({ dir: journalDir });
let prev = `0x${"0".repeat(64)}`;
for (let seq = 0; seq < 5; seq++) {
  const hash = `0x${String(seq + 1)
    .repeat(64)
    .slice(0, 64)}`;
  await journal.append({ seq, prevHash: prev, hash, registers: { air: String(100 + seq * 10.5) } });
  prev = hash;
}
await journal.appendAck({ from: 0, to: 2 }, "ledger-ref-1");
const jstate = journal.state();
await journal.close();
writeFileSync(
  join(root, "journal.expected.json"),
  `${JSON.stringify({ ...jstate, registers: Object.fromEntries(Object.entries(jstate.registers).map(([k, v]) => [k, v.toFixed()])) }, null, 2)}\n`,
);

// Maintenance history: three signed entries.
mkdirSync(join(root, "maintenance"), { recursive: true });
const history = await openMaintenanceHistory({
  machineId: "compressor-7",
  signer: conformanceWallets().machineA,
  file: join(root, "maintenance", "history.jsonl"),
});
await history.append("trigger", new Date("2025-01-01T01:00:00Z"), { conditionId: "oil" });
await history.append("serviceRequest", new Date("2025-01-01T02:00:00Z"), { conditionId: "oil" });
await history.append("service.performed", new Date("2025-01-02T03:00:00Z"), {
  serviceType: "oilChange",
  conditionId: "oil",
  runHours: "4012",
});
await history.close();
console.log(`wrote ${root}`);
