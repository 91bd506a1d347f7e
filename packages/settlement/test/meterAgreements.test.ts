import {
  buildPeriodStatement,
  type MeterRecordBinding,
  meterRecordDigest,
  signPeriodStatement,
} from "@maaskit/metering";
import { type Contract, type HDNodeWallet, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Agreement } from "../src/agreement.js";
import { billingPeriodAt } from "../src/billingPeriodAt.js";
import {
  agreementKey,
  hashText,
  toAgreementInput,
  toExtrasInput,
  toRecordInput,
  toStatementInput,
} from "../src/ledgers/evm/evmEncoding.js";
import {
  meterAgreementsAbi,
  meterAgreementsBytecode,
} from "../src/ledgers/evm/generated/MeterAgreements.js";
import { testTokenAbi, testTokenBytecode } from "../src/ledgers/evm/generated/TestToken.js";
import { priceRecords } from "../src/priceRecords.js";
import { type Anvil, startAnvil } from "./anvil.js";
import { agreementJson, QUARTER_HOUR, START, signRecords } from "./evmFixtures.js";
import { deploy, eventsOf, expectRevert, registerErrors, send } from "./evmTestUtils.js";

registerErrors(meterAgreementsAbi);

let anvil: Anvil;
let token: Contract;
let registry: Contract;
let provider: HDNodeWallet;
let customer: HDNodeWallet;
let stranger: HDNodeWallet;
const gateway = Wallet.createRandom();
let counter = 0;
const DAY = 86_400_000;
const DAILY = { kind: "days", days: 1, timeZone: "UTC" };

beforeAll(async () => {
  anvil = await startAnvil();
  [provider, customer, stranger] = anvil.wallets as [HDNodeWallet, HDNodeWallet, HDNodeWallet];
  token = await deploy(provider, testTokenAbi, testTokenBytecode, "Test EUR", "tEUR", 6);
  registry = await deploy(provider, meterAgreementsAbi, meterAgreementsBytecode);
  for (const w of [customer, stranger]) {
    await send(token, w, "mint", w.address, 10n ** 15n);
    await send(token, w, "approve", await registry.getAddress(), 2n ** 256n - 1n);
  }
});

afterAll(async () => {
  await anvil?.stop();
});

/** Offers (provider) and accepts (customer) an agreement with daily UTC periods by default. */
async function openAgreement(overrides: Partial<Parameters<typeof agreementJson>[0]> = {}) {
  counter += 1;
  const agreementId = `0x${counter.toString(16).padStart(64, "0")}`;
  const agreement = agreementJson({
    agreementId,
    provider: provider.address,
    customer: customer.address,
    signer: gateway.address,
    token: await token.getAddress(),
    billingPeriod: DAILY,
    ...overrides,
  });
  const input = toAgreementInput(agreement, await token.getAddress());
  const offer = await send(registry, provider, "openAgreement", agreementId, input);
  const receipt = await send(registry, customer, "openAgreement", agreementId, input);
  const binding: MeterRecordBinding = {
    agreementId,
    chainId: Number(anvil.chainId),
    verifyingContract: await registry.getAddress(),
  };
  const key = agreementKey(agreementId, provider.address, customer.address);
  return { agreement, agreementId, input, key, binding, offer, receipt };
}

const AIR = hashText("air");

type Records = Awaited<ReturnType<typeof signRecords>>["records"];

async function submit(key: string, records: Records, by: HDNodeWallet = stranger) {
  return send(
    registry,
    by,
    "submitRecords",
    key,
    AIR,
    records[0]!.seq,
    records[0]!.periodStart.getTime(),
    records.map(toRecordInput),
  );
}

function invoiceOf(agreement: Agreement, records: Parameters<typeof priceRecords>[1]) {
  const start = records[0]!.periodStart;
  const end = records.at(-1)!.periodEnd;
  return priceRecords(agreement.tariff, records, {
    period: { start, end },
    currency: agreement.currency,
  });
}

const settle = (key: string, start: number, end: number, by: HDNodeWallet = stranger) =>
  registry.connect(by).getFunction("settlePeriod")(key, start, end);

describe("MeterAgreements", () => {
  test("default: both parties consent, records are submitted by anyone, the day settles from them", async () => {
    const { agreement, key, binding, offer, receipt } = await openAgreement();
    expect(eventsOf(registry, offer).map((e) => e.name)).toEqual(["AgreementOffered"]);
    expect(eventsOf(registry, receipt).map((e) => e.name)).toEqual([
      "SignerAllowed",
      "AgreementOpened",
    ]);
    expect(await registry.getFunction("domainSeparator")(key)).toBeDefined();

    const { records } = await signRecords(96, { binding, signer: gateway });
    const r1 = await submit(key, records.slice(0, 1));
    const r2 = await submit(key, records.slice(1));
    const accepted = [...eventsOf(registry, r1), ...eventsOf(registry, r2)];
    expect(accepted.map((e) => e.args.recordHash)).toEqual(
      records.map((r) => meterRecordDigest(r)),
    );
    expect(accepted.map((e) => e.args.seq)).toEqual(records.map((r) => BigInt(r.seq)));

    await send(registry, customer, "deposit", key, 100_000_000n, hashText("ref-1"));
    const settled = await send(registry, stranger, "settlePeriod", key, START, START + DAY);
    const ev = eventsOf(registry, settled).find((e) => e.name === "PeriodSettled")!;
    const invoice = invoiceOf(agreement, records);
    const expected = BigInt(invoice.total.mul(10 ** 6).toFixed());
    expect(ev.args.total).toBe(expected);
    expect(ev.args.firstSeq).toBe(0n);
    expect(ev.args.lastSeq).toBe(95n);
    expect(ev.args.headHash).toBe(meterRecordDigest(records[95]!));
    expect(ev.args.paidFromBalance).toBe(expected);
    const [available, due, paid] = await registry.getFunction("balances")(key);
    expect([available, due, paid]).toEqual([100_000_000n - expected, 0n, expected]);

    await expectRevert(settle(key, START, START + DAY), "PeriodAlreadySettled");
  });

  test("behavior: a period statement settles with one signature and moves the head", async () => {
    const { agreement, key, binding } = await openAgreement();
    const { records } = await signRecords(96, { binding, signer: gateway });
    const statement = await signPeriodStatement(buildPeriodStatement(records), {
      signer: gateway,
    });
    const r = await send(registry, stranger, "settleStatement", key, toStatementInput(statement));
    const ev = eventsOf(registry, r).find((e) => e.name === "PeriodSettled")!;
    const invoice = invoiceOf(agreement, records);
    expect(ev.args.total).toBe(BigInt(invoice.total.mul(10 ** 6).toFixed()));
    expect(ev.args.fromStatement).toBe(true);
    expect(ev.args.amountDue).toBe(ev.args.total);
    const [head, headHash] = await registry.getFunction("recordsHead")(key);
    expect(head.nextSeq).toBe(96n);
    expect(head.settled).toBe(1n);
    expect(headHash).toBe(statement.headHash);
  });

  test("behavior: records with extras prove the OEE elements an SLA tariff needs", async () => {
    const { agreement, key, binding } = await openAgreement({
      tariff: {
        version: 1,
        metered: { unit: "MTQ", basis: "ISO1217-FAD" },
        pricing: { model: "perUnit", unitPrice: "0.021" },
        baseFee: "10",
        sla: {
          threshold: "0.98",
          step: "0.001",
          creditPerStep: "0.005",
          cap: "0.1",
          stepping: "full",
          whenUndefined: "noCredit",
        },
        rounding: { mode: "halfEven", decimals: 2 },
      },
    });
    const { records } = await signRecords(96, { binding, signer: gateway, oee: true });
    await expectRevert(submit(key, records), "ExtrasRequired");
    await send(
      registry,
      stranger,
      "submitRecordsWithExtras",
      key,
      AIR,
      0,
      records[0]!.periodStart.getTime(),
      records.map(toRecordInput),
      records.map(toExtrasInput),
    );
    const r = await send(registry, customer, "settlePeriod", key, START, START + DAY);
    const ev = eventsOf(registry, r).find((e) => e.name === "PeriodSettled")!;
    const invoice = invoiceOf(agreement, records);
    expect(invoice.lines.some((l) => l.kind === "slaCredit")).toBe(true);
    expect(ev.args.total).toBe(BigInt(invoice.total.mul(10 ** 6).toFixed()));
  });

  test("behavior: calendar months in Europe/Berlin, DST months included, match billingPeriodAt", async () => {
    const { agreement, key } = await openAgreement({
      billingPeriod: { kind: "calendarMonth", timeZone: "Europe/Berlin" },
    });
    let at = agreement.start;
    for (let p = 0; p < 27; p++) {
      const expected = billingPeriodAt(agreement, at);
      const [start, end] = await registry.getFunction("billingPeriod")(key, p);
      expect([Number(start), Number(end)], `period ${p}`).toEqual([
        expected.start.getTime(),
        expected.end.getTime(),
      ]);
      at = expected.end;
    }
    // March 2025 is 31 days minus the hour of the DST jump, October 31 days plus one.
    const [mStart, mEnd] = await registry.getFunction("billingPeriod")(key, 2);
    expect(Number(mEnd - mStart)).toBe(31 * DAY - 3_600_000);
    const [oStart, oEnd] = await registry.getFunction("billingPeriod")(key, 9);
    expect(Number(oEnd - oStart)).toBe(31 * DAY + 3_600_000);
  });

  describe("adversaries (issue 12)", () => {
    test("error: an empty batch cannot move the chain, nor make a zero-usage period out of nothing", async () => {
      const { key } = await openAgreement();
      await expectRevert(
        registry.connect(customer).getFunction("submitRecords")(key, AIR, 0, START + DAY, []),
        "EmptyBatch",
      );
      // With no records, no period is complete: nothing settles.
      await expectRevert(settle(key, START, START + DAY, customer), "PeriodIncomplete");
    });

    test("error: the customer cannot skip a period, the provider cannot cut 1 ms periods", async () => {
      const { key, binding } = await openAgreement();
      const { records } = await signRecords(96 * 3, { binding, signer: gateway });
      await submit(key, records);
      // Skipping day 0 to settle day 1 (so day 0 would be lost) is refused.
      await expectRevert(settle(key, START + DAY, START + 2 * DAY, customer), "PeriodNotNext", [
        BigInt(START),
        BigInt(START + DAY),
      ]);
      // Forty 1 ms "periods" before the first record (forty base fees): refused.
      await expectRevert(settle(key, START, START + 1, provider), "PeriodNotNext");
      await expectRevert(settle(key, START - 40, START - 39, provider), "PeriodAlreadySettled");
      await send(registry, customer, "settlePeriod", key, START, START + DAY);
      await expectRevert(settle(key, START + 2 * DAY, START + 3 * DAY, customer), "PeriodNotNext");
      await send(registry, provider, "settlePeriod", key, START + DAY, START + 2 * DAY);
      // A future period: the records do not reach its end.
      await send(registry, provider, "settlePeriod", key, START + 2 * DAY, START + 3 * DAY);
      await expectRevert(settle(key, START + 3 * DAY, START + 4 * DAY), "PeriodIncomplete");
      const [head] = await registry.getFunction("recordsHead")(key);
      expect([head.filled, head.settled]).toEqual([3n, 3n]);
    });

    test("error: a record straddling a period end is refused", async () => {
      const { key, binding } = await openAgreement();
      const { records } = await signRecords(95, { binding, signer: gateway });
      await submit(key, records);
      const { records: long } = await signRecords(1, {
        binding,
        signer: gateway,
        chain: {
          seq: 95,
          prevHash: meterRecordDigest(records[94]!),
          periodEnd: records[94]!.periodEnd,
        },
        from: 95,
      });
      // Re-sign the 96th record over 30 minutes (crossing midnight): refused.
      expect(long[0]!.periodEnd.getTime()).toBe(START + DAY);
      const crossing = {
        ...toRecordInput(long[0]!),
        periodEnd: BigInt(START + DAY + QUARTER_HOUR),
      };
      await expectRevert(
        registry.connect(stranger).getFunction("submitRecords")(
          key,
          AIR,
          95,
          records[94]!.periodEnd.getTime(),
          [crossing],
        ),
        "StraddlesPeriod",
      );
    });

    test("error: a relayed statement cannot jump the settled point past unsettled records", async () => {
      const { key, binding } = await openAgreement();
      const { records } = await signRecords(96 * 2, { binding, signer: gateway });
      await submit(key, records.slice(0, 96));
      // Day 1's statement continues the chain, but day 0's records are not settled yet.
      const day1 = await signPeriodStatement(buildPeriodStatement(records.slice(96)), {
        signer: gateway,
      });
      await expectRevert(
        registry.connect(stranger).getFunction("settleStatement")(key, toStatementInput(day1)),
        "PeriodNotNext",
      );
      const day0 = await signPeriodStatement(buildPeriodStatement(records.slice(0, 96)), {
        signer: Wallet.createRandom(),
      });
      await expectRevert(
        registry.connect(stranger).getFunction("settleStatement")(key, toStatementInput(day0)),
        "StatementSigner",
      );
      const same = await signPeriodStatement(buildPeriodStatement(records.slice(0, 96)), {
        signer: gateway,
      });
      const r = await send(registry, stranger, "settleStatement", key, toStatementInput(same));
      expect(eventsOf(registry, r).find((e) => e.name === "PeriodSettled")?.args.lastSeq).toBe(95n);
      await send(registry, stranger, "settleStatement", key, toStatementInput(day1));
      const [head] = await registry.getFunction("recordsHead")(key);
      expect([head.nextSeq, head.settled]).toEqual([192n, 2n]);
    });

    test("error: after revocation no record of the key is accepted, back-dated or not", async () => {
      const future = Wallet.createRandom();
      const { key, binding } = await openAgreement({
        signers: [
          { address: gateway.address, validFrom: "2024-12-01T00:00:00.000Z" },
          { address: future.address, validFrom: "2030-01-01T00:00:00.000Z" },
        ],
      });
      const { records } = await signRecords(8, { binding, signer: gateway });
      await submit(key, records.slice(0, 4));
      await expectRevert(
        registry.connect(stranger).getFunction("revokeSigner")(key, gateway.address),
        "NotAuthorized",
      );
      const r = await send(registry, customer, "revokeSigner", key, gateway.address);
      expect(eventsOf(registry, r)[0]).toMatchObject({
        name: "SignerRevoked",
        args: { signer: gateway.address, cutoffSeq: 4n },
      });
      // Record 4 was signed for 01:00–01:15 on Jan 1 — long before the revocation block — and
      // is refused all the same.
      await expectRevert(submit(key, records.slice(4, 5)), "UnknownSigner");
      // A key whose window starts in the future keeps no window at all once revoked.
      const rf = await send(registry, provider, "revokeSigner", key, future.address);
      expect(eventsOf(registry, rf)[0]?.name).toBe("SignerRevoked");
      // A revoked key cannot be re-allowed; a new key needs both parties.
      const next = Wallet.createRandom();
      const from = BigInt(Date.now() + DAY);
      await expectRevert(
        registry.connect(provider).getFunction("allowSigner")(key, gateway.address, from, 0n),
        "InvalidTerms",
      );
      const proposed = await send(registry, provider, "allowSigner", key, next.address, from, 0n);
      expect(eventsOf(registry, proposed).map((e) => e.name)).toEqual(["SignerProposed"]);
      const allowed = await send(registry, customer, "allowSigner", key, next.address, from, 0n);
      expect(eventsOf(registry, allowed)[0]).toMatchObject({
        name: "SignerAllowed",
        args: { signer: next.address, validFrom: from },
      });
    });

    test("error: nobody squats an agreement id; one party alone opens nothing", async () => {
      counter += 1;
      const agreementId = `0x${counter.toString(16).padStart(64, "0")}`;
      const real = agreementJson({
        agreementId,
        provider: provider.address,
        customer: customer.address,
        signer: gateway.address,
        token: await token.getAddress(),
        billingPeriod: DAILY,
      });
      const input = toAgreementInput(real, await token.getAddress());
      // A stranger naming the real parties cannot offer; naming itself it gets another key.
      await expectRevert(
        registry.connect(stranger).getFunction("openAgreement")(agreementId, input),
        "NotAuthorized",
      );
      const squat = toAgreementInput(
        agreementJson({
          agreementId,
          provider: stranger.address,
          customer: Wallet.createRandom().address,
          signer: stranger.address,
          token: await token.getAddress(),
          billingPeriod: DAILY,
        }),
        await token.getAddress(),
      );
      await send(registry, stranger, "openAgreement", agreementId, squat);
      // The provider alone: an offer only — no records, no deposits.
      await send(registry, provider, "openAgreement", agreementId, input);
      const key = agreementKey(agreementId, provider.address, customer.address);
      await expectRevert(
        registry.connect(customer).getFunction("deposit")(key, 1n, hashText("x")),
        "UnknownAgreement",
      );
      // Accepting other terms (the provider's own choice of signer) does not open these.
      const other = toAgreementInput(
        agreementJson({
          agreementId,
          provider: provider.address,
          customer: customer.address,
          signer: stranger.address,
          token: await token.getAddress(),
          billingPeriod: DAILY,
        }),
        await token.getAddress(),
      );
      await send(registry, customer, "openAgreement", agreementId, other); // a counter-offer
      await expectRevert(
        registry.connect(provider).getFunction("openAgreement")(agreementId, input),
        "NotAuthorized",
      );
      const r = await send(registry, customer, "openAgreement", agreementId, input);
      expect(eventsOf(registry, r).map((e) => e.name)).toContain("AgreementOpened");
    });

    test("error: a stranger using a deposit reference first does not block the customer's", async () => {
      const { key } = await openAgreement();
      await send(registry, stranger, "deposit", key, 1n, hashText("initial-deposit"));
      await send(registry, customer, "deposit", key, 100_000_000n, hashText("initial-deposit"));
      await expectRevert(
        registry.connect(customer).getFunction("deposit")(key, 1n, hashText("initial-deposit")),
        "DuplicateReference",
      );
      const [available] = await registry.getFunction("balances")(key);
      expect(available).toBe(100_000_001n);
    });
  });

  describe("rejections", () => {
    test("error: wrong seq, overlap, gap, foreign key, other agreement, outside term", async () => {
      const { key, binding } = await openAgreement({ end: "2025-01-01T02:00:00.000Z" });
      const { records } = await signRecords(10, { binding, signer: gateway });
      await submit(key, records.slice(0, 2));
      await expectRevert(submit(key, records.slice(3, 4)), "SeqMismatch", [2n, 3n]);
      const input = records.slice(2, 3).map(toRecordInput);
      const call = (start: number, rs = input, seq = 2) =>
        registry.connect(stranger).getFunction("submitRecords")(key, AIR, seq, start, rs);
      const start = records[2]!.periodStart.getTime();
      await expectRevert(call(start - 1), "PeriodOverlap");
      await expectRevert(call(start + 1), "PeriodGap");
      const foreign = await signRecords(3, { binding, signer: Wallet.createRandom() });
      await expectRevert(call(start, foreign.records.slice(2).map(toRecordInput)), "UnknownSigner");
      const other = await signRecords(3, {
        binding: { ...binding, agreementId: `0x${"ee".repeat(32)}` },
        signer: gateway,
      });
      await expectRevert(call(start, other.records.slice(2).map(toRecordInput)), "UnknownSigner");
      await submit(key, records.slice(2, 8));
      await expectRevert(submit(key, records.slice(8)), "OutsideTerm", [8n]);
    });

    test("error: funds — only the customer withdraws, never more than available, references once", async () => {
      const { key } = await openAgreement();
      await send(registry, customer, "deposit", key, 5_000_000n, hashText("a"));
      await expectRevert(
        registry.connect(customer).getFunction("deposit")(key, 1n, hashText("a")),
        "DuplicateReference",
      );
      await expectRevert(
        registry.connect(provider).getFunction("withdraw")(key, 1n, hashText("w")),
        "NotAuthorized",
      );
      await expectRevert(
        registry.connect(customer).getFunction("withdraw")(key, 5_000_001n, hashText("w")),
        "InsufficientFunds",
      );
      const r = await send(registry, customer, "withdraw", key, 2_000_000n, hashText("w"));
      expect(eventsOf(registry, r)[0]).toMatchObject({
        name: "FundsWithdrawn",
        args: { amount: 2_000_000n, available: 3_000_000n },
      });
    });
  });
});
