import type { Decimal } from "decimal.js";
import type { Quantity } from "./quantity.js";
import type { GapEvent, UsageFlags } from "./reading.js";

/** Usage of one channel within one window. */
export interface WindowUsage {
  readonly channel: string;
  /** Sum of the channel's usage events whose `end` lies in the window. */
  readonly quantity: Quantity;
  /**
   * Cumulative register at the window's start and end (the last register values at or
   * before each boundary), when the usage came from a register: a reader can check
   * `end - start` (modulo rollover/reset, see flags) against `quantity`.
   */
  readonly register?: { readonly start: Decimal; readonly end: Decimal };
  /** Union of the flags of the usage events summed into this window. */
  readonly flags: UsageFlags;
}

/**
 * One closed wall-clock window `[start, end)` of one machine: what `tumblingWindow`
 * emits and what a `MeterRecord` is built from. `oee` is filled in by the `oee()`
 * operator when state readings are metered.
 */
export interface MeterWindow<TOee = unknown> {
  readonly kind: "window";
  readonly machineId: string;
  readonly start: Date;
  readonly end: Date;
  /** One entry per channel with usage, sorted by channel name. */
  readonly usage: readonly WindowUsage[];
  /** Gaps that overlapped the window. */
  readonly gaps: readonly GapEvent[];
  /** How many inputs were quarantined with an event time in this window. */
  readonly quarantined: number;
  readonly oee?: TOee;
}
