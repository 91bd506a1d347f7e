import { createHash } from "node:crypto";
import { fc, test } from "@fast-check/vitest";
import { Wallet } from "ethers/wallet";
import { describe, expect, it } from "vitest";
import {
  type Checkpoint,
  checkpointMessage,
  verifyCheckpoint,
  verifyConsistencyProof,
  verifyProof,
} from "./checkpoint.js";
import {
  consistencyPath,
  EMPTY_ROOT,
  inclusionPath,
  merkleLeafHash,
  merkleNodeHash,
  merkleRoot,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.js";
import vectors from "./merkle.vectors.json" with { type: "json" };

const leafHashes = vectors.leaves.map((hex) => merkleLeafHash(Buffer.from(hex, "hex")));
const sha = (...parts: Buffer[]) => createHash("sha256").update(Buffer.concat(parts)).digest("hex");
const flip = (h: string) => (Number.parseInt(h[0]!, 16) ^ 8).toString(16) + h.slice(1);

describe("RFC 9162 Merkle tree (transparency-dev/merkle vectors)", () => {
  it("hashes the leaves and gives the known root of every tree size 0..8", () => {
    expect(leafHashes).toEqual(vectors.leafHashes);
    expect(EMPTY_ROOT).toBe(vectors.roots[0]);
    for (let n = 0; n <= 8; n++)
      expect(merkleRoot(leafHashes.slice(0, n)), `size ${n}`).toBe(vectors.roots[n]);
  });

  it("matches a three-leaf tree computed by hand from the RFC's definition", () => {
    const l = ["a", "b", "c"].map((s) => sha(Buffer.of(0), Buffer.from(s)));
    const ab = sha(Buffer.of(1), Buffer.from(l[0]!, "hex"), Buffer.from(l[1]!, "hex"));
    const root = sha(Buffer.of(1), Buffer.from(ab, "hex"), Buffer.from(l[2]!, "hex"));
    expect(merkleRoot(l)).toBe(root);
    expect(merkleNodeHash(l[0]!, l[1]!)).toBe(ab);
    expect(inclusionPath(l, 2)).toEqual([ab]);
    expect(inclusionPath(l, 0)).toEqual([l[1], l[2]]);
    expect(consistencyPath(l, 2)).toEqual([l[2]]);
  });

  it("gives and verifies the known inclusion proofs; every corruption fails", () => {
    for (const v of vectors.inclusion) {
      const leaves = leafHashes.slice(0, v.size);
      const root = vectors.roots[v.size]!;
      const leaf = leafHashes[v.index]!;
      expect(inclusionPath(leaves, v.index)).toEqual(v.path);
      expect(verifyInclusion(leaf, v.index, v.size, v.path, root)).toBe(true);
      type Probe = [string, number, number, string[], string];
      const probes: Probe[] = [
        [leaf, v.index - 1, v.size, v.path, root],
        [leaf, v.index + 1, v.size, v.path, root],
        [leaf, v.index ^ 2, v.size, v.path, root],
        [leaf, v.index, v.size * 2, v.path, root],
        [leaf, v.index, Math.floor(v.size / 2), v.path, root],
        [vectors.roots[0]!, v.index, v.size, v.path, root],
        [leaf, v.index, v.size, v.path, vectors.roots[0]!],
        [leaf, v.index, v.size, [...v.path, root], root],
        [leaf, v.index, v.size, [root, ...v.path], root],
        ...v.path.map(
          (_, i): Probe => [
            leaf,
            v.index,
            v.size,
            v.path.map((h, j) => (j === i ? flip(h) : h)),
            root,
          ],
        ),
      ];
      if (v.path.length > 0) probes.push([leaf, v.index, v.size, v.path.slice(0, -1), root]);
      // The unaltered probe passes, so each failure below is the alteration's.
      expect(verifyInclusion(leaf, v.index, v.size, v.path, root)).toBe(true);
      for (const p of probes) expect(verifyInclusion(...p), JSON.stringify(p)).toBe(false);
    }
  });

  it("gives and verifies the known consistency proofs; every corruption fails", () => {
    for (const v of vectors.consistency) {
      const r1 = vectors.roots[v.size1]!;
      const r2 = vectors.roots[v.size2]!;
      expect(consistencyPath(leafHashes.slice(0, v.size2), v.size1)).toEqual(v.path);
      expect(verifyConsistency(v.size1, v.size2, v.path, r1, r2)).toBe(true);
      if (v.path.length === 0) continue;
      const probes: [number, number, string[], string, string][] = [
        [v.size1 - 1, v.size2, v.path, r1, r2],
        [v.size1 + 1, v.size2, v.path, r1, r2],
        [v.size1 ^ 2, v.size2, v.path, r1, r2],
        [v.size1, v.size2 * 2, v.path, r1, r2],
        [v.size1, Math.floor(v.size2 / 2), v.path, r1, r2],
        [v.size1, v.size2, v.path, r2, r1],
        [v.size1, v.size2, [], r1, r2],
        [v.size1, v.size2, [...v.path, r1], r1, r2],
        [v.size1, v.size2, [r2, ...v.path], r1, r2],
        [v.size1, v.size2, [v.path[0]!, ...v.path], r1, r2],
        [v.size1, v.size2, v.path.slice(0, -1), r1, r2],
        ...v.path.map((_, i): [number, number, string[], string, string] => [
          v.size1,
          v.size2,
          v.path.map((h, j) => (j === i ? flip(h) : h)),
          r1,
          r2,
        ]),
      ];
      for (const p of probes) expect(verifyConsistency(...p), JSON.stringify(p)).toBe(false);
    }
    // Sizes that are always consistent, and time travel.
    expect(verifyConsistency(0, 5, [], EMPTY_ROOT, vectors.roots[5]!)).toBe(true);
    expect(verifyConsistency(2, 1, [], vectors.roots[2]!, vectors.roots[1]!)).toBe(false);
    expect(verifyConsistency(1, 1, [EMPTY_ROOT], vectors.roots[1]!, vectors.roots[1]!)).toBe(false);
  });

  test.prop([fc.integer({ min: 1, max: 70 }), fc.nat(), fc.nat()])(
    "every proof of any tree verifies, and a flipped bit does not",
    (n, a, b) => {
      const leaves = Array.from({ length: n }, (_, i) => merkleLeafHash(Buffer.from(`leaf ${i}`)));
      const root = merkleRoot(leaves);
      const i = a % n;
      const path = inclusionPath(leaves, i);
      expect(path.length).toBeLessThanOrEqual(Math.ceil(Math.log2(n)));
      expect(verifyInclusion(leaves[i]!, i, n, path, root)).toBe(true);
      expect(verifyInclusion(flip(leaves[i]!), i, n, path, root)).toBe(false);
      const m = 1 + (b % n);
      const c = consistencyPath(leaves, m);
      expect(verifyConsistency(m, n, c, merkleRoot(leaves, 0, m), root)).toBe(true);
      if (m < n)
        expect(verifyConsistency(m, n, c, flip(merkleRoot(leaves, 0, m)), root)).toBe(false);
    },
  );
});

describe("checkpoints and proofs, checked with no database", () => {
  const operator = new Wallet(`0x${"5".repeat(64)}`);
  const body = (i: number) => JSON.stringify({ v: 1, entry: i });
  const entryHashes = Array.from({ length: 11 }, (_, i) =>
    createHash("sha256").update(body(i)).digest("hex"),
  );
  const leaves = entryHashes.map((h) => merkleLeafHash(Buffer.from(h, "hex")));

  async function sign(size: number): Promise<Checkpoint> {
    const unsigned = {
      treeSize: size,
      rootHash: merkleRoot(leaves, 0, size),
      timestamp: "2025-01-01T00:00:00.000Z",
    };
    return {
      ...unsigned,
      signer: operator.address,
      signature: await operator.signMessage(checkpointMessage(unsigned)),
    };
  }

  it("accepts the operator's checkpoint and refuses one altered or signed by another key", async () => {
    const cp = await sign(11);
    expect(verifyCheckpoint(cp, operator.address.toLowerCase())).toBe(true);
    expect(verifyCheckpoint({ ...cp, rootHash: flip(cp.rootHash) }, operator.address)).toBe(false);
    expect(
      verifyCheckpoint({ ...cp, timestamp: "2025-01-01T00:00:01.000Z" }, operator.address),
    ).toBe(false);
    const stranger = new Wallet(`0x${"6".repeat(64)}`);
    const forged = {
      ...cp,
      signer: stranger.address,
      signature: await stranger.signMessage(checkpointMessage(cp)),
    };
    expect(verifyCheckpoint(forged, operator.address)).toBe(false);
    expect(verifyCheckpoint({ ...cp, signature: "0x00" }, operator.address)).toBe(false);
  });

  it("proves an entry's body in a checkpoint, and two checkpoints consistent", async () => {
    const cp7 = await sign(7);
    const cp11 = await sign(11);
    for (let i = 0; i < 7; i++) {
      const proof = {
        entryId: i + 1,
        leafIndex: i,
        treeSize: 7,
        entryBody: body(i),
        entryHash: entryHashes[i]!,
        path: inclusionPath(leaves.slice(0, 7), i),
      };
      expect(verifyProof(proof, cp7)).toBe(true);
      expect(verifyProof({ ...proof, entryBody: body(i + 1) }, cp7)).toBe(false);
      expect(verifyProof(proof, cp11)).toBe(false);
    }
    const c = { size1: 7, size2: 11, path: consistencyPath(leaves, 7) };
    expect(verifyConsistencyProof(c, cp7, cp11)).toBe(true);
    expect(verifyConsistencyProof(c, cp11, cp7)).toBe(false);
    // A history rewritten before checkpoint 7 cannot be shown consistent with it.
    const rewritten = [merkleLeafHash(Buffer.from("forged")), ...leaves.slice(1)];
    const c2 = { size1: 7, size2: 11, path: consistencyPath(rewritten, 7) };
    expect(verifyConsistencyProof(c2, cp7, { ...cp11, rootHash: merkleRoot(rewritten) })).toBe(
      false,
    );
  });
});
