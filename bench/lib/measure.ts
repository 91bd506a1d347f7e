// Timing and reporting helpers shared by the benchmark modules.
import * as os from "node:os";

/** The machine a run's figures came from (figures from different machines don't compare). */
export interface MachineInfo {
  readonly node: string;
  readonly v8: string;
  readonly platform: string;
  readonly arch: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly totalMemoryMiB: number;
  readonly date: string;
}

/** Describes the machine this process runs on. */
export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: os.platform(),
    arch: os.arch(),
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    totalMemoryMiB: Math.round(os.totalmem() / 2 ** 20),
    date: new Date().toISOString(),
  };
}

/** How a figure compares with its target. */
export interface Target {
  /** `>=`: the ratio (or value) must reach it; `<=`: must not exceed it. */
  readonly op: ">=" | "<=";
  readonly value: number;
  /** What the target applies to: the ratio against the baseline, or the absolute value. */
  readonly on: "ratio" | "value";
}

/** One row of the results table. */
export interface Figure {
  readonly id: string;
  readonly group: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly baseline?: { readonly name: string; readonly value: number; readonly unit: string };
  /** value / baseline.value (for costs like CPU or RSS, lower is better). */
  readonly ratio?: number;
  readonly target?: Target;
  /** Whether the target is met; absent when the figure has no target. */
  readonly met?: boolean;
  readonly note?: string;
}

/** Builds a figure, computing the ratio and whether the target is met. */
export function figure(f: Omit<Figure, "ratio" | "met">): Figure {
  const ratio = f.baseline === undefined ? undefined : f.value / f.baseline.value;
  let met: boolean | undefined;
  if (f.target !== undefined) {
    const x = f.target.on === "ratio" ? ratio : f.value;
    if (x !== undefined && Number.isFinite(x)) {
      met = f.target.op === ">=" ? x >= f.target.value : x <= f.target.value;
    }
  }
  return {
    ...f,
    ...(ratio === undefined ? {} : { ratio }),
    ...(met === undefined ? {} : { met }),
  };
}

/** Median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Wall-clock milliseconds of an async or sync function. */
export async function timeMs(fn: () => unknown): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/**
 * Runs each variant `rounds` times, interleaved (A B C A B C …) so drifting machine load
 * hits all variants alike, and returns each variant's median duration in ms.
 */
export async function interleaved(
  variants: Readonly<Record<string, () => unknown>>,
  rounds: number,
): Promise<Record<string, { medianMs: number; runsMs: number[] }>> {
  const runs: Record<string, number[]> = {};
  for (const name of Object.keys(variants)) runs[name] = [];
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(variants)) {
      globalThis.gc?.();
      runs[name]!.push(await timeMs(fn));
    }
  }
  const out: Record<string, { medianMs: number; runsMs: number[] }> = {};
  for (const [name, ms] of Object.entries(runs)) {
    out[name] = { medianMs: median(ms), runsMs: ms.map((x) => Math.round(x * 10) / 10) };
  }
  return out;
}

/** Items per second from a count and a duration in ms. */
export function perSecond(count: number, ms: number): number {
  return (count * 1000) / ms;
}

/** Logs a progress line to stderr (stdout stays clean for a JSON consumer). */
export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

/** Throws when two values differ: benchmarks compare equal work only. */
export function assertEqual(actual: string, expected: string, what: string): void {
  if (actual !== expected) {
    const at = [...actual].findIndex((c, i) => c !== expected[i]);
    throw new Error(
      `${what}: results differ at char ${at}: ${actual.slice(Math.max(0, at - 80), at + 80)} ≠ ${expected.slice(Math.max(0, at - 80), at + 80)}`,
    );
  }
}
