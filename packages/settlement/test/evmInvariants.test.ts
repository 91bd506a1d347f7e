import { type Contract, type HDNodeWallet, parseEther } from "ethers";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ledgerActions,
  ledgerInvariantViolations,
  runLedgerActions,
} from "../src/conformance/ledgerInvariants.js";
import { conformanceWallets, scenarioClock } from "../src/conformance/ledgerScenario.js";
import { type EvmLedger, evmLedger } from "../src/evm.js";
import { testTokenAbi, testTokenBytecode } from "../src/ledgers/evm/generated/TestToken.js";
import { type Anvil, startAnvil } from "./anvil.js";
import { deploy, send } from "./evmTestUtils.js";

// The same random call sequences as the embedded property test, fewer of them, on anvil: the
// EVM backend (mirror and contracts) keeps the same invariants.
describe("evm ledger invariants under random calls (anvil)", () => {
  const clock = scenarioClock("2025-01-01T00:00:00Z");
  let anvil: Anvil;
  let ledger: EvmLedger;
  let token: string;
  let run = 0;

  beforeAll(async () => {
    anvil = await startAnvil({ args: ["--timestamp", String(Date.UTC(2024, 11, 1) / 1000)] });
    const deployer = anvil.wallets[0] as HDNodeWallet;
    const w = conformanceWallets();
    const parties = [w.provider, w.customer, w.stranger].map((x) => x.connect(anvil.provider));
    for (const p of parties) {
      await anvil.provider.send("anvil_setBalance", [
        p.address,
        `0x${parseEther("100").toString(16)}`,
      ]);
    }
    const t = (await deploy(
      deployer,
      testTokenAbi,
      testTokenBytecode,
      "Euro Test",
      "EURT",
      6,
    )) as Contract;
    for (const who of [w.customer, w.stranger])
      await send(t, deployer, "mint", who.address, 10n ** 12n);
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
