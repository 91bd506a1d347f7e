// @maaskit/settlement — public entry point. Explicit named re-exports only.
export {
  type Agreement,
  type AgreementCapacity,
  type AgreementErrorCode,
  type AgreementInput,
  type AgreementJson,
  type AgreementSigner,
  agreementToJson,
  type BillingPeriod,
  type PaymentTerms,
  parseAgreement,
  validateAgreement,
} from "./agreement.js";
export {
  type BillingPeriodErrorCode,
  type BillingPeriodRange,
  billingPeriodAt,
} from "./billingPeriodAt.js";
export {
  type ConditionCleared,
  conditionClearedTypes,
  recoverConditionCleared,
  signConditionCleared,
  workOrderDomain,
} from "./conditionCleared.js";
export {
  type CreateSettlementClientParameters,
  createSettlementClient,
  type SettlementClient,
} from "./createSettlementClient.js";
export { type Currency, MAX_CURRENCY_DECIMALS } from "./currency.js";
export {
  type FixedCharge,
  type FixedPointErrorCode,
  type FixedSla,
  type FixedTariff,
  type FixedTier,
  type FixedUsage,
  fromFixedInteger,
  priceRecordsFixed,
  priceUsageFixed,
  RATIO_DECIMALS,
  toFixedInteger,
  toFixedTariff,
} from "./fixedPoint.js";
export {
  type Invoice,
  type InvoiceAvailability,
  type InvoiceErrorCode,
  type InvoiceJson,
  type InvoiceLine,
  type InvoiceLineJson,
  type InvoiceLineKind,
  type InvoiceRecords,
  invoiceFromJson,
  invoiceToJson,
} from "./invoice.js";
export { isSignerAllowed } from "./isSignerAllowed.js";
export type {
  Address,
  AgreementState,
  AgreementStatus,
  Balance,
  ConditionClearedAttestation,
  ConfirmWorkOrderParameters,
  DepositParameters,
  EntitlementState,
  FundsResult,
  Hex32,
  LedgerBackend,
  LedgerClock,
  LedgerDomain,
  OpenAgreementResult,
  OpenWorkOrderResult,
  RecordsHead,
  SettlementPeriod,
  SubmitRecordsResult,
  SubmittedRecord,
  WithdrawParameters,
  WorkOrder,
  WorkOrderStatus,
  WorkOrderTerms,
} from "./ledger.js";
export {
  isLedgerError,
  LedgerError,
  type LedgerErrorCode,
  ledgerError,
  ledgerErrorCodes,
} from "./ledgerErrors.js";
export type {
  AgreementOpenedEvent,
  AgreementResumedEvent,
  AgreementSuspendedEvent,
  FundsDepositedEvent,
  FundsWithdrawnEvent,
  LedgerEvent,
  LedgerEventType,
  OverdraftEvent,
  PeriodSettledEvent,
  RecordAcceptedEvent,
  WorkOrderAcceptedEvent,
  WorkOrderCancelledEvent,
  WorkOrderCompletedEvent,
  WorkOrderConfirmedEvent,
  WorkOrderDisputedEvent,
  WorkOrderFundedEvent,
  WorkOrderOpenedEvent,
  WorkOrderRefundedEvent,
  WorkOrderReleasedEvent,
  WorkOrderResolvedEvent,
} from "./ledgerEvents.js";
export {
  type EmbeddedLedger,
  type EmbeddedLedgerParameters,
  embeddedLedger,
} from "./ledgers/embedded/embeddedLedger.js";
export { openAgreementWithConsent } from "./openAgreementWithConsent.js";
export {
  type PriceRecordsOptions,
  type PricingErrorCode,
  type PricingRecord,
  priceRecords,
} from "./priceRecords.js";
export type { Problem } from "./problems.js";
export { roundAmount } from "./roundAmount.js";
export {
  type AvailabilitySla,
  type FeaturePrices,
  parseTariff,
  type RoundingMode,
  type Tariff,
  type TariffErrorCode,
  type TariffInput,
  type TariffJson,
  type TariffPricing,
  type TariffTier,
  type TariffTierJson,
  tariffToJson,
  validateTariff,
} from "./tariff.js";
export {
  type AgreementRecordsVerification,
  verifyAgreementRecords,
} from "./verifyAgreementRecords.js";
