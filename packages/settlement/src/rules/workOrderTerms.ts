import { decimalToString, toDecimal, ZERO_ADDRESS } from "@maaskit/metering";
import { getAddress, isAddress } from "ethers/address";
import type { WorkOrderTerms } from "../ledger.js";
import { ledgerError } from "../ledgerErrors.js";
import { checksum, HEX32, iso } from "./state.js";
/** JSON form of work-order terms inside a command. */
export interface WorkOrderTermsJson {
  workOrderId: string;
  customer: string;
  provider: string;
  arbiter: string;
  funder: string;
  machineSigner: string;
  amount: string;
  currency: { symbol: string; decimals: number; address?: string };
  acceptBy: string;
  completeBy: string;
  conditionHash: string;
}

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

/** Parses logged work-order terms, reporting every problem at once. */
export function workOrderTermsFromJson(j: WorkOrderTermsJson): WorkOrderTerms {
  const problems: string[] = [];
  const addr = (v: string, f: string) => {
    if (typeof v !== "string" || !isAddress(v)) problems.push(f);
    return typeof v === "string" && isAddress(v) ? getAddress(v) : v;
  };
  if (typeof j.workOrderId !== "string" || !HEX32.test(j.workOrderId)) problems.push("workOrderId");
  if (typeof j.conditionHash !== "string" || !HEX32.test(j.conditionHash))
    problems.push("conditionHash");
  const customer = addr(j.customer, "customer");
  const provider = addr(j.provider, "provider");
  const arbiter = addr(j.arbiter, "arbiter");
  const funder = addr(j.funder, "funder");
  const machineSigner = addr(j.machineSigner, "machineSigner");
  let amount = toDecimal(0);
  try {
    amount = toDecimal(j.amount, "amount");
  } catch {
    problems.push("amount");
  }
  const acceptBy = new Date(j.acceptBy);
  const completeBy = new Date(j.completeBy);
  if (Number.isNaN(acceptBy.getTime())) problems.push("acceptBy");
  if (Number.isNaN(completeBy.getTime())) problems.push("completeBy");
  if (
    typeof j.currency !== "object" ||
    j.currency === null ||
    typeof j.currency.symbol !== "string" ||
    !Number.isInteger(j.currency.decimals)
  ) {
    problems.push("currency");
  }
  if (problems.length > 0) {
    throw ledgerError(
      "settlement.workOrder.invalid",
      `Invalid work-order terms: ${problems.join(", ")}`,
      {
        workOrderId: j.workOrderId ?? null,
        problems,
      },
    );
  }
  const zero = ZERO_ADDRESS.toLowerCase();
  return {
    workOrderId: j.workOrderId,
    customer,
    provider,
    arbiter,
    ...(funder.toLowerCase() === zero ? {} : { funder }),
    ...(machineSigner.toLowerCase() === zero ? {} : { machineSigner }),
    amount,
    currency: j.currency,
    acceptBy,
    completeBy,
    conditionHash: j.conditionHash,
  };
}
