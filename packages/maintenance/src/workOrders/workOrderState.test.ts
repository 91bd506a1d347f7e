import { describe, expect, it } from "vitest";
import { assertTransition, type WorkOrderState, workOrderTransitions } from "./workOrderState.js";

describe("workOrderTransitions", () => {
  it("default: the happy path is a chain of allowed transitions", () => {
    const path: WorkOrderState[] = [
      "requested",
      "quoted",
      "funded",
      "accepted",
      "inProgress",
      "completed",
      "confirmed",
      "paid",
    ];
    for (let i = 1; i < path.length; i++) {
      expect(() => assertTransition("wo", path[i - 1]!, path[i]!)).not.toThrow();
    }
  });

  it("behavior: terminal states have no way out; every target is a known state", () => {
    for (const terminal of ["paid", "expired", "cancelled", "resolved"] as const) {
      expect(workOrderTransitions[terminal]).toEqual([]);
    }
    const states = new Set(Object.keys(workOrderTransitions));
    for (const targets of Object.values(workOrderTransitions)) {
      for (const t of targets) expect(states.has(t)).toBe(true);
    }
  });

  it("error: paying before confirmation is an invalid transition naming what is allowed", () => {
    expect(() => assertTransition("wo-1", "completed", "paid")).toThrowError(
      expect.objectContaining({
        code: "maintenance.workOrder.invalidTransition",
        details: {
          workOrderId: "wo-1",
          from: "completed",
          to: "paid",
          allowed: ["confirmed", "disputed"],
        },
      }),
    );
  });
});
