import { dec, GENESIS_HASH, ZERO_ADDRESS } from "@maaskit/metering";
import { signEntitlementGrant } from "@maaskit/metering/entitlements";
import {
  conformanceWallets,
  scenarioAgreement,
  scenarioClock,
  scenarioRecords,
  scenarioWorkOrder,
} from "@maaskit/settlement/conformance";
import { type HttpLedger, httpLedger } from "@maaskit/settlement/http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OPERATOR_TOKEN, startService } from "./serverHarness.js";

const w = conformanceWallets();
const tokens = {
  provider: "provider-token-0123456789abcdef",
  customer: "customer-token-0123456789abcdef",
  arbiter: "arbiter-token-0123456789abcdef0",
  stranger: "stranger-token-0123456789abcdef",
  relayer: "relayer-token-0123456789abcdef0",
} as const;

describe("ledger service: a party acts only as itself", () => {
  let service: Awaited<ReturnType<typeof startService>>;
  const as = {} as Record<keyof typeof tokens | "operator", HttpLedger>;
  const agreement = scenarioAgreement("security");
  const id = agreement.agreementId;

  beforeAll(async () => {
    service = await startService({
      clock: scenarioClock("2025-01-01T00:00:00Z"),
      tokens: [
        { name: "provider", token: tokens.provider, role: "party", address: w.provider.address },
        { name: "customer", token: tokens.customer, role: "party", address: w.customer.address },
        { name: "arbiter", token: tokens.arbiter, role: "party", address: w.arbiter.address },
        { name: "stranger", token: tokens.stranger, role: "party", address: w.stranger.address },
        { name: "relayer", token: tokens.relayer, role: "relayer" },
      ],
    });
    for (const [name, token] of Object.entries({ ...tokens, operator: OPERATOR_TOKEN })) {
      as[name as keyof typeof as] = httpLedger({ url: service.url, auth: token });
    }
  });
  afterAll(async () => {
    for (const l of Object.values(as)) await l.close();
    await service.stop();
  });

  it("adversary: a stranger or the customer cannot offer in the provider's name; the provider can", async () => {
    await expect(as.stranger.openAgreement(agreement)).rejects.toMatchObject({
      code: "settlement.agreement.unauthorized",
    });
    await expect(
      as.customer.openAgreement(agreement, { by: w.provider.address }),
    ).rejects.toMatchObject({ code: "settlement.agreement.unauthorized" });
    await expect(as.operator.getAgreement(id)).rejects.toMatchObject({
      code: "settlement.agreement.notFound",
    });
    await expect(as.provider.openAgreement(agreement)).resolves.toMatchObject({
      status: "offered",
    });
  });

  it("adversary: the provider cannot accept on the customer's behalf; the customer accepts", async () => {
    await expect(
      as.provider.acceptAgreement({ agreementId: id, by: w.customer.address }),
    ).rejects.toMatchObject({ code: "settlement.agreement.unauthorized" });
    expect((await as.operator.getAgreement(id)).status).toBe("pending");
    await expect(
      as.customer.acceptAgreement({ agreementId: id, by: w.customer.address }),
    ).resolves.toMatchObject({ status: "active" });
  });

  it("adversary: only the customer moves the customer's funds", async () => {
    await as.customer.deposit({ agreementId: id, amount: dec("50"), by: w.customer.address });
    await expect(
      as.provider.withdraw({ agreementId: id, amount: dec("50"), by: w.customer.address }),
    ).rejects.toMatchObject({ code: "settlement.funds.unauthorized" });
    await expect(
      as.relayer.withdraw({ agreementId: id, amount: dec("50"), by: w.customer.address }),
    ).rejects.toMatchObject({ code: "settlement.funds.unauthorized" });
    expect((await as.customer.getBalance(id)).available.toFixed()).toBe("50");
  });

  it("default: signed records authenticate themselves: a relayer delivers them, a forgery is refused", async () => {
    const { recordDomain } = await as.operator.getAgreement(id);
    const records = await scenarioRecords(agreement, recordDomain);
    const forged = { ...records[0]!, signature: records[1]!.signature };
    await expect(
      as.relayer.submitRecords({ agreementId: id, records: [forged] }),
    ).rejects.toMatchObject({ code: expect.stringMatching(/^settlement\.record\./) });
    const out = await as.relayer.submitRecords({ agreementId: id, records });
    expect(out.accepted).toBe(records.length);
    const again = await as.stranger.submitRecords({ agreementId: id, records });
    expect(again).toMatchObject({ accepted: 0, duplicates: records.length });
  });

  it("adversary: reads of an agreement need a party of it; events are filtered to the caller's", async () => {
    for (const who of ["stranger", "relayer", "arbiter"] as const) {
      await expect(as[who].getBalance(id)).rejects.toMatchObject({
        code: "settlement.agreement.unauthorized",
      });
      await expect(as[who].getInvoices(id)).rejects.toMatchObject({
        code: "settlement.agreement.unauthorized",
      });
      await expect(as[who].getRecordsHead(id)).rejects.toMatchObject({
        code: "settlement.agreement.unauthorized",
      });
      expect(await as[who].getEvents()).toEqual([]);
    }
    expect((await as.provider.getRecordsHead(id)).nextSeq).toBe(8);
    const mine = await as.customer.getEvents();
    expect(mine.length).toBeGreaterThan(8);
    expect(mine).toEqual(await as.operator.getEvents());
  });

  it("adversary: only the vendor registers its grants and revocations; the customer and a relayer cannot", async () => {
    const grant = await signEntitlementGrant(
      {
        version: 1,
        agreementId: id,
        chainId: 0,
        verifyingContract: ZERO_ADDRESS,
        issuer: w.provider.address,
        subject: w.machineA.address,
        machineId: agreement.machineId,
        featureId: "boost",
        terms: { kind: "perActivation", unit: "C62", budget: dec(2) },
        notBefore: agreement.start,
        notAfter: new Date(agreement.start.getTime() + 86_400_000),
        offlineGraceMs: 3_600_000,
        generation: 0,
        prevGrant: GENESIS_HASH,
      },
      { signer: w.provider },
    );
    for (const who of ["customer", "relayer", "stranger"] as const) {
      await expect(as[who].grantEntitlement({ grant })).rejects.toMatchObject({
        code: "settlement.agreement.unauthorized",
      });
    }
    await expect(as.stranger.getEntitlements(id)).rejects.toMatchObject({
      code: "settlement.agreement.unauthorized",
    });
    expect(await as.customer.getEntitlements(id)).toEqual([]);
    await as.provider.grantEntitlement({ grant });
    const [boost] = await as.customer.getEntitlements(id);
    expect(boost?.grants).toEqual([grant]);
  });

  it("adversary: work orders — only the customer opens and funds, only the arbiter resolves", async () => {
    const terms = scenarioWorkOrder("security");
    await expect(as.provider.openWorkOrder(terms)).rejects.toMatchObject({
      code: "settlement.workOrder.unauthorized",
    });
    await as.customer.openWorkOrder(terms);
    await expect(
      as.provider.fundWorkOrder({ workOrderId: terms.workOrderId, by: w.customer.address }),
    ).rejects.toMatchObject({ code: "settlement.workOrder.unauthorized" });
    await expect(as.stranger.getWorkOrder(terms.workOrderId)).rejects.toMatchObject({
      code: "settlement.workOrder.unauthorized",
    });
    await expect(
      as.customer.resolveDispute({
        workOrderId: terms.workOrderId,
        toProvider: dec("1"),
        by: w.arbiter.address,
      }),
    ).rejects.toMatchObject({ code: "settlement.workOrder.unauthorized" });
    expect((await as.arbiter.getWorkOrder(terms.workOrderId)).status).toBe("open");
  });

  it("error: no token or an unknown token is settlement.http.unauthenticated (401), and changes nothing", async () => {
    for (const auth of ["", "not-a-known-token-at-all"]) {
      const anon = httpLedger({ url: service.url, auth });
      await expect(
        anon.deposit({ agreementId: id, amount: dec("1"), by: w.customer.address }),
      ).rejects.toMatchObject({ code: "settlement.http.unauthenticated" });
      await anon.close();
    }
    const res = await fetch(`${service.url}/v1/ledger/getBalance`, {
      method: "POST",
      body: JSON.stringify({ agreementId: id }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("www-authenticate")).toBe("Bearer");
    expect((await as.customer.getBalance(id)).available.toFixed()).toBe("50");
  });
});
