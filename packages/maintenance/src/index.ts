// @maaskit/maintenance — public entry point. Explicit named re-exports only.

export {
  checkWarranty,
  type RequiredInterval,
  type WarrantyFinding,
  type WarrantyReport,
} from "./history/checkWarranty.js";
export {
  type HistoryEntryType,
  type MaintenanceHistory,
  type MaintenanceHistoryRecovery,
  openMaintenanceHistory,
  type ServicePerformedPayload,
} from "./history/maintenanceHistory.js";
export {
  type MaintenanceHistoryReading,
  readMaintenanceHistory,
} from "./history/readMaintenanceHistory.js";
export type { ServicePriority, ServiceRequest } from "./requests/serviceRequest.js";
export { type ServiceRequestsOptions, serviceRequests } from "./requests/serviceRequests.js";
export type {
  AdvisorySeverity,
  Iso13374Stage,
  MaintenanceAdvisory,
  ServicePerformedEvent,
} from "./triggers/advisory.js";
export {
  type DegradationTriggerOptions,
  degradationTrigger,
  slope,
} from "./triggers/degradationTrigger.js";
export { type DepletionTriggerOptions, depletionTrigger } from "./triggers/depletionTrigger.js";
export {
  addMonthsUtc,
  type IntervalTriggerOptions,
  intervalTrigger,
} from "./triggers/intervalTrigger.js";
export { type ThresholdTriggerOptions, thresholdTrigger } from "./triggers/thresholdTrigger.js";
export {
  parseServiceAgreement,
  type ServiceAgreement,
  type ServiceAgreementJson,
} from "./workOrders/serviceAgreement.js";
export {
  type CompletionProof,
  createWorkOrderManager,
  type MaintenanceWorkOrder,
  type WorkOrderManager,
} from "./workOrders/workOrderManager.js";
export {
  assertTransition,
  type WorkOrderState,
  workOrderTransitions,
} from "./workOrders/workOrderState.js";
