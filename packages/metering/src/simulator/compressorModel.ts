import type { Decimal } from "decimal.js";
import { MaaskitError } from "../errors.js";
import { Dec } from "../quantity.js";
import { prng, resolveOptions, shiftDemand } from "./compressorOptions.js";

/** Operating states of a fixed-speed screw compressor, named as in OPC 40250-1's CompressorOperatingStateEnum. */
export type CompressorState = "Stopped" | "Starting" | "Unloaded" | "Loaded" | "Stopping";

/** OPC 40250-1 CompressorOperatingStateEnum values of the states the model uses. */
export const compressorStateCodes: Readonly<Record<CompressorState, number>> = {
  Stopped: 1,
  Starting: 2,
  Stopping: 3,
  Unloaded: 4,
  Loaded: 7,
};

/**
 * Air demand of the plant in m³/min (FAD) at a simulated instant. `random` is the model's
 * seeded PRNG (uniform in [0, 1)); using it keeps a custom profile deterministic.
 */
export type DemandProfile = (timeMs: number, random: () => number) => number;

export interface CompressorModelOptions {
  /** PRNG seed; the same seed and options give the same run, bit for bit. Default 1. */
  seed?: number;
  /** Simulated start instant. Default 2025-01-06T00:00:00Z (a Monday, 00:00 UTC). */
  startTime?: Date | string;
  /** Fixed simulation step in whole seconds. Default 1. */
  stepSeconds?: number;
  /**
   * Rated free air delivery when Loaded, in m³/min (ISO 1217 FAD). Default "7.5".
   * `ratedFlow × stepSeconds / 60` must be a terminating decimal, so volumes stay exact.
   */
  ratedFlow?: Decimal.Value;
  /** Net pressure (bar g) at or below which the compressor loads (or starts). Default 6.5. */
  loadPressure?: number;
  /** Net pressure (bar g) at or above which it unloads. Default 7.5. */
  unloadPressure?: number;
  /** Receiver plus piping volume in m³; sets how fast pressure moves. Default 3. */
  systemVolume?: number;
  /** Star-delta start duration in seconds (Starting → Unloaded). Default 12. */
  startSeconds?: number;
  /** Blow-down duration in seconds (Stopping → Stopped). Default 30. */
  stopSeconds?: number;
  /** Seconds Unloaded without a load request before the controller stops the motor. Default 240. */
  idleRunOnSeconds?: number;
  /** Motor starts allowed per hour; the controller extends the idle run-on to respect it. Default 6. */
  maxStartsPerHour?: number;
  /** Plant demand; default: a two-shift weekday pattern with leakage at night and weekends. */
  demand?: DemandProfile;
  /** The displayed totalizer rolls over to zero at this many m³. Default "100000000". */
  registerModulus?: Decimal.Value;
  /** Displayed totalizer value at the start, in m³ (must be below the modulus). Default "0". */
  initialRegister?: Decimal.Value;
  /** Service interval in running hours. Default 4000. */
  serviceIntervalHours?: number;
  /** Delivered m³ after which the air filter reaches its differential-pressure limit. Default 1,000,000. */
  filterLifeVolume?: number;
  /** Ambient (intake) temperature in °C. Default 20. */
  ambientTemperature?: number;
}

/** One consistent view of the compressor at a step boundary. Decimals are exact or rounded as noted. */
export interface CompressorSnapshot {
  /** Simulated instant of this snapshot (a step boundary). */
  readonly time: Date;
  /** Steps simulated since the start. */
  readonly step: number;
  readonly state: CompressorState;
  /** OPC 40250-1 CompressorOperatingStateEnum value of `state`. */
  readonly stateCode: number;
  /** Free air delivery in m³/min (G53): the rated flow when Loaded, else 0. Exact. */
  readonly flow: Decimal;
  /** Displayed totalizer in m³ (MTQ), after rollover and resets. Exact. */
  readonly volume: Decimal;
  /** Total delivered m³ since the start, regardless of rollover and resets. Exact. */
  readonly groundTruthVolume: Decimal;
  /** Net (airnet) pressure, bar g, rounded to 3 places. */
  readonly netPressure: Decimal;
  /** Discharge pressure, bar g, rounded to 3 places. */
  readonly dischargePressure: Decimal;
  /** Discharge temperature, °C, rounded to 1 place. */
  readonly dischargeTemperature: Decimal;
  /** Motor running hours (HUR), truncated to 3 places like an hour meter. */
  readonly runHours: Decimal;
  /** Loaded hours (HUR), truncated to 3 places. */
  readonly loadedHours: Decimal;
  /** Air-filter differential pressure, bar, rounded to 4 places. */
  readonly filterDp: Decimal;
  /** Running hours until the next service is due (0 when overdue), truncated to 3 places. */
  readonly timeToService: Decimal;
  /** How many times the displayed totalizer was reset. */
  readonly counterResets: number;
}

/** A deterministic screw-compressor simulation advanced in fixed steps. */
export interface CompressorModel {
  /** Simulated start instant. */
  readonly startTime: Date;
  /** Step length in seconds. */
  readonly stepSeconds: number;
  /** m³ delivered per Loaded step (exact). */
  readonly stepVolume: Decimal;
  /** The displayed totalizer rolls over to zero at this many m³. */
  readonly registerModulus: Decimal;
  /** Steps simulated so far. */
  readonly steps: number;
  /** Current simulated instant. */
  readonly time: Date;
  readonly state: CompressorState;
  /** Total delivered m³ so far (independent of the displayed register's rollover and resets). */
  readonly groundTruthVolume: Decimal;
  /** Advances `count` steps (default 1). */
  step(count?: number): void;
  /** Advances whole steps until the model time is at or just before `time`. */
  advanceTo(time: Date | number): void;
  /** Delivered m³ from the start up to the step boundary at or before `time` (exact). */
  groundTruthVolumeAt(time: Date | number): Decimal;
  /** The current state of every channel. */
  snapshot(): CompressorSnapshot;
  /** Fault: the displayed totalizer jumps to 0 (ground truth is unaffected). */
  resetCounter(): void;
  /** Maintenance: new air filter, service interval restarts. */
  service(): void;
}

export const DEFAULT_START = "2025-01-06T00:00:00.000Z";

const P_ATM = 1.01325;

/**
 * Creates a deterministic, physically plausible fixed-speed screw compressor: load/unload
 * control with pressure hysteresis against a seeded demand profile, star-delta start,
 * idle run-on and blow-down stop, an exact FAD totalizer with rollover, hour meters,
 * discharge pressure and temperature, and an air filter that clogs with delivered air.
 *
 * Volumes are exact: each Loaded step delivers `ratedFlow × stepSeconds / 60` m³, a
 * terminating decimal, and the ground truth is `loadedSteps × stepVolume`. Analogue values
 * (pressures, temperatures) use binary floats internally and are rounded when read.
 *
 * @example
 * ```ts
 * const m = compressorModel({ seed: 7 });
 * m.advanceTo(new Date("2025-01-06T08:00:00Z"));
 * m.snapshot().volume.toFixed(); // displayed register, m³
 * m.groundTruthVolume.toFixed(); // delivered, m³
 * ```
 */
export function compressorModel(options: CompressorModelOptions = {}): CompressorModel {
  const cfg = resolveOptions(options);
  const random = prng(cfg.seed);
  const demand = cfg.demand ?? shiftDemand(cfg.ratedFlowNumber);
  const dt = cfg.stepSeconds;
  const startMs = cfg.startTime.getTime();
  const stepMs = dt * 1000;
  // isothermal receiver: Δp = p_atm · ΔV_free / V_system
  const pressurePerM3 = P_ATM / cfg.systemVolume;
  const tempFactorRun = 1 - Math.exp(-dt / 120);
  const tempFactorCool = 1 - Math.exp(-dt / 900);
  const dischargeFactor = 1 - Math.exp(-dt / 5);

  let steps = 0;
  let state: CompressorState = "Stopped";
  let timer = 0;
  let idle = 0;
  let lastStartSeconds = Number.NEGATIVE_INFINITY;
  let netPressure = cfg.loadPressure + 0.5;
  let dischargePressure = 0;
  let temperature = cfg.ambientTemperature;
  let runSeconds = 0;
  let loadedSeconds = 0;
  let runSecondsAtService = 0;
  let volumeSinceService = 0;
  let loadedSteps = 0;
  // the displayed register = (registerBase + (loadedSteps - loadedStepsAtBase) · stepVolume) mod modulus
  let registerBase = cfg.initialRegister;
  let loadedStepsAtBase = 0;
  let counterResets = 0;
  // run-length log of the Loaded flag: at step index logStep[i], loadedSteps was logLoaded[i],
  // and the following steps delivered air iff logFlag[i]; lets ground truth be asked for any past instant
  const logStep: number[] = [0];
  const logLoaded: number[] = [0];
  const logFlag: boolean[] = [false];

  function stepOnce(): void {
    const loaded = state === "Loaded";
    const running = state !== "Stopped";
    const supply = loaded ? cfg.ratedFlowNumber : 0;
    const want = Math.max(0, demand(startMs + steps * stepMs, random));
    netPressure = Math.max(0, netPressure + ((supply - want) / 60) * dt * pressurePerM3);
    if (loaded) {
      loadedSteps += 1;
      loadedSeconds += dt;
      volumeSinceService += (cfg.ratedFlowNumber / 60) * dt;
    }
    if (running) runSeconds += dt;

    const dischargeTarget =
      state === "Loaded"
        ? netPressure + 0.35
        : state === "Unloaded"
          ? 2
          : state === "Stopping"
            ? 1
            : 0;
    dischargePressure += (dischargeTarget - dischargePressure) * dischargeFactor;
    const tempTarget =
      state === "Loaded"
        ? cfg.ambientTemperature + 62
        : state === "Unloaded" || state === "Stopping"
          ? cfg.ambientTemperature + 52
          : state === "Starting"
            ? cfg.ambientTemperature + 30
            : cfg.ambientTemperature;
    temperature +=
      (tempTarget - temperature) * (state === "Stopped" ? tempFactorCool : tempFactorRun);

    switch (state) {
      case "Stopped":
        if (netPressure <= cfg.loadPressure) {
          state = "Starting";
          timer = cfg.startSeconds;
          lastStartSeconds = steps * dt;
        }
        break;
      case "Starting":
        timer -= dt;
        if (timer <= 0) {
          state = "Unloaded";
          idle = 0;
        }
        break;
      case "Unloaded":
        if (netPressure <= cfg.loadPressure) state = "Loaded";
        else {
          idle += dt;
          // a motor may only start so often per hour: run on unloaded until the next start is allowed
          const sinceStart = (steps + 1) * dt - lastStartSeconds;
          if (idle >= cfg.idleRunOnSeconds && sinceStart >= 3600 / cfg.maxStartsPerHour) {
            state = "Stopping";
            timer = cfg.stopSeconds;
          }
        }
        break;
      case "Loaded":
        if (netPressure >= cfg.unloadPressure) {
          state = "Unloaded";
          idle = 0;
        }
        break;
      case "Stopping":
        timer -= dt;
        if (timer <= 0) state = "Stopped";
        break;
    }
    steps += 1;
    const nowLoaded = state === "Loaded";
    if (nowLoaded !== logFlag[logFlag.length - 1]) {
      logStep.push(steps);
      logLoaded.push(loadedSteps);
      logFlag.push(nowLoaded);
    }
  }

  function stepIndexAt(time: Date | number): number {
    const ms = typeof time === "number" ? time : time.getTime();
    return Math.floor((ms - startMs) / stepMs);
  }

  function loadedStepsAt(k: number): number {
    if (k <= 0) return 0;
    if (k >= steps) return loadedSteps;
    let lo = 0;
    let hi = logStep.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (logStep[mid]! <= k) lo = mid;
      else hi = mid - 1;
    }
    return logLoaded[lo]! + (logFlag[lo]! ? k - logStep[lo]! : 0);
  }

  const model: CompressorModel = {
    get startTime() {
      return new Date(startMs);
    },
    stepSeconds: dt,
    stepVolume: cfg.stepVolume,
    registerModulus: cfg.registerModulus,
    get steps() {
      return steps;
    },
    get time() {
      return new Date(startMs + steps * stepMs);
    },
    get state() {
      return state;
    },
    get groundTruthVolume() {
      return cfg.stepVolume.times(loadedSteps);
    },
    step(count = 1) {
      for (let i = 0; i < count; i++) stepOnce();
    },
    advanceTo(time) {
      const target = stepIndexAt(time);
      while (steps < target) stepOnce();
    },
    groundTruthVolumeAt(time) {
      const k = stepIndexAt(time);
      if (k > steps) {
        throw new MaaskitError(
          "metering.simulator.futureTime",
          "Ground truth asked for a time the model has not simulated yet",
          { details: { time: new Date(time).toISOString(), modelTime: model.time.toISOString() } },
        );
      }
      return cfg.stepVolume.times(loadedStepsAt(k));
    },
    snapshot() {
      const flow = state === "Loaded" ? cfg.ratedFlow : new Dec(0);
      const volume = registerBase
        .plus(cfg.stepVolume.times(loadedSteps - loadedStepsAtBase))
        .mod(cfg.registerModulus);
      const filterDp = 0.02 + 0.03 * (volumeSinceService / cfg.filterLifeVolume) ** 1.5;
      const toService = Math.max(
        0,
        cfg.serviceIntervalHours * 3600 - (runSeconds - runSecondsAtService),
      );
      return {
        time: model.time,
        step: steps,
        state,
        stateCode: compressorStateCodes[state],
        flow,
        volume,
        groundTruthVolume: cfg.stepVolume.times(loadedSteps),
        netPressure: fixed(netPressure, 3),
        dischargePressure: fixed(dischargePressure, 3),
        dischargeTemperature: fixed(temperature, 1),
        runHours: hours(runSeconds),
        loadedHours: hours(loadedSeconds),
        filterDp: fixed(filterDp, 4),
        timeToService: hours(toService),
        counterResets,
      };
    },
    resetCounter() {
      registerBase = new Dec(0);
      loadedStepsAtBase = loadedSteps;
      counterResets += 1;
    },
    service() {
      runSecondsAtService = runSeconds;
      volumeSinceService = 0;
    },
  };
  return model;
}

function fixed(x: number, places: number): Decimal {
  // toFixed of a finite double gives its correctly rounded decimal, so the Decimal is reproducible
  return new Dec(x.toFixed(places));
}

function hours(seconds: number): Decimal {
  return new Dec(seconds).div(3600).toDecimalPlaces(3, Dec.ROUND_DOWN);
}
