// Internal helper of the metering operators (not exported from the package): the fixed-point
// core of issue 20. The per-reading path works on scaled integers — a value is a safe integer
// mantissa `m` and a scale `k` (value = m · 10^-k) — read straight from a Decimal's digits
// (decimal.js documents `d`, `e` and `s` as its instances' properties) and turned back into a
// Decimal only where one leaves an operator. The Decimals built here are exactly the ones
// decimal.js' own arithmetic builds for the same value (same digits, exponent and sign:
// decimal.js keeps one normalised form per value), so records stay byte-identical.
import type { Decimal } from "decimal.js";
import { Dec } from "../quantity.js";

const MAX = Number.MAX_SAFE_INTEGER;
/** 10^0 … 10^15, exact doubles. */
export const POW10: readonly number[] = Array.from({ length: 16 }, (_, i) => 10 ** i);

/** The scale of the last mantissa {@link fixedOf} returned (an out-parameter: no allocation). */
export let fixedScale = 0;

/**
 * The Decimal {@link decimalOf} built last, with its mantissa and smallest scale: a usage's
 * value is read back by the next operator (tumblingWindow) right after it was built, and
 * then costs no digit walk. Decimals are immutable, so the identity decides.
 */
let lastBuilt: Decimal | undefined;
let lastM = 0;
let lastK = 0;

/** Decimal digits of a positive safe integer. */
function digitCount(m: number): number {
  let n = 1;
  while (n < 16 && m >= POW10[n]!) n++;
  return m >= 1e16 ? 17 : n;
}

/**
 * The mantissa of a non-negative finite Decimal at its smallest scale ≥ 0 (the scale is left
 * in {@link fixedScale}), or -1 when the value is negative (-0 included), not finite, or does
 * not fit a safe integer. No Decimal arithmetic, no allocation.
 */
export function fixedOf(x: Decimal): number {
  if (x === lastBuilt) {
    fixedScale = lastK;
    return lastM;
  }
  if (x.s !== 1) return -1;
  const d = x.d as number[] | null;
  if (d === null) return -1;
  const n = d.length;
  if (n > 4) return -1;
  let m = d[0]!;
  for (let i = 1; i < n - 1; i++) m = m * 1e7 + d[i]!;
  let k = 7 * (n - 1) + digitCount(d[0]!) - 1 - x.e;
  if (n > 1) {
    // The last word is padded with zeros on the right: drop them before they cost range.
    let w = d[n - 1]!;
    let t = 0;
    while (w % 10 === 0) {
      w /= 10;
      t++;
    }
    m = m * POW10[7 - t]! + w;
    k -= t;
  } else if (m === 0) {
    fixedScale = 0;
    return 0;
  } else {
    while (k > 0 && m % 10 === 0) {
      m /= 10;
      k--;
    }
  }
  if (m > MAX) return -1;
  if (k < 0) {
    if (k < -15) return -1;
    m *= POW10[-k]!;
    if (m > MAX) return -1;
    k = 0;
  }
  fixedScale = k;
  return m;
}

/**
 * `m` (scale `from`) at scale `to` ≥ `from`, or -1 when it does not fit a safe integer.
 */
export function rescale(m: number, from: number, to: number): number {
  if (to === from) return m;
  const shift = to - from;
  if (shift > 15) return m === 0 ? 0 : -1;
  const r = m * POW10[shift]!;
  return r > MAX ? -1 : r;
}

/**
 * The Decimal (on maaskit's `Dec`) of `m · 10^-k`, for a safe integer `m` ≥ 0 and `k` ≥ 0,
 * in exactly the form decimal.js' arithmetic gives that value.
 */
export function decimalOf(m: number, k: number): Decimal {
  const x = new Dec(0);
  if (m === 0) return remember(x, 0, 0);
  const nd = digitCount(m);
  const e = nd - 1 - k;
  // decimal.js aligns its base-1e7 words on the exponent: the first holds (e mod 7) + 1 digits.
  const first = (((e % 7) + 7) % 7) + 1;
  let rest = nd - first;
  const words: number[] = [];
  if (rest <= 0) words.push(m * POW10[-rest]!);
  else {
    let p = POW10[rest]!;
    let rem = m % p;
    words.push((m - rem) / p);
    while (rest > 0) {
      if (rest >= 7) {
        rest -= 7;
        p = POW10[rest]!;
        const r = rem % p;
        words.push((rem - r) / p);
        rem = r;
      } else {
        words.push(rem * POW10[7 - rest]!);
        rest = 0;
      }
    }
  }
  while (words.length > 1 && words[words.length - 1] === 0) words.pop();
  (x as { e: number }).e = e;
  (x as unknown as { d: number[] }).d = words;
  // Remembered only in fixedOf's own form: the smallest scale.
  return k === 0 || m % 10 !== 0 ? remember(x, m, k) : x;
}

function remember(x: Decimal, m: number, k: number): Decimal {
  lastBuilt = x;
  lastM = m;
  lastK = k;
  return x;
}

/** A non-negative exact value as a scaled bigint: value = n · 10^-k. */
export interface ScaledBig {
  n: bigint;
  k: number;
}

/** Any finite non-negative Decimal as a scaled bigint (exact), or undefined. */
export function bigOf(x: Decimal): ScaledBig | undefined {
  const m = fixedOf(x);
  if (m >= 0) return { n: BigInt(m), k: fixedScale };
  if (x.s !== 1 || x.d === null) return undefined;
  const d = x.d as number[];
  let digits = String(d[0]);
  for (let i = 1; i < d.length; i++) digits += String(d[i]).padStart(7, "0");
  const k = 7 * (d.length - 1) + String(d[0]).length - 1 - x.e;
  return k < 0 ? { n: BigInt(digits) * 10n ** BigInt(-k), k: 0 } : { n: BigInt(digits), k };
}

const BIG_MAX = BigInt(MAX);

/** The Decimal of `n · 10^-k` (n ≥ 0), in decimal.js' form for that value. */
export function decimalOfBig(n: bigint, k: number): Decimal {
  if (n <= BIG_MAX) return decimalOf(Number(n), k);
  // Rare (beyond 2^53): exact through the string form, which has at most 64 digits here.
  const s = n.toString();
  return new Dec(k === 0 ? s : `${s}e-${k}`);
}
