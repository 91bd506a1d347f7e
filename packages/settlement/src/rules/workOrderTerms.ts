import { decimalToString, toDecimal, ZERO_ADDRESS } from "@maaskit/metering";
import { getAddress, isAddress } from "ethers/address";
import { z } from "zod";
import type { WorkOrderTerms } from "../ledger.js";
import { ledgerError } from "../ledgerErrors.js";
import { workOrderTermsWire } from "../ledgers/protocol/wireValues.js";
import { checksum, HEX32, iso } from "./state.js";
/** JSON form of work-order terms (addresses EIP-55, zero address for absent parties). */
export function workOrderTermsToJson(t: WorkOrderTerms): WorkOrderTermsJson {
  return {
    workOrderId: t.workOrderId,
    customer: checksum(t.customer),
    provider: checksum(t.provider),
    arbiter: checksum(t.arbiter),
    funder: checksum(t.funder ?? ZERO_ADDRESS),
    machineSigner: checksum(t.machineSigner ?? ZERO_ADDRESS),
    amount: decimalToString(toDecimal(t.amount)),
    currency:
      t.currency.address === undefined
        ? { symbol: t.currency.symbol, decimals: t.currency.decimals }
        : {
            symbol: t.currency.symbol,
            decimals: t.currency.decimals,
            address: checksum(t.currency.address),
          },
    acceptBy: iso(t.acceptBy),
    completeBy: iso(t.completeBy),
    conditionHash: t.conditionHash,
  };
}

const address = z
  .string()
  .refine((v) => isAddress(v))
  .transform((v) => getAddress(v));
const hex32 = z.string().regex(HEX32);

/**
 * Work-order terms as a command logs them (`WorkOrderTermsJson`) in, `WorkOrderTerms` out:
 * addresses checksummed, the zero address for an absent funder or machine signer dropped.
 * It is the ledger protocol's `workOrderTermsWire` (same members, amount, currency and
 * instants) with the members a ledger must check strictly narrowed: addresses valid, ids
 * and hashes 32-byte lowercase hex, funder and machine signer present (zero when absent).
 */
export const workOrderTermsSchema = workOrderTermsWire
  .extend({
    workOrderId: hex32,
    customer: address,
    provider: address,
    arbiter: address,
    funder: address,
    machineSigner: address,
    conditionHash: hex32,
  })
  .transform((j): WorkOrderTerms => {
    const zero = ZERO_ADDRESS.toLowerCase();
    return {
      workOrderId: j.workOrderId,
      customer: j.customer,
      provider: j.provider,
      arbiter: j.arbiter,
      ...(j.funder.toLowerCase() === zero ? {} : { funder: j.funder }),
      ...(j.machineSigner.toLowerCase() === zero ? {} : { machineSigner: j.machineSigner }),
      amount: j.amount,
      currency: j.currency,
      acceptBy: j.acceptBy,
      completeBy: j.completeBy,
      conditionHash: j.conditionHash,
    };
  });

/**
 * JSON form of work-order terms inside a command (addresses EIP-55, the zero address for an
 * absent funder or machine signer), as the schema infers it.
 */
export type WorkOrderTermsJson = z.input<typeof workOrderTermsSchema>;

/**
 * Parses logged work-order terms, or throws `settlement.workOrder.invalid` naming every
 * member that is wrong (`details.problems`).
 */
export function workOrderTermsFromJson(j: WorkOrderTermsJson): WorkOrderTerms {
  const parsed = workOrderTermsSchema.safeParse(j);
  if (parsed.success) return parsed.data;
  const problems = [...new Set(parsed.error.issues.map((issue) => String(issue.path[0] ?? "")))];
  throw ledgerError(
    "settlement.workOrder.invalid",
    `Invalid work-order terms: ${problems.join(", ")}`,
    { workOrderId: (j as { workOrderId?: unknown })?.workOrderId ?? null, problems },
  );
}
