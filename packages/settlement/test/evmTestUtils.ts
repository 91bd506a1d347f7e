import {
  type BaseContract,
  type Contract,
  ContractFactory,
  type ContractRunner,
  Interface,
  type InterfaceAbi,
  type Signer,
  type TransactionReceipt,
} from "ethers";
import { expect } from "vitest";
import { testTokenAbi } from "../src/ledgers/evm/generated/TestToken.js";
import { workOrderEscrowAbi } from "../src/ledgers/evm/generated/WorkOrderEscrow.js";

const errorFragments: { type: string }[] = [];
let knownErrors = new Interface([]);

/** Adds the custom errors of an ABI to those `expectRevert` can name. */
export function registerErrors(abi: readonly { type: string }[]): void {
  errorFragments.push(...abi.filter((f) => f.type === "error"));
  knownErrors = new Interface(errorFragments as InterfaceAbi);
}
registerErrors(workOrderEscrowAbi);
registerErrors(testTokenAbi);

/**
 * The custom error of a failed call. ethers decodes it only for static calls; a sent
 * transaction fails in `estimateGas` with the raw revert data, decoded here.
 */
export function decodeRevert(error: unknown): { name: string; args: unknown[] } | undefined {
  const e = error as { revert?: { name: string; args: unknown[] }; data?: string };
  if (e?.revert) return e.revert;
  if (typeof e?.data !== "string" || e.data.length < 10) return undefined;
  const parsed = knownErrors.parseError(e.data);
  return parsed ? { name: parsed.name, args: [...parsed.args] } : undefined;
}

/** Deploys `bytecode` with `signer` and waits for the deployment. */
export async function deploy(
  signer: Signer,
  abi: InterfaceAbi,
  bytecode: string,
  ...args: unknown[]
): Promise<Contract> {
  const factory = new ContractFactory(abi, bytecode, signer);
  const contract = await factory.deploy(...args);
  await contract.waitForDeployment();
  return contract as unknown as Contract;
}

/** Sends a contract call and returns its receipt. */
export async function send(
  contract: Contract,
  runner: ContractRunner,
  method: string,
  ...args: unknown[]
): Promise<TransactionReceipt> {
  const c = contract.connect(runner) as Contract;
  const tx = await c.getFunction(method)(...args);
  const receipt = await tx.wait();
  if (!receipt) throw new Error(`no receipt for ${method}`);
  return receipt;
}

/** The events of `contract` in a receipt, as `[name, args]` pairs. */
export function eventsOf(contract: BaseContract, receipt: TransactionReceipt) {
  const out: { name: string; args: Record<string, unknown> }[] = [];
  for (const log of receipt.logs) {
    const parsed = contract.interface.parseLog(log);
    if (parsed) out.push({ name: parsed.name, args: parsed.args.toObject() });
  }
  return out;
}

/** Asserts that `promise` reverts with the custom error `name` (and, optionally, its args). */
export async function expectRevert(
  promise: Promise<unknown>,
  name: string,
  args?: readonly unknown[],
): Promise<void> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  expect(error, `expected a revert with ${name}`).toBeDefined();
  const revert = decodeRevert(error);
  expect(revert?.name, String((error as Error).message).slice(0, 500)).toBe(name);
  if (args) expect([...(revert?.args ?? [])]).toEqual(args);
}
