import { Decimal } from "decimal.js";
import { Observable, type OperatorFunction } from "rxjs";
import { MaaskitError } from "../errors.js";
import type { GapEvent, MeterEvent, Reading, ReadingValue } from "../reading.js";
import { type IsoTimeState, isoTimeStates, type StateSpanEvent } from "../timeElements.js";
import { describe, isValidDate, quarantineReading, throwIfProblems } from "./readingChecks.js";
import type { StateMapping } from "./stateMappings.js";

/** Maps one state value to its ISO 22400 category; `undefined` means "unknown state". */
export type StateMapper = (value: ReadingValue, reading: Reading) => IsoTimeState | undefined;

/** Options of {@link machineState}. */
export interface MachineStateOptions {
  /** Channel(s) carrying the machine state. Default `"state"`. */
  readonly channel?: string | readonly string[];
  /** A table (e.g. `compressorStates`, or your own) or a function from value to category. */
  readonly mapping: StateMapping | StateMapper;
}

/** Error codes of {@link machineState}. */
export type MachineStateErrorCode =
  | "metering.machineState.invalidOptions"
  | "metering.machineState.mappingFailed";

/**
 * Turns state readings into ISO 22400 time spans (`StateSpanEvent`). For each state channel
 * of each machine, a reading whose category (or vendor state) differs from the current one
 * emits the closed span of the previous state, `[previous reading, this reading)`, then an open
 * marker for the new state (`open: true`, `end = start`). Repeated readings of the same state
 * emit nothing, so a long stop stays one span (which is what micro-stop detection measures).
 * `tumblingWindow()` cuts open spans at window ends, so a window never waits for the next
 * state change.
 *
 * Data problems are quarantined, never guessed, and end the current span (the time after them
 * is unobserved until the next good state reading): an unknown state → `state.unknown`; bad
 * quality → `quality.bad`; an invalid `sourceTime` → `time.invalid`; a reading earlier than the
 * previous one of its channel → `time.nonMonotonic` (this one does not end the span). A
 * `GapEvent` of the machine (all channels, or a state channel) ends the current span at the
 * gap's start. Uncertain quality is used. Other events pass through unchanged; state readings
 * are consumed.
 *
 * @param options state channel(s) and the mapping. Invalid options throw
 *   `metering.machineState.invalidOptions` listing every problem; a mapping function that
 *   throws or returns something that is not an ISO time state errors the stream with
 *   `metering.machineState.mappingFailed`.
 * @example
 * ```ts
 * readings$.pipe(
 *   machineState({ channel: "OperatingState", mapping: compressorStates }),
 *   tumblingWindow({ size: { minutes: 15 }, timeZone: "Europe/Berlin" }),
 *   oee({ idealCycleTimeMs: 1000, counts: { produced: "air", unit: "MTQ" } }),
 * );
 * ```
 */
export function machineState(
  options: MachineStateOptions,
): OperatorFunction<MeterEvent, MeterEvent> {
  const { channels, lookup } = parseOptions(options);
  return (source) =>
    new Observable<MeterEvent>((subscriber) => {
      // Current (open) state per machine + channel, per subscription.
      const current = new Map<string, { state: IsoTimeState; source: string; start: Date }>();
      const lastTime = new Map<string, number>();
      // The key string of each machine and channel, built once: a reading's lookups then
      // hash a string V8 has already hashed, instead of concatenating a new one each time.
      const keys = new Map<string, Map<string, string>>();
      const keyOf = (machineId: string, channel: string): string => {
        let byChannel = keys.get(machineId);
        if (byChannel === undefined) {
          byChannel = new Map();
          keys.set(machineId, byChannel);
        }
        let key = byChannel.get(channel);
        if (key === undefined) {
          key = joinKey(machineId, channel);
          byChannel.set(channel, key);
        }
        return key;
      };

      const close = (machineId: string, channel: string, end: Date): void => {
        const key = keyOf(machineId, channel);
        const open = current.get(key);
        if (open === undefined) return;
        current.delete(key);
        subscriber.next(span(machineId, channel, open.state, open.source, open.start, end));
      };

      const onReading = (r: Reading): void => {
        const key = keyOf(r.machineId, r.channel);
        if (!isValidDate(r.sourceTime)) {
          subscriber.next(
            quarantineReading(r, {
              reason: "time.invalid",
              message: "sourceTime is not a valid Date",
            }),
          );
          return;
        }
        const t = r.sourceTime.getTime();
        const last = lastTime.get(key);
        if (last !== undefined && t < last) {
          subscriber.next(
            quarantineReading(r, {
              reason: "time.nonMonotonic",
              message: `state reading at ${r.sourceTime.toISOString()} is earlier than the previous one at ${new Date(last).toISOString()}`,
            }),
          );
          return;
        }
        lastTime.set(key, t);
        if (r.quality === "bad") {
          close(r.machineId, r.channel, r.sourceTime);
          subscriber.next(
            quarantineReading(r, {
              reason: "quality.bad",
              message: "state reading has bad quality",
            }),
          );
          return;
        }
        const state = lookup(r);
        const sourceState = stateText(r.value);
        if (state === undefined) {
          close(r.machineId, r.channel, r.sourceTime);
          subscriber.next(
            quarantineReading(r, {
              reason: "state.unknown",
              message: `state ${describe(r.value)} is not in the mapping`,
            }),
          );
          return;
        }
        const open = current.get(key);
        if (open !== undefined && open.state === state && open.source === sourceState) return;
        close(r.machineId, r.channel, r.sourceTime);
        current.set(key, { state, source: sourceState, start: r.sourceTime });
        subscriber.next({
          ...span(r.machineId, r.channel, state, sourceState, r.sourceTime, r.sourceTime),
          open: true,
        });
      };

      const onGap = (g: GapEvent): void => {
        if (!isValidDate(g.start)) return;
        for (const [key, open] of [...current]) {
          const [machineId, channel] = splitKey(key);
          if (machineId !== g.machineId) continue;
          if (g.channel !== undefined && g.channel !== channel) continue;
          if (g.start.getTime() < open.start.getTime()) continue;
          close(machineId, channel, g.start);
        }
      };

      return source.subscribe({
        next(event) {
          try {
            if (event.kind === "reading" && channels.has(event.channel)) {
              onReading(event);
              return;
            }
            if (event.kind === "gap") onGap(event);
            subscriber.next(event);
          } catch (err) {
            subscriber.error(err);
          }
        },
        error: (err) => subscriber.error(err),
        complete: () => subscriber.complete(),
      });
    });
}

function span(
  machineId: string,
  channel: string,
  state: IsoTimeState,
  source: string,
  start: Date,
  end: Date,
): StateSpanEvent {
  return { kind: "state", machineId, channel, state, source, start, end };
}

// Machine ids and channels are free text; a NUL cannot come from OPC UA browse names.
function joinKey(machineId: string, channel: string): string {
  return `${machineId}\u0000${channel}`;
}

function splitKey(key: string): [string, string] {
  const i = key.indexOf("\u0000");
  return [key.slice(0, i), key.slice(i + 1)];
}

/** The vendor state as text: enum numbers as their decimal text, flags as `true`/`false`. */
function stateText(value: ReadingValue): string {
  if (Decimal.isDecimal(value)) return (value as Decimal).toFixed();
  return String(value);
}

/** Lookup key: case-, space- and punctuation-insensitive, so vendor spellings meet the tables. */
function normalise(text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9.]/g, "");
}

function parseOptions(options: MachineStateOptions): {
  channels: ReadonlySet<string>;
  lookup: (r: Reading) => IsoTimeState | undefined;
} {
  const problems: string[] = [];
  const rawChannels = options?.channel ?? "state";
  const channelList = typeof rawChannels === "string" ? [rawChannels] : [...rawChannels];
  if (channelList.length === 0) problems.push("channel must name at least one channel");
  for (const c of channelList) {
    if (typeof c !== "string" || c.length === 0) {
      problems.push(`channel ${describe(c)} is not a non-empty string`);
    }
  }
  const mapping = options?.mapping;
  let lookup: (r: Reading) => IsoTimeState | undefined = () => undefined;
  if (typeof mapping === "function") {
    lookup = (r) => {
      let out: unknown;
      try {
        out = mapping(r.value, r);
      } catch (cause) {
        throw new MaaskitError("metering.machineState.mappingFailed", "The state mapping threw", {
          details: { machineId: r.machineId, channel: r.channel, value: describe(r.value) },
          cause,
        });
      }
      if (out !== undefined && !isoTimeStates.includes(out as IsoTimeState)) {
        throw new MaaskitError(
          "metering.machineState.mappingFailed",
          `The state mapping returned ${describe(out)}, which is not an ISO 22400 time state`,
          { details: { machineId: r.machineId, channel: r.channel, value: describe(r.value) } },
        );
      }
      return out as IsoTimeState | undefined;
    };
  } else if (typeof mapping === "object" && mapping !== null) {
    const table = new Map<string, IsoTimeState>();
    for (const [k, v] of Object.entries(mapping)) {
      if (!isoTimeStates.includes(v)) {
        problems.push(
          `mapping[${JSON.stringify(k)}] = ${describe(v)} is not one of ${isoTimeStates.join(", ")}`,
        );
        continue;
      }
      const nk = normalise(k);
      const prior = table.get(nk);
      if (prior !== undefined && prior !== v) {
        problems.push(
          `mapping key ${JSON.stringify(k)} collides with another spelling mapped to ${prior}`,
        );
      }
      table.set(nk, v);
    }
    // Vendors report a handful of distinct values: normalise each once (bounded memo).
    const memo = new Map<string, IsoTimeState | undefined>();
    lookup = (r) => {
      const text = stateText(r.value);
      if (memo.has(text)) return memo.get(text);
      if (memo.size >= 1024) memo.clear();
      const state = table.get(normalise(text));
      memo.set(text, state);
      return state;
    };
  } else {
    problems.push("mapping must be a state table or a function");
  }
  throwIfProblems("metering.machineState.invalidOptions", "machineState", problems);
  return { channels: new Set(channelList), lookup };
}
