// Deterministic replay data for the metering benchmark: a fleet of compressors, four
// channels each (air register, energy register, flow rate, operating state), one reading
// per channel per second. The same data is given to every variant, in two shapes: Reading
// objects with exact Decimals (what a source emits), and flat fixed-point arrays (what a
// hand-tuned BigInt system would keep).
import { dec, type Reading } from "@maaskit/metering";

export const CHANNELS = ["air", "energy", "flow", "state"] as const;
export const STATES = ["Loaded", "Unloaded", "Stopped", "Starting"] as const;
/** Air register modulus (m³): some machines start near it so rollovers happen. */
export const AIR_ROLLOVER = 1_000_000;
/** Fixed-point scales of the flat arrays: air in litres (1e-3 m³), energy in 1e-2 kWh, flow in 1e-3 m³/min. */
export const AIR_SCALE = 1000;
export const ENERGY_SCALE = 100;
export const FLOW_SCALE = 1000;
export const START_MS = Date.UTC(2025, 0, 6, 0, 0, 0);

export interface FleetReadings {
  readonly machines: number;
  readonly seconds: number;
  readonly machineIds: readonly string[];
  /** Readings in arrival order (time, then machine, then channel). */
  readonly readings: readonly Reading[];
  /** The same readings, flat: machine index, channel index, time (ms), fixed-point value or state index. */
  readonly machine: Uint16Array;
  readonly channel: Uint8Array;
  readonly time: Float64Array;
  readonly fixed: BigInt64Array;
}

/** mulberry32: a tiny, fast, deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fixedText(v: number, scale: number, digits: number): string {
  const int = Math.floor(v / scale);
  const frac = String(v % scale).padStart(digits, "0");
  return `${int}.${frac}`;
}

/**
 * Generates `count` readings (rounded down to whole seconds of the fleet) for `machines`
 * compressors. Deterministic: the same arguments give the same readings.
 */
export function fleetReadings(count: number, machines: number, seed = 20250106): FleetReadings {
  const perSecond = machines * CHANNELS.length;
  const seconds = Math.floor(count / perSecond);
  const n = seconds * perSecond;
  const rnd = prng(seed);
  const machineIds = Array.from(
    { length: machines },
    (_, m) => `compressor-${String(m).padStart(3, "0")}`,
  );
  const readings: Reading[] = new Array(n);
  const machine = new Uint16Array(n);
  const channel = new Uint8Array(n);
  const time = new Float64Array(n);
  const fixed = new BigInt64Array(n);

  const air = machineIds.map((_, m) =>
    m % 5 === 0 ? (AIR_ROLLOVER - 1000) * AIR_SCALE + m * 7919 : m * 12_345_678,
  );
  const energy = machineIds.map((_, m) => m * 1_000_003);
  const state = machineIds.map(() => 0);
  let i = 0;
  for (let s = 0; s < seconds; s++) {
    for (let m = 0; m < machines; m++) {
      // Each machine's clock is offset a little, so windows see readings off the boundary.
      const t = START_MS + s * 1000 + m * 7;
      const at = new Date(t);
      if (s > 0 && rnd() < 1 / 90) {
        const r = rnd();
        const cur = state[m]!;
        state[m] = cur === 2 ? 3 : cur === 3 ? 0 : r < 0.75 ? (cur === 0 ? 1 : 0) : r < 0.9 ? 2 : 3;
      }
      const st = state[m]!;
      const flow =
        st === 0
          ? 8000 + Math.floor(rnd() * 4000)
          : st === 1
            ? Math.floor(rnd() * 300)
            : st === 3
              ? 1000 + Math.floor(rnd() * 2000)
              : 0;
      air[m] = (air[m]! + Math.round(flow / 60)) % (AIR_ROLLOVER * AIR_SCALE);
      energy[m] = energy[m]! + 1 + Math.floor(flow / 700);
      const values: [number, string, string | undefined][] = [
        [air[m]!, fixedText(air[m]!, AIR_SCALE, 3), "MTQ"],
        [energy[m]!, fixedText(energy[m]!, ENERGY_SCALE, 2), "KWH"],
        [flow, fixedText(flow, FLOW_SCALE, 3), "G53"],
        [st, STATES[st]!, undefined],
      ];
      for (let c = 0; c < CHANNELS.length; c++) {
        const [fx, text, unit] = values[c]!;
        const base = {
          kind: "reading" as const,
          machineId: machineIds[m]!,
          channel: CHANNELS[c]!,
          value: unit === undefined ? text : dec(text),
          quality: "good" as const,
          sourceTime: at,
        };
        readings[i] = unit === undefined ? base : { ...base, unit };
        machine[i] = m;
        channel[i] = c;
        time[i] = t;
        fixed[i] = BigInt(fx);
        i++;
      }
    }
  }
  return { machines, seconds, machineIds, readings, machine, channel, time, fixed };
}
