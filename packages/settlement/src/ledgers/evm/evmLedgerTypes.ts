import type { JsonRpcApiProvider, Signer, TransactionReceipt } from "ethers";
import type { LedgerBackend, LedgerClock } from "../../ledger.js";

/** Addresses of the maaskit contracts on a chain. */
export interface EvmLedgerAddresses {
  readonly meterAgreements: string;
  readonly workOrderEscrow: string;
}

/** Options of `evmLedger`. */
export interface EvmLedgerParameters {
  /**
   * The chain. Against a local node use `{ staticNetwork: true, cacheTimeout: -1,
   * batchMaxCount: 1 }` (ethers' response cache otherwise reuses stale nonces).
   */
  readonly provider: JsonRpcApiProvider;
  /** Deploys (with `deploy`) and relays what needs no party: records, statements, attestations. */
  readonly signer: Signer;
  /** Signers of the parties the ledger acts for (`by` of deposits, work-order steps, …). */
  readonly parties?: readonly Signer[];
  /** Existing contracts; or `deploy: true` to deploy fresh ones with `signer`. */
  readonly addresses?: EvmLedgerAddresses;
  readonly deploy?: boolean;
  /**
   * With `addresses`: the block the contracts were deployed in (default 0). The backend
   * rebuilds its state from the contracts' logs from there on, so a restarted process
   * reports the agreements, records, invoices, events and work orders it made before.
   */
  readonly fromBlock?: number;
  /**
   * Ledger time. On a development node (anvil) every transaction's block gets this clock's
   * second (`evm_setTime`), so deadlines and event stamps follow it; leave it out on a real
   * chain, where the block time rules.
   */
  readonly clock?: LedgerClock;
  /** Records per transaction (default 100). */
  readonly maxBatch?: number;
}

/** The EVM ledger: a `LedgerBackend` plus where its contracts live. */
export interface EvmLedger extends LedgerBackend {
  readonly kind: "evm";
  readonly addresses: EvmLedgerAddresses;
  readonly chainId: bigint;
  /** Receipts of every transaction sent, in order (gas accounting, audits). */
  readonly receipts: () => readonly TransactionReceipt[];
  /**
   * Transactions on the contracts found when resuming that this ledger did not send (or whose
   * note did not match their calldata) and could not mirror from what the chain proves by
   * itself: reported, never trusted. The contracts' own state stays authoritative.
   */
  readonly foreignTransactions: () => readonly { readonly hash: string; readonly reason: string }[];
}
