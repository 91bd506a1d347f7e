import { Observable } from "rxjs";
import { MaaskitError } from "../errors.js";
import type { MeterEvent, Reading } from "../reading.js";

export type FromReadingsErrorCode = "metering.replay.invalidSource" | "metering.replay.failed";

/**
 * Replays readings (or any metering events) from an iterable or async iterable, e.g. an
 * array, a generator or a line reader over a JSON Lines file.
 *
 * Lazy: nothing is read until subscription, and each subscription iterates afresh.
 * Unsubscribing stops the iteration and calls the iterator's `return()`, so generators run
 * their `finally` blocks and files get closed. A failing iterator ends the stream with a
 * `MaaskitError` `metering.replay.failed` carrying the original error as `cause`.
 *
 * @example
 * ```ts
 * fromReadings([
 *   { kind: "reading", machineId: "c1", channel: "volume", value: dec("10"), unit: "MTQ",
 *     quality: "good", sourceTime: new Date("2025-01-06T00:00:00Z") },
 * ]).pipe(counterDelta({ channel: "volume", unit: "MTQ" })).subscribe(console.log);
 * ```
 */
export function fromReadings<T extends MeterEvent = Reading>(
  source: Iterable<T> | AsyncIterable<T>,
): Observable<T> {
  const isAsync =
    source != null && typeof (source as AsyncIterable<T>)[Symbol.asyncIterator] === "function";
  const isSync = source != null && typeof (source as Iterable<T>)[Symbol.iterator] === "function";
  if (!isAsync && !isSync) {
    throw new MaaskitError(
      "metering.replay.invalidSource",
      "fromReadings needs an iterable or async iterable",
      {
        details: { type: source === null ? "null" : typeof source },
      },
    );
  }
  return new Observable<T>((subscriber) => {
    if (isAsync) {
      const it = (source as AsyncIterable<T>)[Symbol.asyncIterator]();
      let done = false;
      (async () => {
        try {
          while (!subscriber.closed) {
            const r = await it.next();
            if (r.done) {
              done = true;
              subscriber.complete();
              return;
            }
            if (subscriber.closed) break;
            subscriber.next(r.value);
          }
        } catch (err) {
          done = true;
          subscriber.error(replayFailed(err));
        }
      })();
      return () => {
        // closing early: let the producer release what it holds (generator finally, file handle)
        if (!done) it.return?.()?.catch(() => undefined);
      };
    }
    const it = (source as Iterable<T>)[Symbol.iterator]();
    let done = false;
    try {
      while (!subscriber.closed) {
        const r = it.next();
        if (r.done) {
          done = true;
          subscriber.complete();
          break;
        }
        subscriber.next(r.value);
      }
    } catch (err) {
      done = true;
      subscriber.error(replayFailed(err));
    }
    if (!done) {
      try {
        it.return?.();
      } catch {
        // the consumer already left; an error while closing has nobody to report to
      }
    }
    return undefined;
  });
}

function replayFailed(err: unknown): MaaskitError {
  return new MaaskitError("metering.replay.failed", "Replay source failed while reading", {
    details: { message: err instanceof Error ? err.message : String(err) },
    cause: err,
  });
}
