import { MaaskitError } from "@maaskit/metering";

/**
 * The maintenance view of a work order's life. The ledger holds the money states (funded,
 * accepted, completed, released, refunded, disputed, resolved); `requested`, `quoted` and
 * `inProgress` are steps before or between ledger calls, recorded in the history.
 */
export type WorkOrderState =
  | "requested"
  | "quoted"
  | "funded"
  | "accepted"
  | "inProgress"
  | "completed"
  | "confirmed"
  | "paid"
  | "expired"
  | "cancelled"
  | "disputed"
  | "resolved";

/** Every allowed transition; anything else is `maintenance.workOrder.invalidTransition`. */
export const workOrderTransitions: Readonly<Record<WorkOrderState, readonly WorkOrderState[]>> = {
  requested: ["quoted", "cancelled"],
  quoted: ["funded", "cancelled", "expired"],
  funded: ["accepted", "cancelled", "expired"],
  accepted: ["inProgress", "completed", "disputed", "expired"],
  inProgress: ["completed", "disputed", "expired"],
  completed: ["confirmed", "disputed"],
  confirmed: ["paid"],
  paid: [],
  expired: [],
  cancelled: [],
  disputed: ["resolved"],
  resolved: [],
};

/** Throws unless `from → to` is a transition of the state machine. */
export function assertTransition(id: string, from: WorkOrderState, to: WorkOrderState): void {
  if (!workOrderTransitions[from].includes(to)) {
    throw new MaaskitError(
      "maintenance.workOrder.invalidTransition",
      `Work order ${id} cannot go from ${from} to ${to}`,
      { details: { workOrderId: id, from, to, allowed: workOrderTransitions[from] } },
    );
  }
}
