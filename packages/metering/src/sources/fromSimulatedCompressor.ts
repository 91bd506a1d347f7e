import { asyncScheduler, Observable, type SchedulerLike } from "rxjs";
import { MaaskitError } from "../errors.js";
import type { Reading } from "../reading.js";
import {
  type CompressorModel,
  type CompressorModelOptions,
  type CompressorSnapshot,
  compressorModel,
} from "../simulator/compressorModel.js";
import type { UnitCode } from "../units.js";

/** Channels of the simulated compressor, with the snapshot field and UNECE unit of each. */
export const compressorChannels = {
  volume: { field: "volume", unit: "MTQ" },
  flow: { field: "flow", unit: "G53" },
  state: { field: "state", unit: undefined },
  netPressure: { field: "netPressure", unit: "BAR" },
  dischargePressure: { field: "dischargePressure", unit: "BAR" },
  dischargeTemp: { field: "dischargeTemperature", unit: "CEL" },
  runHours: { field: "runHours", unit: "HUR" },
  loadedHours: { field: "loadedHours", unit: "HUR" },
  filterDp: { field: "filterDp", unit: "BAR" },
  timeToService: { field: "timeToService", unit: "HUR" },
} as const satisfies Record<
  string,
  { field: keyof CompressorSnapshot; unit: UnitCode | undefined }
>;

export type CompressorChannel = keyof typeof compressorChannels;

export interface FromSimulatedCompressorOptions extends CompressorModelOptions {
  /** Machine id put on every reading. Default "compressor-1". */
  machineId?: string;
  /** An existing model to drive (it is advanced by this source); otherwise one is created from the options. */
  model?: CompressorModel;
  /** Simulated seconds per real (scheduler) second. Default 1; e.g. 3600 runs an hour per second. */
  accelerate?: number;
  /** Scheduler milliseconds between emissions. Default 1000. */
  intervalMs?: number;
  /** Channels to emit, in this order. Default: all of {@link compressorChannels}. */
  channels?: readonly CompressorChannel[];
  /** Complete once the simulated time reaches this instant. Default: never complete. */
  until?: Date | string;
}

/**
 * A simulated screw compressor as a stream of readings (no OPC UA involved): on subscribe
 * it emits the current value of every channel, then every `intervalMs` of scheduler time it
 * advances the model by `accelerate × intervalMs` simulated milliseconds and emits again,
 * stamped with the simulated `sourceTime`. Deterministic under a virtual-time scheduler.
 * The model's `groundTruthVolumeAt(t)` is what a correct meter must measure.
 *
 * @param options model options plus pacing; invalid ones throw `metering.simulator.invalidConfig`.
 * @param scheduler drives the pacing (default `asyncScheduler`; a `TestScheduler` in tests).
 * @example
 * ```ts
 * const model = compressorModel({ seed: 1 });
 * fromSimulatedCompressor({ model, accelerate: 3600, until: "2025-01-07T00:00:00Z" })
 *   .pipe(counterDelta({ channel: "volume", unit: "MTQ", basis: "ISO1217-FAD" }))
 *   .subscribe(console.log);
 * ```
 */
export function fromSimulatedCompressor(
  options: FromSimulatedCompressorOptions = {},
  scheduler: SchedulerLike = asyncScheduler,
): Observable<Reading> {
  const { machineId = "compressor-1", accelerate = 1, intervalMs = 1000 } = options;
  const channels = options.channels ?? (Object.keys(compressorChannels) as CompressorChannel[]);
  const until = options.until === undefined ? undefined : new Date(options.until).getTime();
  const problems: string[] = [];
  if (typeof machineId !== "string" || machineId.length === 0)
    problems.push("machineId must be a non-empty string");
  if (!(accelerate > 0) || !Number.isFinite(accelerate))
    problems.push("accelerate must be a positive number");
  if (!(intervalMs > 0) || !Number.isFinite(intervalMs))
    problems.push("intervalMs must be a positive number");
  for (const c of channels)
    if (!(c in compressorChannels)) problems.push(`unknown channel ${String(c)}`);
  if (until !== undefined && Number.isNaN(until)) problems.push("until must be a valid date");
  if (problems.length > 0) {
    throw new MaaskitError(
      "metering.simulator.invalidConfig",
      `Invalid simulated compressor options: ${problems.join("; ")}`,
      { details: { problems } },
    );
  }
  const model = options.model ?? compressorModel(options);

  return new Observable<Reading>((subscriber) => {
    const simStart = model.time.getTime();
    let ticks = 0;
    const emit = (): void => {
      const s = model.snapshot();
      for (const channel of channels) {
        if (subscriber.closed) return;
        const def = compressorChannels[channel];
        const value = s[def.field] as Reading["value"];
        const r: Reading =
          def.unit === undefined
            ? { kind: "reading", machineId, channel, value, quality: "good", sourceTime: s.time }
            : {
                kind: "reading",
                machineId,
                channel,
                value,
                unit: def.unit,
                quality: "good",
                sourceTime: s.time,
              };
        subscriber.next(r);
      }
      // done once the next whole step would pass `until`
      if (until !== undefined && s.time.getTime() + model.stepSeconds * 1000 > until) {
        subscriber.complete();
      }
    };
    emit();
    if (subscriber.closed) return undefined;
    return scheduler.schedule(function tick() {
      ticks += 1;
      // advance to an absolute target so rounding to whole steps never drifts
      let target = simStart + ticks * intervalMs * accelerate;
      if (until !== undefined) target = Math.min(target, until);
      model.advanceTo(target);
      emit();
      if (!subscriber.closed) this.schedule(undefined, intervalMs);
    }, intervalMs);
  });
}
