import type { Decimal } from "decimal.js";
import { MaaskitError } from "../errors.js";
import { Dec, toDecimal } from "../quantity.js";
import {
  type CompressorModelOptions,
  DEFAULT_START,
  type DemandProfile,
} from "./compressorModel.js";

interface ResolvedOptions {
  seed: number;
  startTime: Date;
  stepSeconds: number;
  ratedFlow: Decimal;
  ratedFlowNumber: number;
  stepVolume: Decimal;
  loadPressure: number;
  unloadPressure: number;
  systemVolume: number;
  startSeconds: number;
  stopSeconds: number;
  idleRunOnSeconds: number;
  maxStartsPerHour: number;
  demand?: DemandProfile;
  registerModulus: Decimal;
  initialRegister: Decimal;
  serviceIntervalHours: number;
  filterLifeVolume: number;
  ambientTemperature: number;
}

export function resolveOptions(o: CompressorModelOptions): ResolvedOptions {
  const problems: string[] = [];
  const num = (name: keyof CompressorModelOptions, fallback: number, positive = true): number => {
    const v = o[name] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || (positive ? v <= 0 : v < 0)) {
      problems.push(`${name} must be a ${positive ? "positive" : "non-negative"} finite number`);
      return fallback;
    }
    return v;
  };
  const decimal = (name: keyof CompressorModelOptions, fallback: string): Decimal => {
    try {
      return toDecimal(o[name] ?? fallback, name);
    } catch {
      problems.push(`${name} must be a decimal number`);
      return new Dec(fallback);
    }
  };
  const seed = o.seed ?? 1;
  if (!Number.isSafeInteger(seed)) problems.push("seed must be an integer");
  const startTime = new Date(o.startTime ?? DEFAULT_START);
  if (Number.isNaN(startTime.getTime())) problems.push("startTime must be a valid date");
  const stepSeconds = num("stepSeconds", 1);
  if (!Number.isSafeInteger(stepSeconds)) problems.push("stepSeconds must be a whole number");
  const ratedFlow = decimal("ratedFlow", "7.5");
  if (ratedFlow.lte(0)) problems.push("ratedFlow must be positive");
  const perStep = ratedFlow.times(stepSeconds);
  const stepVolume = perStep.div(60);
  // x / 60 terminates iff the digits of x (as an integer) are divisible by 3
  if (!perStep.times(new Dec(10).pow(perStep.decimalPlaces())).mod(3).eq(0)) {
    problems.push("ratedFlow × stepSeconds / 60 must be a terminating decimal (exact m³ per step)");
  }
  const loadPressure = num("loadPressure", 6.5);
  const unloadPressure = num("unloadPressure", 7.5);
  if (unloadPressure <= loadPressure) problems.push("unloadPressure must be above loadPressure");
  const registerModulus = decimal("registerModulus", "100000000");
  if (registerModulus.lte(0)) problems.push("registerModulus must be positive");
  const initialRegister = decimal("initialRegister", "0");
  if (initialRegister.lt(0) || initialRegister.gte(registerModulus)) {
    problems.push("initialRegister must be at least 0 and below registerModulus");
  }
  if (o.demand !== undefined && typeof o.demand !== "function")
    problems.push("demand must be a function");
  const resolved: ResolvedOptions = {
    seed,
    startTime,
    stepSeconds,
    ratedFlow,
    ratedFlowNumber: ratedFlow.toNumber(),
    stepVolume,
    loadPressure,
    unloadPressure,
    systemVolume: num("systemVolume", 3),
    startSeconds: num("startSeconds", 12, false),
    stopSeconds: num("stopSeconds", 30, false),
    idleRunOnSeconds: num("idleRunOnSeconds", 240, false),
    maxStartsPerHour: num("maxStartsPerHour", 6),
    registerModulus,
    initialRegister,
    serviceIntervalHours: num("serviceIntervalHours", 4000),
    filterLifeVolume: num("filterLifeVolume", 1_000_000),
    ambientTemperature: num("ambientTemperature", 20, false),
  };
  if (o.demand !== undefined) resolved.demand = o.demand;
  if (problems.length > 0) {
    throw new MaaskitError(
      "metering.simulator.invalidConfig",
      `Invalid compressor model options: ${problems.join("; ")}`,
      { details: { problems } },
    );
  }
  return resolved;
}

/** Small, fast, seedable PRNG (32-bit state, uniform doubles in [0, 1)). */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Default plant demand: weekdays two shifts (06–14 h at ~75 % of rated flow, 14–22 h at
 * ~55 %) with a lunch dip, nights and weekends only leakage (~6 %); ±25 % noise redrawn
 * once per simulated minute. Times are UTC.
 */
export function shiftDemand(rated: number): DemandProfile {
  let minute = Number.NaN;
  let value = 0;
  return (timeMs, random) => {
    const m = Math.floor(timeMs / 60_000);
    if (m !== minute) {
      minute = m;
      const noise = 0.75 + 0.5 * random();
      const d = new Date(m * 60_000);
      const day = d.getUTCDay();
      const hour = d.getUTCHours() + d.getUTCMinutes() / 60;
      let base = 0.06;
      if (day >= 1 && day <= 5) {
        if (hour >= 6 && hour < 14) base = hour >= 12 && hour < 12.5 ? 0.3 : 0.75;
        else if (hour >= 14 && hour < 22) base = 0.55;
      }
      value = rated * base * noise;
    }
    return value;
  };
}
