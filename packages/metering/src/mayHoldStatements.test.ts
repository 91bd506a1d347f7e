import { describe, expect, it } from "vitest";
import { mayHoldStatements } from "./verifyExport.js";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("mayHoldStatements (bytes, browser-safe: no Buffer)", () => {
  it.each([
    ["at the start", '{"kind":"periodStatement"}', true],
    ["at the very end", '{"kind":"x"}\nperiodStatement', true],
    ["after a near miss", "periodStatemenperiodStatement", true],
    ["only a prefix", '{"kind":"periodStatemen"}', false],
    ["absent", '{"kind":"meterRecord"}\n', false],
    ["empty", "", false],
  ])("%s", (_name, text, expected) => {
    expect(mayHoldStatements(bytes(text))).toBe(expected);
    expect(mayHoldStatements(text)).toBe(expected);
    // a view into a larger buffer reads only its own bytes
    const padded = bytes(`periodStatement${text}`);
    expect(mayHoldStatements(padded.subarray(15))).toBe(expected);
  });
});
