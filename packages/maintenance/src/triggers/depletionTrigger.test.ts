import { from } from "rxjs";
import { describe, expect, it } from "vitest";
import type { ServicePerformedEvent } from "./advisory.js";
import { depletionTrigger } from "./depletionTrigger.js";
import { reading } from "./testReadings.js";

const opts = {
  machineId: "c1",
  conditionId: "separator",
  serviceType: "separatorChange",
  channel: "volume",
  capacity: "1000",
};
const vol = (v: string, t: number) => reading("volume", v, t, "MTQ");

describe("depletionTrigger", () => {
  it("default: pre-alert at 80 % and due at 100 % of capacity since the first reading", () => {
    const out: string[] = [];
    from([vol("500", 0), vol("1299", 1), vol("1300", 2), vol("1499", 3), vol("1500", 4)])
      .pipe(depletionTrigger(opts))
      .subscribe((a) => out.push(`${a.severity}@${a.at.getUTCSeconds()}:${a.message}`));
    // 800 of 1000 m³ used at t=2 (80 %), 1000 at t=4.
    expect(out).toEqual([
      "preAlert@2:separatorChange: 80 % of capacity used",
      "due@4:separatorChange: 100 % of capacity used",
    ]);
  });

  it("behavior: servicePerformed restarts from the register at service", () => {
    const done: ServicePerformedEvent = {
      kind: "servicePerformed",
      machineId: "c1",
      conditionId: "separator",
      at: new Date(Date.UTC(2026, 0, 1, 0, 0, 5)),
      registers: { volume: "1600" },
    };
    const out: string[] = [];
    from([vol("0", 0), vol("1000", 1), done, vol("2599", 6), vol("2600", 7)])
      .pipe(depletionTrigger({ ...opts, preAlertAt: "0.99" }))
      .subscribe((a) => out.push(`${a.severity}@${a.at.getUTCSeconds()}`));
    expect(out).toEqual(["due@1", "preAlert@6", "due@7"]);
  });

  it("error: invalid options", () => {
    expect(() => depletionTrigger({ ...opts, capacity: "0", preAlertAt: "2" })).toThrowError(
      expect.objectContaining({
        code: "maintenance.trigger.invalidOptions",
        details: expect.objectContaining({
          problems: ["capacity must be > 0", "preAlertAt must be a fraction <= 1"],
        }),
      }),
    );
  });
});
