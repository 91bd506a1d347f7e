import { getAddress } from "ethers/address";
import { ledgerError } from "../../ledgerErrors.js";
import {
  type Checkpoint,
  type CheckpointSigner,
  type ConsistencyProof,
  checkpointMessage,
  entryLeafHash,
  type InclusionProof,
} from "./checkpoint.js";
import { consistencyPathOf, inclusionPathOf, merkleRoot, type SubtreeHash } from "./merkle.js";
import { inTransaction, type PgClientLike, type PgPoolLike } from "./pgQueryable.js";
import { builtSize, extendTree, fromStoredNodes } from "./pgTree.js";

/** The advisory lock of the sequencer (one per database). */
const SEQUENCER_LOCK = [0x6d61, -1] as const;

/**
 * Appends every entry committed since the last run to the Merkle leaves. Entries are taken
 * by transaction id: all those below the oldest transaction still running (the snapshot's
 * xmin) have committed or aborted, so none can appear later among them; within one such
 * window entries are ordered by id. Leaves are therefore append-only and never reordered.
 */
async function sequence(c: PgClientLike): Promise<number> {
  await c.query("SELECT pg_advisory_xact_lock($1, $2)", [...SEQUENCER_LOCK]);
  const last = await c.query(
    "SELECT horizon::text AS horizon, tree_size::text AS size FROM maaskit_ledger_sequenced ORDER BY batch DESC LIMIT 1",
  );
  const from = (last.rows[0]?.horizon as string | undefined) ?? "0";
  let size = Number(last.rows[0]?.size ?? 0);
  const now = await c.query("SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin");
  const to = String(now.rows[0]!.xmin);
  if (BigInt(to) <= BigInt(from)) {
    await extendTree(c, size);
    return size;
  }
  const { rows } = await c.query(
    `SELECT e.id::text AS id, e.entry_hash FROM maaskit_ledger_entries e
      WHERE e.xid >= $1::xid8 AND e.xid < $2::xid8 ORDER BY e.id`,
    [from, to],
  );
  const ids: string[] = [];
  const indexes: number[] = [];
  const hashes: string[] = [];
  for (const r of rows) {
    ids.push(String(r.id));
    indexes.push(size++);
    hashes.push(entryLeafHash(String(r.entry_hash)));
  }
  if (ids.length > 0) {
    await c.query(
      `INSERT INTO maaskit_ledger_leaves (leaf_index, entry_id, leaf_hash)
       SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[])`,
      [`{${indexes.join(",")}}`, `{${ids.join(",")}}`, `{${hashes.join(",")}}`],
    );
  }
  await c.query("INSERT INTO maaskit_ledger_sequenced (horizon, tree_size) VALUES ($1::xid8, $2)", [
    to,
    size,
  ]);
  await extendTree(c, size);
  return size;
}

/** The leaf hashes of the first `size` leaves. */
export async function leafHashes(c: PgClientLike, size: number): Promise<string[]> {
  const { rows } = await c.query(
    "SELECT leaf_index::text AS i, leaf_hash FROM maaskit_ledger_leaves WHERE leaf_index < $1 ORDER BY leaf_index",
    [size],
  );
  if (rows.length !== size) {
    throw ledgerError(
      "settlement.ledger.corrupt",
      `The Merkle tree has ${rows.length} of ${size} leaves`,
      {
        treeSize: size,
      },
    );
  }
  return rows.map((r, i) => {
    if (Number(r.i) !== i) {
      throw ledgerError("settlement.ledger.corrupt", `Merkle leaf ${i} is missing`, { leaf: i });
    }
    return String(r.leaf_hash);
  });
}

/**
 * A root or proof over the tree of `size` leaves: from the stored nodes (O(log n) rows), or,
 * on a database upgraded from before the node store and not sequenced since, from every leaf.
 */
async function treeAt<T>(
  c: PgClientLike,
  size: number,
  compute: (subtree: SubtreeHash) => T,
): Promise<T> {
  if ((await builtSize(c)) >= size) return fromStoredNodes(c, size, compute);
  const leaves = await leafHashes(c, size);
  return compute((from, to) => merkleRoot(leaves, from, to));
}

function checkpointOf(r: Record<string, unknown>): Checkpoint {
  return {
    treeSize: Number(r.tree_size),
    rootHash: String(r.root_hash),
    timestamp: String(r.timestamp),
    signer: String(r.signer),
    signature: String(r.signature),
  };
}

/** Sequences new entries, then signs and stores the root (or returns the stored checkpoint of that size). */
export function createCheckpoint(
  pool: PgPoolLike,
  signer: CheckpointSigner,
  at: Date,
): Promise<Checkpoint> {
  return inTransaction(pool, async (c) => {
    const size = await sequence(c);
    const stored = await c.query(
      "SELECT tree_size::text AS tree_size, root_hash, timestamp, signer, signature FROM maaskit_ledger_checkpoints WHERE tree_size = $1",
      [size],
    );
    if (stored.rows[0] !== undefined) return checkpointOf(stored.rows[0]);
    const unsigned = {
      treeSize: size,
      rootHash: await fromStoredNodes(c, size, (sub) => sub(0, size)),
      timestamp: at.toISOString(),
    };
    const checkpoint: Checkpoint = {
      ...unsigned,
      signer: getAddress(signer.address),
      signature: await signer.signMessage(checkpointMessage(unsigned)),
    };
    await c.query(
      "INSERT INTO maaskit_ledger_checkpoints (tree_size, root_hash, timestamp, signer, signature) VALUES ($1, $2, $3, $4, $5)",
      [size, checkpoint.rootHash, checkpoint.timestamp, checkpoint.signer, checkpoint.signature],
    );
    return checkpoint;
  });
}

/** Refuses a tree size larger than what has been sequenced. */
async function requireSequenced(c: PgClientLike, size: number): Promise<void> {
  const { rows } = await c.query(
    "SELECT coalesce(max(tree_size), 0)::text AS size FROM maaskit_ledger_sequenced",
  );
  const have = Number(rows[0]?.size ?? 0);
  if (size > have) {
    throw ledgerError(
      "settlement.checkpoint.notFound",
      `No tree of ${size} entries yet (${have} sequenced): make a checkpoint`,
      { treeSize: size, sequenced: have },
    );
  }
}

async function latestSize(c: PgClientLike): Promise<number> {
  const { rows } = await c.query(
    "SELECT max(tree_size)::text AS size FROM maaskit_ledger_checkpoints",
  );
  if (rows[0]?.size === null || rows[0]?.size === undefined) {
    throw ledgerError("settlement.checkpoint.notFound", "No checkpoint has been made yet", {});
  }
  return Number(rows[0].size);
}

/** The inclusion proof of entry `entryId` in the tree of `treeSize` leaves (default: the latest checkpoint's). */
export function entryProof(
  pool: PgPoolLike,
  entryId: number,
  treeSize?: number,
): Promise<InclusionProof> {
  return inTransaction(pool, async (c) => {
    const size = treeSize ?? (await latestSize(c));
    await requireSequenced(c, size);
    const { rows } = await c.query(
      `SELECT l.leaf_index::text AS i, e.body, e.entry_hash FROM maaskit_ledger_leaves l
         JOIN maaskit_ledger_entries e ON e.id = l.entry_id WHERE l.entry_id = $1`,
      [entryId],
    );
    const row = rows[0];
    if (row === undefined || Number(row.i) >= size) {
      throw ledgerError(
        "settlement.checkpoint.notFound",
        `Entry ${entryId} is not in the tree of ${size} leaves (yet): make a checkpoint`,
        { entry: entryId, treeSize: size },
      );
    }
    const leafIndex = Number(row.i);
    return {
      entryId,
      leafIndex,
      treeSize: size,
      entryBody: String(row.body),
      entryHash: String(row.entry_hash),
      path: await treeAt(c, size, (sub) => inclusionPathOf(size, leafIndex, sub)),
    };
  });
}

/** The consistency proof between the trees of `size1` and `size2` leaves. */
export function consistencyBetween(
  pool: PgPoolLike,
  size1: number,
  size2: number,
): Promise<ConsistencyProof> {
  return inTransaction(pool, async (c) => {
    if (
      !Number.isSafeInteger(size1) ||
      !Number.isSafeInteger(size2) ||
      size1 < 0 ||
      size1 > size2
    ) {
      throw ledgerError("settlement.checkpoint.invalid", "The tree sizes are not a prefix pair", {
        size1,
        size2,
      });
    }
    await requireSequenced(c, size2);
    const path = await treeAt(c, size2, (sub) => consistencyPathOf(size1, size2, sub));
    return { size1, size2, path };
  });
}
