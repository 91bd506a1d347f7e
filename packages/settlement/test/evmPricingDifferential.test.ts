import { test } from "@fast-check/vitest";
import { dec, quantity } from "@maaskit/metering";
import { type Contract, type HDNodeWallet, Wallet } from "ethers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { parseAgreement } from "../src/agreement.js";
import { priceUsageFixed } from "../src/fixedPoint.js";
import { agreementKey, toAgreementInput, toChainTariff } from "../src/ledgers/evm/evmEncoding.js";
import {
  meterAgreementsAbi,
  meterAgreementsBytecode,
} from "../src/ledgers/evm/generated/MeterAgreements.js";
import { testTokenAbi, testTokenBytecode } from "../src/ledgers/evm/generated/TestToken.js";
import { priceRecords } from "../src/priceRecords.js";
import { type Anvil, startAnvil } from "./anvil.js";
import { deploy, send } from "./evmTestUtils.js";

// Differential test: for random tariffs and usage, the contract's fixed-point charge equals
// the Decimal pricing (priceRecords) after its declared rounding, to the last base unit —
// and every intermediate figure equals the bigint mirror (priceUsageFixed).

let anvil: Anvil;
let registry: Contract;
let token: string;
let provider: HDNodeWallet;
let customer: HDNodeWallet;
let counter = 0;

beforeAll(async () => {
  anvil = await startAnvil();
  [provider, customer] = anvil.wallets as [HDNodeWallet, HDNodeWallet];
  registry = await deploy(provider, meterAgreementsAbi, meterAgreementsBytecode);
  const t = await deploy(provider, testTokenAbi, testTokenBytecode, "T", "T", 18);
  token = await t.getAddress();
});

afterAll(async () => {
  await anvil?.stop();
});

/** k / 10^d as a plain decimal string. */
const decimal = (max: bigint, maxDecimals: number) =>
  fc
    .tuple(fc.bigInt({ min: 0n, max }), fc.integer({ min: 0, max: maxDecimals }))
    .map(([k, d]) => dec(k.toString()).div(dec(10).pow(d)).toFixed());

const tariffArb = fc.record({
  model: fc.constantFrom("perUnit", "graduated", "volume"),
  steps: fc.array(
    decimal(5_000_000n, 4).filter((s) => s !== "0"),
    { maxLength: 3 },
  ),
  prices: fc.array(decimal(10n ** 9n, 9), { minLength: 4, maxLength: 4 }),
  included: fc.oneof(fc.constant("0"), decimal(100_000n, 3)),
  baseFee: fc.oneof(fc.constant("0"), decimal(10n ** 8n, 6)),
  minimum: fc.oneof(fc.constant("0"), decimal(10n ** 9n, 4)),
  sla: fc.option(
    fc.record({
      threshold: fc.constantFrom("0.98", "0.95", "1", "0.5"),
      step: fc.constantFrom("0.001", "0.0005", "0.01"),
      creditPerStep: fc.constantFrom("0.005", "0.0333", "0"),
      cap: fc.constantFrom("0.1", "1", "0.123"),
      stepping: fc.constantFrom("full", "started"),
      whenUndefined: fc.constantFrom("noCredit", "maxCredit"),
    }),
    { nil: undefined },
  ),
  mode: fc.constantFrom("halfEven", "halfUp"),
  rounding: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
  currencyDecimals: fc.constantFrom(0, 2, 6, 18),
});

const usageArb = fc.array(
  fc.record({
    quantity: fc.oneof(
      fc.bigInt({ min: 0n, max: 10n ** 16n }),
      fc.bigInt({ min: 0n, max: 10n ** 7n }).map((k) => k * 10n ** 9n),
    ),
    pbt: fc.bigInt({ min: 0n, max: 2_592_000_000n }),
    aptPermille: fc.oneof(
      fc.constantFrom(1000n, 980n, 979n, 0n),
      fc.bigInt({ min: 0n, max: 1000n }),
    ),
  }),
  { minLength: 1, maxLength: 4 },
);

describe("differential: on-chain charge ≡ Decimal pricing", () => {
  test.prop([tariffArb, usageArb], { numRuns: 30 })(
    "behavior: random tariffs and usage give the same total to the last base unit",
    async (t, usages) => {
      const currencyDecimals = Math.max(t.currencyDecimals, t.rounding ?? 0);
      let acc = dec(0);
      const bounds = t.steps.map((s) => {
        acc = acc.plus(s);
        return acc.toFixed();
      });
      const tariffJson = {
        version: 1,
        metered: { unit: "MTQ", basis: "ISO1217-FAD" },
        pricing:
          t.model === "perUnit"
            ? { model: "perUnit", unitPrice: t.prices[0] }
            : {
                model: t.model,
                tiers: [
                  ...bounds.map((upTo, i) => ({ upTo, unitPrice: t.prices[i]! })),
                  { unitPrice: t.prices[3]! },
                ],
              },
        includedVolume: t.included,
        baseFee: t.baseFee,
        minimumCommitment: t.minimum,
        ...(t.sla === undefined ? {} : { sla: t.sla }),
        rounding:
          t.rounding === undefined ? { mode: t.mode } : { mode: t.mode, decimals: t.rounding },
      };
      counter += 1;
      const agreementId = `0x${(0xd1f0000 + counter).toString(16).padStart(64, "0")}`;
      const agreement = parseAgreement({
        agreementId,
        name: "differential",
        parties: { provider: provider.address, customer: customer.address },
        machineId: "m",
        signers: [{ address: Wallet.createRandom().address, validFrom: "2025-01-01T00:00:00Z" }],
        tariff: tariffJson,
        currency: { symbol: "T", decimals: currencyDecimals, address: token },
        billingPeriod: { kind: "calendarMonth", timeZone: "UTC" },
        paymentTerms: { kind: "invoiced", netDays: 30 },
        start: "2025-01-01T00:00:00Z",
        status: "active",
      });
      // Both parties consent: the provider offers, the customer accepts the same terms.
      for (const party of [provider, customer]) {
        await send(
          registry,
          party,
          "openAgreement",
          agreementId,
          toAgreementInput(agreement, token),
        );
      }
      const { fixed } = toChainTariff(agreement.tariff, agreement.currency);
      for (const u of usages) {
        const apt = (u.pbt * u.aptPermille) / 1000n;
        const onChain = await registry.getFunction("quote")(
          agreementKey(agreementId, provider.address, customer.address),
          u.quantity,
          u.pbt,
          apt,
        );
        const mirror = priceUsageFixed(fixed, {
          quantity: u.quantity,
          plannedBusyTime: u.pbt,
          actualProductionTime: apt,
        });
        expect({
          usageAmount: onChain.usageAmount,
          baseFee: onChain.baseFee,
          minimumTopUp: onChain.minimumTopUp,
          creditRate: onChain.creditRate,
          slaCredit: onChain.slaCredit,
          total: onChain.total,
        }).toEqual({
          usageAmount: mirror.usageAmount,
          baseFee: mirror.baseFee,
          minimumTopUp: mirror.minimumTopUp,
          creditRate: mirror.creditRate,
          slaCredit: mirror.slaCredit,
          total: mirror.total,
        });
        const invoice = priceRecords(
          agreement.tariff,
          [
            {
              seq: 0,
              periodStart: new Date("2025-01-01T00:00:00Z"),
              periodEnd: new Date("2025-02-01T00:00:00Z"),
              quantity: quantity(dec(u.quantity.toString()).div(1e9), "MTQ", "ISO1217-FAD"),
              extras: { oee: { plannedBusyTimeMs: u.pbt, actualProductionTimeMs: apt } },
            },
          ],
          {
            period: {
              start: new Date("2025-01-01T00:00:00Z"),
              end: new Date("2025-02-01T00:00:00Z"),
            },
            currency: agreement.currency,
          },
        );
        expect(onChain.total).toBe(
          BigInt(invoice.total.mul(dec(10).pow(currencyDecimals)).toFixed()),
        );
      }
    },
    120_000,
  );
});
