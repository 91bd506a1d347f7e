import { ConsensusAlgorithmFamily } from "@hyperledger/cactus-core-api";
import { describe, expect, it } from "vitest";
import { type EvmRpc, evmConsensusFamily } from "./evmConsensusFamily.js";

/** A node that answers the given methods and refuses every other one, as a JSON-RPC node does. */
function node(answers: Record<string, unknown>): EvmRpc {
  return {
    send: async (method) => {
      if (method in answers) return answers[method];
      throw new Error(`the method ${method} does not exist/is not available`);
    },
  };
}

describe("evmConsensusFamily", () => {
  it("default: a private Besu network answering QBFT, IBFT 2.0 or Clique is proof of authority", async () => {
    for (const method of [
      "qbft_getValidatorsByBlockNumber",
      "ibft_getValidatorsByBlockNumber",
      "clique_getSigners",
    ]) {
      const rpc = node({ eth_chainId: "0x539", web3_clientVersion: "besu/v24.1.0", [method]: [] });
      expect(await evmConsensusFamily(rpc)).toBe(ConsensusAlgorithmFamily.Authority);
    }
  });

  it("args: known public chains by id; development nodes by client", async () => {
    expect(await evmConsensusFamily(node({ eth_chainId: "0x1" }))).toBe(
      ConsensusAlgorithmFamily.Stake,
    );
    expect(await evmConsensusFamily(node({ eth_chainId: "0x3d" }))).toBe(
      ConsensusAlgorithmFamily.Work,
    );
    expect(
      await evmConsensusFamily(node({ eth_chainId: "0x7a69", web3_clientVersion: "anvil/v1.7.1" })),
    ).toBe(ConsensusAlgorithmFamily.Authority);
  });

  it("behavior: an unknown chain that is not proof of authority is taken as proof of stake", async () => {
    expect(
      await evmConsensusFamily(node({ eth_chainId: "0x2105", web3_clientVersion: "geth/v1" })),
    ).toBe(ConsensusAlgorithmFamily.Stake);
  });
});
