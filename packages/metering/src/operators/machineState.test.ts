import { TestScheduler } from "rxjs/testing";
import { describe, expect, it } from "vitest";
import { isMaaskitError, MaaskitError } from "../errors.js";
import { dec } from "../quantity.js";
import type { GapEvent, MeterEvent, QuarantineEvent, Reading, ReadingValue } from "../reading.js";
import type { IsoTimeState, StateSpanEvent } from "../timeElements.js";
import { machineState } from "./machineState.js";
import { compressorStates, machineryItemStates, packmlStates } from "./stateMappings.js";

const T0 = Date.parse("2024-01-15T06:00:00Z");
const at = (min: number): Date => new Date(T0 + min * 60_000);

function state(value: ReadingValue, min: number, extra: Partial<Reading> = {}): Reading {
  return {
    kind: "reading",
    machineId: "c1",
    channel: "state",
    value,
    quality: "good",
    sourceTime: at(min),
    ...extra,
  };
}

function closed(s: IsoTimeState, source: string, from: number, to: number): StateSpanEvent {
  return {
    kind: "state",
    machineId: "c1",
    channel: "state",
    state: s,
    source,
    start: at(from),
    end: at(to),
  };
}

function opened(s: IsoTimeState, source: string, from: number): StateSpanEvent {
  return { ...closed(s, source, from, from), open: true };
}

function quarantined(r: Reading, reason: string): QuarantineEvent {
  return expect.objectContaining({
    kind: "quarantine",
    reason,
    item: r,
    at: r.sourceTime,
  }) as unknown as QuarantineEvent;
}

function testScheduler(): TestScheduler {
  return new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
}

describe("machineState", () => {
  it("default: compressor states become closed spans and open markers", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const input = {
        a: state("Loaded", 0),
        b: state("Loaded", 5),
        c: state("Unloaded", 7),
        d: state("Stopped", 9),
      };
      const out = cold<MeterEvent>("a----b----c----d----|", input).pipe(
        machineState({ mapping: compressorStates }),
      );
      expectObservable(out).toBe("a---------(bc)-(de)-|", {
        a: opened("APT", "Loaded", 0),
        b: closed("APT", "Loaded", 0, 7),
        c: opened("ADET", "Unloaded", 7),
        d: closed("ADET", "Unloaded", 7, 9),
        e: opened("ADOT", "Stopped", 9),
      });
    });
  });

  it("behavior: never stays silent", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(
        cold<MeterEvent>("-").pipe(machineState({ mapping: compressorStates })),
      ).toBe("-");
    });
  });

  it("behavior: empty completes", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      expectObservable(
        cold<MeterEvent>("|").pipe(machineState({ mapping: compressorStates })),
      ).toBe("|");
    });
  });

  it("behavior: one reading opens the state and leaves it open at completion", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a|", { a: state("Executing", 0) }).pipe(
        machineState({ mapping: machineryItemStates }),
      );
      expectObservable(out).toBe("a|", { a: opened("APT", "Executing", 0) });
    });
  });

  it("behavior: enum numbers and vendor spellings meet the tables", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a----b----c----|", {
        a: state(dec(6), 0),
        b: state("SUSPENDED", 1),
        c: state("not executing", 2, { channel: "MachineryItemState" }),
      }).pipe(
        machineState({ channel: "state", mapping: packmlStates }),
        machineState({ channel: "MachineryItemState", mapping: machineryItemStates }),
      );
      expectObservable(out).toBe("a----(bc)-d----|", {
        a: opened("APT", "6", 0),
        b: closed("APT", "6", 0, 1),
        c: opened("ADET", "SUSPENDED", 1),
        d: { ...opened("ADET", "not executing", 2), channel: "MachineryItemState" },
      });
    });
  });

  it("behavior: a change of vendor state within one category starts a new span", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a----b----|", {
        a: state("Aborted", 0),
        b: state("Held", 3),
      }).pipe(machineState({ mapping: packmlStates }));
      expectObservable(out).toBe("a----(bc)-|", {
        a: opened("ADOT", "Aborted", 0),
        b: closed("ADOT", "Aborted", 0, 3),
        c: opened("ADOT", "Held", 3),
      });
    });
  });

  it("behavior: an unknown state is quarantined as state.unknown and ends the span", () => {
    const other = state("Other", 4);
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a----b----c----|", {
        a: state("Loaded", 0),
        b: other,
        c: state("Loaded", 6),
      }).pipe(machineState({ mapping: compressorStates }));
      expectObservable(out).toBe("a----(bq)-c----|", {
        a: opened("APT", "Loaded", 0),
        b: closed("APT", "Loaded", 0, 4),
        q: quarantined(other, "state.unknown"),
        c: opened("APT", "Loaded", 6),
      });
    });
  });

  it("behavior: bad quality is quarantined and ends the span; uncertain is used", () => {
    const bad = state("Loaded", 2, { quality: "bad" });
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a----b----c----|", {
        a: state("Loaded", 0),
        b: bad,
        c: state("Loaded", 3, { quality: "uncertain" }),
      }).pipe(machineState({ mapping: compressorStates }));
      expectObservable(out).toBe("a----(bq)-c----|", {
        a: opened("APT", "Loaded", 0),
        b: closed("APT", "Loaded", 0, 2),
        q: quarantined(bad, "quality.bad"),
        c: opened("APT", "Loaded", 3),
      });
    });
  });

  it("behavior: an earlier reading is quarantined as time.nonMonotonic and changes nothing", () => {
    const early = state("Stopped", 1);
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a----b----c----|", {
        a: state("Loaded", 2),
        b: early,
        c: state("Unloaded", 4),
      }).pipe(machineState({ mapping: compressorStates }));
      expectObservable(out).toBe("a----q----(bc)-|", {
        a: opened("APT", "Loaded", 2),
        q: quarantined(early, "time.nonMonotonic"),
        b: closed("APT", "Loaded", 2, 4),
        c: opened("ADET", "Unloaded", 4),
      });
    });
  });

  it("behavior: a gap ends the span at its start and passes on; other events pass unchanged", () => {
    const gap: GapEvent = {
      kind: "gap",
      machineId: "c1",
      start: at(3),
      end: at(8),
      reason: "source.reconnected",
    };
    const otherMachineGap: GapEvent = { ...gap, machineId: "c2" };
    const flow = state(dec("12.5"), 1, { channel: "flow", unit: "G53" });
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a----f----x----g----c----|", {
        a: state("Loaded", 0),
        f: flow,
        x: otherMachineGap,
        g: gap,
        c: state("Loaded", 8),
      }).pipe(machineState({ mapping: compressorStates }));
      expectObservable(out).toBe("a----f----x----(bg)-c----|", {
        a: opened("APT", "Loaded", 0),
        f: flow,
        x: otherMachineGap,
        b: closed("APT", "Loaded", 0, 3),
        g: gap,
        c: opened("APT", "Loaded", 8),
      });
    });
  });

  it("behavior: machines and channels are tracked apart", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a----b----c----|", {
        a: state("Loaded", 0),
        b: state("Stopped", 1, { machineId: "c2" }),
        c: state("Unloaded", 2),
      }).pipe(machineState({ mapping: compressorStates }));
      expectObservable(out).toBe("a----b----(cd)-|", {
        a: opened("APT", "Loaded", 0),
        b: { ...opened("ADOT", "Stopped", 1), machineId: "c2" },
        c: closed("APT", "Loaded", 0, 2),
        d: opened("ADET", "Unloaded", 2),
      });
    });
  });

  it("args: custom mapping function", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const out = cold<MeterEvent>("a----b----|", { a: state(true, 0), b: state(false, 1) }).pipe(
        machineState({ mapping: (v) => (v === true ? "APT" : "ADOT") }),
      );
      expectObservable(out).toBe("a----(bc)-|", {
        a: opened("APT", "true", 0),
        b: closed("APT", "true", 0, 1),
        c: opened("ADOT", "false", 1),
      });
    });
  });

  it("behavior: early unsubscribe stops listening to the source", () => {
    testScheduler().run(({ cold, expectObservable, expectSubscriptions }) => {
      const src = cold<MeterEvent>("a----b----c----|", {
        a: state("Loaded", 0),
        b: state("Unloaded", 1),
        c: state("Loaded", 2),
      });
      const out = src.pipe(machineState({ mapping: compressorStates }));
      expectObservable(out, "^-------!").toBe("a----(bc)", {
        a: opened("APT", "Loaded", 0),
        b: closed("APT", "Loaded", 0, 1),
        c: opened("ADET", "Unloaded", 1),
      });
      expectSubscriptions(src.subscriptions).toBe("^-------!");
    });
  });

  it("error: a source error passes through", () => {
    testScheduler().run(({ cold, expectObservable }) => {
      const err = new MaaskitError("metering.source.failed", "boom");
      const out = cold<MeterEvent>("a#", { a: state("Loaded", 0) }, err).pipe(
        machineState({ mapping: compressorStates }),
      );
      expectObservable(out).toBe("a#", { a: opened("APT", "Loaded", 0) }, err);
    });
  });

  it("error: a mapping function that throws errors the stream with mappingFailed", () => {
    const seen: unknown[] = [];
    let error: unknown;
    testScheduler().run(({ cold }) => {
      cold<MeterEvent>("ab|", { a: state("Loaded", 0), b: state("Boom", 1) })
        .pipe(
          machineState({
            mapping: (v) => {
              if (v === "Boom") throw new Error("vendor table broken");
              return "APT";
            },
          }),
        )
        .subscribe({
          next: (e) => seen.push(e),
          error: (e) => {
            error = e;
          },
        });
    });
    expect(seen).toEqual([opened("APT", "Loaded", 0)]);
    expect(isMaaskitError(error, "metering.machineState.mappingFailed")).toBe(true);
    expect((error as MaaskitError).cause).toEqual(new Error("vendor table broken"));
  });

  it("error: a mapping function returning a non-ISO category errors the stream", () => {
    let error: unknown;
    testScheduler().run(({ cold }) => {
      cold<MeterEvent>("a|", { a: state("Loaded", 0) })
        .pipe(machineState({ mapping: () => "RUNNING" as IsoTimeState }))
        .subscribe({
          error: (e) => {
            error = e;
          },
        });
    });
    expect(isMaaskitError(error, "metering.machineState.mappingFailed")).toBe(true);
  });

  it("error: invalid options are reported all at once", () => {
    let caught: unknown;
    try {
      machineState({ channel: [""], mapping: { Loaded: "RUN" as IsoTimeState, loaded: "APT" } });
    } catch (e) {
      caught = e;
    }
    expect(isMaaskitError(caught, "metering.machineState.invalidOptions")).toBe(true);
    expect((caught as MaaskitError).details.problems).toEqual([
      'channel "" is not a non-empty string',
      'mapping["Loaded"] = "RUN" is not one of APT, AUST, ADET, ADOT',
    ]);
  });

  it("error: table keys that collide after normalising are reported", () => {
    expect(() => machineState({ mapping: { Loaded: "APT", LOADED: "ADET" } })).toThrowError(
      expect.objectContaining({ code: "metering.machineState.invalidOptions" }),
    );
  });
});
