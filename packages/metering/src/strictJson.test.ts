import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { isMaaskitError } from "./errors.js";
import { parseStrictJson } from "./strictJson.js";

const codeOf = (text: string) => {
  try {
    parseStrictJson(text);
    return "ok";
  } catch (err) {
    return isMaaskitError(err) ? err.code : "untyped";
  }
};

describe("parseStrictJson", () => {
  test.prop([fc.jsonValue()])(
    "behavior: whatever JSON.stringify writes parses to what JSON.parse gives",
    (value) => {
      const text = JSON.stringify(value);
      expect(parseStrictJson(text)).toEqual(JSON.parse(text));
    },
  );

  test.prop([fc.dictionary(fc.string(), fc.jsonValue(), { minKeys: 1 }), fc.jsonValue()])(
    "error: a member named twice in one object, at any depth, is a duplicateKey",
    (object, other) => {
      const [name] = Object.keys(object);
      // A replacer function: a name such as "$&" must not be read as a replacement pattern.
      const inner = JSON.stringify(object).replace(
        /}$/,
        () => `,${JSON.stringify(name)}:${JSON.stringify(other)}}`,
      );
      expect(codeOf(inner)).toBe("metering.json.duplicateKey");
      expect(codeOf(`{"outer":[1,${inner}]}`)).toBe("metering.json.duplicateKey");
    },
  );

  test("error: a duplicate whose name holds replacement-pattern characters (fast-check seed 837161522)", () => {
    expect(codeOf('{"$&":[],"":{},"$&":[]}')).toBe("metering.json.duplicateKey");
  });

  test("behavior: the same name in sibling or nested objects is not a duplicate; escapes are decoded", () => {
    expect(codeOf('{"a":{"a":1},"b":[{"a":2},{"a":3}]}')).toBe("ok");
    expect(codeOf('{"a\\"b":1,"c":"}\\\\","d":"{\\"a\\":1,\\"a\\":2}"}')).toBe("ok");
    expect(codeOf('{"\\u0061":1,"a":2}')).toBe("metering.json.duplicateKey");
  });

  test("error: numbers not written as JSON.stringify writes them, and invalid JSON", () => {
    for (const n of ["1.0", "1e0", "-0", "0.10", "1E2", "100e-2"]) {
      expect(codeOf(`{"seq":${n}}`)).toBe("metering.json.nonCanonicalNumber");
    }
    for (const n of ["0", "-1", "2.5", "1e+21", "123456"]) expect(codeOf(`[${n}]`)).toBe("ok");
    expect(codeOf("{")).toBe("metering.json.invalid");
    expect(codeOf("{'a':1}")).toBe("metering.json.invalid");
  });
});
