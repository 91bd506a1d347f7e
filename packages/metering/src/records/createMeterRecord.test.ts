import { describe, expect, test } from "vitest";
import { isMaaskitError } from "../errors.js";
import { dec } from "../quantity.js";
import type { MeterWindow } from "../window.js";
import { buildMeterRecord } from "./createMeterRecord.js";
import { meterRecordFromJson, meterRecordToJson } from "./meterRecord.js";
import { genesisChainState } from "./meterRecordChain.js";
import { meterRecordMessage, NO_REGISTER_FLAG } from "./meterRecordTypedData.js";
import { sampleWindow, TEST_BINDING } from "./sampleMeterRecords.js";

const base = { binding: TEST_BINDING, chain: genesisChainState(), clock: "synchronised" as const };

describe("buildMeterRecord", () => {
  test("default: the billed channel with its registers, other channels as extras", () => {
    const r = buildMeterRecord(sampleWindow(0), { ...base, channel: "air" });
    expect(r.seq).toBe(0);
    expect(r.prevHash).toBe(`0x${"00".repeat(32)}`);
    expect(r.quantity.value.toFixed()).toBe("12");
    expect(r.quantity.unit).toBe("MTQ");
    expect(r.quantity.basis).toBe("ISO1217-FAD");
    expect([r.register?.start.toFixed(), r.register?.end.toFixed()]).toEqual(["1000", "1012"]);
    expect(
      r.extras?.quantities.map((q) => [q.channel, q.quantity.value.toFixed(), q.quantity.unit]),
    ).toEqual([["energy", "1.25", "KWH"]]);
    expect(r.flags).toEqual({});
    expect(r.quarantined).toBe(0);
  });

  test("args: oee elements and extraChannels none", () => {
    const oee = {
      plannedBusyTimeMs: 900_000,
      actualProductionTimeMs: 600_000,
      produced: { value: dec(10), unit: "C62" },
      good: { value: dec(9), unit: "C62" },
    };
    const r = buildMeterRecord(sampleWindow(1), {
      ...base,
      channel: "air",
      oee,
      extraChannels: "none",
    });
    expect(r.extras).toEqual({ quantities: [], oee });
    expect(
      buildMeterRecord(sampleWindow(1), { ...base, channel: "air", extraChannels: "none" }).extras,
    ).toBeUndefined();
  });

  test("behavior: an unbridged gap sets gap; a bridged one keeps the usage flags", () => {
    const w = sampleWindow(0);
    const gap = {
      kind: "gap" as const,
      machineId: w.machineId,
      start: w.start,
      end: w.end,
      reason: "source.reconnected",
    };
    expect(buildMeterRecord({ ...w, gaps: [gap] }, { ...base, channel: "air" }).flags).toEqual({
      gap: true,
    });
    const bridged: MeterWindow = {
      ...w,
      gaps: [{ ...gap, bridgedBy: "register" }],
      usage: [{ ...w.usage[0]!, flags: { bridged: true } }],
    };
    expect(buildMeterRecord(bridged, { ...base, channel: "air" }).flags).toEqual({ bridged: true });
  });

  test("args: insecureSource marks the billed quantity and every extra with bit 8", () => {
    const plain = buildMeterRecord(sampleWindow(0), { ...base, channel: "air" });
    const r = buildMeterRecord(sampleWindow(0), { ...base, channel: "air", insecureSource: true });
    expect(r.flags).toEqual({ insecureSource: true });
    expect(r.extras?.quantities.map((q) => q.flags)).toEqual([{ insecureSource: true }]);
    const msg = meterRecordMessage(r, () => `0x${"00".repeat(32)}`);
    const plainMsg = meterRecordMessage(plain, () => `0x${"00".repeat(32)}`);
    expect(msg.flags).toBe(1 << 8);
    expect(plainMsg.flags).toBe(0);
    // not confused with noRegister (bit 5) in either direction
    const noRegister = buildMeterRecord(
      { ...sampleWindow(0), usage: [] },
      { ...base, channel: "air", unit: "MTQ", insecureSource: true },
    );
    expect(meterRecordMessage(noRegister, () => `0x${"00".repeat(32)}`).flags).toBe(
      (1 << 8) | NO_REGISTER_FLAG,
    );
    // the JSON form keeps the flag
    const signedLike = { ...r, signer: `0x${"11".repeat(20)}`, signature: `0x${"22".repeat(65)}` };
    const back = meterRecordFromJson(JSON.parse(JSON.stringify(meterRecordToJson(signedLike))));
    expect(back.flags).toEqual({ insecureSource: true });
  });

  test("behavior: a window without usage gives zero with the unchanged register from the chain", () => {
    const w: MeterWindow = { ...sampleWindow(1), usage: [] };
    const r = buildMeterRecord(w, {
      ...base,
      channel: "air",
      unit: "MTQ",
      basis: "ISO1217-FAD",
      chain: {
        seq: 1,
        prevHash: `0x${"11".repeat(32)}`,
        periodEnd: w.start,
        registerEnd: dec("1012"),
      },
    });
    expect(r.quantity.value.toFixed()).toBe("0");
    expect([r.register?.start.toFixed(), r.register?.end.toFixed()]).toEqual(["1012", "1012"]);
    expect(r.extras).toBeUndefined();
  });

  test("args: quantize rounds a rate-derived quantity half-even to 9 decimals", () => {
    const w: MeterWindow = {
      ...sampleWindow(0),
      usage: [
        {
          channel: "air",
          quantity: { value: dec("1.0000000005"), unit: "MTQ" },
          flags: { derivedFromRate: true },
        },
      ],
    };
    expect(() => buildMeterRecord(w, base)).toThrow(/more than 9 decimals/);
    expect(buildMeterRecord(w, { ...base, quantize: true }).quantity.value.toFixed()).toBe("1");
  });

  test("error: a window that does not continue the chain is nonContiguous", () => {
    const w = sampleWindow(2);
    const e = (() => {
      try {
        return buildMeterRecord(w, {
          ...base,
          channel: "air",
          chain: { seq: 1, prevHash: `0x${"11".repeat(32)}`, periodEnd: sampleWindow(0).end },
        });
      } catch (err) {
        return err;
      }
    })();
    expect(isMaaskitError(e, "metering.record.nonContiguous")).toBe(true);
  });

  test("error: ambiguous channel and missing unit are reported together", () => {
    const w: MeterWindow = { ...sampleWindow(0), usage: [] };
    expect(() => buildMeterRecord(sampleWindow(0), base)).toThrow(/channel must be given/);
    const err = (() => {
      try {
        return buildMeterRecord(w, base);
      } catch (e) {
        return e;
      }
    })();
    expect(isMaaskitError(err, "metering.record.invalidInput")).toBe(true);
    expect(
      (err as { details: { problems: { field: string }[] } }).details.problems.map((p) => p.field),
    ).toEqual(["channel", "unit"]);
  });
});
