import { dec, type MeterWindow } from "@maaskit/metering";
import { from } from "rxjs";
import { describe, expect, it } from "vitest";
import { degradationTrigger, slope } from "./degradationTrigger.js";

const win = (i: number, availability: string): MeterWindow<{ availability: string }> => ({
  kind: "window",
  machineId: "c1",
  start: new Date(Date.UTC(2026, 0, 1, i)),
  end: new Date(Date.UTC(2026, 0, 1, i + 1)),
  usage: [],
  gaps: [],
  quarantined: 0,
  oee: { availability },
});
const opts = {
  machineId: "c1",
  conditionId: "availability-trend",
  serviceType: "inspection",
  windows: 4,
  slopeAtMost: "-0.01",
  metric: (w: MeterWindow<{ availability: string }>) => dec(w.oee!.availability),
};

describe("degradationTrigger", () => {
  it("behavior: least-squares slope, exact", () => {
    // x = 0..3, y = 1, 0.99, 0.97, 0.96: x̄ = 1.5, ȳ = 0.98,
    // Σ dx·dy = (-1.5)(0.02) + (-0.5)(0.01) + (0.5)(-0.01) + (1.5)(-0.02) = -0.07, Σ dx² = 5.
    expect(slope(["1", "0.99", "0.97", "0.96"].map(dec)).toFixed()).toBe("-0.014");
  });

  it("default: alarm when the trend falls steeply enough, cleared when it recovers", () => {
    const out: string[] = [];
    from(["1", "1", "0.99", "0.97", "0.96", "0.99", "1", "1"].map((a, i) => win(i, a)))
      .pipe(degradationTrigger(opts))
      .subscribe((a) => out.push(`${a.severity}@${a.at.getUTCHours()}`));
    // windows 0..3 = 1, 1, .99, .97: ȳ = .99, Σ dx·dy = -.015 - .005 + 0 - .03 = -.05,
    //   slope = -.05 / 5 = -0.01 ≤ -0.01 → alarm at the end of window 3 (04:00).
    // windows 1..4 = 1, .99, .97, .96 → -0.014: still active, nothing new.
    // windows 2..5 = .99, .97, .96, .99: ȳ = .9775, Σ dx·dy = -.01875 + .00375 - .00875 + .01875
    //   = -.005, slope = -0.001 > -0.01 → cleared at the end of window 5 (06:00).
    expect(out).toEqual(["alarm@4", "cleared@6"]);
  });

  it("error: a metric callback that throws errors the stream with a typed error", () => {
    const errors: unknown[] = [];
    from([win(0, "1")])
      .pipe(
        degradationTrigger({
          ...opts,
          metric: () => {
            throw new Error("bad");
          },
        }),
      )
      .subscribe({ error: (e) => errors.push(e) });
    expect(errors[0]).toMatchObject({ code: "maintenance.trigger.callbackFailed" });
  });
});
