import { createHash } from "node:crypto";
import { type Checkpoint, checkpointMessage } from "./checkpoint.js";

/**
 * Anchoring a signed checkpoint on an EVM chain: one transaction per checkpoint, from the
 * operator's account to itself, value 0, whose data is `ANCHOR_PREFIX` ‖ SHA-256(checkpoint
 * message ‖ signature). Once mined, the chain's history shows that this exact signed root
 * existed at that block: an operator who later rewrites the ledger (and re-signs) cannot move
 * the anchor. Checking an anchor reads the chain, never the ledger database.
 */

/** "maaskit.cp.v1" in UTF-8: marks the data of an anchoring transaction. */
const ANCHOR_PREFIX = Buffer.from("maaskit.cp.v1", "utf8").toString("hex");

/** The data of the transaction that anchors `checkpoint` (0x-hex). */
export function anchorData(checkpoint: Checkpoint): string {
  const digest = createHash("sha256")
    .update(`${checkpointMessage(checkpoint)}${checkpoint.signature.toLowerCase()}`, "utf8")
    .digest("hex");
  return `0x${ANCHOR_PREFIX}${digest}`;
}

/** What sends the anchoring transaction; an ethers `Wallet` connected to a provider satisfies it. */
export interface AnchorSigner {
  getAddress(): Promise<string>;
  sendTransaction(tx: { to: string; data: string; value: bigint }): Promise<{
    hash: string;
    wait(): Promise<{ blockNumber: number; status: number | null } | null>;
  }>;
}

/** What reads an anchor back; an ethers `Provider` satisfies it. */
export interface AnchorReader {
  getTransaction(
    hash: string,
  ): Promise<{ data: string; from: string; to: string | null; blockNumber: number | null } | null>;
  getTransactionReceipt(
    hash: string,
  ): Promise<{ status: number | null; blockNumber: number } | null>;
}

/** Where a checkpoint is anchored. */
export interface CheckpointAnchor {
  readonly txHash: string;
  readonly blockNumber: number;
  readonly from: string;
}

/** Sends and waits for the anchoring transaction of `checkpoint`. */
export async function anchorCheckpoint(
  checkpoint: Checkpoint,
  signer: AnchorSigner,
): Promise<CheckpointAnchor> {
  const from = await signer.getAddress();
  const sent = await signer.sendTransaction({ to: from, data: anchorData(checkpoint), value: 0n });
  const receipt = await sent.wait();
  if (receipt === null || receipt.status !== 1) {
    throw new Error(`the anchoring transaction ${sent.hash} failed`);
  }
  return { txHash: sent.hash, blockNumber: receipt.blockNumber, from };
}

/**
 * True when `anchor.txHash` is a successful transaction from `anchor.from` (compare it with
 * the operator you expect) whose data anchors exactly `checkpoint`.
 */
export async function verifyAnchor(
  reader: AnchorReader,
  anchor: CheckpointAnchor,
  checkpoint: Checkpoint,
): Promise<boolean> {
  const [tx, receipt] = await Promise.all([
    reader.getTransaction(anchor.txHash),
    reader.getTransactionReceipt(anchor.txHash),
  ]);
  if (tx === null || receipt === null || receipt.status !== 1) return false;
  return (
    tx.from.toLowerCase() === anchor.from.toLowerCase() &&
    receipt.blockNumber === anchor.blockNumber &&
    tx.data.toLowerCase() === anchorData(checkpoint)
  );
}
