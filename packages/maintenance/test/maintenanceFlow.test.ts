import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compressorModel, dec, type Reading, verifyLogEntries } from "@maaskit/metering";
import {
  type Currency,
  embeddedLedger,
  type LedgerBackend,
  type LedgerDomain,
} from "@maaskit/settlement";
import { startAnvil } from "@maaskit/settlement/anvil";
import { evmLedger, testTokenAbi, testTokenBytecode } from "@maaskit/settlement/evm";
import { ContractFactory, Wallet, ZeroAddress } from "ethers";
import { merge, Subject } from "rxjs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  checkWarranty,
  createWorkOrderManager,
  type MaintenanceAdvisory,
  openMaintenanceHistory,
  parseServiceAgreement,
  type ServiceRequest,
  serviceRequests,
  thresholdTrigger,
} from "../src/index.js";

const machine = new Wallet("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
const forger = new Wallet("0x8da4ef21b864d2cc526dbdb2a120bd2874c36c9d0a1fb7f8c63d7f7a8b41de8f");

/** A ledger to run the flow on, with the parties it knows and the domain of its attestations. */
interface Backend {
  ledger: LedgerBackend;
  customer: string;
  provider: string;
  arbiter: string;
  currency: Currency;
  domain: LedgerDomain;
  cleanup(): Promise<void>;
}

const backends: [string, (dir: string, clock: { now(): Date }) => Promise<Backend>][] = [
  [
    "embedded",
    async (dir, clock) => {
      const ledger = embeddedLedger({ dir: join(dir, "ledger"), clock });
      return {
        ledger,
        customer: Wallet.createRandom().address,
        provider: Wallet.createRandom().address,
        arbiter: Wallet.createRandom().address,
        currency: { symbol: "EUR", decimals: 2 },
        domain: { chainId: 0, verifyingContract: ZeroAddress },
        cleanup: () => ledger.close(),
      };
    },
  ],
  [
    "evm (anvil)",
    async (_dir, clock) => {
      const anvil = await startAnvil();
      const [deployer, customer, provider, arbiter] = anvil.wallets;
      const token = await new ContractFactory(testTokenAbi, testTokenBytecode, deployer).deploy(
        "Euro Test",
        "EURT",
        2,
      );
      await token.waitForDeployment();
      const mint = await (
        token as unknown as { mint(to: string, v: bigint): Promise<{ wait(): Promise<unknown> }> }
      ).mint(customer!.address, 10n ** 9n);
      await mint.wait();
      const ledger = await evmLedger({
        provider: anvil.provider,
        signer: deployer!,
        parties: [customer!, provider!, arbiter!],
        deploy: true,
        clock,
      });
      return {
        ledger,
        customer: customer!.address,
        provider: provider!.address,
        arbiter: arbiter!.address,
        currency: { symbol: "EURT", decimals: 2, address: await token.getAddress() },
        domain: {
          chainId: Number(anvil.chainId),
          verifyingContract: ledger.addresses.meterAgreements,
        },
        cleanup: async () => {
          await ledger.close();
          await anvil.stop();
        },
      };
    },
  ],
];

describe.each(backends)("machine-controlled maintenance on the %s ledger", (_name, makeBackend) => {
  let dir: string;
  let ledger: LedgerBackend;
  let backend: Backend;
  let customer: string;
  let provider: string;
  let arbiter: string;
  let serviceAgreement: ReturnType<typeof parseServiceAgreement>;
  let now: Date;
  const clock = { now: () => now };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "maaskit-maint-"));
    now = new Date("2025-01-06T00:00:00Z");
    backend = await makeBackend(dir, clock);
    ({ ledger, customer, provider, arbiter } = backend);
    serviceAgreement = parseServiceAgreement({
      id: "svc-1",
      machineId: "compressor-1",
      customer,
      provider,
      arbiter,
      machineSigner: machine.address,
      currency: backend.currency,
      prices: { airFilterChange: "180.00" },
      responseHours: 24,
      completionHours: 72,
      warranty: [{ serviceType: "airFilterChange", every: { months: 12 } }],
    });
  }, 60_000);
  afterEach(async () => {
    await backend.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Drives the simulated compressor in 5-minute steps, emitting filter readings. */
  function drive(
    model: ReturnType<typeof compressorModel>,
    readings: Subject<Reading>,
    minutes: number,
  ) {
    for (let i = 0; i < minutes / 5; i++) {
      model.step(300);
      const s = model.snapshot();
      now = s.time;
      for (const [channel, value, unit] of [
        ["filterDp", s.filterDp, "BAR"],
        ["runHours", s.runHours, "HUR"],
      ] as const) {
        readings.next({
          kind: "reading",
          machineId: "compressor-1",
          channel,
          value,
          unit,
          quality: "good",
          sourceTime: s.time,
        });
      }
    }
  }

  async function setup() {
    const model = compressorModel({ seed: 7, filterLifeVolume: 20_000 });
    const readings = new Subject<Reading>();
    const history = await openMaintenanceHistory({
      machineId: "compressor-1",
      signer: machine,
      file: join(dir, "history.jsonl"),
    });
    const orders = createWorkOrderManager({
      ledger,
      history,
      agreement: serviceAgreement,
      ledgerDomain: backend.domain,
      machineSigner: machine,
      clock,
    });
    const advisories: MaintenanceAdvisory[] = [];
    const requests: ServiceRequest[] = [];
    const filter$ = readings.pipe(
      thresholdTrigger({
        machineId: "compressor-1",
        conditionId: "air-filter",
        serviceType: "airFilterChange",
        channel: "filterDp",
        above: "0.05",
        clearAt: "0.03",
        minDurationMs: 15 * 60_000,
      }),
    );
    filter$.subscribe((a) => advisories.push(a));
    merge(filter$, orders.servicePerformed$)
      .pipe(serviceRequests())
      .subscribe((r) => requests.push(r));
    return { model, readings, history, orders, advisories, requests };
  }

  it("default: trigger → request → funded work order → completion → machine confirmation → paid → history", async () => {
    const { model, readings, history, orders, advisories, requests } = await setup();
    // Run until the filter differential pressure crosses 0.05 bar for 15 min.
    while (requests.length === 0 && model.steps < 3_000_000) drive(model, readings, 60);
    expect(requests).toHaveLength(1);
    const sr = requests[0]!;
    expect(sr).toMatchObject({ serviceType: "airFilterChange", errorCode: "threshold.above" });
    // A second trigger for the same open condition raises no second request.
    drive(model, readings, 600);
    expect(requests).toHaveLength(1);

    await orders.request(sr);
    await orders.quote(sr.id);
    await orders.fund(sr.id, customer);
    await orders.accept(sr.id, provider);
    await orders.start(sr.id, provider);
    const runHours = model.snapshot().runHours.toFixed();
    await orders.complete(sr.id, provider, {
      report: "air filter element replaced",
      partsUsed: ["air filter element"],
      runHours,
    });
    model.service();
    drive(model, readings, 30);
    const cleared = advisories.find((a) => a.severity === "cleared");
    expect(cleared).toBeDefined();
    const paid = await orders.confirmByMachine(sr.id, {
      hash: "0x" + "ab".repeat(32),
      at: cleared!.at,
    });
    expect(paid.state).toBe("paid");
    const onLedger = await ledger.getWorkOrder(paid.ledgerId);
    expect(onLedger.status).toBe("released");
    expect(onLedger.amount.eq(dec("180"))).toBe(true);

    expect(history.entries().map((e) => e.type)).toEqual([
      "serviceRequest",
      "workOrder.quoted",
      "workOrder.funded",
      "workOrder.accepted",
      "workOrder.inProgress",
      "workOrder.completed",
      "workOrder.confirmed",
      "workOrder.paid",
      "service.performed",
    ]);
    expect(
      verifyLogEntries(history.entries(), { signers: [machine.address] }).every((r) => r.valid),
    ).toBe(true);
    // The request is closed by the service; the filter is clean, so nothing new opens.
    drive(model, readings, 600);
    expect(requests).toHaveLength(1);
    const report = checkWarranty(history.entries(), serviceAgreement.warranty, {
      commissioned: { at: model.startTime, runHours: "0" },
      now: { at: now, runHours: model.snapshot().runHours.toFixed() },
    });
    expect(report.compliant).toBe(true);
  });

  it("error: a completion confirmed by a forged machine key is rejected; the escrow stays", async () => {
    const { model, readings, history, advisories, requests } = await setup();
    while (requests.length === 0) drive(model, readings, 60);
    const forged = createWorkOrderManager({
      ledger,
      history,
      agreement: serviceAgreement,
      ledgerDomain: backend.domain,
      machineSigner: forger,
      clock,
    });
    const sr = requests[0]!;
    await forged.request(sr);
    await forged.quote(sr.id);
    await forged.fund(sr.id, customer);
    await forged.accept(sr.id, provider);
    await forged.complete(sr.id, provider, { report: "done" });
    await expect(
      forged.confirmByMachine(sr.id, { hash: "0x" + "cd".repeat(32), at: now }),
    ).rejects.toMatchObject({ code: "settlement.workOrder.badProof" });
    // Someone other than the provider cannot complete either.
    expect(advisories.length).toBeGreaterThan(0);
    expect((await ledger.getWorkOrder(forged.get(sr.id).ledgerId)).status).toBe("completed");
  });

  it("behavior: a missed deadline refunds the escrow to the customer", async () => {
    const { model, readings, orders, requests } = await setup();
    while (requests.length === 0) drive(model, readings, 60);
    const sr = requests[0]!;
    await orders.request(sr);
    await orders.quote(sr.id);
    await orders.fund(sr.id, customer);
    // The provider never accepts: 25 h later (response time 24 h) the customer expires it.
    now = new Date(now.getTime() + 25 * 3_600_000);
    const expired = await orders.expire(sr.id, customer);
    expect(expired.state).toBe("expired");
    expect((await ledger.getWorkOrder(expired.ledgerId)).status).toBe("refunded");
  });

  it("behavior: a dispute is resolved by the arbiter", async () => {
    const { model, readings, orders, requests } = await setup();
    while (requests.length === 0) drive(model, readings, 60);
    const sr = requests[0]!;
    await orders.request(sr);
    await orders.quote(sr.id);
    await orders.fund(sr.id, customer);
    await orders.accept(sr.id, provider);
    await orders.complete(sr.id, provider, { report: "done" });
    await orders.dispute(sr.id, customer, "filter not replaced, dp still high");
    await expect(orders.resolve(sr.id, customer, dec("90"))).rejects.toMatchObject({
      code: "settlement.workOrder.unauthorized",
    });
    const resolved = await orders.resolve(sr.id, arbiter, dec("90"));
    expect(resolved.state).toBe("resolved");
    expect((await ledger.getWorkOrder(resolved.ledgerId)).status).toBe("resolved");
  });

  it("error: transitions outside the state machine are typed errors", async () => {
    const { model, readings, orders, requests } = await setup();
    while (requests.length === 0) drive(model, readings, 60);
    const sr = requests[0]!;
    await orders.request(sr);
    await expect(orders.accept(sr.id, provider)).rejects.toMatchObject({
      code: "maintenance.workOrder.invalidTransition",
    });
  });
});
