import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, test } from "vitest";
import { SeqRanges } from "./seqRanges.js";

describe("SeqRanges", () => {
  fcTest.prop([fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 80 })])(
    "behavior: answers has() exactly as a set of the added seqs would",
    (seqs) => {
      const ranges = new SeqRanges();
      const set = new Set<number>();
      for (const s of seqs) {
        ranges.add(s);
        set.add(s);
        for (let q = -1; q <= 62; q++) expect(ranges.has(q)).toBe(set.has(q));
      }
    },
  );

  test("behavior: a gapless chain of any length is held as one range", () => {
    const ranges = new SeqRanges();
    for (let s = 0; s < 100_000; s++) ranges.add(s);
    expect(ranges.size).toBe(1);
    expect(ranges.has(99_999)).toBe(true);
    expect(ranges.has(100_000)).toBe(false);
  });
});
