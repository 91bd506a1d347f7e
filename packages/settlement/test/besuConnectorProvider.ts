import { JsonRpcProvider } from "ethers";

/** The part of Cactus' Besu connector (0.5.0) this bridge uses. */
export interface BesuTransact {
  getInstanceId(): string;
  transact(request: {
    web3SigningCredential: { type: "NONE" };
    transactionConfig: { rawTransaction: string };
    consistencyStrategy: { receiptType: "NODE_TX_POOL_ACK"; blockConfirmations: 0 };
  }): Promise<{ transactionReceipt: { transactionHash: string } }>;
}

/**
 * An ethers provider whose transactions go through a Cactus Besu connector: every signed
 * transaction (`eth_sendRawTransaction`) is handed to the connector's `transact` with
 * `Web3SigningCredentialType.NONE` (pre-signed); reads (calls, receipts, logs) go to the
 * node's JSON-RPC, because the 0.5.0 connector has no generic read call (its `invokeContract`
 * needs the contract registered in a Cactus keychain). The connector is looked up in the
 * registry on every transaction, so a registry change takes effect at once.
 */
export class BesuConnectorProvider extends JsonRpcProvider {
  /** Transactions the connector carried. */
  sent = 0;

  constructor(
    url: string,
    private readonly lookup: () => BesuTransact,
  ) {
    super(url, undefined, { staticNetwork: true, cacheTimeout: -1, batchMaxCount: 1 });
  }

  override async send(method: string, params: unknown[] | Record<string, unknown>) {
    if (method !== "eth_sendRawTransaction") return super.send(method, params);
    const raw = (params as string[])[0]!;
    const out = await this.lookup().transact({
      web3SigningCredential: { type: "NONE" },
      transactionConfig: { rawTransaction: raw },
      consistencyStrategy: { receiptType: "NODE_TX_POOL_ACK", blockConfirmations: 0 },
    });
    this.sent++;
    return out.transactionReceipt.transactionHash;
  }
}
