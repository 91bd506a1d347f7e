import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dec, type MeterRecord, verifyMeterRecords } from "@maaskit/metering";
import { embeddedLedger, type Invoice, type LedgerBackend } from "@maaskit/settlement";
import { startAnvil } from "@maaskit/settlement/anvil";
import { evmLedger, testTokenAbi, testTokenBytecode } from "@maaskit/settlement/evm";
import { ContractFactory, type HDNodeWallet, parseEther, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  COMPRESSOR_FEATURES,
  type CompressorFeature,
  type FeatureMonth,
  runFeatureMonth,
} from "./featureMonth.js";

// The invoice of each feature equals its tariff applied by hand to the feature's usage
// records — on the embedded ledger and on a real anvil node.

const key = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;
const VENDOR = new Wallet(key(21));
const CUSTOMER = new Wallet(key(22));
const MACHINE = new Wallet(key(23));
const JUNE = {
  start: new Date("2025-06-01T00:00:00.000Z"),
  end: new Date("2025-07-01T00:00:00.000Z"),
};
const AFTER_JUNE = new Date("2025-07-02T00:00:00.000Z");
const at = (iso: string) => new Date(`2025-06-${iso}Z`);
const USES = [
  { featureId: "monitoring", at: at("02T08:00:00.000") },
  { featureId: "boost", at: at("03T10:00:00.000"), amount: dec("0.5") },
  { featureId: "boost", at: at("10T14:00:00.000"), amount: dec("0.75") },
  { featureId: "monitoring", at: at("15T08:00:00.000") },
  // more than the 40 h prepaid: refused before the feature acts, nothing recorded
  { featureId: "boost", at: at("18T09:00:00.000"), amount: dec("40") },
  { featureId: "boost", at: at("20T09:00:00.000"), amount: dec("2.25") },
  { featureId: "boost", at: at("28T16:30:00.000"), amount: dec("1.111111111") },
] as const;

/** The feature's tariff applied by hand: Σ quantity × unit price, rounded half-even to cents. */
function byHand(featureId: CompressorFeature, records: readonly MeterRecord[]) {
  const quantity = records.reduce((sum, r) => sum.plus(r.quantity.value), dec(0));
  const exact = quantity.times(COMPRESSOR_FEATURES[featureId].unitPrice);
  return { quantity: quantity.toFixed(), total: exact.toDecimalPlaces(2, 6).toFixed(2) };
}

function checkMonth(month: FeatureMonth): Record<CompressorFeature, string> {
  expect(month.denied.map((d) => d.reason)).toEqual(["metering.entitlement.budgetExhausted"]);
  const totals = {} as Record<CompressorFeature, string>;
  for (const featureId of ["boost", "monitoring"] as const) {
    const records = month.records[featureId];
    const { agreementId } = month.agreements[featureId];
    expect(verifyMeterRecords(records, { signer: MACHINE.address }).valid).toBe(true);
    expect(
      records.every((r) => r.channel === `feature/${featureId}` && r.agreementId === agreementId),
    ).toBe(true);
    const invoice: Invoice = month.invoices[featureId];
    const hand = byHand(featureId, records);
    expect(invoice.usage.value.toFixed()).toBe(hand.quantity);
    expect(invoice.total.toFixed(2)).toBe(hand.total);
    totals[featureId] = invoice.total.toFixed(2);
  }
  // 4.611111111 h × 4.50 = 20.7499999995 → 20.75; one month of monitoring
  expect(totals).toEqual({ boost: "20.75", monitoring: "29.00" });
  return totals;
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "maaskit-features-"));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe("compressor features on demand: invoice = feature tariffs × feature usage records", () => {
  test("behavior: on the embedded ledger", async () => {
    const ledger = embeddedLedger({ dir: join(dir, "ledger"), clock: { now: () => AFTER_JUNE } });
    const month = await run(ledger, join(dir, "gate-embedded.db"), { symbol: "EUR", decimals: 2 });
    try {
      checkMonth(month);
    } finally {
      month.gate.close();
      await ledger.close();
    }
  });

  test("behavior: on a real anvil node (EVM contracts), the same invoices", async () => {
    const anvil = await startAnvil({ args: ["--timestamp", String(AFTER_JUNE.getTime() / 1000)] });
    try {
      const deployer = anvil.wallets[0] as HDNodeWallet;
      const parties = [VENDOR, CUSTOMER].map((w) => w.connect(anvil.provider));
      for (const p of parties) {
        await anvil.provider.send("anvil_setBalance", [
          p.address,
          `0x${parseEther("10").toString(16)}`,
        ]);
      }
      const token = await new ContractFactory(testTokenAbi, testTokenBytecode, deployer).deploy(
        "Euro Test",
        "EURT",
        2,
      );
      await token.waitForDeployment();
      const ledger = await evmLedger({
        provider: anvil.provider,
        signer: deployer,
        parties,
        deploy: true,
        clock: { now: () => AFTER_JUNE },
      });
      const month = await run(ledger, join(dir, "gate-evm.db"), {
        symbol: "EURT",
        decimals: 2,
        address: await token.getAddress(),
      });
      try {
        checkMonth(month);
      } finally {
        month.gate.close();
        await ledger.close();
      }
    } finally {
      await anvil.stop();
    }
  }, 120_000);
});

function run(
  ledger: LedgerBackend,
  gateFile: string,
  currency: { symbol: string; decimals: number; address?: string },
) {
  return runFeatureMonth({
    ledger,
    gateFile,
    vendor: VENDOR,
    customer: CUSTOMER.address,
    machine: MACHINE,
    machineId: "compressor-7",
    currency,
    month: JUNE,
    uses: USES,
    idPrefix: "compressor-7-june",
  });
}
