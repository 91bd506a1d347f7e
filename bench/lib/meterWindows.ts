// Deterministic closed windows of a compressor, the input of record signing benchmarks.
import { dec, type MeterWindow } from "@maaskit/metering";

const QUARTER_HOUR = 15 * 60_000;

/** `n` contiguous 15-minute windows of a compressor: air from a register, energy as an extra. */
export function compressorWindows(
  n: number,
  machineId = "compressor-7",
  start = Date.UTC(2025, 0, 1),
): MeterWindow[] {
  const out: MeterWindow[] = [];
  let air = dec("1000.000");
  let energy = dec("500.00");
  for (let i = 0; i < n; i++) {
    const volume = dec(12_000 + ((i * 7919) % 5000)).div(1000);
    const kwh = dec(125 + (i % 7)).div(100);
    out.push({
      kind: "window",
      machineId,
      start: new Date(start + i * QUARTER_HOUR),
      end: new Date(start + (i + 1) * QUARTER_HOUR),
      usage: [
        {
          channel: "air",
          quantity: { value: volume, unit: "MTQ", basis: "ISO1217-FAD" },
          register: { start: air, end: air.plus(volume) },
          flags: {},
        },
        {
          channel: "energy",
          quantity: { value: kwh, unit: "KWH" },
          register: { start: energy, end: energy.plus(kwh) },
          flags: {},
        },
      ],
      gaps: [],
      quarantined: i % 3 === 2 ? 1 : 0,
    });
    air = air.plus(volume);
    energy = energy.plus(kwh);
  }
  return out;
}
