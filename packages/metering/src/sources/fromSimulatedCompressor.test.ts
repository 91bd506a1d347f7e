import { take, toArray } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { dec } from "../quantity.js";
import type { Reading } from "../reading.js";
import { compressorModel } from "../simulator/compressorModel.js";
import { fromSimulatedCompressor } from "./fromSimulatedCompressor.js";

// the hand-computable model of compressorModel.test.ts: ±0.0625 bar per second
const handCase = { systemVolume: 1.01325, demand: () => 3.75 };
const t0 = Date.parse("2025-01-06T00:00:00Z");

function r(channel: string, value: Reading["value"], seconds: number, unit?: string): Reading {
  const base = {
    kind: "reading" as const,
    machineId: "compressor-1",
    channel,
    value,
    quality: "good" as const,
    sourceTime: new Date(t0 + seconds * 1000),
  };
  return unit === undefined ? base : { ...base, unit };
}

function scheduler(): TestScheduler {
  return new TestScheduler((a, b) => expect(a).toEqual(b));
}

describe("fromSimulatedCompressor", () => {
  it("default: emits every channel of the current snapshot on subscribe", () => {
    scheduler().run(() => {
      let first: Reading[] = [];
      fromSimulatedCompressor({})
        .pipe(take(10), toArray())
        .subscribe((v) => {
          first = v;
        });
      expect(first.map((x) => x.channel)).toEqual([
        "volume",
        "flow",
        "state",
        "netPressure",
        "dischargePressure",
        "dischargeTemp",
        "runHours",
        "loadedHours",
        "filterDp",
        "timeToService",
      ]);
      expect(first[0]).toEqual(r("volume", dec(0), 0, "MTQ"));
      expect(first[2]).toEqual(r("state", "Stopped", 0));
    });
  });

  it("behavior: accelerated, in virtual time, with simulated source timestamps", () => {
    scheduler().run(({ expectObservable }) => {
      const source = fromSimulatedCompressor({
        ...handCase,
        accelerate: 10,
        channels: ["volume", "state"],
        until: new Date(t0 + 50_000),
      });
      // hand-computed: starts at 8 s, Unloaded at 20 s, Loaded from 21 s, 0.125 m³ per loaded second
      expectObservable(source).toBe(
        "(ab) 996ms (cd) 996ms (ef) 996ms (gh) 996ms (ij) 996ms (kl|)",
        {
          a: r("volume", dec(0), 0, "MTQ"),
          b: r("state", "Stopped", 0),
          c: r("volume", dec(0), 10, "MTQ"),
          d: r("state", "Starting", 10),
          e: r("volume", dec(0), 20, "MTQ"),
          f: r("state", "Unloaded", 20),
          g: r("volume", dec("1.125"), 30, "MTQ"),
          h: r("state", "Loaded", 30),
          i: r("volume", dec("2.375"), 40, "MTQ"),
          j: r("state", "Loaded", 40),
          k: r("volume", dec("3.625"), 50, "MTQ"),
          l: r("state", "Unloaded", 50),
        },
      );
    });
  });

  it("behavior: drives a given model, whose ground truth matches the last register", () => {
    scheduler().run(({ flush }) => {
      const model = compressorModel({ seed: 5 });
      const seen: Reading[] = [];
      fromSimulatedCompressor({
        model,
        accelerate: 3600,
        channels: ["volume"],
        until: "2025-01-06T12:00:00Z",
      }).subscribe((x) => seen.push(x));
      flush();
      expect(seen).toHaveLength(13);
      const last = seen[12]!;
      expect(last.sourceTime.toISOString()).toBe("2025-01-06T12:00:00.000Z");
      expect(
        (last.value as ReturnType<typeof dec>).eq(model.groundTruthVolumeAt(last.sourceTime)),
      ).toBe(true);
      expect(model.groundTruthVolume.gt(0)).toBe(true);
    });
  });

  it("behavior: early unsubscribe stops advancing the model", () => {
    scheduler().run(({ expectObservable }) => {
      const model = compressorModel(handCase);
      const source = fromSimulatedCompressor({ model, channels: ["state"] });
      expectObservable(source, "^ 2500ms !").toBe("a 999ms b 999ms c", {
        a: r("state", "Stopped", 0),
        b: r("state", "Stopped", 1),
        c: r("state", "Stopped", 2),
      });
    });
  });

  it("error: invalid pacing options are all reported", () => {
    expect(() =>
      fromSimulatedCompressor({ accelerate: 0, intervalMs: -1, channels: ["nope" as never] }),
    ).toThrowError(
      expect.objectContaining({
        code: "metering.simulator.invalidConfig",
        details: {
          problems: [
            "accelerate must be a positive number",
            "intervalMs must be a positive number",
            "unknown channel nope",
          ],
        },
      }),
    );
  });
});
