// One JSON log line per gateway event: what `maaskit-gateway run` prints and a script may reuse.
import type { GatewayEvent } from "./gatewayTypes.js";

/**
 * A gateway event as a flat JSON-able log line (`{ event, … }`, dates as ISO strings, amounts
 * as decimal strings); undefined for the per-reading, per-record and per-acknowledgement events
 * (progress lines or a dashboard summarise those).
 */
export function gatewayLogLine(
  e: GatewayEvent,
): { event: string; [k: string]: unknown } | undefined {
  switch (e.type) {
    case "reading":
    case "record":
    case "record.acknowledged":
      return undefined; // progress lines summarise readings, records and acknowledgements
    case "period.settled":
    case "period.alreadySettled":
      return {
        event: e.type,
        period: `${e.invoice.period.start.toISOString()}/${e.invoice.period.end.toISOString()}`,
        usage: e.invoice.usage.value.toFixed(),
        total: e.invoice.total.toFixed(),
        currency: e.invoice.currency.symbol,
      };
    case "period.due":
      return {
        event: e.type,
        period: `${e.period.start.toISOString()}/${e.period.end.toISOString()}`,
      };
    case "period.retrying":
      return { event: e.type, attempt: e.attempt, delayMs: e.delayMs, error: String(e.error) };
    case "reading.quarantined":
      return {
        event: e.type,
        reason: e.event.reason,
        channel: e.event.channel,
        message: e.event.message,
      };
    case "baseline.set":
      return { event: e.type, register: e.register, at: e.at.toISOString(), source: e.source };
    case "baseline.late":
      return {
        event: e.type,
        firstReadingAt: e.firstReadingAt.toISOString(),
        agreementStart: e.agreementStart.toISOString(),
        note: "usage between the agreement start and the first reading is unknown and not billed",
      };
    case "record.unobserved":
      return { event: e.type, start: e.start.toISOString(), end: e.end.toISOString() };
    case "window.alreadyRecorded":
      return { event: e.type, start: e.start.toISOString() };
    default:
      return { event: e.type, ...(e as object) };
  }
}
