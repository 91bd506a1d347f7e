import { createHash } from "node:crypto";
import { verifyMessage } from "ethers/hash";
import {
  merkleLeafHash,
  verifyConsistency as verifyConsistencyPath,
  verifyInclusion,
} from "./merkle.js";

/**
 * Signed checkpoints and their proofs, checked with no database access: what a customer,
 * an auditor or another ledger keeps and checks on its own.
 */

/** A signed statement of the ledger's Merkle tree: its size and root at an instant. */
export interface Checkpoint {
  /** Leaves (ledger entries) in the tree. */
  readonly treeSize: number;
  /** RFC 9162 root hash, lower-case hex. */
  readonly rootHash: string;
  /** ISO-8601 instant the operator signed it at. */
  readonly timestamp: string;
  /** The operator's address (EIP-55). */
  readonly signer: string;
  /** EIP-191 personal-sign signature of `checkpointMessage(...)`. */
  readonly signature: string;
}

/** Signs checkpoints; an ethers `Wallet` satisfies it. */
export interface CheckpointSigner {
  readonly address: string;
  signMessage(message: string): Promise<string>;
}

/** That one entry is leaf `leafIndex` of the tree of `treeSize` leaves. */
export interface InclusionProof {
  readonly entryId: number;
  readonly leafIndex: number;
  readonly treeSize: number;
  /** The entry's stored body (JSON text): its SHA-256 is `entryHash`. */
  readonly entryBody: string;
  readonly entryHash: string;
  /** RFC 9162 audit path, leaf to root. */
  readonly path: readonly string[];
}

/** That the tree of `size1` leaves is a prefix of the tree of `size2` leaves. */
export interface ConsistencyProof {
  readonly size1: number;
  readonly size2: number;
  readonly path: readonly string[];
}

/** The exact text an operator signs for a checkpoint. */
export function checkpointMessage(
  c: Pick<Checkpoint, "treeSize" | "rootHash" | "timestamp">,
): string {
  return `maaskit ledger checkpoint v1\ntree_size ${c.treeSize}\nroot_hash ${c.rootHash}\ntimestamp ${c.timestamp}\n`;
}

/** The leaf hash of an entry: SHA-256(0x00 || entry hash bytes). */
export function entryLeafHash(entryHash: string): string {
  return merkleLeafHash(Buffer.from(entryHash, "hex"));
}

/**
 * True when `checkpoint` is well formed and signed by `operator` (an address; any case).
 */
export function verifyCheckpoint(checkpoint: Checkpoint, operator: string): boolean {
  if (!Number.isSafeInteger(checkpoint.treeSize) || checkpoint.treeSize < 0) return false;
  if (!/^[0-9a-f]{64}$/.test(checkpoint.rootHash)) return false;
  if (Number.isNaN(Date.parse(checkpoint.timestamp))) return false;
  try {
    const by = verifyMessage(checkpointMessage(checkpoint), checkpoint.signature);
    return (
      by.toLowerCase() === operator.toLowerCase() &&
      by.toLowerCase() === checkpoint.signer.toLowerCase()
    );
  } catch {
    return false;
  }
}

/**
 * True when `proof` shows its entry (body and hash) in the tree `checkpoint` signs. Check the
 * checkpoint itself with `verifyCheckpoint`.
 */
export function verifyProof(proof: InclusionProof, checkpoint: Checkpoint): boolean {
  if (proof.treeSize !== checkpoint.treeSize) return false;
  if (!/^[0-9a-f]{64}$/.test(proof.entryHash)) return false;
  const bodyHash = createHash("sha256").update(proof.entryBody, "utf8").digest("hex");
  if (bodyHash !== proof.entryHash) return false;
  return verifyInclusion(
    entryLeafHash(proof.entryHash),
    proof.leafIndex,
    proof.treeSize,
    proof.path,
    checkpoint.rootHash,
  );
}

/** True when the tree `older` signs is a prefix of the tree `newer` signs. */
export function verifyConsistencyProof(
  proof: ConsistencyProof,
  older: Checkpoint,
  newer: Checkpoint,
): boolean {
  if (proof.size1 !== older.treeSize || proof.size2 !== newer.treeSize) return false;
  return verifyConsistencyPath(
    proof.size1,
    proof.size2,
    proof.path,
    older.rootHash,
    newer.rootHash,
  );
}
