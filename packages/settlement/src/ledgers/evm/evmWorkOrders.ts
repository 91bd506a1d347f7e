import { type Contract, getAddress, Signature, type Signer, ZeroAddress, ZeroHash } from "ethers";
import type { OpenWorkOrderResult, WorkOrder, WorkOrderTerms } from "../../ledger.js";
import { type Command, type LedgerCore, workOrderTermsToJson } from "../../rules/index.js";
import type { EvmCallNote } from "./evmCallNote.js";
import type { SendTransaction } from "./evmContracts.js";
import { amountString, tokenOf, units } from "./evmContracts.js";
import type { EvmLedger, EvmLedgerAddresses } from "./evmLedgerTypes.js";

/** The plumbing of an EVM ledger the work-order methods use. @internal */
export interface EvmChain {
  readonly addresses: EvmLedgerAddresses;
  readonly escrow: Contract;
  readonly runner: Signer;
  /** The current mirror (replaced when a chain failure rolls it back). */
  core(): LedgerCore;
  run<T>(
    cmd: Command,
    onChain: (result: T, at: Date, note: EvmCallNote) => Promise<void>,
  ): Promise<T>;
  read<T>(fn: () => T): Promise<T>;
  readonly send: SendTransaction;
  partySigner(address: string): Signer;
  ensureAllowance(
    owner: Signer,
    token: string,
    spender: string,
    amount: bigint,
    at: Date,
  ): Promise<void>;
  /** Sends a work-order step to the escrow as `by`, keyed by the work order. */
  workOrderStep(
    id: string,
    by: string,
    method: string,
    args: readonly unknown[],
    at: Date,
    note: EvmCallNote,
  ): Promise<void>;
}

type WorkOrderMethods = Pick<
  EvmLedger,
  | "openWorkOrder"
  | "fundWorkOrder"
  | "acceptWorkOrder"
  | "completeWorkOrder"
  | "confirmWorkOrder"
  | "cancelWorkOrder"
  | "disputeWorkOrder"
  | "resolveDispute"
  | "expireWorkOrder"
  | "getWorkOrder"
>;

/** The work-order half of an EVM ledger: the mirror's rules first, then the escrow contract. */
export function evmWorkOrderMethods(chain: EvmChain): WorkOrderMethods {
  const {
    addresses,
    escrow,
    runner,
    run,
    read,
    send,
    partySigner,
    ensureAllowance,
    workOrderStep,
  } = chain;
  return {
    openWorkOrder(terms: WorkOrderTerms) {
      let token: string;
      try {
        token = tokenOf(terms.currency, "work order's");
      } catch (err) {
        return Promise.reject(err);
      }
      return run<OpenWorkOrderResult>(
        { t: "openWorkOrder", terms: workOrderTermsToJson(terms) },
        async (_r, at, note) => {
          await send(
            escrow,
            partySigner(terms.customer),
            "open",
            [
              terms.workOrderId,
              {
                provider: terms.provider,
                arbiter: terms.arbiter,
                token,
                funder: terms.funder ?? ZeroAddress,
                machineSigner: terms.machineSigner ?? ZeroAddress,
                amount: units(terms.amount, terms.currency.decimals),
                acceptBy: Math.floor(terms.acceptBy.getTime() / 1000),
                completeBy: Math.floor(terms.completeBy.getTime() / 1000),
                conditionHash: terms.conditionHash,
              },
            ],
            at,
            note,
          );
        },
      );
    },

    fundWorkOrder({ workOrderId, by }) {
      return run<WorkOrder>({ t: "fundWorkOrder", workOrderId, by }, async (wo, at, note) => {
        const payer = partySigner(by);
        await ensureAllowance(
          payer,
          tokenOf(wo.currency, "work order's"),
          addresses.workOrderEscrow,
          units(wo.amount, wo.currency.decimals),
          at,
        );
        await workOrderStep(workOrderId, by, "fund", [], at, note);
      });
    },

    acceptWorkOrder({ workOrderId, by }) {
      return run<WorkOrder>({ t: "acceptWorkOrder", workOrderId, by }, (_wo, at, note) =>
        workOrderStep(workOrderId, by, "accept", [], at, note),
      );
    },

    completeWorkOrder({ workOrderId, proofHash, by }) {
      return run<WorkOrder>(
        { t: "completeWorkOrder", workOrderId, proofHash, by },
        (_wo, at, note) => workOrderStep(workOrderId, by, "complete", [proofHash], at, note),
      );
    },

    confirmWorkOrder(p) {
      if ("attestation" in p) {
        const a = p.attestation;
        return run<WorkOrder>(
          {
            t: "confirmWorkOrder",
            workOrderId: p.workOrderId,
            evidenceHash: a.evidenceHash,
            clearedAt: a.clearedAt.toISOString(),
            signature: a.signature,
          },
          async (_wo, at, note) => {
            const sig = Signature.from(a.signature);
            await send(
              escrow,
              runner,
              "confirmByMachine",
              [
                getAddress(chain.core().workOrder(p.workOrderId).customer),
                p.workOrderId,
                a.evidenceHash,
                Math.floor(a.clearedAt.getTime() / 1000),
                sig.r,
                sig.yParityAndS,
              ],
              at,
              note,
            );
          },
        );
      }
      return run<WorkOrder>(
        {
          t: "confirmWorkOrder",
          workOrderId: p.workOrderId,
          by: p.by,
          ...(p.evidenceHash === undefined ? {} : { evidenceHash: p.evidenceHash }),
        },
        (_wo, at, note) =>
          workOrderStep(p.workOrderId, p.by, "confirm", [p.evidenceHash ?? ZeroHash], at, note),
      );
    },

    cancelWorkOrder({ workOrderId, by }) {
      return run<WorkOrder>({ t: "cancelWorkOrder", workOrderId, by }, (_wo, at, note) =>
        workOrderStep(workOrderId, by, "cancel", [], at, note),
      );
    },

    disputeWorkOrder({ workOrderId, reasonHash, by }) {
      return run<WorkOrder>(
        { t: "disputeWorkOrder", workOrderId, reasonHash, by },
        (_wo, at, note) => workOrderStep(workOrderId, by, "dispute", [reasonHash], at, note),
      );
    },

    resolveDispute({ workOrderId, toProvider, by }) {
      return run<WorkOrder>(
        { t: "resolveDispute", workOrderId, toProvider: amountString(toProvider), by },
        (wo, at, note) =>
          workOrderStep(
            workOrderId,
            by,
            "resolve",
            [units(toProvider, wo.currency.decimals)],
            at,
            note,
          ),
      );
    },

    expireWorkOrder({ workOrderId, by }) {
      return run<WorkOrder>({ t: "expireWorkOrder", workOrderId, by }, (_wo, at, note) =>
        workOrderStep(workOrderId, by, "expire", [], at, note),
      );
    },

    getWorkOrder: (workOrderId) => read(() => chain.core().workOrder(workOrderId)),
  };
}
