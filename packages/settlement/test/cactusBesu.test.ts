import { PluginRegistry } from "@hyperledger/cactus-core";
import { PluginLedgerConnectorBesu } from "@hyperledger/cactus-plugin-ledger-connector-besu";
import { describe, expect, it } from "vitest";
import { cactusLedger, isLedgerConnectorPlugin, ledgerConnectorPlugin } from "../src/cactus.js";
import {
  conformanceWallets,
  describeLedgerBackend,
  scenarioAgreement,
  scenarioClock,
  scenarioDay,
  scenarioRecords,
} from "../src/conformance.js";
import { evmLedger } from "../src/evm.js";
import { openAgreementWithConsent } from "../src/openAgreementWithConsent.js";
import { BesuConnectorProvider, type BesuTransact } from "./besuConnectorProvider.js";
import { startConformanceChain } from "./conformanceChain.js";

// A real Cactus ledger connector in the path: Hyperledger Cactus' Besu connector 0.5.0 carries
// every transaction of the EVM backend to the node (anvil here), inside the same registry that
// holds the maaskit plugin cactusLedger settles through:
// cactusLedger → registry → ledgerConnectorPlugin(evmLedger) → ethers → registry → Besu connector → anvil.

async function setup(clock: ReturnType<typeof scenarioClock>) {
  const { anvil, deployer, token } = await startConformanceChain(
    ["provider", "customer", "arbiter", "stranger"],
    { customer: 10n ** 12n, stranger: 10n ** 6n },
  );
  const w = conformanceWallets();

  // Besu connector 0.5.0 implements the 0.5 plugin interface (no onPluginInit): registry.add()
  // of cactus-core 1.0.0 refuses it, the constructor's plugin list takes it.
  const registry = new PluginRegistry({ plugins: [] });
  const besu = new PluginLedgerConnectorBesu({
    instanceId: "besu",
    rpcApiHttpHost: anvil.rpcUrl,
    pluginRegistry: registry as never,
    logLevel: "WARN",
  });
  registry.plugins.push(besu as never);
  const bridge = new BesuConnectorProvider(
    anvil.rpcUrl,
    () => registry.getOneById("besu") as unknown as BesuTransact,
  );
  const backend = await evmLedger({
    provider: bridge,
    signer: deployer.connect(bridge),
    parties: [w.provider, w.customer, w.arbiter, w.stranger].map((x) => x.connect(bridge)),
    deploy: true,
    clock,
  });
  registry.plugins.push(ledgerConnectorPlugin(backend, { instanceId: "maaskit" }));
  const ledger = cactusLedger({ registry, connector: "maaskit", pollInterval: 0 });
  return {
    anvil,
    besu,
    bridge,
    backend,
    ledger,
    registry,
    token: await token.getAddress(),
  };
}

describe("cactus with Hyperledger Cactus' Besu connector 0.5.0", () => {
  it("default: every ledger transaction goes through the Besu connector's transact", async () => {
    const clock = scenarioClock("2025-01-01T00:00:00Z");
    const s = await setup(clock);
    try {
      expect(isLedgerConnectorPlugin(s.besu)).toBe(false); // 0.5 interface: no onPluginInit
      expect(await s.besu.getConsensusAlgorithmFamily()).toBe(
        "org.hyperledger.cactus.consensusalgorithm.PROOF_OF_AUTHORITY",
      );
      const agreement = scenarioAgreement("cactus/besu", { token: s.token });
      const { recordDomain } = await openAgreementWithConsent(s.ledger, agreement);
      const records = await scenarioRecords(agreement, recordDomain);
      clock.set("2025-01-02T00:05:00Z");
      const out = await s.ledger.submitRecords({
        agreementId: agreement.agreementId,
        records: records.slice(0, 4),
      });
      expect(out.accepted).toBe(4);
      const invoice = await s.ledger.settlePeriod({
        agreementId: agreement.agreementId,
        period: scenarioDay(0),
      });
      expect(invoice.total.toFixed()).toBe("32.46");
      // The two contract deployments, then offer + accept + submit + settle (the receipts the
      // backend keeps): each one a transaction the connector carried.
      expect(s.backend.receipts().length).toBe(4);
      expect(s.bridge.sent).toBe(2 + s.backend.receipts().length);
    } finally {
      await s.ledger.close();
      await s.backend.close();
      await s.anvil.stop();
    }
  }, 120_000);
});

describeLedgerBackend(
  "cactus over evm through the Besu connector",
  async ({ clock }) => {
    const s = await setup(clock);
    return {
      ledger: s.ledger,
      token: s.token,
      cleanup: async () => {
        await s.backend.close();
        await s.anvil.stop();
      },
    };
  },
  { timeout: 300_000, entitlements: false },
);
