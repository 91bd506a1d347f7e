// @maaskit/settlement/http — the ledger service's client and the protocol table it speaks.
export {
  type HttpLedger,
  type HttpLedgerParameters,
  httpLedger,
} from "./ledgers/http/httpLedger.js";
export {
  type GetEventsParams,
  type GetEventsResult,
  type LedgerMethod,
  type LedgerMethodArgs,
  type LedgerMethodResults,
  ledgerMethodNames,
  ledgerMethods,
} from "./ledgers/protocol/ledgerMethods.js";
export {
  callLedgerMethod,
  decodeLedgerParams,
  encodeLedgerResult,
  isLedgerMethod,
  type JsonValue,
  type LedgerErrorJson,
  ledgerErrorToJson,
} from "./ledgers/protocol/ledgerProtocol.js";
