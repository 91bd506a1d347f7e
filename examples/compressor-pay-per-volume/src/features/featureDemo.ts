// A month of the compressor's features on demand on the embedded ledger, printed:
//   pnpm --filter compressor-pay-per-volume features
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dec } from "@maaskit/metering";
import { embeddedLedger } from "@maaskit/settlement";
import { Wallet } from "ethers";
import { runFeatureMonth } from "./featureMonth.js";

// Demo keys, generated per run: never keys of anything real.
const vendor = new Wallet(Wallet.createRandom().privateKey);
const machine = new Wallet(Wallet.createRandom().privateKey);
const month = {
  start: new Date("2025-06-01T00:00:00.000Z"),
  end: new Date("2025-07-01T00:00:00.000Z"),
};
const dir = mkdtempSync(join(tmpdir(), "maaskit-feature-demo-"));
const ledger = embeddedLedger({
  dir: join(dir, "ledger"),
  clock: { now: () => new Date("2025-07-02T00:00:00.000Z") },
});
try {
  const result = await runFeatureMonth({
    ledger,
    gateFile: join(dir, "features.db"),
    vendor,
    customer: Wallet.createRandom().address,
    machine,
    machineId: "compressor-7",
    currency: { symbol: "EUR", decimals: 2 },
    month,
    idPrefix: "demo",
    uses: [
      { featureId: "monitoring", at: new Date("2025-06-02T08:00:00.000Z") },
      { featureId: "boost", at: new Date("2025-06-03T10:00:00.000Z"), amount: dec("0.5") },
      { featureId: "boost", at: new Date("2025-06-12T07:30:00.000Z"), amount: dec("1.75") },
      { featureId: "boost", at: new Date("2025-06-18T09:00:00.000Z"), amount: dec("45") },
    ],
  });
  for (const d of result.denied)
    console.log(`denied ${d.featureId} at ${d.at.toISOString()}: ${d.reason}`);
  for (const [featureId, invoice] of Object.entries(result.invoices)) {
    console.log(
      `${featureId}: ${invoice.usage.value.toFixed()} ${invoice.usage.unit} → ${invoice.total.toFixed(2)} ${invoice.currency.symbol}`,
    );
  }
  result.gate.close();
} finally {
  await ledger.close();
  rmSync(dir, { recursive: true, force: true });
}
