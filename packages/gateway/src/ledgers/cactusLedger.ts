// The `cactus` ledger choice: settlement through a Hyperledger Cactus PluginRegistry.

import { requireOptional } from "@maaskit/metering/internal";
import { embeddedLedger, type LedgerBackend, type LedgerClock } from "@maaskit/settlement";

/**
 * Settlement goes through a Hyperledger Cactus `PluginRegistry` (npm `@hyperledger/cactus-core`,
 * an optional peer: missing, it fails with `maaskit.dependency.missing` naming it). The
 * registry holds maaskit's embedded ledger (in `dir`) wrapped as a Cactus ledger-connector
 * plugin; an operator who runs Cactus registers their own connector under the same instance id
 * instead, and the gateway does not change (docs/cactus.md).
 */
export async function startCactusLedger(p: {
  readonly dir: string;
  readonly clock: LedgerClock;
  readonly instanceId?: string;
}): Promise<{ ledger: LedgerBackend; stop(): Promise<void> }> {
  const { PluginRegistry } = requireOptional<typeof import("@hyperledger/cactus-core")>(
    "@hyperledger/cactus-core",
    "@maaskit/gateway (ledger type cactus)",
  );
  const { cactusLedger, ledgerConnectorPlugin } = await import("@maaskit/settlement/cactus");
  const instanceId = p.instanceId ?? "maaskit-settlement";
  const inner = embeddedLedger({ dir: p.dir, clock: p.clock });
  const registry = new PluginRegistry({ plugins: [] });
  registry.add(ledgerConnectorPlugin(inner, { instanceId }));
  const ledger = cactusLedger({ registry, connector: instanceId, pollInterval: 0 });
  return {
    ledger,
    async stop() {
      await inner.close();
    },
  };
}
