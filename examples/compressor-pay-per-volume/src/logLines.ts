import type { GatewayEvent, MaintenanceEvent } from "@maaskit/gateway";
import type { QuarantineEvent, Reading } from "@maaskit/metering";

/** A structured log line: the demo logs events, not prose. */
export interface LogLine {
  readonly event: string;
  readonly [key: string]: unknown;
}

const period = (p: { start: Date; end: Date }) => `${p.start.toISOString()}/${p.end.toISOString()}`;

/** A gateway event as a log line (readings, records and acknowledgements are not logged). */
export function gatewayLogLine(e: GatewayEvent): LogLine | undefined {
  switch (e.type) {
    case "reading":
    case "record":
    case "record.acknowledged":
      return undefined;
    case "reading.quarantined":
      return {
        event: e.type,
        reason: e.event.reason,
        channel: e.event.channel,
        message: e.event.message,
      };
    case "period.due":
      return { event: e.type, period: period(e.period) };
    case "period.settled":
    case "period.alreadySettled":
      return {
        event: e.type,
        period: period(e.invoice.period),
        total: e.invoice.total.toFixed(),
        currency: e.invoice.currency.symbol,
      };
    case "period.retrying":
      return { event: "period.settleRetrying", attempt: e.attempt, error: String(e.error) };
    case "delivery.retrying":
    case "delivery.failed":
      return { event: e.type, seq: e.seq, detail: e.error };
    case "storage.recovered":
      return { event: e.type, store: e.store, ...e.recovery };
    default:
      return { ...e, event: e.type };
  }
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
