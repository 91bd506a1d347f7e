import type { IsoTimeState } from "../timeElements.js";

/**
 * A table from vendor state (name or enum number, as text) to ISO 22400 time category.
 * `machineState()` looks values up case- and punctuation-insensitively (`"Not Executing"`,
 * `"NOT_EXECUTING"` and `"NotExecuting"` are one key); numbers are looked up as their decimal
 * text (`"7"`). Spread a built-in table to extend or override it.
 *
 * @example const mine: StateMapping = { ...compressorStates, Purging: "AUST" };
 */
export type StateMapping = Readonly<Record<string, IsoTimeState>>;

/**
 * OPC 40250-1 (Compressed Air Systems) `CompressorOperatingStateEnum`, by name and value.
 *
 * - Loaded (7) and Loading (5): the compressor delivers air → APT.
 * - Unloaded (4) and Unloading (6): motor runs, no delivery, no demand → ADET (a delay, not a
 *   fault); short load/unload cycling becomes a micro-stop in `oee()` if a threshold is set.
 * - Starting (2) and Stopping (3): transitions to and from operation → AUST.
 * - Stopped (1): motor off inside planned time → ADOT. Planned stops come from the calendar.
 * - Other (0) is deliberately absent: an unspecified state is quarantined, not guessed.
 *
 * @example machineState({ mapping: compressorStates })
 */
export const compressorStates: StateMapping = {
  Stopped: "ADOT",
  "1": "ADOT",
  Starting: "AUST",
  "2": "AUST",
  Stopping: "AUST",
  "3": "AUST",
  Unloaded: "ADET",
  "4": "ADET",
  Loading: "APT",
  "5": "APT",
  Unloading: "ADET",
  "6": "ADET",
  Loaded: "APT",
  "7": "APT",
};

/**
 * OPC 40001-1 (Machinery) `MachineryItemState`, by state name and `StateNumber`
 * (NotAvailable 0, OutOfService 1, NotExecuting 2, Executing 3, as in the Machinery NodeSet).
 *
 * Follows the first reading of OPC 40001-1 Annex C.2: Executing → APT; NotExecuting (available,
 * waiting) → ADET; OutOfService (not functional: error, blocked) → ADOT; NotAvailable (e.g.
 * switched off) inside planned time → ADOT. The MachineTool companion spec swaps ADET/ADOT for
 * NotExecuting/OutOfService; override the two keys if your plant follows it.
 *
 * @example machineState({ channel: "MachineryItemState", mapping: machineryItemStates })
 */
export const machineryItemStates: StateMapping = {
  NotAvailable: "ADOT",
  "0": "ADOT",
  OutOfService: "ADOT",
  "1": "ADOT",
  NotExecuting: "ADET",
  "2": "ADET",
  Executing: "APT",
  "3": "APT",
};

/**
 * PackML (ISA-TR88.00.02 / OPC 30050) machine states, by name and state number.
 *
 * - Execute (6) → APT.
 * - Resetting (15), Starting (3) → AUST (preparing to run).
 * - Idle (4), Complete (17), Completing (16), Suspending (13), Suspended (5), Unsuspending (14)
 *   → ADET: ready but waiting, or starved/blocked by its surroundings.
 * - Holding (10), Held (11), Unholding (12) → ADOT: an internal condition stopped the machine.
 * - Stopping (7), Stopped (2), Aborting (8), Aborted (9), Clearing (1) → ADOT: stopped or
 *   faulted inside planned time.
 *
 * @example machineState({ mapping: packmlStates })
 */
export const packmlStates: StateMapping = {
  Clearing: "ADOT",
  "1": "ADOT",
  Stopped: "ADOT",
  "2": "ADOT",
  Starting: "AUST",
  "3": "AUST",
  Idle: "ADET",
  "4": "ADET",
  Suspended: "ADET",
  "5": "ADET",
  Execute: "APT",
  "6": "APT",
  Stopping: "ADOT",
  "7": "ADOT",
  Aborting: "ADOT",
  "8": "ADOT",
  Aborted: "ADOT",
  "9": "ADOT",
  Holding: "ADOT",
  "10": "ADOT",
  Held: "ADOT",
  "11": "ADOT",
  Unholding: "ADOT",
  "12": "ADOT",
  Suspending: "ADET",
  "13": "ADET",
  Unsuspending: "ADET",
  "14": "ADET",
  Resetting: "AUST",
  "15": "AUST",
  Completing: "ADET",
  "16": "ADET",
  Complete: "ADET",
  "17": "ADET",
};
