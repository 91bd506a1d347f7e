import { ledgerError } from "../../ledgerErrors.js";
import {
  completedNodes,
  nodeKey,
  rightEdge,
  type SubtreeHash,
  type TreeNode,
  withNodes,
} from "./merkle.js";
import type { PgClientLike } from "./pgQueryable.js";

// The Merkle tree's complete subtrees, stored as they complete (maaskit_ledger_nodes, level ≥
// 1; level 0 are the leaves), append-only like every ledger table: a complete subtree never
// changes once its leaves are sequenced. Roots and proofs then read O(log n) rows instead of
// every leaf. `maaskit_ledger_tree` records the tree sizes the nodes were built for.

/** The hashes of `nodes` (level 0 from the leaves), in one query. */
export async function loadNodes(
  c: PgClientLike,
  nodes: readonly TreeNode[],
): Promise<Map<string, string>> {
  const leaves = nodes.filter((n) => n.level === 0).map((n) => n.index);
  const inner = nodes.filter((n) => n.level > 0);
  const { rows } = await c.query(
    `SELECT 0 AS level, leaf_index::text AS idx, leaf_hash AS hash FROM maaskit_ledger_leaves
      WHERE leaf_index = ANY($1::bigint[])
     UNION ALL
     SELECT n.level, n.idx::text, n.hash FROM maaskit_ledger_nodes n
       JOIN unnest($2::int[], $3::bigint[]) AS w(level, idx) ON w.level = n.level AND w.idx = n.idx`,
    [
      `{${leaves.join(",")}}`,
      `{${inner.map((n) => n.level).join(",")}}`,
      `{${inner.map((n) => n.index).join(",")}}`,
    ],
  );
  const out = new Map<string, string>();
  for (const r of rows) out.set(`${Number(r.level)}:${Number(r.idx)}`, String(r.hash));
  return out;
}

/** The tree size the stored nodes cover (0 before the first build). */
export async function builtSize(c: PgClientLike): Promise<number> {
  const { rows } = await c.query(
    "SELECT coalesce(max(tree_size), 0)::text AS size FROM maaskit_ledger_tree",
  );
  return Number(rows[0]?.size ?? 0);
}

/**
 * Builds the nodes the leaves `[built, size)` complete (on a database from before the node
 * store, that is all of them once) and records `size`. The caller holds the sequencer lock.
 */
export async function extendTree(c: PgClientLike, size: number): Promise<void> {
  const built = await builtSize(c);
  if (built >= size) return;
  const { rows } = await c.query(
    "SELECT leaf_index::text AS i, leaf_hash FROM maaskit_ledger_leaves WHERE leaf_index >= $1 AND leaf_index < $2 ORDER BY leaf_index",
    [built, size],
  );
  const added = rows.map((r, k) => {
    if (Number(r.i) !== built + k) {
      throw ledgerError("settlement.ledger.corrupt", `Merkle leaf ${built + k} is missing`, {
        leaf: built + k,
      });
    }
    return String(r.leaf_hash);
  });
  if (added.length !== size - built) {
    throw ledgerError("settlement.ledger.corrupt", `The Merkle tree lacks leaves below ${size}`, {
      treeSize: size,
    });
  }
  const peaks = await loadNodes(c, rightEdge(built));
  const nodes = [...completedNodes(built, added, peaks)].map(([k, hash]) => {
    const [level, index] = k.split(":");
    return { level: Number(level), index: Number(index), hash };
  });
  if (nodes.length > 0) {
    await c.query(
      `INSERT INTO maaskit_ledger_nodes (level, idx, hash)
       SELECT * FROM unnest($1::int[], $2::bigint[], $3::text[])`,
      [
        `{${nodes.map((n) => n.level).join(",")}}`,
        `{${nodes.map((n) => n.index).join(",")}}`,
        `{${nodes.map((n) => n.hash).join(",")}}`,
      ],
    );
  }
  await c.query("INSERT INTO maaskit_ledger_tree (tree_size) VALUES ($1)", [size]);
}

/**
 * Computes a root or proof over the tree of `size` leaves from the stored complete subtrees
 * it needs (O(log n) rows, one query); a node missing below the built size is corruption.
 */
export function fromStoredNodes<T>(
  c: PgClientLike,
  size: number,
  compute: (subtree: SubtreeHash) => T,
): Promise<T> {
  return withNodes(compute, async (wanted) => {
    const got = await loadNodes(c, wanted);
    const missing = wanted.find((n) => !got.has(nodeKey(n)));
    if (missing !== undefined) {
      throw ledgerError(
        "settlement.ledger.corrupt",
        `Merkle node ${nodeKey(missing)} of the tree of ${size} leaves is missing`,
        { treeSize: size, node: nodeKey(missing) },
      );
    }
    return got;
  });
}
