// @maaskit/settlement/evm — the EVM ledger backend and the contracts' generated artifacts.
// Separate from the main entry so an embedded-ledger gateway never loads the provider stack.
export { evmLedger } from "./ledgers/evm/evmLedger.js";
export type {
  EvmLedger,
  EvmLedgerAddresses,
  EvmLedgerParameters,
} from "./ledgers/evm/evmLedgerTypes.js";
export {
  meterAgreementsAbi,
  meterAgreementsBytecode,
} from "./ledgers/evm/generated/MeterAgreements.js";
export { testTokenAbi, testTokenBytecode } from "./ledgers/evm/generated/TestToken.js";
export {
  workOrderEscrowAbi,
  workOrderEscrowBytecode,
} from "./ledgers/evm/generated/WorkOrderEscrow.js";
