// Internal helper of integrateRate (not exported from the package): the exact running sum
// S = Σ (r1 + r2) · Δt_ms of one machine and its half-even quantisation, on scaled integers.
// While S and the quantities derived from it fit a safe integer, they are plain numbers (no
// allocation per sample); past that they are scaled bigints — both exact, and equal to what
// the Decimal arithmetic of quantizeRatio gives, step for step.
import type { Decimal } from "decimal.js";
import { bigOf, decimalOf, decimalOfBig, fixedOf, fixedScale, rescale } from "./fixedPoint.js";

const MAX = Number.MAX_SAFE_INTEGER;
/** Sums from here on continue in Decimal arithmetic (integrateRate's own path). */
const LIMIT = 10n ** 60n;

/** The quantisation constants: resolution = `resolution` · 10^-`resolutionK`, `step` = denominator · `resolution`. */
export interface RateFixed {
  readonly resolution: bigint;
  readonly resolutionK: number;
  readonly step: bigint;
  /** `resolution` as a safe integer, or -1. */
  readonly resolutionF: number;
  /**
   * Per scale k of the sum: steps = S · P / Q (P/Q = 10^resolutionK / (step · 10^k) in lowest
   * terms), when P and Q are safe integers; `null` when not; absent until first needed.
   */
  readonly ratios: ([number, number] | null)[];
}

export function rateFixed(resolution: Decimal, secondsPerTimeUnit: number): RateFixed {
  const r = bigOf(resolution)!;
  const resolutionF = r.n <= BigInt(MAX) ? Number(r.n) : -1;
  return {
    resolution: r.n,
    resolutionK: r.k,
    step: 2000n * BigInt(secondsPerTimeUnit) * r.n,
    resolutionF,
    ratios: [],
  };
}

/** One machine's sum and last rate. */
export interface RateSum {
  /** S = num · 10^-numK; a safe integer in `numF` while `numF` ≥ 0 (`num` is then stale). */
  num: bigint;
  numF: number;
  numK: number;
  /** Emitted volume in steps of the resolution; in `qF` while `numF` ≥ 0. */
  q: bigint;
  qF: number;
  /** The last rate (mantissa at scale `rateK`): a safe integer in `rateF`, or -1 and `rate`. */
  rate: bigint;
  rateF: number;
  rateK: number;
  /** The Decimal the last rate was read from. */
  rateOf?: Decimal;
}

export function emptySum(): RateSum {
  return { num: 0n, numF: 0, numK: 0, q: 0n, qF: 0, rate: 0n, rateF: 0, rateK: 0 };
}

/** Starts the sum at `numerator` (a resumed state); false when it is too big for this path. */
export function startSum(s: RateSum, f: RateFixed, numerator: Decimal): boolean {
  const n = bigOf(numerator)!;
  if (n.n >= LIMIT) return false;
  s.num = n.n;
  s.numK = n.k;
  s.q = quantize(f, n.n, n.k);
  const safe = n.n <= BigInt(MAX) && s.q <= BigInt(MAX);
  s.numF = safe ? Number(n.n) : -1;
  s.qF = safe ? Number(s.q) : 0;
  return true;
}

/** The emitted volume, in steps of the resolution. */
export function sumSteps(s: RateSum): bigint {
  return s.numF >= 0 ? BigInt(s.qF) : s.q;
}

/** Makes `rate` the last rate; returns its scale. */
export function setRate(s: RateSum, rate: Decimal): number {
  s.rateOf = rate;
  const m = fixedOf(rate);
  if (m >= 0) {
    s.rateF = m;
    s.rateK = fixedScale;
  } else {
    // -0 (allowed: not negative) or more digits than a safe integer holds.
    const b = bigOf(rate) ?? { n: 0n, k: 0 };
    s.rateF = -1;
    s.rate = b.n;
    s.rateK = b.k;
  }
  return s.rateK;
}

/**
 * Adds `(last rate + r2) · dt` to S, makes `r2` the last rate and returns the quantised
 * increment — or undefined (nothing changed but the rate) when S would reach 10^60.
 */
export function addInterval(
  s: RateSum,
  f: RateFixed,
  r2: Decimal,
  dt: number,
): Decimal | undefined {
  const n1 = s.rateF;
  const k1 = s.rateK;
  const n1Big = n1 >= 0 ? undefined : s.rate;
  const k2 = setRate(s, r2);
  if (s.numF >= 0 && n1 >= 0 && s.rateF >= 0) {
    const inc = addSafe(s, f, n1, k1, s.rateF, k2, dt);
    if (inc >= 0) return decimalOf(inc, f.resolutionK);
    // Beyond safe integers from here: the same sum on bigints.
    s.num = BigInt(s.numF);
    s.q = BigInt(s.qF);
    s.numF = -1;
  } else if (s.numF >= 0) {
    s.num = BigInt(s.numF);
    s.q = BigInt(s.qF);
    s.numF = -1;
  }
  const k = Math.max(s.numK, k1, k2);
  const a = n1Big ?? BigInt(n1);
  const b = s.rateF >= 0 ? BigInt(s.rateF) : s.rate;
  const next = s.num * pow10(k - s.numK) + (a * pow10(k - k1) + b * pow10(k - k2)) * BigInt(dt);
  if (next >= LIMIT) return undefined;
  s.num = next;
  s.numK = k;
  const q = quantize(f, next, k);
  const increment = (q - s.q) * f.resolution;
  s.q = q;
  return decimalOfBig(increment, f.resolutionK);
}

/** The safe-integer step of {@link addInterval}: the increment's mantissa, or -1 (nothing changed). */
function addSafe(
  s: RateSum,
  f: RateFixed,
  n1: number,
  k1: number,
  n2: number,
  k2: number,
  dt: number,
): number {
  let k = s.numK > k1 ? s.numK : k1;
  if (k2 > k) k = k2;
  const a = rescale(s.numF, s.numK, k);
  const b1 = rescale(n1, k1, k);
  const b2 = rescale(n2, k2, k);
  if (a < 0 || b1 < 0 || b2 < 0 || f.resolutionF < 0) return -1;
  const next = a + (b1 + b2) * dt;
  if (next > MAX) return -1;
  const ratio = ratioAt(f, k);
  if (ratio === null) return -1;
  const x = next * ratio[0];
  const den = ratio[1];
  if (x > MAX) return -1;
  // Exact floor division of safe integers (the float quotient corrected by its remainder).
  let q = Math.floor(x / den);
  let rem = x - q * den;
  if (rem < 0) {
    q -= 1;
    rem += den;
  } else if (rem >= den) {
    q += 1;
    rem -= den;
  }
  const twice = rem * 2;
  if (twice > den || (twice === den && q % 2 === 1)) q += 1;
  const inc = (q - s.qF) * f.resolutionF;
  if (inc > MAX) return -1;
  s.numF = next;
  s.numK = k;
  s.qF = q;
  return inc;
}

function ratioAt(f: RateFixed, k: number): [number, number] | null {
  let r = f.ratios[k];
  if (r === undefined) {
    let p = pow10(f.resolutionK);
    let q = f.step * pow10(k);
    const g = gcd(p, q);
    p /= g;
    q /= g;
    r = p <= BigInt(MAX) && q <= BigInt(MAX) ? [Number(p), Number(q)] : null;
    f.ratios[k] = r;
  }
  return r;
}

function gcd(a: bigint, b: bigint): bigint {
  while (b !== 0n) [a, b] = [b, a % b];
  return a;
}

/** Steps of the resolution in `num · 10^-k / denominator`, rounded half-even (as quantizeRatio). */
function quantize(f: RateFixed, num: bigint, k: number): bigint {
  const a = num * pow10(f.resolutionK);
  const b = f.step * pow10(k);
  const q = a / b;
  const twice = (a - q * b) * 2n;
  return twice > b || (twice === b && (q & 1n) === 1n) ? q + 1n : q;
}

const POWERS: bigint[] = [];
function pow10(k: number): bigint {
  let p = POWERS[k];
  if (p === undefined) {
    p = 10n ** BigInt(k);
    if (k < 64) POWERS[k] = p;
  }
  return p;
}
