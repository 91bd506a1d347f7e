import { fc, test } from "@fast-check/vitest";
import { Decimal } from "decimal.js";
import { describe, expect } from "vitest";
import { canonicalJson, writeCanonicalJson } from "./canonicalJson.js";
import { isMaaskitError } from "./errors.js";
import { canonicalJson as journalCanonicalJson } from "./journal/canonicalJson.js";
import { canonicalJsonLogV1 } from "./log/signedLog.js";

/** An IEEE 754 double from its 16 hex digits (RFC 8785 Appendix B writes them so). */
function double(hex: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${hex}`));
  return view.getFloat64(0);
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isMaaskitError(err) ? err.code : "not a MaaskitError";
  }
  return undefined;
}

describe("canonicalJson (RFC 8785)", () => {
  test("default: the RFC's §3.2.4 example gives the RFC's bytes", () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        ' "literals": [null, true, false]}',
    );
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
  });

  test("default: members sort by UTF-16 code units (the RFC's §3.2.3 example)", () => {
    const input = JSON.parse(
      '{"\\u20ac": "Euro Sign", "\\r": "Carriage Return", "\\ufb33": "Hebrew Letter Dalet With Dagesh",' +
        ' "1": "One", "\\ud83d\\ude00": "Emoji: Grinning Face", "\\u0080": "Control",' +
        ' "\\u00f6": "Latin Small Letter O With Diaeresis"}',
    );
    // Read the member order from the text: JSON.parse would put the integer-like "1" first.
    const text = canonicalJson(input);
    const names = [...text.matchAll(/:"([^"]*)"/g)].map((m) => m[1]);
    expect(names).toEqual([
      "Carriage Return",
      "One",
      "Control",
      "Latin Small Letter O With Diaeresis",
      "Euro Sign",
      "Emoji: Grinning Face",
      "Hebrew Letter Dalet With Dagesh",
    ]);
    // The emoji's high surrogate (U+D83D) sorts before U+FB33 though its code point is higher.
    expect(canonicalJson({ "\ufb33": 1, "😀": 2 })).toBe('{"😀":2,"דּ":1}');
  });

  test.each([
    ["0000000000000000", "0"],
    ["8000000000000000", "0"],
    ["0000000000000001", "5e-324"],
    ["8000000000000001", "-5e-324"],
    ["7fefffffffffffff", "1.7976931348623157e+308"],
    ["ffefffffffffffff", "-1.7976931348623157e+308"],
    ["4340000000000000", "9007199254740992"],
    ["c340000000000000", "-9007199254740992"],
    ["4430000000000000", "295147905179352830000"],
    ["44b52d02c7e14af5", "9.999999999999997e+22"],
    ["44b52d02c7e14af6", "1e+23"],
    ["44b52d02c7e14af7", "1.0000000000000001e+23"],
    ["444b1ae4d6e2ef4e", "999999999999999700000"],
    ["444b1ae4d6e2ef4f", "999999999999999900000"],
    ["444b1ae4d6e2ef50", "1e+21"],
    ["3eb0c6f7a0b5ed8c", "9.999999999999997e-7"],
    ["3eb0c6f7a0b5ed8d", "0.000001"],
    ["41b3de4355555553", "333333333.3333332"],
    ["41b3de4355555554", "333333333.33333325"],
    ["41b3de4355555555", "333333333.3333333"],
    ["41b3de4355555556", "333333333.3333334"],
    ["41b3de4355555557", "333333333.33333343"],
    ["becbf647612f3696", "-0.0000033333333333333333"],
    ["43143ff3c1cb0959", "1424953923781206.2"],
  ])("default: the double %s is written %s (RFC 8785 Appendix B)", (hex, text) => {
    expect(canonicalJson(double(hex))).toBe(text);
    expect(canonicalJson([double(hex)])).toBe(`[${text}]`);
  });

  test.each([
    ["7fffffffffffffff", "NaN"],
    ["7ff0000000000000", "Infinity"],
  ])("error: the double %s (%s) is metering.json.notCanonical", (hex) => {
    expect(codeOf(() => canonicalJson({ x: double(hex) }))).toBe("metering.json.notCanonical");
  });

  test("error: what is not JSON is refused with its path, nothing dropped silently", () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (const bad of [
      { a: [1, "\ud800"] },
      { a: "x\udc00" },
      { n: 1n },
      { f: () => 1 },
      { s: Symbol("s") },
      { m: new Map([["k", 1]]) },
      cyclic,
    ]) {
      expect(codeOf(() => canonicalJson(bad))).toBe("metering.json.notCanonical");
    }
    try {
      canonicalJson({ a: [{ b: Number.NaN }] });
    } catch (err) {
      expect(isMaaskitError(err) && err.details.path).toBe("$.a[0].b");
    }
  });

  test("behavior: Date and Decimal are written as their toJSON; undefined members are omitted", () => {
    expect(
      canonicalJson({ at: new Date("2025-01-01T00:00:00Z"), v: new Decimal("1.50"), u: undefined }),
    ).toBe('{"at":"2025-01-01T00:00:00.000Z","v":"1.5"}');
    expect(canonicalJson([undefined, 1])).toBe("[null,1]");
    // A surrogate pair is one character: kept as itself.
    expect(canonicalJson("😀")).toBe('"😀"');
  });

  test.prop([fc.jsonValue()])(
    "behavior: parse(canonical(v)) is canonical again and equal bytes for equal values",
    (v) => {
      const text = canonicalJson(v);
      expect(canonicalJson(JSON.parse(text))).toBe(text);
      expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(v)));
    },
  );

  test.prop([fc.jsonValue()])(
    "behavior: on JSON values the journal's and the signed log's rules give the RFC 8785 bytes",
    (v) => {
      const text = canonicalJson(v);
      expect(journalCanonicalJson(v)).toBe(text);
      expect(canonicalJsonLogV1(v)).toBe(text);
    },
  );

  test("behavior: the named older rules differ only where they were specified to", () => {
    // Signed log v1: bigints as decimal strings, unpaired surrogates escaped (entries keep verifying).
    expect(canonicalJsonLogV1({ n: 12n, s: "\ud800" })).toBe('{"n":"12","s":"\\ud800"}');
    expect(codeOf(() => canonicalJsonLogV1({ x: Number.POSITIVE_INFINITY }))).toBe(
      "metering.log.notCanonical",
    );
    // Journal: plain JSON only; a Date is refused, not converted.
    expect(codeOf(() => journalCanonicalJson({ at: new Date(0) }))).toBe(
      "metering.journal.invalidConfig",
    );
    expect(writeCanonicalJson({ s: "\udc00" }, { loneSurrogates: "escape" })).toBe(
      '{"s":"\\udc00"}',
    );
  });
});
