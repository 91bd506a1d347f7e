import { Wallet } from "ethers";

/** The agreement the power-loss child deposits to (fixed test keys; never use them for anything real). */
export function powerLossAgreement() {
  const key = (n: number) => `0x${n.toString(16).padStart(64, "0")}`;
  return {
    agreementId: `0x${"5a".repeat(32)}`,
    name: "power loss",
    parties: { provider: new Wallet(key(1)).address, customer: new Wallet(key(2)).address },
    machineId: "compressor-pl",
    signers: [{ address: new Wallet(key(3)).address, validFrom: "2025-01-01T00:00:00.000Z" }],
    tariff: {
      version: 1,
      metered: { unit: "MTQ", basis: "ISO1217-FAD" },
      pricing: { model: "perUnit", unitPrice: "0.02" },
    },
    currency: { symbol: "EURT", decimals: 6 },
    billingPeriod: { kind: "days", days: 1, timeZone: "UTC" },
    paymentTerms: { kind: "prepaid", overdraft: "suspend" },
    start: "2025-01-01T00:00:00.000Z",
    status: "active",
  };
}
