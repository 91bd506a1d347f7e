// The rules of counterDelta that depend only on its options and a machine's state: reading
// checks, the capacity budget, the events it builds, and the fixed-point path of the common case.
import type { Decimal } from "decimal.js";
import { Dec } from "../quantity.js";
import type {
  GapEvent,
  MeterEvent,
  QuarantineEvent,
  Reading,
  RegisterReplacedEvent,
  UsageEvent,
  UsageFlags,
} from "../reading.js";
import { type Config, type MachineState, NO_FLAGS } from "./counterDeltaConfig.js";
import { decimalOf, fixedOf, fixedScale, POW10, rescale } from "./fixedPoint.js";
import {
  decimalOption,
  isProblem,
  isValidDate,
  numericValue,
  type Problem,
} from "./readingChecks.js";

export function checkReading(cfg: Config, r: Reading, s: MachineState): Decimal | Problem {
  if (r.quality === "bad") return { reason: "quality.bad", message: "quality is bad" };
  const v = numericValue(r.value);
  if (isProblem(v)) return v;
  // isNeg() is a sign check (cheaper than a comparison); -0 is not negative.
  if (v.isNeg() && !v.isZero()) {
    return { reason: "value.negative", message: `register ${v.toFixed()} is negative` };
  }
  if (r.unit !== undefined && r.unit !== cfg.unit) {
    return { reason: "unit.mismatch", message: `unit ${r.unit} is not the expected ${cfg.unit}` };
  }
  if (cfg.rollover !== undefined && v.gte(cfg.rollover)) {
    return {
      reason: "counter.outOfRange",
      message: `register ${v.toFixed()} is not below the rollover ${cfg.rollover.toFixed()}`,
    };
  }
  if (!isValidDate(r.sourceTime)) {
    return { reason: "time.invalid", message: "sourceTime is not a valid Date" };
  }
  if (s.baseline !== undefined && r.sourceTime.getTime() < s.baseline.at.getTime()) {
    return {
      reason: "time.nonMonotonic",
      message: `sourceTime ${r.sourceTime.toISOString()} is before the register baseline at ${s.baseline.at.toISOString()}`,
    };
  }
  if (s.candidate !== undefined && r.sourceTime.getTime() < s.candidate.at.getTime()) {
    return {
      reason: "time.nonMonotonic",
      message: `sourceTime ${r.sourceTime.toISOString()} is before the quarantined reading at ${s.candidate.at.toISOString()}`,
    };
  }
  return v;
}

export function checkReplacement(
  cfg: Config,
  e: RegisterReplacedEvent,
  s: MachineState,
): Problem | undefined {
  const problems: string[] = [];
  const newInitial = decimalOption(e.newInitial, "newInitial", problems, (d) =>
    d.lt(0) || (cfg.rollover !== undefined && d.gte(cfg.rollover)) ? "is out of range" : undefined,
  );
  if (newInitial === undefined && e.newInitial === undefined)
    problems.push("newInitial is missing");
  decimalOption(e.oldFinal, "oldFinal", problems, (d) =>
    d.lt(0) || (cfg.rollover !== undefined && d.gte(cfg.rollover)) ? "is out of range" : undefined,
  );
  if (!isValidDate(e.at)) problems.push("at is not a valid Date");
  else if (s.baseline !== undefined && e.at.getTime() < s.baseline.at.getTime()) {
    return {
      reason: "time.nonMonotonic",
      message: `replacement at ${e.at.toISOString()} is before the register baseline at ${s.baseline.at.toISOString()}`,
    };
  }
  return problems.length === 0
    ? undefined
    : { reason: "counter.invalidReplacement", message: problems.join("; ") };
}

export function wrapped(cfg: Config, last: Decimal, current: Decimal): Decimal {
  return cfg.rollover!.minus(last).plus(current);
}

/** Whether a wrap of `wrap` is a rollover the options allow over `[start, end]`. */
export function wrapFits(cfg: Config, wrap: Decimal, start: Date, end: Date): boolean {
  if (cfg.capacity === undefined) {
    return cfg.maxWrapIncrement !== undefined && wrap.lte(cfg.maxWrapIncrement);
  }
  return (
    fits(cfg, wrap, start, end) &&
    (cfg.maxWrapIncrement === undefined || wrap.lte(cfg.maxWrapIncrement))
  );
}

/** Whether the register can count `amount` in `[start, end]` (always, without capacity). */
export function fits(cfg: Config, amount: Decimal, start: Date, end: Date): boolean {
  const c = cfg.capacity;
  if (c === undefined) return true;
  // amount <= value × elapsed / per, exactly (no division).
  return amount.times(c.perMs).lte(c.value.times(end.getTime() - start.getTime()));
}

export function budgetText(cfg: Config, start: Date, end: Date): string {
  const c = cfg.capacity!;
  const ms = end.getTime() - start.getTime();
  return `at most ${c.value.times(ms).div(c.perMs).toFixed()} in ${new Dec(ms).div(1000).toFixed()} s at ${c.value.toFixed()} ${cfg.unit}/${c.per}`;
}

/** The quarantine of the disputed part of an ambiguous register change. */
export function ambiguity(
  cfg: Config,
  r: Reading,
  last: Decimal,
  current: Decimal,
  billed: Decimal,
  why: string,
): QuarantineEvent {
  return {
    kind: "quarantine",
    machineId: r.machineId,
    channel: cfg.channel,
    reason: "counter.ambiguous",
    message: `${r.machineId}/${cfg.channel}: register went from ${last.toFixed()} to ${current.toFixed()}: ${why}`,
    item: {
      kind: "counterAmbiguity",
      reading: r,
      register: { start: last, end: current },
      billed,
    },
    at: r.sourceTime,
  };
}

export function usage(
  cfg: Config,
  machineId: string,
  start: Date,
  end: Date,
  registerStart: Decimal,
  registerEnd: Decimal,
  value: Decimal,
  s: MachineState,
  flags: UsageFlags,
): UsageEvent {
  const allFlags: UsageFlags = s.bridged ? { ...flags, bridged: true } : flags;
  s.bridged = false;
  return {
    kind: "usage",
    machineId,
    channel: cfg.channel,
    quantity:
      cfg.basis === undefined
        ? { value, unit: cfg.unit }
        : { value, unit: cfg.unit, basis: cfg.basis },
    start,
    end,
    register: { start: registerStart, end: registerEnd },
    flags: allFlags,
  };
}

export function counterGap(
  cfg: Config,
  machineId: string,
  start: Date,
  end: Date,
  reason: GapEvent["reason"],
  detail: string,
): GapEvent {
  return { kind: "gap", machineId, channel: cfg.channel, start, end, reason, detail };
}

export function quarantineItem(e: RegisterReplacedEvent, problem: Problem): QuarantineEvent {
  return {
    kind: "quarantine",
    machineId: e.machineId,
    channel: e.channel,
    reason: problem.reason,
    message: `${e.machineId}/${e.channel}: ${problem.message}`,
    item: e,
    ...(isValidDate(e.at) ? { at: e.at } : {}),
  };
}

/**
 * The fixed-point path of the common case — a good reading that continues the baseline by
 * an increase the capacity allows — on safe integers, without Decimal arithmetic. It gives
 * exactly what the Decimal path gives; whenever a rule needs more than that case, it
 * returns false having changed nothing, and the Decimal path decides.
 */
export function fastReading(
  cfg: Config,
  r: Reading,
  s: MachineState,
  emit: (e: MeterEvent) => void,
): boolean {
  const base = s.baseline;
  if (!cfg.fixed.on || base === undefined || s.baseFx < 0 || s.candidate !== undefined) {
    return false;
  }
  if (s.restartAt !== undefined || r.quality === "bad") return false;
  if (r.unit !== undefined && r.unit !== cfg.unit) return false;
  const value = r.value;
  if (typeof value !== "object" || value.constructor !== Dec) return false;
  const cur = fixedOf(value);
  if (cur < 0) return false;
  const curK = fixedScale;
  const end = r.sourceTime;
  if (!(end instanceof Date)) return false;
  const elapsed = end.getTime() - base.at.getTime();
  // Also false for an invalid Date (NaN), an earlier reading, or a change that may hide a wrap.
  if (!(elapsed >= 0) || (cfg.fullWrapMs !== undefined && elapsed >= cfg.fullWrapMs)) {
    return false;
  }
  const k = curK > s.baseK ? curK : s.baseK;
  if (k > 15) return false;
  const c = rescale(cur, curK, k);
  const l = rescale(s.baseFx, s.baseK, k);
  if (c < l || l < 0) return false;
  const fx = cfg.fixed;
  if (fx.rollover >= 0) {
    const kr = fx.rolloverK > k ? fx.rolloverK : k;
    const cr = rescale(c, k, kr);
    if (cr < 0 || cr >= rescale(fx.rollover, fx.rolloverK, kr)) return false;
  }
  const delta = c - l;
  const cap = cfg.capacity;
  if (cap !== undefined) {
    // delta · 10^-k · perMs <= value · elapsed, on integers: exact below 2^53, else undecided.
    const lhs = delta * cap.perMs * POW10[fx.capacityK]!;
    const rhs = fx.capacity * elapsed * POW10[k]!;
    if (lhs > Number.MAX_SAFE_INTEGER || rhs > Number.MAX_SAFE_INTEGER || lhs > rhs) return false;
  }
  emit(
    usage(cfg, r.machineId, base.at, end, base.register, value, decimalOf(delta, k), s, NO_FLAGS),
  );
  setBaseline(cfg, r.machineId, s, value, end, cur, curK);
  return true;
}

/**
 * Makes `register` at `at` the machine's baseline (`fx`, `k`: its mantissa and scale, when
 * known). The baseline object is the state's own (events copy its fields, never hold it), so
 * it is updated in place: no allocation per reading.
 */
export function setBaseline(
  cfg: Config,
  machineId: string,
  s: MachineState,
  register: Decimal,
  at: Date,
  fx = fixedOf(register),
  k = fixedScale,
): void {
  const base = s.baseline;
  if (base === undefined) s.baseline = { register, at };
  else {
    base.register = register;
    base.at = at;
  }
  s.baseFx = fx;
  s.baseK = k;
  cfg.onState?.({ machineId, register, at });
}
