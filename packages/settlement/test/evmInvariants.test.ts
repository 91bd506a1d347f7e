import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ledgerActions,
  ledgerInvariantViolations,
  runLedgerActions,
} from "../src/conformance/ledgerInvariants.js";
import { scenarioClock } from "../src/conformance/ledgerScenario.js";
import { type EvmLedger, evmLedger } from "../src/evm.js";
import type { Anvil } from "./anvil.js";
import { startConformanceChain } from "./conformanceChain.js";

// The same random call sequences as the embedded property test, fewer of them, on anvil: the
// EVM backend (mirror and contracts) keeps the same invariants.
describe("evm ledger invariants under random calls (anvil)", () => {
  const clock = scenarioClock("2025-01-01T00:00:00Z");
  let anvil: Anvil;
  let ledger: EvmLedger;
  let token: string;
  let run = 0;

  beforeAll(async () => {
    const chain = await startConformanceChain(["provider", "customer", "stranger"], {
      customer: 10n ** 12n,
      stranger: 10n ** 12n,
    });
    anvil = chain.anvil;
    const { deployer, parties, token: t } = chain;
    token = await t.getAddress();
    ledger = await evmLedger({
      provider: anvil.provider,
      signer: deployer,
      parties,
      deploy: true,
      clock,
    });
  }, 120_000);

  afterAll(async () => {
    await ledger?.close();
    await anvil?.stop();
  });

  it("behavior: the invariants hold on the chain backend too", async () => {
    await fc.assert(
      fc.asyncProperty(ledgerActions, async (actions) => {
        const result = await runLedgerActions(ledger, clock, `evm-invariants/${run++}`, actions, {
          token,
        });
        expect(ledgerInvariantViolations(result)).toEqual([]);
      }),
      { numRuns: 5 },
    );
  }, 300_000);
});
