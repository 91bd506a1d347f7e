import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { isMaaskitError } from "../errors.js";
import { dec } from "../quantity.js";
import { type CompressorModelOptions, compressorModel } from "./compressorModel.js";

// With systemVolume = p_atm (1.01325 m³) one free m³ moves the pressure by exactly 1 bar, and
// with a constant demand of half the rated 7.5 m³/min the pressure moves ±0.0625 bar per 1 s
// step: every number in the run is a binary fraction, so the cycle can be computed by hand.
const handCase: CompressorModelOptions = {
  systemVolume: 1.01325,
  demand: () => 3.75,
};

function snapshotJson(options: CompressorModelOptions, steps: number): string {
  const m = compressorModel(options);
  m.step(steps);
  return JSON.stringify(m.snapshot());
}

describe("compressorModel", () => {
  it("default: starts Stopped at the start time with an empty register", () => {
    const m = compressorModel();
    const s = m.snapshot();
    expect(s.time.toISOString()).toBe("2025-01-06T00:00:00.000Z");
    expect(s.state).toBe("Stopped");
    expect(s.stateCode).toBe(1);
    expect(s.volume.toFixed()).toBe("0");
    expect(s.groundTruthVolume.toFixed()).toBe("0");
    expect(m.stepVolume.toFixed()).toBe("0.125");
  });

  it("behavior: follows the hand-computed load/unload cycle", () => {
    const m = compressorModel(handCase);
    // 7.0 bar falls 0.0625 bar/s: after 8 s it reaches the 6.5 bar load pressure and starts
    m.step(8);
    expect(m.state).toBe("Starting");
    m.step(12); // star-delta start ends Unloaded at 5.75 bar
    expect(m.state).toBe("Unloaded");
    m.step(1); // 5.6875 bar ≤ 6.5 → load
    expect(m.state).toBe("Loaded");
    m.step(29); // 5.6875 + 29 · 0.0625 = 7.5 → unload
    expect(m.state).toBe("Unloaded");
    expect(m.snapshot().netPressure.toFixed()).toBe("7.5");
    expect(m.groundTruthVolume.toFixed()).toBe("3.625"); // 29 loaded s · 0.125 m³
    m.step(16); // 16 s down to 6.5 bar
    expect(m.state).toBe("Loaded");
    m.step(16);
    expect(m.state).toBe("Unloaded");
    m.step(32);
    // 29 + 16 + 16 loaded seconds
    expect(m.groundTruthVolume.toFixed()).toBe("7.625");
    const s = m.snapshot();
    expect(s.volume.toFixed()).toBe("7.625");
    expect(s.loadedHours.toFixed()).toBe("0.016"); // 61 s = 0.01694 h, truncated
    expect(s.runHours.toFixed()).toBe("0.029"); // 106 s running
  });

  it("behavior: the same seed and options give the same run; another seed another one", () => {
    const a = snapshotJson({ seed: 42 }, 50_000);
    expect(snapshotJson({ seed: 42 }, 50_000)).toBe(a);
    expect(snapshotJson({ seed: 43 }, 50_000)).not.toBe(a);
  });

  it("behavior: the register rolls over at the modulus; ground truth does not", () => {
    const m = compressorModel({ ...handCase, registerModulus: "5", initialRegister: "4.5" });
    m.step(114);
    const s = m.snapshot();
    expect(s.groundTruthVolume.toFixed()).toBe("7.625");
    expect(s.volume.toFixed()).toBe("2.125"); // (4.5 + 7.625) mod 5
  });

  it("behavior: a counter reset zeroes the register, not the ground truth", () => {
    const m = compressorModel(handCase);
    m.step(50);
    m.resetCounter();
    expect(m.snapshot().volume.toFixed()).toBe("0");
    m.step(64);
    const s = m.snapshot();
    expect(s.volume.toFixed()).toBe("4"); // 32 loaded s after the reset
    expect(s.groundTruthVolume.toFixed()).toBe("7.625");
    expect(s.counterResets).toBe(1);
  });

  it("behavior: stops after the idle run-on when demand vanishes, and hours stop", () => {
    const start = Date.parse("2025-01-06T00:00:00Z");
    const m = compressorModel({
      systemVolume: 1.01325,
      demand: (t) => (t - start < 120_000 ? 3.75 : 0),
      maxStartsPerHour: 60,
    });
    m.step(120 + 240 + 31);
    expect(m.state).toBe("Stopped");
    const hours = m.snapshot().runHours;
    m.step(3600);
    expect(m.state).toBe("Stopped");
    expect(m.snapshot().runHours.eq(hours)).toBe(true);
    expect(m.snapshot().dischargeTemperature.lt(30)).toBe(true);
  });

  it("behavior: the air filter clogs with delivered volume and a service resets it", () => {
    const m = compressorModel({ seed: 3, filterLifeVolume: 1000, serviceIntervalHours: 10 });
    const before = m.snapshot().filterDp;
    m.advanceTo(new Date("2025-01-06T12:00:00Z"));
    const used = m.snapshot();
    expect(used.filterDp.gt(before)).toBe(true);
    expect(used.timeToService.lt(10)).toBe(true);
    m.service();
    const serviced = m.snapshot();
    expect(serviced.filterDp.toFixed()).toBe("0.02");
    expect(serviced.timeToService.toFixed()).toBe("10");
  });

  test.prop([fc.array(fc.integer({ min: 1, max: 5_000 }), { minLength: 1, maxLength: 12 })])(
    "behavior: ground truth at any past instant equals the snapshot taken then",
    (chunks) => {
      const m = compressorModel({ seed: 9, registerModulus: "50", initialRegister: "49.5" });
      const seen: { time: Date; truth: string }[] = [];
      for (const n of chunks) {
        m.step(n);
        const s = m.snapshot();
        seen.push({ time: s.time, truth: s.groundTruthVolume.toFixed() });
        // the register is always the ground truth modulo the rollover
        expect(s.volume.eq(dec("49.5").plus(s.groundTruthVolume).mod(50))).toBe(true);
      }
      for (const { time, truth } of seen) {
        expect(m.groundTruthVolumeAt(time).toFixed()).toBe(truth);
        // between step boundaries it is the value at the boundary before
        expect(m.groundTruthVolumeAt(time.getTime() + 999).toFixed()).toBe(truth);
      }
    },
  );

  it("error: reports every invalid option at once", () => {
    let caught: unknown;
    try {
      compressorModel({ ratedFlow: "10", loadPressure: 8, unloadPressure: 7, stepSeconds: 0 });
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "metering.simulator.invalidConfig")).toBe(true);
    const problems = (caught as { details: { problems: string[] } }).details.problems;
    expect(problems).toEqual([
      "stepSeconds must be a positive finite number",
      "ratedFlow × stepSeconds / 60 must be a terminating decimal (exact m³ per step)",
      "unloadPressure must be above loadPressure",
    ]);
  });

  it("error: ground truth of a time not yet simulated is a typed error", () => {
    const m = compressorModel();
    expect(() => m.groundTruthVolumeAt(new Date("2025-01-07T00:00:00Z"))).toThrowError(
      expect.objectContaining({ code: "metering.simulator.futureTime" }),
    );
  });
});
