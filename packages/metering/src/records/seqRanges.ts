/**
 * The seqs a chain verifier has seen, as sorted disjoint inclusive ranges: a gapless chain
 * of any length is one range, so a verifier streaming a million records holds two numbers,
 * not a million.
 */
export class SeqRanges {
  /** [lo, hi] pairs, sorted, disjoint and not adjacent. */
  private readonly ranges: [number, number][] = [];

  has(seq: number): boolean {
    const r = this.ranges;
    let lo = 0;
    let hi = r.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const [a, b] = r[mid]!;
      if (seq < a) hi = mid - 1;
      else if (seq > b) lo = mid + 1;
      else return true;
    }
    return false;
  }

  add(seq: number): void {
    const r = this.ranges;
    const last = r[r.length - 1];
    // The common case: the next seq of the chain.
    if (last !== undefined && seq === last[1] + 1) {
      last[1] = seq;
      return;
    }
    if (last === undefined || seq > last[1] + 1) {
      r.push([seq, seq]);
      return;
    }
    if (this.has(seq)) return;
    // Insert before the first range that starts after seq, merging neighbours.
    let i = 0;
    while (i < r.length && r[i]![0] < seq) i++;
    const before = r[i - 1];
    const after = r[i];
    if (before !== undefined && before[1] + 1 === seq) {
      before[1] = seq;
      if (after !== undefined && after[0] === seq + 1) {
        before[1] = after[1];
        r.splice(i, 1);
      }
    } else if (after !== undefined && after[0] === seq + 1) after[0] = seq;
    else r.splice(i, 0, [seq, seq]);
  }

  /** How many ranges are held (a gapless chain: 1). */
  get size(): number {
    return this.ranges.length;
  }
}
