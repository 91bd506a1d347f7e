import { dec } from "@maaskit/metering";
import { Contract } from "ethers";
import { describe, expect, test } from "vitest";
import { scenarioId } from "../src/conformance/ledgerScenario.js";
import {
  conformanceWallets,
  describeLedgerBackend,
  runLedgerScenario,
  scenarioClock,
  workOrderId,
} from "../src/conformance.js";
import { evmLedger, meterAgreementsAbi, workOrderEscrowAbi } from "../src/evm.js";
import { agreementKey, workOrderKey } from "../src/ledgers/evm/evmEncoding.js";
import { startConformanceChain } from "./conformanceChain.js";

// The shared conformance suite on a real anvil node: the EVM backend must give the golden
// invoices, balances, results and events of every backend, and the same error codes.
describeLedgerBackend(
  "evm",
  async ({ clock }) => {
    const { anvil, deployer, parties, token } = await startConformanceChain(
      ["provider", "customer", "arbiter", "stranger"],
      { customer: 10n ** 12n, stranger: 10n ** 6n },
    );
    const ledger = await evmLedger({
      provider: anvil.provider,
      signer: deployer,
      parties,
      deploy: true,
      clock,
    });
    return {
      ledger,
      token: await (token as Contract).getAddress(),
      cleanup: () => anvil.stop(),
    };
  },
  { timeout: 120_000, entitlements: false },
);

describe("evmLedger: the chain holds what the ledger reports", () => {
  test("behavior: after the scenario, contract balances and work orders equal the port's view", async () => {
    const { anvil, deployer, parties, token } = await startConformanceChain(
      ["provider", "customer", "arbiter"],
      { customer: 10n ** 12n },
    );
    try {
      const w = conformanceWallets();
      const clock = scenarioClock("2025-01-01T00:00:00Z");
      const ledger = await evmLedger({
        provider: anvil.provider,
        signer: deployer,
        parties,
        deploy: true,
        clock,
      });
      const tokenAddress = await token.getAddress();
      await runLedgerScenario(ledger, clock, { token: tokenAddress });
      const registry = new Contract(
        ledger.addresses.meterAgreements,
        meterAgreementsAbi,
        anvil.provider,
      );
      const escrow = new Contract(
        ledger.addresses.workOrderEscrow,
        workOrderEscrowAbi,
        anvil.provider,
      );
      const scale = (d: { toFixed(): string }) => BigInt(dec(d.toFixed()).mul(1e6).toFixed(0));
      for (const label of ["scenario/a1", "scenario/a2"]) {
        const id = scenarioId(label);
        const key = agreementKey(id, w.provider.address, w.customer.address);
        const b = await ledger.getBalance(id);
        const [available, due, paid] = await registry.getFunction("balances")(key);
        expect([available, due, paid]).toEqual([
          scale(b.available),
          scale(b.due),
          scale(b.paidToProvider),
        ]);
        const head = await ledger.getRecordsHead(id);
        const [chainHead, headHash] = await registry.getFunction("recordsHead")(key);
        expect([Number(chainHead.nextSeq), headHash]).toEqual([head.nextSeq, head.headHash]);
      }
      const statuses = [
        "none",
        "open",
        "funded",
        "accepted",
        "completed",
        "released",
        "refunded",
        "cancelled",
        "disputed",
        "resolved",
      ];
      for (const label of ["scenario/wo1", "scenario/wo2", "scenario/wo3"]) {
        const id = workOrderId(label);
        const onChain = await escrow.getFunction("workOrder")(workOrderKey(w.customer.address, id));
        expect(statuses[Number(onChain.status)]).toBe((await ledger.getWorkOrder(id)).status);
      }
      // Every token the customer paid is with the provider, the escrow or the registry.
      const balanceOf = (a: string) => token.getFunction("balanceOf")(a) as Promise<bigint>;
      const held =
        (await balanceOf(w.customer.address)) +
        (await balanceOf(w.provider.address)) +
        (await balanceOf(ledger.addresses.meterAgreements)) +
        (await balanceOf(ledger.addresses.workOrderEscrow));
      expect(held).toBe(10n ** 12n);
      expect(ledger.receipts().every((r) => r.status === 1)).toBe(true);
      await ledger.close();
    } finally {
      await anvil.stop();
    }
  }, 120_000);
});
