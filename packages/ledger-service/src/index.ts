// @maaskit/ledger-service — the maaskit ledger as an HTTP service.
export { type Caller, type TokenTable, tokenTable } from "./auth.js";
export {
  createLedgerServer,
  type LedgerServer,
  type LedgerServerLimits,
  type LedgerServerParameters,
} from "./createLedgerServer.js";
export type { Metrics } from "./metrics.js";
export { openApiDocument } from "./openApi.js";
