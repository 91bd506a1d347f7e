import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  completedNodes,
  consistencyPath,
  consistencyPathOf,
  inclusionPath,
  inclusionPathOf,
  merkleLeafHash,
  merkleRoot,
  nodeKey,
  rightEdge,
  type TreeNode,
  withNodes,
} from "./merkle.js";
import vectors from "./merkle.vectors.json" with { type: "json" };

const leaf = (i: number) => merkleLeafHash(Buffer.from(`leaf ${i}`));

/**
 * A node store built as the ledger builds it: leaves appended in `batches`, each batch
 * completing subtrees from the previous tree's right edge only. Returns the store and how
 * many nodes each root or proof read from it.
 */
function grow(batches: readonly number[]) {
  const leaves: string[] = [];
  const store = new Map<string, string>();
  for (const b of batches) {
    const size0 = leaves.length;
    const added = Array.from({ length: b }, (_, k) => leaf(size0 + k));
    const peaks = new Map<string, string>();
    for (const n of rightEdge(size0)) {
      const h = n.level === 0 ? leaves[n.index] : store.get(nodeKey(n));
      if (h === undefined) throw new Error(`peak ${nodeKey(n)} not stored`);
      peaks.set(nodeKey(n), h);
    }
    for (const [k, h] of completedNodes(size0, added, peaks)) {
      expect(store.has(k), `node ${k} written twice`).toBe(false);
      store.set(k, h);
    }
    leaves.push(...added);
  }
  let reads = 0;
  const load = async (wanted: readonly TreeNode[]) => {
    reads = wanted.length;
    return new Map(
      wanted.map((n) => [nodeKey(n), n.level === 0 ? leaves[n.index]! : store.get(nodeKey(n))!]),
    );
  };
  return { leaves, store, load, reads: () => reads };
}

describe("Merkle tree from stored complete subtrees (O(log n) per root or proof)", () => {
  it("gives the transparency-dev vectors' roots and proofs from nodes, as from every leaf", async () => {
    const hashes = vectors.leaves.map((hex) => merkleLeafHash(Buffer.from(hex, "hex")));
    const store = new Map<string, string>(completedNodes(0, hashes, new Map()));
    const load = async (wanted: readonly TreeNode[]) =>
      new Map(
        wanted.map((n) => [nodeKey(n), n.level === 0 ? hashes[n.index]! : store.get(nodeKey(n))!]),
      );
    for (let n = 0; n <= hashes.length; n++) {
      expect(await withNodes((sub) => sub(0, n), load)).toBe(vectors.roots[n]);
    }
    for (const v of vectors.inclusion) {
      expect(await withNodes((sub) => inclusionPathOf(v.size, v.index, sub), load)).toEqual(v.path);
    }
    for (const v of vectors.consistency) {
      expect(await withNodes((sub) => consistencyPathOf(v.size1, v.size2, sub), load)).toEqual(
        v.path,
      );
    }
  });

  test.prop([fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 8 })], {
    numRuns: 25,
  })("built in any batches, roots and every proof equal the leaf-based ones", async (batches) => {
    const t = grow(batches);
    const n = t.leaves.length;
    expect(await withNodes((sub) => sub(0, n), t.load)).toBe(merkleRoot(t.leaves));
    for (let m = 0; m < n; m++) {
      expect(await withNodes((sub) => inclusionPathOf(n, m, sub), t.load)).toEqual(
        inclusionPath(t.leaves, m),
      );
    }
    for (let s = 0; s <= n; s++) {
      expect(await withNodes((sub) => consistencyPathOf(s, n, sub), t.load)).toEqual(
        consistencyPath(t.leaves, s),
      );
    }
  });

  it("reads O(log n) nodes for a root or a proof, whatever n", async () => {
    const t = grow([1000, 3000, 1, 191]); // 4,192 leaves
    const n = t.leaves.length;
    const log = Math.ceil(Math.log2(n));
    await withNodes((sub) => sub(0, n), t.load);
    expect(t.reads()).toBeLessThanOrEqual(log);
    for (const m of [0, 1, 2047, 4095, 4096, n - 1]) {
      await withNodes((sub) => inclusionPathOf(n, m, sub), t.load);
      expect(t.reads(), `leaf ${m}`).toBeLessThanOrEqual(2 * log);
    }
    await withNodes((sub) => consistencyPathOf(1000, n, sub), t.load);
    expect(t.reads()).toBeLessThanOrEqual(2 * log);
    // each complete subtree is stored once: n − popcount(n) interior nodes
    expect(t.store.size).toBe(n - n.toString(2).replace(/0/g, "").length);
  });

  it("refuses to build on a right edge it was not given", () => {
    expect(() => completedNodes(3, [leaf(3)], new Map())).toThrow(RangeError);
  });
});
