import {
  buildPeriodStatement,
  type MeterRecordBinding,
  meterRecordDigest,
  signPeriodStatement,
} from "@maaskit/metering";
import { type Contract, type HDNodeWallet, Wallet } from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Agreement } from "../src/agreement.js";
import {
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
import { agreementJson, signRecords } from "./evmFixtures.js";
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

beforeAll(async () => {
  anvil = await startAnvil();
  [provider, customer, stranger] = anvil.wallets as [HDNodeWallet, HDNodeWallet, HDNodeWallet];
  token = await deploy(provider, testTokenAbi, testTokenBytecode, "Test EUR", "tEUR", 6);
  registry = await deploy(provider, meterAgreementsAbi, meterAgreementsBytecode);
  await send(token, customer, "mint", customer.address, 10n ** 15n);
  await send(token, customer, "approve", await registry.getAddress(), 2n ** 256n - 1n);
});

afterAll(async () => {
  await anvil?.stop();
});

async function openAgreement(overrides: Partial<Parameters<typeof agreementJson>[0]> = {}) {
  counter += 1;
  const agreementId = `0x${counter.toString(16).padStart(64, "0")}`;
  const agreement = agreementJson({
    agreementId,
    provider: provider.address,
    customer: customer.address,
    signer: gateway.address,
    token: await token.getAddress(),
    ...overrides,
  });
  const receipt = await send(
    registry,
    provider,
    "openAgreement",
    agreementId,
    toAgreementInput(agreement, await token.getAddress()),
  );
  const binding: MeterRecordBinding = {
    agreementId,
    chainId: Number(anvil.chainId),
    verifyingContract: await registry.getAddress(),
  };
  return { agreement, key: hashText(agreementId), binding, receipt };
}

const AIR = hashText("air");

async function submit(key: string, records: Awaited<ReturnType<typeof signRecords>>["records"]) {
  return send(
    registry,
    stranger,
    "submitRecords",
    key,
    AIR,
    records[0]!.seq,
    records[0]!.periodStart.getTime(),
    records.map(toRecordInput),
    true,
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

describe("MeterAgreements", () => {
  test("default: open, submit signed records, settle from the records", async () => {
    const { agreement, key, binding, receipt } = await openAgreement();
    expect(eventsOf(registry, receipt).map((e) => e.name)).toEqual([
      "SignerAllowed",
      "AgreementOpened",
    ]);
    expect(await registry.getFunction("domainSeparator")(key)).toBeDefined();

    const { records } = await signRecords(8, { binding, signer: gateway });
    const r1 = await submit(key, records.slice(0, 1));
    const r2 = await submit(key, records.slice(1));
    const accepted = [...eventsOf(registry, r1), ...eventsOf(registry, r2)];
    expect(accepted.map((e) => e.args.recordHash)).toEqual(
      records.map((r) => meterRecordDigest(r)),
    );
    expect(accepted.map((e) => e.args.seq)).toEqual(records.map((r) => BigInt(r.seq)));

    await send(registry, customer, "deposit", key, 100_000_000n, hashText("ref-1"));
    const start = records[0]!.periodStart.getTime();
    const end = records.at(-1)!.periodEnd.getTime();
    const settled = await send(registry, provider, "settlePeriod", key, start, end);
    const ev = eventsOf(registry, settled).find((e) => e.name === "PeriodSettled")!;
    const invoice = invoiceOf(agreement, records);
    const expected = BigInt(invoice.total.mul(10 ** 6).toFixed());
    expect(ev.args.total).toBe(expected);
    expect(ev.args.firstSeq).toBe(0n);
    expect(ev.args.lastSeq).toBe(7n);
    expect(ev.args.headHash).toBe(meterRecordDigest(records[7]!));
    expect(ev.args.paidFromBalance).toBe(expected);
    const [available, due, paid] = await registry.getFunction("balances")(key);
    expect([available, due, paid]).toEqual([100_000_000n - expected, 0n, expected]);

    await expectRevert(
      registry.connect(provider).getFunction("settlePeriod")(key, start, end),
      "PeriodAlreadySettled",
    );
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
    const { records } = await signRecords(10, { binding, signer: gateway, oee: true });
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
      true,
    );
    const r = await send(
      registry,
      customer,
      "settlePeriod",
      key,
      records[0]!.periodStart.getTime(),
      records.at(-1)!.periodEnd.getTime(),
    );
    const ev = eventsOf(registry, r).find((e) => e.name === "PeriodSettled")!;
    const invoice = invoiceOf(agreement, records);
    expect(invoice.lines.some((l) => l.kind === "slaCredit")).toBe(true);
    expect(ev.args.total).toBe(BigInt(invoice.total.mul(10 ** 6).toFixed()));
  });

  describe("rejections", () => {
    test("error: wrong seq, overlap, gap, foreign key, other agreement, outside term", async () => {
      const { key, binding } = await openAgreement({ end: "2025-01-01T02:00:00.000Z" });
      const { records } = await signRecords(10, { binding, signer: gateway });
      await submit(key, records.slice(0, 2));
      await expectRevert(submit(key, records.slice(3, 4)), "SeqMismatch", [2n, 3n]);
      const input = records.slice(2, 3).map(toRecordInput);
      const call = (start: number, rs = input, seq = 2) =>
        registry.connect(stranger).getFunction("submitRecords")(key, AIR, seq, start, rs, true);
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

    test("error: statements that do not match the chain or are signed by another key", async () => {
      const { key, binding } = await openAgreement();
      const { records } = await signRecords(8, { binding, signer: gateway });
      const first = await signPeriodStatement(buildPeriodStatement(records.slice(0, 4)), {
        signer: Wallet.createRandom(),
      });
      await expectRevert(
        registry.connect(stranger).getFunction("settleStatement")(key, toStatementInput(first)),
        "StatementSigner",
      );
      const later = await signPeriodStatement(buildPeriodStatement(records.slice(4)), {
        signer: gateway,
      });
      await expectRevert(
        registry.connect(stranger).getFunction("settleStatement")(key, toStatementInput(later)),
        "StatementMismatch",
        ["seq"],
      );
      // Records on chain first: a statement over them settles only if it says the same.
      await submit(key, records.slice(0, 4));
      const same = await signPeriodStatement(buildPeriodStatement(records.slice(0, 4)), {
        signer: gateway,
      });
      const r = await send(registry, stranger, "settleStatement", key, toStatementInput(same));
      expect(eventsOf(registry, r).find((e) => e.name === "PeriodSettled")?.args.lastSeq).toBe(3n);
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
