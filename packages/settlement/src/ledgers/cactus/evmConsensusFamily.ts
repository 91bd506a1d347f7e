import type { ConsensusAlgorithmFamily } from "@hyperledger/cactus-core-api";
import { loadCactusCoreApi } from "./cactusCoreApi.js";

/** What `evmConsensusFamily` needs of a chain: a JSON-RPC `send` (an ethers provider has it). */
export interface EvmRpc {
  send(method: string, params: unknown[]): Promise<unknown>;
}

// Public networks by chain id. Proof of stake since the merge (or from the start).
const STAKE_CHAINS: ReadonlySet<bigint> = new Set([
  1n, // Ethereum mainnet
  11155111n, // Sepolia
  17000n, // Holesky
  560048n, // Hoodi
  100n, // Gnosis
  137n, // Polygon PoS
]);
// Ethereum Classic and its testnet still mine.
const WORK_CHAINS: ReadonlySet<bigint> = new Set([61n, 63n]);

/**
 * Reads the consensus family of an EVM chain for a Cactus connector's
 * `getConsensusAlgorithmFamily`: `Authority` when the node answers a Clique, IBFT 2.0 or QBFT
 * validator query (Hyperledger Besu, GoQuorum) or is a development node (anvil, Hardhat,
 * Ganache: one sealer); `Stake` or `Work` for known public networks by chain id; otherwise
 * `Stake` (an unlisted public chain). Pass a fixed family to `ledgerConnectorPlugin` to
 * override it.
 *
 * @example
 * ledgerConnectorPlugin(evm, { instanceId: "evm", consensus: () => evmConsensusFamily(provider) })
 */
export async function evmConsensusFamily(rpc: EvmRpc): Promise<ConsensusAlgorithmFamily> {
  const { ConsensusAlgorithmFamily } = loadCactusCoreApi();
  const chainId = BigInt(String(await rpc.send("eth_chainId", [])));
  if (STAKE_CHAINS.has(chainId)) return ConsensusAlgorithmFamily.Stake;
  if (WORK_CHAINS.has(chainId)) return ConsensusAlgorithmFamily.Work;
  const client = String(await rpc.send("web3_clientVersion", []).catch(() => "")).toLowerCase();
  if (/^(anvil|hardhat|ganache)/.test(client)) return ConsensusAlgorithmFamily.Authority;
  for (const method of [
    "qbft_getValidatorsByBlockNumber",
    "ibft_getValidatorsByBlockNumber",
    "clique_getSigners",
  ]) {
    const answered = await rpc.send(method, ["latest"]).then(
      () => true,
      () => false,
    );
    if (answered) return ConsensusAlgorithmFamily.Authority;
  }
  // Not a proof-of-authority node, not a known network: a public chain of today (an L2, a
  // side chain) is proof of stake.
  return ConsensusAlgorithmFamily.Stake;
}
