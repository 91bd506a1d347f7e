import {
  type GatewayEvent,
  type MaintenanceEvent,
  gatewayLogLine as packageLogLine,
} from "@maaskit/gateway";
import type { QuarantineEvent, Reading } from "@maaskit/metering";

/** A structured log line: the demo logs events, not prose. */
export interface LogLine {
  readonly event: string;
  readonly [key: string]: unknown;
}

/**
 * A gateway event as a log line: `gatewayLogLine` of `@maaskit/gateway`, with the ledger's
 * error of a delivery retry as `detail` (the dashboard's ledger panel shows it).
 */
export function gatewayLogLine(e: GatewayEvent): LogLine | undefined {
  const line = packageLogLine(e);
  if (line && (e.type === "delivery.retrying" || e.type === "delivery.failed"))
    return { ...line, detail: e.error };
  return line;
}

/** A maintenance event as a log line (what the dashboard's maintenance panel reads). */
export function maintenanceLogLine(e: MaintenanceEvent): LogLine {
  switch (e.type) {
    case "maintenance.advisory":
      return {
        event: e.type,
        condition: e.advisory.conditionId,
        severity: e.advisory.severity,
        code: e.advisory.errorCode,
        at: e.advisory.at.toISOString(),
      };
    case "maintenance.request":
      return {
        event: e.type,
        id: e.request.id,
        serviceType: e.request.serviceType,
        priority: e.request.priority,
      };
    case "workOrder.paid":
      return { event: e.type, id: e.id, amount: e.amount?.toFixed(), by: `${e.by} confirmation` };
    case "maintenance.error":
      return { event: e.type, error: String(e.error) };
    case "storage.recovered":
      return { event: e.type, store: e.store, ...e.recovery };
    default:
      return { ...e, event: e.type };
  }
}

/** A quarantined reading as a line of `quarantine.jsonl`. */
export function quarantineLine(e: QuarantineEvent) {
  const item = e.item as Partial<Reading> | undefined;
  return {
    reason: e.reason,
    message: e.message,
    machineId: e.machineId,
    channel: e.channel,
    at: e.at?.toISOString(),
    value: item && "value" in item ? String(item.value) : undefined,
  };
}
