import type { Signer } from "ethers";
import { getAddress } from "ethers/address";
import { Signature } from "ethers/crypto";
import { TypedDataEncoder } from "ethers/hash";
import { recoverAddress } from "ethers/transaction";
import type { Address, Hex32, LedgerDomain } from "./ledger.js";

/** EIP-712 types of the machine-side work-order confirmation (mirrors `WorkOrderEscrow.sol`). */
export const conditionClearedTypes = {
  ConditionCleared: [
    { name: "workOrderId", type: "bytes32" },
    { name: "conditionHash", type: "bytes32" },
    { name: "evidenceHash", type: "bytes32" },
    { name: "clearedAt", type: "uint64" },
  ],
} as const;

/** The fields a machine signs to say a work order's condition cleared. */
export interface ConditionCleared {
  readonly workOrderId: Hex32;
  readonly conditionHash: Hex32;
  /** Hash of the evidence (e.g. the digest of the meter record that shows it). */
  readonly evidenceHash: Hex32;
  /** When it cleared; signed as whole Unix seconds. */
  readonly clearedAt: Date;
}

/**
 * The EIP-712 domain of work-order attestations on a ledger:
 * `{ name: "maaskit WorkOrderEscrow", version: "1", chainId, verifyingContract }`.
 *
 * @example workOrderDomain({ chainId: 0, verifyingContract: ZeroAddress })
 */
export function workOrderDomain(domain: LedgerDomain) {
  return {
    name: "maaskit WorkOrderEscrow",
    version: "1",
    chainId: domain.chainId,
    verifyingContract: domain.verifyingContract,
  };
}

function message(c: ConditionCleared) {
  return {
    workOrderId: c.workOrderId,
    conditionHash: c.conditionHash,
    evidenceHash: c.evidenceHash,
    clearedAt: BigInt(Math.floor(c.clearedAt.getTime() / 1000)),
  };
}

/**
 * Signs a `ConditionCleared` with the machine's key (the work order's `machineSigner`).
 *
 * @example
 * const signature = await signConditionCleared(machineWallet, ledger.workOrderDomain, cleared)
 * await ledger.confirmWorkOrder({ workOrderId, attestation: { ...cleared, signature } })
 */
export async function signConditionCleared(
  signer: Signer,
  domain: LedgerDomain,
  cleared: ConditionCleared,
): Promise<string> {
  return signer.signTypedData(
    workOrderDomain(domain),
    conditionClearedTypes as unknown as Record<string, { name: string; type: string }[]>,
    message(cleared),
  );
}

/**
 * Recovers the signer of a `ConditionCleared`, or returns `null` for a malformed or
 * high-s (malleable) signature, as the contract does.
 *
 * @example recoverConditionCleared(domain, cleared, signature) === machineSigner
 */
export function recoverConditionCleared(
  domain: LedgerDomain,
  cleared: ConditionCleared,
  signature: string,
): Address | null {
  try {
    const sig = Signature.from(signature);
    if (BigInt(sig.s) > HALF_N) return null;
    const digest = TypedDataEncoder.hash(
      workOrderDomain(domain),
      conditionClearedTypes as unknown as Record<string, { name: string; type: string }[]>,
      message(cleared),
    );
    return getAddress(recoverAddress(digest, sig));
  } catch {
    return null;
  }
}

const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
