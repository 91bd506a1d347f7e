import type { Reading } from "@maaskit/metering";
import { from, map, Subject, throwError } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { reading } from "./testReadings.js";
import { thresholdTrigger } from "./thresholdTrigger.js";

const opts = {
  machineId: "c1",
  conditionId: "air-filter",
  serviceType: "airFilterChange",
  channel: "filterDp",
  above: "0.35",
  clearAt: "0.15",
  minDurationMs: 600_000,
};
const dp = (v: string, t: number) => reading("filterDp", v, t, "BAR");

function run(readings: ReturnType<typeof dp>[]) {
  const out: { severity: string; at: string; since: string }[] = [];
  from(readings)
    .pipe(thresholdTrigger(opts))
    .subscribe((a) =>
      out.push({ severity: a.severity, at: a.at.toISOString(), since: a.since.toISOString() }),
    );
  return out;
}

describe("thresholdTrigger", () => {
  it("default: fires once after the minimum duration and clears below the hysteresis level", () => {
    const out = run([
      dp("0.30", 0),
      dp("0.36", 60), // beyond: pending since t=60
      dp("0.40", 360), // 300 s < 600 s
      dp("0.41", 660), // 600 s: fires
      dp("0.45", 900), // already active: nothing
      dp("0.20", 960), // below limit but above clearAt: still active (hysteresis)
      dp("0.10", 1020), // cleared
    ]);
    expect(out).toEqual([
      { severity: "due", at: "2026-01-01T00:11:00.000Z", since: "2026-01-01T00:01:00.000Z" },
      { severity: "cleared", at: "2026-01-01T00:17:00.000Z", since: "2026-01-01T00:01:00.000Z" },
    ]);
  });

  it("behavior: a dip below the limit before the minimum duration restarts the clock", () => {
    expect(run([dp("0.36", 0), dp("0.30", 300), dp("0.36", 400), dp("0.36", 900)])).toEqual([]);
  });

  it("behavior: bad-quality readings never change the state", () => {
    const bad = { ...dp("9", 700), quality: "bad" as const };
    expect(run([dp("0.36", 0), bad])).toEqual([]);
  });

  it("behavior: below-limit variant", () => {
    const out: string[] = [];
    from([reading("oilLevel", "30", 0, "P1"), reading("oilLevel", "19", 10, "P1")])
      .pipe(
        thresholdTrigger({
          ...opts,
          channel: "oilLevel",
          above: undefined,
          below: "20",
          clearAt: "40",
          minDurationMs: 0,
        }),
      )
      .subscribe((a) => out.push(a.errorCode));
    expect(out).toEqual(["threshold.below"]);
  });

  it("error: invalid options report every problem", () => {
    expect(() =>
      thresholdTrigger({ ...opts, above: "x", below: "1", clearAt: "0.5", minDurationMs: -1 }),
    ).toThrowError(
      expect.objectContaining({
        code: "maintenance.trigger.invalidOptions",
        details: expect.objectContaining({
          problems: [
            "above must be a decimal number",
            "clearAt must be >= below",
            "minDurationMs must be a non-negative integer",
          ],
        }),
      }),
    );
  });

  it("marbles: never, empty, error and early unsubscribe", () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ cold, expectObservable }) => {
      expectObservable(cold<Reading>("-").pipe(thresholdTrigger(opts))).toBe("-");
      expectObservable(cold<Reading>("|").pipe(thresholdTrigger(opts))).toBe("|");
      expectObservable(cold("a#", { a: dp("0.1", 0) }).pipe(thresholdTrigger(opts))).toBe("-#");
      const src = cold("a-b-c", { a: dp("0.5", 0), b: dp("0.5", 600), c: dp("0.1", 700) });
      expectObservable(
        src.pipe(
          thresholdTrigger(opts),
          map((x) => x.severity),
        ),
        "^-!",
      ).toBe("--");
    });
  });

  it("behavior: errors from upstream pass through untouched", () => {
    const errors: unknown[] = [];
    throwError(() => new Error("boom"))
      .pipe(thresholdTrigger(opts))
      .subscribe({ error: (e) => errors.push(e) });
    expect(errors).toEqual([new Error("boom")]);
    const s = new Subject<ReturnType<typeof dp>>();
    const seen: string[] = [];
    const sub = s
      .pipe(thresholdTrigger({ ...opts, minDurationMs: 0 }))
      .subscribe((a) => seen.push(a.severity));
    s.next(dp("0.5", 0));
    sub.unsubscribe();
    s.next(dp("0.1", 1));
    expect(seen).toEqual(["due"]);
  });
});
