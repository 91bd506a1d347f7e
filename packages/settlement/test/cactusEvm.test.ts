import { PluginRegistry } from "@hyperledger/cactus-core";
import { ConsensusAlgorithmFamily } from "@hyperledger/cactus-core-api";
import { ContractFactory, type HDNodeWallet } from "ethers";
import { describe, expect, it } from "vitest";
import {
  cactusLedger,
  evmConsensusFamily,
  type LedgerDeployResult,
  ledgerConnectorPlugin,
} from "../src/cactus.js";
import {
  conformanceWallets,
  describeLedgerBackend,
  runLedgerScenario,
  scenarioClock,
} from "../src/conformance.js";
import {
  evmLedger,
  meterAgreementsAbi,
  meterAgreementsBytecode,
  workOrderEscrowAbi,
  workOrderEscrowBytecode,
} from "../src/evm.js";
import type { Anvil } from "./anvil.js";
import { startConformanceChain } from "./conformanceChain.js";

/** anvil with the conformance parties funded and the settlement token deployed. */
async function chain(): Promise<{ anvil: Anvil; deployer: HDNodeWallet; token: string }> {
  const { anvil, deployer, token } = await startConformanceChain(
    ["provider", "customer", "arbiter", "stranger"],
    { customer: 10n ** 12n, stranger: 10n ** 6n },
  );
  return { anvil, deployer, token: await token.getAddress() };
}

function parties(anvil: Anvil) {
  const w = conformanceWallets();
  return [w.provider, w.customer, w.arbiter, w.stranger].map((x) => x.connect(anvil.provider));
}

// The conformance suite through Cactus on a real chain: cactusLedger → PluginRegistry →
// ledgerConnectorPlugin → evmLedger → anvil. Same golden snapshot as embedded and evm.
describeLedgerBackend(
  "cactus over evm",
  async ({ clock }) => {
    const { anvil, deployer, token } = await chain();
    const backend = await evmLedger({
      provider: anvil.provider,
      signer: deployer,
      parties: parties(anvil),
      deploy: true,
      clock,
    });
    const registry = new PluginRegistry({
      plugins: [
        ledgerConnectorPlugin(backend, {
          instanceId: "maaskit-evm",
          consensus: () => evmConsensusFamily(anvil.provider),
        }),
      ],
    });
    return {
      ledger: cactusLedger({ registry, connector: "maaskit-evm", pollInterval: 0 }),
      token,
      cleanup: async () => {
        await backend.close();
        await anvil.stop();
      },
    };
  },
  { timeout: 120_000, entitlements: false },
);

describe("cactus over evm", () => {
  it("default: events$ equals the EVM backend's events; consensus and finality come from the chain; deployContract deploys the contracts", async () => {
    const { anvil, deployer, token } = await chain();
    try {
      const clock = scenarioClock("2025-01-01T00:00:00Z");
      const backend = await evmLedger({
        provider: anvil.provider,
        signer: deployer,
        parties: parties(anvil),
        deploy: true,
        clock,
      });
      const plugin = ledgerConnectorPlugin(backend, {
        instanceId: "maaskit-evm",
        consensus: () => evmConsensusFamily(anvil.provider),
        // Deploys a fresh pair of maaskit contracts, for an operator setting up through Cactus.
        deploy: async () => {
          const registry = await new ContractFactory(
            meterAgreementsAbi,
            meterAgreementsBytecode,
            deployer,
          ).deploy();
          await registry.waitForDeployment();
          const escrow = await new ContractFactory(
            workOrderEscrowAbi,
            workOrderEscrowBytecode,
            deployer,
          ).deploy(await registry.getAddress());
          await escrow.waitForDeployment();
          return {
            meterAgreements: await registry.getAddress(),
            workOrderEscrow: await escrow.getAddress(),
          };
        },
      });
      const registry = new PluginRegistry({ plugins: [plugin] });
      const ledger = cactusLedger({ registry, connector: "maaskit-evm", pollInterval: 0 });

      expect(await plugin.getConsensusAlgorithmFamily()).toBe(ConsensusAlgorithmFamily.Authority);
      expect(await plugin.hasTransactionFinality()).toBe(true);

      const seen: unknown[] = [];
      const sub = ledger.events$.subscribe((e) => seen.push(e));
      await runLedgerScenario(ledger, clock, { token });
      const direct = await backend.getEvents();
      expect(direct.length).toBeGreaterThan(20);
      expect(seen).toEqual(direct);
      sub.unsubscribe();

      const deployed = (await ledger.deployContracts()) as LedgerDeployResult;
      expect(deployed.kind).toBe("evm");
      expect(deployed.deployed).toBe(true);
      const addresses = deployed.result as { meterAgreements: string; workOrderEscrow: string };
      for (const a of [addresses.meterAgreements, addresses.workOrderEscrow]) {
        expect((await anvil.provider.getCode(a)).length).toBeGreaterThan(2);
      }
      // The new contracts serve a second EVM backend, which a registry entry then exposes.
      const second = await evmLedger({
        provider: anvil.provider,
        signer: deployer,
        parties: parties(anvil),
        addresses,
        clock,
      });
      expect(second.addresses).toEqual(addresses);
      await ledger.close();
      await second.close();
      await backend.close();
    } finally {
      await anvil.stop();
    }
  }, 120_000);
});
