// What a record signs about time: OEE elements under the unobserved-time policy, and the empty
// window of time nobody observed.
import { type MeterWindow, type OeeElements, type OeeResult, quantity } from "@maaskit/metering";
import type { UnobservedTimePolicy } from "./gatewayTypes.js";

/** An empty window over time the gateway did not observe (flagged `unobserved` in its record). */
export function unobservedWindow(machineId: string, start: Date, end: Date): MeterWindow {
  return {
    kind: "window",
    machineId,
    start,
    end,
    usage: [],
    gaps: [{ kind: "gap", machineId, start, end, reason: "gateway.offline" }],
    quarantined: 0,
  };
}

/**
 * The OEE time elements a record signs. Time without a known state (`unobserved`: before the
 * gateway connected, during a server restart) is left out of planned busy time unless the
 * policy says it is the machine's down time.
 */
export function oeeElements(
  w: MeterWindow<OeeResult>,
  policy: UnobservedTimePolicy = "notMachineFault",
): OeeElements | undefined {
  if (!w.oee) return undefined;
  const t = w.oee.timeElements;
  const pbt = policy === "notMachineFault" ? t.pbt - t.unobserved : t.pbt;
  return {
    plannedBusyTimeMs: Number(pbt),
    actualProductionTimeMs: Number(t.apt),
    produced: quantity(w.oee.producedQuantity.value, w.oee.producedQuantity.unit),
    good: quantity(w.oee.goodQuantity.value, w.oee.goodQuantity.unit),
  };
}
