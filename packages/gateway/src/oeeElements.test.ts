import type { MeterWindow, OeeResult } from "@maaskit/metering";
import { describe, expect, test } from "vitest";
import { oeeElements } from "./oeeElements.js";

// A one-hour window of which 20 minutes nobody observed (the gateway was reconnecting) and
// 40 minutes the machine ran.
const window = {
  kind: "window",
  machineId: "m",
  start: new Date(0),
  end: new Date(3_600_000),
  usage: [],
  gaps: [],
  quarantined: 0,
  oee: {
    timeElements: {
      pot: 3_600_000n,
      pdot: 0n,
      pbt: 3_600_000n,
      apt: 2_400_000n,
      aust: 0n,
      adet: 0n,
      adot: 0n,
      microStop: 0n,
      unobserved: 1_200_000n,
    },
    producedQuantity: { value: "100", unit: "MTQ" },
    goodQuantity: { value: "100", unit: "MTQ" },
  },
} as unknown as MeterWindow<OeeResult>;

describe("oeeElements", () => {
  test("default: unobserved time is not the machine's down time — left out of planned busy time", () => {
    const e = oeeElements(window)!;
    expect(e.plannedBusyTimeMs).toBe(2_400_000);
    expect(e.actualProductionTimeMs).toBe(2_400_000);
  });

  test("args: machineDownTime counts unobserved time against availability", () => {
    const e = oeeElements(window, "machineDownTime")!;
    expect(e.plannedBusyTimeMs).toBe(3_600_000);
  });

  test("behavior: a window without OEE gives no elements", () => {
    expect(oeeElements({ ...window, oee: undefined })).toBeUndefined();
  });
});
