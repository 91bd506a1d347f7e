/**
 * A set of integers kept as sorted, disjoint, non-adjacent closed ranges `[from, to]`:
 * acknowledgements arrive as single seqs or ranges and mostly extend one range.
 * @internal
 */
export class IntervalSet {
  private ranges: Array<[number, number]> = [];

  constructor(ranges: ReadonlyArray<readonly [number, number]> = []) {
    for (const [a, b] of ranges) this.add(a, b);
  }

  add(from: number, to: number): void {
    const out: Array<[number, number]> = [];
    let a = from;
    let b = to;
    let placed = false;
    for (const r of this.ranges) {
      if (r[1] < a - 1) out.push(r);
      else if (r[0] > b + 1) {
        if (!placed) {
          out.push([a, b]);
          placed = true;
        }
        out.push(r);
      } else {
        a = Math.min(a, r[0]);
        b = Math.max(b, r[1]);
      }
    }
    if (!placed) out.push([a, b]);
    this.ranges = out;
  }

  has(n: number): boolean {
    for (const [a, b] of this.ranges) {
      if (n < a) return false;
      if (n <= b) return true;
    }
    return false;
  }

  covers(from: number, to: number): boolean {
    return this.ranges.some(([a, b]) => a <= from && to <= b);
  }

  /** How many members lie in `[from, to]`. */
  countIn(from: number, to: number): number {
    let n = 0;
    for (const [a, b] of this.ranges) {
      const lo = Math.max(a, from);
      const hi = Math.min(b, to);
      if (hi >= lo) n += hi - lo + 1;
    }
    return n;
  }

  /** Largest `t >= base` such that every integer in `(base, t]` is a member. */
  contiguousFrom(base: number): number {
    let t = base;
    for (const [a, b] of this.ranges) {
      if (a > t + 1) break;
      if (b > t) t = b;
    }
    return t;
  }

  /** Drops members `<= n`. */
  trimThrough(n: number): void {
    this.ranges = this.ranges
      .filter(([, b]) => b > n)
      .map(([a, b]) => [Math.max(a, n + 1), b] as [number, number]);
  }

  toJSON(): Array<[number, number]> {
    return this.ranges.map(([a, b]) => [a, b]);
  }
}
