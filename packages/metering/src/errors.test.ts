import { describe, expect, test, vi } from "vitest";
import { isMaaskitError, MaaskitError } from "./errors.js";

/** A second, independent copy of errors.ts, as a bundle or a duplicate install would load it. */
async function secondCopy(): Promise<typeof import("./errors.js")> {
  vi.resetModules();
  const copy = await import("./errors.js");
  expect(copy.MaaskitError).not.toBe(MaaskitError);
  return copy;
}

class OtherError extends MaaskitError<"test.other"> {
  override name = "OtherError";
}

describe("MaaskitError identity", () => {
  test("default: an error from another copy is a MaaskitError here, and ours is one there", async () => {
    const copy = await secondCopy();
    const theirs = new copy.MaaskitError("test.copy", "from the other copy");
    expect(theirs instanceof MaaskitError).toBe(true);
    expect(isMaaskitError(theirs, "test.copy")).toBe(true);
    expect(isMaaskitError(theirs, "test.")).toBe(true);
    const ours = new MaaskitError("test.ours", "from this copy");
    expect(ours instanceof copy.MaaskitError).toBe(true);
    expect(copy.isMaaskitError(ours, "test.ours")).toBe(true);
  });

  test("behavior: a subclass instance is a MaaskitError; instanceof a subclass stays a prototype check", () => {
    const other = new OtherError("test.other", "sub");
    expect(other instanceof MaaskitError).toBe(true);
    expect(other instanceof OtherError).toBe(true);
    expect(new MaaskitError("test.base", "base") instanceof OtherError).toBe(false);
    expect(isMaaskitError(other, "test.other")).toBe(true);
  });

  test("error: plain errors, look-alikes without the brand and non-objects are not MaaskitErrors", () => {
    const lookalike = Object.assign(new Error("x"), { code: "test.fake", name: "MaaskitError" });
    for (const v of [lookalike, new Error("x"), null, undefined, "test.fake", 42, {}]) {
      expect(v instanceof MaaskitError).toBe(false);
      expect(isMaaskitError(v)).toBe(false);
    }
  });

  test("error: a branded object whose code is not a string is rejected", () => {
    const forged = { [Symbol.for("maaskit.error")]: true, code: 7 };
    expect(isMaaskitError(forged)).toBe(false);
  });

  test("behavior: the brand is not an own enumerable property (JSON and spreads are unchanged)", () => {
    const e = new MaaskitError("test.json", "json", { details: { a: 1 } });
    expect(Object.keys(e)).not.toContain(Symbol.for("maaskit.error").toString());
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      name: "MaaskitError",
      code: "test.json",
      message: "json",
      details: { a: 1 },
    });
  });
});
