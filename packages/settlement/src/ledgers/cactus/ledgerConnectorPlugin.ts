import type {
  ConsensusAlgorithmFamily,
  IPluginLedgerConnector,
} from "@hyperledger/cactus-core-api";
import type { LedgerBackend } from "../../ledger.js";
import { ledgerError } from "../../ledgerErrors.js";
import {
  type JsonValue,
  type LedgerTransactRequest,
  type LedgerTransactResponse,
  MAASKIT_LEDGER_PROTOCOL,
  serveLedgerRequest,
} from "../protocol/ledgerProtocol.js";
import { loadCactusCoreApi } from "./cactusCoreApi.js";

/** Package name a maaskit ledger plugin reports by default. */
export const MAASKIT_LEDGER_PACKAGE = "@maaskit/settlement";

/** What `deployContract` of a maaskit ledger plugin answers. */
export interface LedgerDeployResult {
  /** The wrapped backend's kind (`"embedded"`, `"evm"`, …). */
  readonly kind: string;
  /** Whether anything was deployed by this call. */
  readonly deployed: boolean;
  /** What the deploy hook returned (e.g. contract addresses), or why nothing was deployed. */
  readonly result: JsonValue;
}

/** Options of `ledgerConnectorPlugin`. */
export interface LedgerConnectorPluginParameters {
  /** Cactus instance id: how applications find this connector in a `PluginRegistry`. */
  readonly instanceId: string;
  /**
   * Cactus package name (default `@maaskit/settlement`). `PluginRegistry#add` refuses a
   * second plugin with the same package name unless it replaces the first, so give
   * connectors that must coexist in one registry their own package names.
   */
  readonly packageName?: string;
  /**
   * Consensus family of the ledger behind the backend. Default: `Authority` (the embedded
   * ledger has one writer, the operator, and a command is final once fsynced); a function is
   * asked on each call (an EVM backend reads it from its chain).
   */
  readonly consensus?: ConsensusAlgorithmFamily | (() => Promise<ConsensusAlgorithmFamily>);
  /**
   * Deploys the backend's contracts for `deployContract` (an EVM backend's deployer). Without
   * it `deployContract` deploys nothing and says so: the embedded ledger has no contracts.
   */
  readonly deploy?: (request: JsonValue) => Promise<JsonValue>;
}

/**
 * A maaskit ledger as a Cactus plugin: `IPluginLedgerConnector` whose `transact` speaks the
 * `maaskit.ledger/1` protocol (`LedgerTransactRequest` in, `LedgerTransactResponse` out).
 */
export interface LedgerConnectorPlugin
  extends IPluginLedgerConnector<
    JsonValue | undefined,
    LedgerDeployResult,
    LedgerTransactRequest | string,
    LedgerTransactResponse
  > {
  /** The protocol `transact` speaks (`maaskit.ledger/1`); `cactusLedger` checks it. */
  getMaaskitLedgerProtocol(): typeof MAASKIT_LEDGER_PROTOCOL;
  /** Kind of the wrapped backend. */
  readonly kind: string;
}

/**
 * Wraps any maaskit `LedgerBackend` (embedded, EVM, …) as a Cactus ledger-connector plugin,
 * so a Cactus application finds it in its `PluginRegistry` and drives settlement through
 * `transact`: each call is plain JSON `{ protocol, method, params }` (decimals as strings,
 * instants as ISO 8601), each answer `{ ok: true, result }` or `{ ok: false, error: { code,
 * message, details } }` with the ledger's own error code. No web server is involved.
 *
 * The plugin does not own the backend: whoever created the backend closes it.
 *
 * @example
 * ```ts
 * const registry = new PluginRegistry()
 * registry.add(ledgerConnectorPlugin(embeddedLedger({ dir }), { instanceId: "settlement" }))
 * const ledger = cactusLedger({ registry, connector: "settlement" })
 * ```
 */
export function ledgerConnectorPlugin(
  backend: LedgerBackend,
  params: LedgerConnectorPluginParameters,
): LedgerConnectorPlugin {
  const { instanceId } = params;
  if (typeof instanceId !== "string" || instanceId.trim() === "") {
    throw ledgerError("settlement.ledger.unavailable", "instanceId must be a non-blank string", {
      instanceId: String(instanceId),
    });
  }
  const packageName = params.packageName ?? MAASKIT_LEDGER_PACKAGE;
  const { ConsensusAlgorithmFamiliesWithTxFinality, ConsensusAlgorithmFamily } =
    loadCactusCoreApi();
  const consensus = params.consensus ?? ConsensusAlgorithmFamily.Authority;
  const family = () => (typeof consensus === "function" ? consensus() : Promise.resolve(consensus));
  return {
    kind: backend.kind,
    getInstanceId: () => instanceId,
    getPackageName: () => packageName,
    getMaaskitLedgerProtocol: () => MAASKIT_LEDGER_PROTOCOL,
    onPluginInit: async () => undefined,
    transact: async (request) => serveLedgerRequest(backend, request),
    async deployContract(request) {
      if (params.deploy === undefined) {
        return {
          kind: backend.kind,
          deployed: false,
          result: `the ${backend.kind} ledger has no contracts to deploy`,
        };
      }
      return { kind: backend.kind, deployed: true, result: await params.deploy(request ?? null) };
    },
    getConsensusAlgorithmFamily: family,
    // Cactus' own table (what cactus-core's consensusHasTransactionFinality reads), without
    // loading cactus-core's web stack into a plugin.
    hasTransactionFinality: async () =>
      (Object.values(ConsensusAlgorithmFamiliesWithTxFinality) as string[]).includes(
        await family(),
      ),
  };
}
