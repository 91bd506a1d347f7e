import { fc, test as fcTest } from "@fast-check/vitest";
import { hexlify } from "ethers";
import { describe, expect, test } from "vitest";
import { appendCallNote, readCallNote } from "./evmCallNote.js";

describe("evmCallNote", () => {
  test("default: a note appended to calldata reads back, with the calldata unchanged", () => {
    const data = "0xa9059cbb0000000000000000000000000000000000000000000000000000000000000001";
    const note = { v: 1, at: "2025-01-01T00:00:00.000Z", r: { ch: "air" } } as const;
    const framed = appendCallNote(data, note);
    // utf8(JSON) ‖ 4-byte length ‖ "mkn1": the ABI part stays a prefix.
    expect(framed.startsWith(data)).toBe(true);
    expect(framed.endsWith("6d6b6e31")).toBe(true);
    expect(readCallNote(framed)).toEqual({ data, note });
  });

  test("behavior: calldata without a note reads as itself with no note", () => {
    const data = `0x12345678${"00".repeat(64)}`;
    expect(readCallNote(data)).toEqual({ data, note: undefined });
    expect(readCallNote("0x")).toEqual({ data: "0x", note: undefined });
  });

  test("behavior: a frame whose length or JSON is wrong is no note", () => {
    const bad = `0x12345678${hexlify(new TextEncoder().encode("{no json")).slice(2)}000000086d6b6e31`;
    expect(readCallNote(bad).note).toBeUndefined();
    const tooLong = `0x12345678ffffffff6d6b6e31`;
    expect(readCallNote(tooLong).note).toBeUndefined();
  });

  fcTest.prop([
    fc.uint8Array({ minLength: 4, maxLength: 200 }),
    fc.string(),
    fc.array(fc.option(fc.string(), { nil: null })),
  ])("behavior: any calldata and note round-trip", (bytes, ch, x) => {
    const data = hexlify(bytes);
    const note = { v: 1 as const, at: "2025-01-01T00:00:00.000Z", r: { ch, x } };
    expect(readCallNote(appendCallNote(data, note))).toEqual({ data, note });
  });
});
