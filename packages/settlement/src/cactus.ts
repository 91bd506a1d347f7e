// @maaskit/settlement/cactus — Hyperledger Cactus integration. The only entry point that loads
// @hyperledger/cactus-core(-api); the main entry and ./evm never import it.
export {
  type CactusConnectorSelector,
  type CactusLedger,
  type CactusLedgerParameters,
  cactusLedger,
} from "./ledgers/cactus/cactusLedger.js";
export { type EvmRpc, evmConsensusFamily } from "./ledgers/cactus/evmConsensusFamily.js";
export {
  type AnyLedgerConnector,
  isLedgerConnectorPlugin,
} from "./ledgers/cactus/isLedgerConnectorPlugin.js";
export {
  type LedgerConnectorPlugin,
  type LedgerConnectorPluginParameters,
  type LedgerDeployResult,
  ledgerConnectorPlugin,
  MAASKIT_LEDGER_PACKAGE,
} from "./ledgers/cactus/ledgerConnectorPlugin.js";
export type {
  GetEventsParams,
  GetEventsResult,
  LedgerMethod,
  LedgerMethodArgs,
  LedgerMethodResults,
} from "./ledgers/protocol/ledgerMethods.js";
export {
  decodeLedgerResponse,
  encodeLedgerRequest,
  type JsonValue,
  type LedgerErrorJson,
  type LedgerTransactRequest,
  type LedgerTransactResponse,
  MAASKIT_LEDGER_PROTOCOL,
  serveLedgerRequest,
} from "./ledgers/protocol/ledgerProtocol.js";
