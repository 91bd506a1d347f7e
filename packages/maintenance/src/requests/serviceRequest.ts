import type { Reading } from "@maaskit/metering";
import type { Iso13374Stage } from "../triggers/advisory.js";

/** Urgency of a service request, after the IDTA service-request notification. */
export type ServicePriority = "low" | "medium" | "high" | "critical";

/**
 * A machine's own request for service, modelled on the IDTA "Service Request
 * Notification" submodel: which asset, what service, how urgent, since when, why, and the
 * readings that prove it.
 */
export interface ServiceRequest {
  readonly kind: "serviceRequest";
  /** Deterministic id: `<machineId>/<conditionId>/<n>` (n counts requests per condition). */
  readonly id: string;
  readonly assetId: string;
  readonly conditionId: string;
  readonly serviceType: string;
  readonly priority: ServicePriority;
  /** When the fault or due condition started (source time). */
  readonly faultStart: Date;
  readonly createdAt: Date;
  readonly errorCode: string;
  readonly description: string;
  readonly stage: Iso13374Stage;
  readonly triggeringReadings: readonly Reading[];
}
