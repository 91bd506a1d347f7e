import { decimalToString, toDecimal } from "@maaskit/metering";
import type { Decimal } from "decimal.js";
import {
  type Contract,
  ContractFactory,
  type ContractRunner,
  getAddress,
  type InterfaceAbi,
  type JsonRpcApiProvider,
  type Signer,
  type TransactionReceipt,
} from "ethers";
import type { Agreement } from "../../agreement.js";
import type { Invoice } from "../../invoice.js";
import { ledgerError } from "../../ledgerErrors.js";
import type { EvmCallNote } from "./evmCallNote.js";
import { agreementKey } from "./evmEncoding.js";

/** An amount in the token's smallest units. */
export function units(amount: Decimal, decimals: number): bigint {
  return BigInt(amount.mul(`1e${decimals}`).toFixed(0));
}

/** The ERC-20 token address a currency must name on an EVM ledger. */
export function tokenOf(currency: { address?: string }, what: string): string {
  if (currency.address === undefined) {
    throw ledgerError(
      "settlement.agreement.invalid",
      `On an EVM ledger the ${what} currency must name its ERC-20 token address`,
      {},
    );
  }
  return currency.address;
}

/** The contract's key of an agreement: its id bound to both parties. */
export function agreementContractKey(agreement: Agreement): string {
  return agreementKey(
    agreement.agreementId,
    getAddress(agreement.parties.provider),
    getAddress(agreement.parties.customer),
  );
}

/** An amount as the ledger's commands carry it (the embedded ledger's form). */
export function amountString(amount: Decimal): string {
  try {
    return decimalToString(toDecimal(amount, "amount"));
  } catch {
    throw ledgerError("settlement.funds.invalidAmount", "The amount is not a decimal", {
      amount: String(amount),
    });
  }
}

export const erc20Abi = [
  "function allowance(address owner, address spender) view returns (uint256)",
  "function approve(address spender, uint256 value) returns (bool)",
];

export async function deployContract(
  runner: Signer,
  abi: readonly unknown[],
  bytecode: string,
  ...args: unknown[]
): Promise<string> {
  const factory = new ContractFactory(abi as InterfaceAbi, bytecode, runner);
  const contract = await factory.deploy(...args);
  await contract.waitForDeployment();
  return getAddress(await contract.getAddress());
}

/** Sets a development node's clock so the next block carries `at` (no-op without `at`). */
export async function setChainTime(
  provider: JsonRpcApiProvider,
  at: Date | undefined,
): Promise<void> {
  if (at === undefined) return;
  const seconds = Math.floor(at.getTime() / 1000);
  // A development node only: evm_setTime may move back (scenarios replay history);
  // the next block then carries exactly this second.
  await provider.send("evm_setTime", [seconds]);
  await provider.send("evm_setNextBlockTimestamp", [seconds]);
}

/** The named logs a contract emitted in a transaction. */
export function logsOf(contract: Contract, receipt: TransactionReceipt, name: string) {
  const out: Record<string, unknown>[] = [];
  const address = (contract.target as string).toLowerCase();
  for (const log of receipt.logs) {
    if (log.address.toLowerCase() !== address) continue;
    const parsed = contract.interface.parseLog(log);
    if (parsed?.name === name) out.push(parsed.args.toObject());
  }
  return out;
}

/** The contract's period charge must equal the Decimal pricing. */
export function checkSettled(registry: Contract, receipt: TransactionReceipt, invoice: Invoice) {
  const [settled] = logsOf(registry, receipt, "PeriodSettled");
  const total = invoice.total.isNegative() ? 0n : units(invoice.total, invoice.currency.decimals);
  if (settled === undefined || settled.total !== total) {
    throw ledgerError(
      "settlement.ledger.corrupt",
      "The contract's period charge differs from the Decimal pricing",
      { onChain: String(settled?.total), offChain: total.toString() },
    );
  }
}

/** Sends one contract call as `from` (with the call note behind its arguments) and waits for its receipt. */
export type SendTransaction = (
  contract: Contract,
  from: ContractRunner,
  method: string,
  args: readonly unknown[],
  at: Date,
  note?: EvmCallNote,
) => Promise<TransactionReceipt>;
