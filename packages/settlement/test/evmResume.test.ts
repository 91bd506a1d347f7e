import { dec } from "@maaskit/metering";
import { Contract, type HDNodeWallet, parseEther, ZeroHash } from "ethers";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { scenarioAgreement, snapshotText } from "../src/conformance/ledgerScenario.js";
import golden from "../src/conformance/ledgerScenario.vectors.json" with { type: "json" };
import {
  conformanceWallets,
  runLedgerScenario,
  type ScenarioClock,
  scenarioClock,
} from "../src/conformance.js";
import { type EvmLedger, evmLedger, meterAgreementsAbi } from "../src/evm.js";
import { invoiceToJson } from "../src/invoice.js";
import type { LedgerBackend } from "../src/ledger.js";
import { appendCallNote } from "../src/ledgers/evm/evmCallNote.js";
import { agreementKey } from "../src/ledgers/evm/evmEncoding.js";
import { testTokenAbi } from "../src/ledgers/evm/generated/TestToken.js";
import { openAgreementWithConsent } from "../src/openAgreementWithConsent.js";
import type { Anvil } from "./anvil.js";
import { startConformanceChain } from "./conformanceChain.js";
import { send } from "./evmTestUtils.js";

// A gateway restarting on existing contracts: a new evmLedger on the same addresses rebuilds
// its state from the chain (logs, calldata and the notes the backend appends) and goes on
// exactly as the process that made the earlier calls would have.

interface Chain {
  readonly anvil: Anvil;
  readonly token: string;
  readonly clock: ScenarioClock;
  readonly open: (addresses?: EvmLedger["addresses"]) => Promise<EvmLedger>;
}

async function chain(): Promise<Chain> {
  const { anvil, deployer, parties, token } = await startConformanceChain(
    ["provider", "customer", "arbiter"],
    { customer: 10n ** 12n },
  );
  const clock = scenarioClock("2025-01-01T00:00:00Z");
  const open = (addresses?: EvmLedger["addresses"]) =>
    evmLedger({
      provider: anvil.provider,
      signer: deployer,
      parties,
      clock,
      ...(addresses === undefined ? { deploy: true } : { addresses }),
    });
  return { anvil, token: await token.getAddress(), clock, open };
}

/**
 * A backend that forwards to one ledger for its first `switchAfter` calls, then closes it
 * and forwards to a new ledger made by `next` (the restart).
 */
function restarting(
  first: EvmLedger,
  switchAfter: number,
  next: () => Promise<EvmLedger>,
): { backend: LedgerBackend; calls: () => number; current: () => EvmLedger } {
  let current = first;
  let calls = 0;
  const backend = new Proxy({} as LedgerBackend, {
    get(_target, prop) {
      if (prop === "events$") return current.events$;
      return async (...args: unknown[]) => {
        if (calls === switchAfter) {
          await current.close();
          current = await next();
        }
        calls++;
        const fn = (current as unknown as Record<string, (...a: unknown[]) => unknown>)[
          prop as string
        ];
        return fn!(...args);
      };
    },
  });
  return { backend, calls: () => calls, current: () => current };
}

/** Everything the port reports, for every agreement and work order its events name. */
async function stateOf(ledger: LedgerBackend): Promise<unknown> {
  const events = await ledger.getEvents();
  const agreements = [
    ...new Set(events.flatMap((e) => (e.type === "AgreementOpened" ? [e.agreementId] : []))),
  ];
  const workOrders = [
    ...new Set(events.flatMap((e) => (e.type === "WorkOrderOpened" ? [e.workOrderId] : []))),
  ];
  const out: Record<string, unknown> = { events };
  for (const id of agreements) {
    out[id] = {
      agreement: await ledger.getAgreement(id),
      balance: await ledger.getBalance(id),
      invoices: (await ledger.getInvoices(id)).map(invoiceToJson),
      head: await ledger.getRecordsHead(id),
    };
  }
  for (const id of workOrders) out[id] = await ledger.getWorkOrder(id);
  return JSON.parse(JSON.stringify(out));
}

describe("evmLedger: resume on existing contracts", () => {
  let whole: Chain;
  let ledger: EvmLedger;
  let totalCalls = 0;

  beforeAll(async () => {
    whole = await chain();
    ledger = await whole.open();
    const counting = restarting(ledger, Number.POSITIVE_INFINITY, () => whole.open());
    const { snapshot } = await runLedgerScenario(counting.backend, whole.clock, {
      token: whole.token,
    });
    expect(JSON.parse(snapshotText(snapshot))).toEqual(golden);
    totalCalls = counting.calls();
  }, 180_000);

  afterAll(async () => {
    await whole?.anvil.stop();
  });

  test("default: a new instance after the whole scenario reports the same state", async () => {
    const resumed = await whole.open(ledger.addresses);
    const seen: unknown[] = [];
    const sub = resumed.events$.subscribe((e) => seen.push(e));
    const before = await stateOf(ledger);
    expect(await stateOf(resumed)).toEqual(before);
    expect(JSON.parse(JSON.stringify(seen))).toEqual((before as { events: unknown }).events);
    sub.unsubscribe();
    await resumed.close();
  }, 120_000);

  test.each([
    ["half", 1 / 2],
    ["a quarter", 1 / 4],
    ["three quarters", 3 / 4],
  ])(
    "behavior: %s of the scenario on one instance, the rest on a new one gives the golden snapshot",
    async (_label, share) => {
      expect(totalCalls).toBeGreaterThan(10);
      const split = await chain();
      try {
        const first = await split.open();
        const run = restarting(first, Math.floor(totalCalls * share), () =>
          split.open(first.addresses),
        );
        const { snapshot } = await runLedgerScenario(run.backend, split.clock, {
          token: split.token,
        });
        expect(run.current()).not.toBe(first);
        const text = snapshotText(snapshot);
        expect(JSON.parse(text)).toEqual(golden);
        expect(text).toBe(snapshotText(golden));
        // The restarted instance holds the whole history, as the single run does.
        expect(await stateOf(run.current())).toEqual(await stateOf(ledger));
      } finally {
        await split.anvil.stop();
      }
    },
    180_000,
  );

  test("args: fromBlock past the calls rebuilds nothing", async () => {
    const head = await whole.anvil.provider.getBlockNumber();
    const resumed = await evmLedger({
      provider: whole.anvil.provider,
      signer: whole.anvil.wallets[0] as HDNodeWallet,
      addresses: ledger.addresses,
      fromBlock: head + 1,
    });
    expect(await resumed.getEvents()).toEqual([]);
    await resumed.close();
  });

  test("adversary: foreign calls are never trusted nor fatal — a forged note rebuilds as what the chain did", async () => {
    const other = await chain();
    try {
      const first = await other.open();
      const w = conformanceWallets();
      const agreement = scenarioAgreement("resume/foreign", { token: other.token });
      await openAgreementWithConsent(first, agreement);
      const key = agreementKey(agreement.agreementId, w.provider.address, w.customer.address);
      other.clock.set("2025-01-01T01:00:00Z");
      await first.deposit({
        agreementId: agreement.agreementId,
        amount: dec("100"),
        by: w.customer.address,
      });
      await first.close();
      const deployer = other.anvil.wallets[0] as HDNodeWallet;
      const token = new Contract(other.token, testTokenAbi, deployer);
      // A party paying in with another tool (no note) …
      const customer = w.customer.connect(other.anvil.provider);
      await send(
        new Contract(first.addresses.meterAgreements, meterAgreementsAbi, customer),
        customer,
        "deposit",
        key,
        2n * 10n ** 6n,
        ZeroHash,
      );
      // … and a stranger paying 1 base unit with a note that claims a deposit of 1,000,000.
      const stranger = w.stranger.connect(other.anvil.provider);
      await other.anvil.provider.send("anvil_setBalance", [
        stranger.address,
        `0x${parseEther("1").toString(16)}`,
      ]);
      await send(token, deployer, "mint", stranger.address, 10n);
      await send(
        token.connect(stranger) as Contract,
        stranger,
        "approve",
        first.addresses.meterAgreements,
        10n,
      );
      const registry = new Contract(first.addresses.meterAgreements, meterAgreementsAbi, stranger);
      const req = await registry.getFunction("deposit").populateTransaction(key, 1n, ZeroHash);
      req.data = appendCallNote(req.data, {
        v: 1,
        at: "2025-01-01T02:00:00.000Z",
        c: {
          t: "deposit",
          agreementId: agreement.agreementId,
          amount: "1000000",
          by: w.customer.address,
        },
      });
      await (await stranger.sendTransaction(req)).wait();

      const resumed = await other.open(first.addresses);
      const balance = await resumed.getBalance(agreement.agreementId);
      const [onChain] = await registry.getFunction("balances")(key);
      expect(balance.available.toFixed()).toBe("102.000001");
      expect(onChain).toBe(102_000_001n);
      const deposits = (await resumed.getEvents()).filter((e) => e.type === "FundsDeposited");
      expect(deposits.map((e) => (e as { amount: string }).amount)).toEqual([
        "100",
        "2",
        "0.000001",
      ]);
      expect(resumed.foreignTransactions()).toEqual([]);
      await resumed.close();
    } finally {
      await other.anvil.stop();
    }
  }, 120_000);
});
