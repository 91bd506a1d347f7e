import { PluginRegistry } from "@hyperledger/cactus-core";
import { embeddedLedger, type LedgerBackend, type LedgerClock } from "@maaskit/settlement";
import { cactusLedger, ledgerConnectorPlugin } from "@maaskit/settlement/cactus";

/**
 * The `cactus` ledger choice: settlement goes through a Hyperledger Cactus `PluginRegistry`.
 * Here the registry holds maaskit's embedded ledger wrapped as a Cactus ledger-connector
 * plugin; an operator who runs Cactus registers their own connector under the same instance
 * id instead, and the gateway does not change (see docs/cactus.md).
 */
export function startCactusLedger(p: { dir: string; clock: LedgerClock; instanceId?: string }): {
  ledger: LedgerBackend;
  registry: PluginRegistry;
  stop(): Promise<void>;
} {
  const instanceId = p.instanceId ?? "maaskit-settlement";
  const inner = embeddedLedger({ dir: p.dir, clock: p.clock });
  const registry = new PluginRegistry({ plugins: [] });
  registry.add(ledgerConnectorPlugin(inner, { instanceId }));
  const ledger = cactusLedger({ registry, connector: instanceId, pollInterval: 0 });
  return {
    ledger,
    registry,
    async stop() {
      await inner.close();
    },
  };
}
