import type { ICactusPlugin, IPluginLedgerConnector } from "@hyperledger/cactus-core-api";

/** Any Cactus ledger connector, whatever its request and response types. */
export type AnyLedgerConnector = IPluginLedgerConnector<unknown, unknown, unknown, unknown>;

/**
 * Type guard: is `plugin` a Cactus ledger connector (`IPluginLedgerConnector`)? Cactus'
 * `PluginRegistry` finds plugins by instance id or package name only, never by interface,
 * so the shape is checked here: the `ICactusPlugin` methods plus `deployContract`,
 * `transact`, `getConsensusAlgorithmFamily` and `hasTransactionFinality`.
 *
 * @example
 * const connectors = registry.getPlugins().filter(isLedgerConnectorPlugin)
 */
export function isLedgerConnectorPlugin(plugin: unknown): plugin is AnyLedgerConnector {
  if (typeof plugin !== "object" || plugin === null) return false;
  const p = plugin as Record<keyof AnyLedgerConnector, unknown> & Partial<ICactusPlugin>;
  return (
    typeof p.getInstanceId === "function" &&
    typeof p.getPackageName === "function" &&
    typeof p.onPluginInit === "function" &&
    typeof p.deployContract === "function" &&
    typeof p.transact === "function" &&
    typeof p.getConsensusAlgorithmFamily === "function" &&
    typeof p.hasTransactionFinality === "function"
  );
}
