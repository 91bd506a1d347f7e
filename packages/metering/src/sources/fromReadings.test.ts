import { config, firstValueFrom, lastValueFrom, take, toArray } from "rxjs";
import { TestScheduler } from "rxjs/testing";
import { afterEach, describe, expect, it } from "vitest";
import { isMaaskitError } from "../errors.js";
import { dec } from "../quantity.js";
import type { Reading } from "../reading.js";
import { fromReadings } from "./fromReadings.js";

function reading(i: number): Reading {
  return {
    kind: "reading",
    machineId: "c1",
    channel: "volume",
    value: dec(i),
    unit: "MTQ",
    quality: "good",
    sourceTime: new Date(Date.UTC(2025, 0, 6, 0, 0, i)),
  };
}

async function* slow(n: number, log: string[]): AsyncGenerator<Reading> {
  try {
    for (let i = 0; i < n; i++) {
      await new Promise((r) => setTimeout(r, 1));
      yield reading(i);
    }
  } finally {
    log.push("closed");
  }
}

describe("fromReadings", () => {
  afterEach(() => {
    config.onUnhandledError = null;
  });

  it("default: replays an array synchronously, in order, then completes", () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ expectObservable }) => {
      const [a, b, c] = [reading(1), reading(2), reading(3)];
      expectObservable(fromReadings([a, b, c])).toBe("(abc|)", { a, b, c });
    });
  });

  it("behavior: empty input completes without values", () => {
    new TestScheduler((a, b) => expect(a).toEqual(b)).run(({ expectObservable }) => {
      expectObservable(fromReadings([])).toBe("|");
    });
  });

  it("behavior: one value from an async iterable", async () => {
    const log: string[] = [];
    expect(await lastValueFrom(fromReadings(slow(1, log)).pipe(toArray()))).toEqual([reading(0)]);
    expect(log).toEqual(["closed"]);
  });

  it("behavior: many values from an async generator", async () => {
    const log: string[] = [];
    const values = await lastValueFrom(fromReadings(slow(20, log)).pipe(toArray()));
    expect(values.map((r) => (r.value as { toFixed(): string }).toFixed())).toEqual(
      Array.from({ length: 20 }, (_, i) => String(i)),
    );
  });

  it("behavior: is lazy and iterates afresh per subscription", async () => {
    let started = 0;
    const source = {
      *[Symbol.iterator]() {
        started++;
        yield reading(1);
      },
    };
    const replay = fromReadings(source);
    expect(started).toBe(0);
    await lastValueFrom(replay);
    await lastValueFrom(replay);
    expect(started).toBe(2);
  });

  it("behavior: early unsubscribe stops a never-ending sync generator and runs its finally", async () => {
    const log: string[] = [];
    function* endless(): Generator<Reading> {
      try {
        for (let i = 0; ; i++) yield reading(i);
      } finally {
        log.push("closed");
      }
    }
    const values = await lastValueFrom(fromReadings(endless()).pipe(take(3), toArray()));
    expect(values).toHaveLength(3);
    expect(log).toEqual(["closed"]);
  });

  it("behavior: early unsubscribe closes an async generator", async () => {
    const log: string[] = [];
    await firstValueFrom(fromReadings(slow(1000, log)));
    await new Promise((r) => setTimeout(r, 20));
    expect(log).toEqual(["closed"]);
  });

  it("behavior: a never-yielding async source emits nothing and can be left", async () => {
    let returned = false;
    const never: AsyncIterable<Reading> = {
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<Reading>>(() => undefined),
        return: async () => {
          returned = true;
          return { done: true, value: undefined };
        },
      }),
    };
    const seen: Reading[] = [];
    const sub = fromReadings(never).subscribe((r) => seen.push(r));
    await new Promise((r) => setTimeout(r, 5));
    sub.unsubscribe();
    expect(seen).toEqual([]);
    expect(returned).toBe(true);
  });

  it("error: a throwing sync iterator ends the stream with metering.replay.failed", async () => {
    function* broken(): Generator<Reading> {
      yield reading(1);
      throw new Error("disk gone");
    }
    const seen: Reading[] = [];
    let caught: unknown;
    await new Promise<void>((resolve) =>
      fromReadings(broken()).subscribe({
        next: (r) => seen.push(r),
        error: (e) => {
          caught = e;
          resolve();
        },
      }),
    );
    expect(seen).toHaveLength(1);
    expect(isMaaskitError(caught, "metering.replay.failed")).toBe(true);
    expect((caught as Error).cause).toEqual(new Error("disk gone"));
  });

  it("error: a rejecting async iterator ends the stream with metering.replay.failed", async () => {
    async function* broken(): AsyncGenerator<Reading> {
      yield reading(1);
      throw new Error("socket closed");
    }
    await expect(lastValueFrom(fromReadings(broken()))).rejects.toSatisfy((e) =>
      isMaaskitError(e, "metering.replay.failed"),
    );
  });

  it("error: a non-iterable source is rejected at once", () => {
    expect(() => fromReadings(42 as never)).toThrowError(
      expect.objectContaining({ code: "metering.replay.invalidSource" }),
    );
  });

  it("error: a subscriber callback that throws is reported, the replay goes on", async () => {
    const reported: unknown[] = [];
    config.onUnhandledError = (e) => reported.push(e);
    const seen: number[] = [];
    fromReadings([reading(1), reading(2)]).subscribe((r) => {
      seen.push(r.sourceTime.getUTCSeconds());
      if (seen.length === 1) throw new Error("callback bug");
    });
    await new Promise((r) => setTimeout(r, 5));
    expect(seen).toEqual([1, 2]);
    expect(reported).toEqual([new Error("callback bug")]);
  });
});
