import { describe, expect, it } from "vitest";
import { Dec } from "../quantity.js";
import type { GapEvent, MeterEvent, Reading } from "../reading.js";
import { opcUaGaps } from "./opcUaGaps.js";

// fromOpcUa's gap logic without a server (the reconnects themselves are tested against a
// real server in test/opcua.test.ts).
const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
const reading = (s: number, channel = "flow"): Reading => ({
  kind: "reading",
  machineId: "c1",
  channel,
  value: new Dec(s),
  quality: "good",
  statusCode: 0,
  sourceTime: t(s),
});

function harness(maxHeld = 100) {
  const out: MeterEvent[] = [];
  const gaps = opcUaGaps({
    machineId: "c1",
    endpointUrl: "opc.tcp://127.0.0.1:4840",
    maxHeld,
    next: (e) => out.push(e),
  });
  return { out, gaps };
}
/** Readings at `before` seconds while connected, then at `during` while a repair holds them. */
function lostAfter(before: number[], during: number[], maxHeld?: number) {
  const h = harness(maxHeld);
  for (const s of before) h.gaps.emit(reading(s));
  h.gaps.hold();
  for (const s of during) h.gaps.emit(reading(s));
  return h;
}
const kinds = (out: MeterEvent[]) =>
  out.map((e) => (e.kind === "reading" ? `r${e.sourceTime.getUTCSeconds()}` : e.kind));

describe("fromOpcUa gaps", () => {
  it("passes readings through in arrival order while connected", () => {
    const { out, gaps } = harness();
    for (const s of [1, 3, 2]) gaps.emit(reading(s));
    expect(kinds(out)).toEqual(["r1", "r3", "r2"]);
    expect(gaps.holding).toBe(false);
  });

  it("a surviving subscription: the held notifications in sourceTime order, the gap before the first reading", () => {
    const { out, gaps } = lostAfter([5], [9, 7]);
    expect(kinds(out)).toEqual(["r5"]);
    gaps.resume("source.reconnected");
    expect(kinds(out)).toEqual(["r5", "gap", "r7", "r9"]);
    expect(out[1]).toMatchObject({ reason: "source.reconnected", start: t(5), end: t(7) });
    expect(gaps.holding).toBe(false);
  });

  it("a recreated subscription: one gap bridged by the re-read registers, then everything in order", () => {
    const { out, gaps } = lostAfter([5], [9]);
    gaps.bridge("source.serverRestarted", [reading(8, "volume")], true);
    expect(kinds(out)).toEqual(["r5", "gap", "r8", "r9"]);
    expect(out[1]).toMatchObject({
      reason: "source.serverRestarted",
      start: t(5),
      end: t(8),
      bridgedBy: "register",
    });
  });

  it("attack: a flood during a repair is bounded — what is not kept is a source.overflow gap, never a silent loss", () => {
    const { out, gaps } = lostAfter([1], [10, 11, 12, 14, 13, 20], 3);
    gaps.resume("source.reconnected");
    expect(kinds(out)).toEqual(["r1", "gap", "r10", "r11", "r12", "gap"]);
    const overflow = out[5] as GapEvent;
    expect(overflow).toMatchObject({ reason: "source.overflow", start: t(13), end: t(20) });
    expect(overflow.detail).toMatch(/^3 OPC UA notification\(s\) .* beyond the 3 held/);
    // the bound starts over with the next repair
    gaps.hold();
    gaps.emit(reading(30));
    gaps.bridge("source.subscriptionRecreated", [], false);
    expect(kinds(out).slice(6)).toEqual(["gap", "r30"]);
    expect(out[6]).not.toHaveProperty("bridgedBy");
  });
});
