import type { Decimal } from "decimal.js";
import type { Quantity } from "./quantity.js";

/**
 * The ISO 22400-2 time category a machine state counts towards, for a work unit:
 * - `APT` actual production time — the unit produces (Loaded, Executing, Execute).
 * - `AUST` actual unit setup time — preparing or ending operation (Starting, Resetting).
 * - `ADET` actual unit delay time — available but waiting (Unloaded, NotExecuting, Idle).
 * - `ADOT` actual unit down time — unplanned stop, fault or alarm (Stopped, OutOfService, Aborted).
 *
 * Planned down time (PDOT) is deliberately not a state category: it comes from the plan
 * (the calendar given to `oee()`), so a machine cannot shorten its own planned busy time by
 * reporting a "planned" state.
 *
 * @example const s: IsoTimeState = "APT";
 */
export type IsoTimeState = "APT" | "AUST" | "ADET" | "ADOT";

/** All {@link IsoTimeState} values, for validation. @example isoTimeStates.includes("APT") */
export const isoTimeStates: readonly IsoTimeState[] = ["APT", "AUST", "ADET", "ADOT"];

/**
 * A machine stayed in one ISO 22400 time category over `[start, end)`: what `machineState()`
 * emits and what `oee()` sums.
 *
 * Three shapes travel on a stream:
 * - closed span (`open` absent): the state held from `start` until the state reading at `end`;
 * - open marker (`open: true`, `end = start`, from `machineState`): the state holds from `start`
 *   until a closed span with the same `start` supersedes it;
 * - window piece (`span` set, from `tumblingWindow`): the part of a span inside one window,
 *   `span` giving the uncut span (its `end` absent while the state was still open when the
 *   window cut it). `oee()` uses `span` to tell micro-stops from stops.
 *
 * @example
 * ```ts
 * const s: StateSpanEvent = {
 *   kind: "state", machineId: "c1", channel: "state", state: "APT", source: "Loaded",
 *   start: new Date("2024-01-01T06:00:00Z"), end: new Date("2024-01-01T06:07:00Z"),
 * };
 * ```
 */
export interface StateSpanEvent {
  readonly kind: "state";
  readonly machineId: string;
  /** The state channel the span comes from. */
  readonly channel?: string;
  readonly state: IsoTimeState;
  readonly start: Date;
  readonly end: Date;
  /** The vendor state the category was mapped from (e.g. `Loaded`, `Execute`, `7`). */
  readonly source?: string;
  /** True while the state still holds: `end` is where observation (or a window) stopped. */
  readonly open?: boolean;
  /** Set on window pieces: the bounds of the uncut span (no `end` while it was still open). */
  readonly span?: { readonly start: Date; readonly end?: Date };
}

/**
 * A stretch of planned down time (breaks, planned maintenance, no shift) from the calendar;
 * it lies outside the planned busy time (PBT).
 *
 * @example const lunch: PlannedInterval = { start: new Date("2024-01-01T11:30:00Z"), end: new Date("2024-01-01T12:00:00Z"), reason: "break" };
 */
export interface PlannedInterval {
  readonly start: Date;
  readonly end: Date;
  readonly reason?: string;
}

/**
 * ISO 22400-2 time elements of one window, in integer milliseconds (bigint, never float),
 * so a meter record can sign them and anyone can recompute the KPIs.
 *
 * Invariants: `pbt = pot − pdot`; `pbt = apt + aust + adet + adot + unobserved`;
 * `microStop ≤ apt`.
 *
 * @example
 * ```ts
 * const t: OeeTimeElements = { pot: 900_000n, pdot: 0n, pbt: 900_000n, apt: 840_000n,
 *   aust: 0n, adet: 60_000n, adot: 0n, microStop: 0n, unobserved: 0n };
 * ```
 */
export interface OeeTimeElements {
  /** Planned operation time (POT): the window's length (wall clock, so 23 h or 25 h on DST days). */
  readonly pot: bigint;
  /** Planned down time (PDOT): the calendar's planned intervals inside the window, merged. */
  readonly pdot: bigint;
  /** Planned busy time (PBT) = POT − PDOT. */
  readonly pbt: bigint;
  /** Actual production time (APT) inside PBT, including micro-stops (see `microStop`). */
  readonly apt: bigint;
  /** Actual unit setup time (AUST) inside PBT. */
  readonly aust: bigint;
  /** Actual unit delay time (ADET) inside PBT, micro-stops excluded. */
  readonly adet: bigint;
  /** Actual unit down time (ADOT) inside PBT, micro-stops excluded. */
  readonly adot: bigint;
  /** Unplanned stops shorter than the micro-stop threshold: counted in APT (an effectiveness loss). */
  readonly microStop: bigint;
  /** Time inside PBT without a known state (before the first state reading, gaps, unknown states). */
  readonly unobserved: bigint;
}

/** Why a KPI ratio has no value. */
export type OeeUndefinedReason =
  | "pbt.zero"
  | "apt.zero"
  | "produced.zero"
  | "produced.unit"
  | "good.unit"
  | (string & {});

/**
 * A KPI ratio: a Decimal (1 = 100 %), or explicitly undefined with the reason — never NaN and
 * never a silent 1.0. `implausible` marks a value above 100 % (e.g. effectiveness when the ideal
 * cycle time is set too long, or counts attributed to a window without production time).
 *
 * @example const a: OeeRatio = { defined: false, reason: "pbt.zero" };
 */
export type OeeRatio =
  | { readonly defined: true; readonly value: Decimal; readonly implausible?: true }
  | { readonly defined: false; readonly reason: OeeUndefinedReason };

/**
 * OEE of one window (or a roll-up of windows) per ISO 22400-2, with the raw inputs it was
 * computed from: availability = APT / PBT; effectiveness = PRI × PQ / APT;
 * quality rate = GQ / PQ; OEE = A × E × Q.
 *
 * @example
 * ```ts
 * windows$.pipe(oee({ idealCycleTimeMs: 1500 })).subscribe((w) => {
 *   if (w.kind === "window" && w.oee?.oee.defined) console.log(w.oee.oee.value.toFixed(4));
 * });
 * ```
 */
export interface OeeResult {
  readonly timeElements: OeeTimeElements;
  /** Produced quantity (PQ), from the produced count channel's usage in the window. */
  readonly producedQuantity: Quantity;
  /** Good quantity (GQ). */
  readonly goodQuantity: Quantity;
  /** PRI × PQ in milliseconds: the time the produced quantity needs at the ideal cycle time. */
  readonly idealProductionTimeMs: Decimal;
  /** Number of micro-stops that began in the window. */
  readonly microStopCount: number;
  readonly availability: OeeRatio;
  readonly effectiveness: OeeRatio;
  readonly quality: OeeRatio;
  readonly oee: OeeRatio;
}
