import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { checkWarranty } from "./checkWarranty.js";
import { openMaintenanceHistory } from "./maintenanceHistory.js";

const wallet = new Wallet("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");
const at = (y: number, m: number, d: number) => new Date(Date.UTC(y, m - 1, d));
const oil = [{ serviceType: "oilChange", every: { runHours: "4000", months: 12 } }];

async function historyWith(services: [Date, string][]) {
  const h = await openMaintenanceHistory({ machineId: "c1", signer: wallet });
  for (const [when, runHours] of services) {
    await h.append("service.performed", when, {
      serviceType: "oilChange",
      conditionId: "oil",
      runHours,
    });
  }
  return h.entries();
}

describe("checkWarranty", () => {
  it("default: services within run hours and months are in time", async () => {
    // commissioned 2026-01-01 at 0 h; oil at 3990 h (2026-06-01) then at 7900 h (2027-05-01):
    // due by 4000 h / 2027-01-01, then by 7990 h / 2027-06-01.
    const report = checkWarranty(
      await historyWith([
        [at(2026, 6, 1), "3990"],
        [at(2027, 5, 1), "7900"],
      ]),
      oil,
      {
        commissioned: { at: at(2026, 1, 1), runHours: "0" },
        now: { at: at(2027, 5, 2), runHours: "7910" },
      },
    );
    expect(report.compliant).toBe(true);
    expect(report.findings[0]!.intervals.map((i) => i.status)).toEqual([
      "inTime",
      "inTime",
      "open",
    ]);
    expect(report.findings[0]!.intervals[1]!.dueBy).toEqual({
      at: "2027-06-01T00:00:00.000Z",
      runHours: "7990",
    });
  });

  it("behavior: a service after the run-hour limit is late; an unserviced past limit is overdue", async () => {
    const report = checkWarranty(await historyWith([[at(2026, 6, 1), "4100"]]), oil, {
      commissioned: { at: at(2026, 1, 1), runHours: "0" },
      now: { at: at(2027, 7, 1), runHours: "5000" },
    });
    expect(report.compliant).toBe(false);
    // late: 4100 h > 4000 h; overdue: 2027-07-01 is past 2026-06-01 + 12 months.
    expect(report.findings[0]!.intervals.map((i) => i.status)).toEqual(["late", "overdue"]);
  });

  it("behavior: tolerance in run hours", async () => {
    const report = checkWarranty(
      await historyWith([[at(2026, 6, 1), "4100"]]),
      [{ ...oil[0]!, toleranceRunHours: "100" }],
      {
        commissioned: { at: at(2026, 1, 1), runHours: "0" },
        now: { at: at(2026, 6, 2), runHours: "4101" },
      },
    );
    expect(report.findings[0]!.intervals.map((i) => i.status)).toEqual(["inTime", "open"]);
  });
});
