import { createHash } from "node:crypto";

/**
 * RFC 9162 (Certificate Transparency v2) Merkle tree hashing, pure: no database, no I/O.
 * Leaf hash = SHA-256(0x00 || leaf), node hash = SHA-256(0x01 || left || right); the tree of
 * n leaves splits at the largest power of two below n (RFC 9162 §2.1.1). Hashes are
 * lower-case hex without a `0x` prefix.
 */

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

/** The RFC 9162 hash of one leaf (its bytes). */
export function merkleLeafHash(leaf: Uint8Array): string {
  return sha256(LEAF, leaf).toString("hex");
}

/** The RFC 9162 hash of an interior node. */
export function merkleNodeHash(left: string, right: string): string {
  return sha256(NODE, hexBytes(left), hexBytes(right)).toString("hex");
}

/** The root of the empty tree: SHA-256 of nothing. */
export const EMPTY_ROOT = sha256().toString("hex");

/** Largest power of two strictly below n (n >= 2). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The root hash over leaf hashes `leaves[from, to)`. */
export function merkleRoot(leaves: readonly string[], from = 0, to = leaves.length): string {
  const n = to - from;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[from]!;
  const k = split(n);
  return merkleNodeHash(merkleRoot(leaves, from, from + k), merkleRoot(leaves, from + k, to));
}

/** The hash of the subtree over leaves `[from, to)`; how it is found is the caller's. */
export type SubtreeHash = (from: number, to: number) => string;

/** The inclusion proof (audit path) of leaf `index` in the tree of `leaves` (RFC 9162 §2.1.3). */
export function inclusionPath(leaves: readonly string[], index: number): string[] {
  return inclusionPathOf(leaves.length, index, (from, to) => merkleRoot(leaves, from, to));
}

/** The inclusion proof of leaf `index` in a tree of `size` leaves, from its subtree hashes. */
export function inclusionPathOf(size: number, index: number, subtree: SubtreeHash): string[] {
  if (!Number.isInteger(index) || index < 0 || index >= size) {
    throw new RangeError(`leaf ${index} is not in a tree of ${size}`);
  }
  const path: string[] = [];
  const walk = (m: number, from: number, to: number): void => {
    const n = to - from;
    if (n <= 1) return;
    const k = split(n);
    if (m < k) {
      walk(m, from, from + k);
      path.push(subtree(from + k, to));
    } else {
      walk(m - k, from + k, to);
      path.push(subtree(from, from + k));
    }
  };
  walk(index, 0, size);
  return path;
}

/** The consistency proof between the first `size1` leaves and all of `leaves` (RFC 9162 §2.1.4). */
export function consistencyPath(leaves: readonly string[], size1: number): string[] {
  return consistencyPathOf(size1, leaves.length, (from, to) => merkleRoot(leaves, from, to));
}

/** The consistency proof between trees of `size1` and `size2` leaves, from subtree hashes. */
export function consistencyPathOf(size1: number, size2: number, subtree: SubtreeHash): string[] {
  if (!Number.isInteger(size1) || size1 < 0 || size1 > size2) {
    throw new RangeError(`size ${size1} is not within a tree of ${size2}`);
  }
  if (size1 === 0 || size1 === size2) return [];
  const path: string[] = [];
  const sub = (m: number, from: number, to: number, whole: boolean): void => {
    const n = to - from;
    if (m === n) {
      if (!whole) path.push(subtree(from, to));
      return;
    }
    const k = split(n);
    if (m <= k) {
      sub(m, from, from + k, whole);
      path.push(subtree(from + k, to));
    } else {
      sub(m - k, from + k, to, false);
      path.push(subtree(from, from + k));
    }
  };
  sub(size1, 0, size2, true);
  return path;
}

/**
 * A complete subtree: the `2^level` leaves from `index · 2^level`. Every subtree of an RFC
 * 9162 tree is one of these or splits into them (its left part always is one), so a store
 * of complete subtrees answers any root or proof from O(log n) of them.
 */
export interface TreeNode {
  readonly level: number;
  readonly index: number;
}

/** The hash of `[from, to)` from complete subtrees, asking `node` for each one it needs. */
export function subtreeFromNodes(from: number, to: number, node: (n: TreeNode) => string): string {
  const n = to - from;
  if (n <= 0) return EMPTY_ROOT;
  if ((n & (n - 1)) === 0 && from % n === 0) {
    return node({ level: Math.log2(n), index: from / n });
  }
  const k = split(n);
  return merkleNodeHash(
    subtreeFromNodes(from, from + k, node),
    subtreeFromNodes(from + k, to, node),
  );
}

/**
 * Runs `compute` (a root or proof built with `subtreeFromNodes`) twice: once to learn which
 * complete subtrees it needs, then with them as `load` fetched them in one go.
 */
export async function withNodes<T>(
  compute: (subtree: SubtreeHash) => T,
  load: (nodes: readonly TreeNode[]) => Promise<ReadonlyMap<string, string>>,
): Promise<T> {
  const wanted = new Map<string, TreeNode>();
  compute((from, to) =>
    subtreeFromNodes(from, to, (n) => {
      wanted.set(nodeKey(n), n);
      return EMPTY_ROOT;
    }),
  );
  const got = await load([...wanted.values()]);
  return compute((from, to) =>
    subtreeFromNodes(from, to, (n) => {
      const h = got.get(nodeKey(n));
      if (h === undefined) throw new RangeError(`Merkle node ${nodeKey(n)} is missing`);
      return h;
    }),
  );
}

/** `level:index`. */
export function nodeKey(n: TreeNode): string {
  return `${n.level}:${n.index}`;
}

/**
 * The complete subtrees (level ≥ 1) that appending leaves `[size0, size0 + added.length)` to
 * a tree of `size0` completes, as `level:index` → hash. `peaks` gives the hashes of the old
 * tree's complete subtrees on its right edge (level:index keys, level 0 = leaf hashes) that
 * the new ones build on; see `rightEdge`.
 */
export function completedNodes(
  size0: number,
  added: readonly string[],
  peaks: ReadonlyMap<string, string>,
): Map<string, string> {
  const size1 = size0 + added.length;
  const known = new Map(peaks);
  for (const [i, h] of added.entries()) known.set(`0:${size0 + i}`, h);
  const out = new Map<string, string>();
  for (let level = 1; 2 ** level <= size1; level++) {
    const w = 2 ** level;
    for (let j = Math.floor(size0 / w); j < Math.floor(size1 / w); j++) {
      const l = known.get(`${level - 1}:${2 * j}`);
      const r = known.get(`${level - 1}:${2 * j + 1}`);
      if (l === undefined || r === undefined) {
        throw new RangeError(`Merkle node ${level}:${j} lacks a child`);
      }
      const h = merkleNodeHash(l, r);
      known.set(`${level}:${j}`, h);
      out.set(`${level}:${j}`, h);
    }
  }
  return out;
}

/** The complete subtrees on the right edge of a tree of `size` (one per set bit of `size`). */
export function rightEdge(size: number): TreeNode[] {
  const out: TreeNode[] = [];
  for (let level = 0; 2 ** level <= size; level++) {
    const index = Math.floor(size / 2 ** level);
    if (index % 2 === 1) out.push({ level, index: index - 1 });
  }
  return out;
}

/**
 * Checks an inclusion proof (RFC 9162 §2.1.3.2): true when `leafHash` at `index` in a tree
 * of `treeSize` leaves, with `path`, gives `rootHash`.
 */
export function verifyInclusion(
  leafHash: string,
  index: number,
  treeSize: number,
  path: readonly string[],
  rootHash: string,
): boolean {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(treeSize)) return false;
  if (index < 0 || index >= treeSize) return false;
  if (![leafHash, rootHash, ...path].every(isHash)) return false;
  let fn = index;
  let sn = treeSize - 1;
  let r = leafHash;
  for (const p of path) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = merkleNodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = merkleNodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r === rootHash;
}

/**
 * Checks a consistency proof (RFC 9162 §2.1.4.2): true when the tree of `size1` leaves with
 * root `root1` is a prefix of the tree of `size2` leaves with root `root2`.
 */
export function verifyConsistency(
  size1: number,
  size2: number,
  path: readonly string[],
  root1: string,
  root2: string,
): boolean {
  if (!Number.isSafeInteger(size1) || !Number.isSafeInteger(size2)) return false;
  if (size1 < 0 || size2 < size1) return false;
  if (![root1, root2, ...path].every(isHash)) return false;
  if (size1 === size2) return path.length === 0 && root1 === root2;
  if (size1 === 0) return path.length === 0;
  if (path.length === 0) return false;
  const proof = [...path];
  // If size1 is a power of two, the old root is the first node of the proof.
  if (isPowerOfTwo(size1)) proof.unshift(root1);
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = proof[0]!;
  let sr = proof[0]!;
  for (const c of proof.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = merkleNodeHash(c, fr);
      sr = merkleNodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = merkleNodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr === root1 && sr === root2;
}

function isPowerOfTwo(n: number): boolean {
  let k = 1;
  while (k < n) k *= 2;
  return k === n;
}

function isHash(h: unknown): boolean {
  return typeof h === "string" && /^[0-9a-f]{64}$/.test(h);
}

function hexBytes(hex: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new TypeError(`not a 32-byte lower-case hex hash: ${hex}`);
  return Buffer.from(hex, "hex");
}
