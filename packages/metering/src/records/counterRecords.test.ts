// From register readings to signed, verified records: what counterDelta's classification and
// the capacity check of the verifier mean for a customer holding the records.
import { Wallet } from "ethers";
import { from, lastValueFrom, toArray } from "rxjs";
import { describe, expect, it } from "vitest";
import { type CounterDeltaOptions, counterDelta } from "../operators/counterDelta.js";
import { tumblingWindow } from "../operators/tumblingWindow.js";
import { dec } from "../quantity.js";
import type { MeterEvent, Reading } from "../reading.js";
import type { MeterWindow } from "../window.js";
import { buildMeterRecord } from "./createMeterRecord.js";
import { encodeMeterRecord } from "./encodeMeterRecord.js";
import {
  type MeterRecord,
  meterRecordFromJson,
  meterRecordToJson,
  RECORD_FLAG_BITS,
} from "./meterRecord.js";
import { genesisChainState, nextChainState } from "./meterRecordChain.js";
import { meterRecordMessage } from "./meterRecordTypedData.js";
import { TEST_BINDING, TEST_KEY } from "./sampleMeterRecords.js";
import { signMeterRecord } from "./signMeterRecord.js";
import { verifyMeterRecords } from "./verifyMeterRecords.js";

const T0 = Date.parse("2025-03-01T08:00:00.000Z");
const MIN = 60_000;

function R(value: string, ms: number): Reading {
  return {
    kind: "reading",
    machineId: "c1",
    channel: "air",
    value: dec(value),
    unit: "MTQ",
    quality: "good",
    sourceTime: new Date(T0 + ms),
  };
}

const capacity = { value: "12.5", per: "min" } as const;

/** Readings → counterDelta → 15-minute windows → signed records. */
async function records(
  options: Omit<CounterDeltaOptions, "channel" | "unit">,
  readings: MeterEvent[],
) {
  const events = await lastValueFrom(
    from(readings).pipe(
      counterDelta({ channel: "air", unit: "MTQ", ...options }),
      tumblingWindow({ size: { minutes: 15 } }),
      toArray(),
    ),
  );
  const windows = events.filter((e): e is MeterWindow => e.kind === "window");
  const signer = new Wallet(TEST_KEY);
  const out: MeterRecord[] = [];
  let chain = genesisChainState();
  for (const w of windows) {
    const r = await signMeterRecord(
      buildMeterRecord(w, {
        binding: TEST_BINDING,
        chain,
        clock: "synchronised",
        channel: "air",
        unit: "MTQ",
      }),
      { signer },
    );
    out.push(r);
    chain = nextChainState(r);
  }
  return out;
}

/**
 * Window [08:00, 08:15): 525 m³ at 08:00, the register is reset and reads 0 at 08:01, then
 * counts 12.5 m³/min to 112.5 at 08:10 and stays there (the machine delivers at most
 * 12.5 m³/min: 187.5 m³ in 15 minutes). The reading at 08:16 closes the window.
 */
const day: Reading[] = [
  R("525", 0),
  ...Array.from({ length: 10 }, (_, n) => R(dec("12.5").times(n).toFixed(), (1 + n) * MIN)),
  R("112.5", 16 * MIN),
];

describe("counter records", () => {
  it("behavior: the 525 → 0 reset read as a wrap: a 15-minute record of 587.5 m³ is rejected against the capacity", async () => {
    // Today's guess (the half-range rule, now only with explicit permission): the wrap bills
    // 475 m³ never delivered on top of the 112.5 counted since the reset.
    const guessed = await records({ rollover: "1000", maxWrapIncrement: "500" }, day);
    expect(guessed[0]!.quantity.value.toFixed()).toBe("587.5");
    expect(guessed[0]!.flags).toEqual({ rollover: true });
    expect(verifyMeterRecords(guessed).valid).toBe(true);
    const checked = verifyMeterRecords(guessed, { capacity: { ...capacity, unit: "MTQ" } });
    expect(checked.valid).toBe(false);
    expect(checked.results[0]!.reasons).toEqual(["metering.record.exceedsCapacity"]);
    expect(checked.results[0]!.errors[0]!.shortMessage).toBe(
      "seq 0: quantity 587.5 exceeds the capacity: at most 187.5 in 900 s",
    );
  });

  it("behavior: with the capacity, the reset is a reset: 112.5 m³ billed, flags reset + gap, the chain verifies", async () => {
    const recs = await records({ rollover: "1000", capacity }, day);
    // Counted from 0 to 112.5 after the reset; the part before the reset is unknown (gap).
    expect(recs[0]!.quantity.value.toFixed()).toBe("112.5");
    expect(recs[0]!.flags).toEqual({ reset: true, gap: true });
    expect(recs[0]!.register).toEqual({ start: dec("525"), end: dec("112.5") });
    const v = verifyMeterRecords(recs, { capacity: { ...capacity, unit: "MTQ" } });
    expect(v.results.map((r) => r.reasons)).toEqual(recs.map(() => []));
  });

  it("behavior: a reset that opens a window keeps the records' registers continuous", async () => {
    // 08:14 525, reset, 08:16 12.5: the reset usage is the first of the window [08:15, 08:30).
    const recs = await records({ rollover: "1000", capacity }, [
      R("512.5", 13 * MIN),
      R("525", 14 * MIN),
      R("12.5", 16 * MIN),
      R("25", 17 * MIN),
      R("25", 31 * MIN),
    ]);
    expect(recs.map((r) => [r.register?.start.toFixed(), r.register?.end.toFixed()])).toEqual([
      ["512.5", "525"],
      ["525", "25"],
      ["25", "25"],
    ]);
    expect(verifyMeterRecords(recs).valid).toBe(true);
  });

  it("behavior: replaced and ambiguous travel into the record at bits 6 and 9, and verify", async () => {
    const recs = await records({ rollover: "1000", capacity }, [
      R("525", 0),
      R("537.5", MIN),
      R("205", 2 * MIN), // a new meter starting at 200
      R("217.5", 3 * MIN),
      {
        kind: "gap",
        machineId: "c1",
        start: new Date(T0 + 3 * MIN),
        end: new Date(T0 + 63 * MIN),
        reason: "source.reconnected",
      },
      R("150", 63 * MIN), // 60 min offline, B = 750: wrap 932.5 does not fit, reset 150 does
      R("162.5", 64 * MIN),
      {
        kind: "gap",
        machineId: "c1",
        start: new Date(T0 + 64 * MIN),
        end: new Date(T0 + 124 * MIN),
        reason: "source.reconnected",
      },
      R("30", 124 * MIN), // 60 min offline: wrap 867.5 > 750, reset 30 fits
      R("42.5", 125 * MIN),
      R("42.5", 200 * MIN),
    ]);
    const first = recs[0]!;
    expect(first.flags).toEqual({ gap: true, replaced: true });
    expect(first.quantity.value.toFixed()).toBe("25"); // 525 → 537.5, then 205 → 217.5
    const bits = Number(meterRecordMessage(first, () => first.prevHash).flags);
    expect(bits).toBe((1 << RECORD_FLAG_BITS.replaced) | (1 << RECORD_FLAG_BITS.gap));
    expect(RECORD_FLAG_BITS.replaced).toBe(6);
    expect(RECORD_FLAG_BITS.ambiguous).toBe(9);
    // JSON round trip keeps the flags and the digest.
    const back = meterRecordFromJson(JSON.parse(JSON.stringify(meterRecordToJson(first))));
    expect(back.flags).toEqual(first.flags);
    expect(encodeMeterRecord(back).digest).toBe(encodeMeterRecord(first).digest);
    expect(verifyMeterRecords(recs, { capacity: { ...capacity, unit: "MTQ" } }).valid).toBe(true);
  });

  it("behavior: an ambiguous change (a wrap and a reset both fit an outage) sets ambiguous and verifies", async () => {
    const recs = await records({ rollover: "1000", capacity }, [
      R("525", 0),
      {
        kind: "gap",
        machineId: "c1",
        start: new Date(T0),
        end: new Date(T0 + 60 * MIN),
        reason: "source.reconnected",
      },
      R("30", 60 * MIN), // wrap 505 <= 750 and reset 30 <= 750: bill 30, 475 disputed
      R("42.5", 61 * MIN),
      R("42.5", 80 * MIN),
    ]);
    const flagged = recs.find((r) => r.flags.ambiguous === true)!;
    expect(flagged.flags).toEqual({ bridged: true, gap: true, ambiguous: true });
    expect(flagged.quantity.value.toFixed()).toBe("30");
    expect(flagged.quarantined).toBe(1);
    const bits = Number(meterRecordMessage(flagged, () => flagged.prevHash).flags);
    expect(bits & (1 << 9)).toBe(1 << 9);
    expect(bits & (1 << 5)).toBe(0); // not mistaken for noRegister
    expect(verifyMeterRecords(recs, { capacity: { ...capacity, unit: "MTQ" } }).valid).toBe(true);
  });

  it("error: a record in another unit than the capacity's cannot be checked and is rejected", async () => {
    const recs = await records({ capacity }, [R("1", 0), R("2", MIN), R("2", 20 * MIN)]);
    const v = verifyMeterRecords(recs, { capacity: { value: "12.5", per: "min", unit: "LTR" } });
    expect(v.results[0]!.reasons).toEqual(["metering.record.exceedsCapacity"]);
    expect(() => verifyMeterRecords(recs, { capacity: { value: "0", per: "min" } })).toThrowError(
      /capacity must be/,
    );
  });
});
