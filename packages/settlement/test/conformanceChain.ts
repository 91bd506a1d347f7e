import { type Contract, type HDNodeWallet, parseEther, type Wallet } from "ethers";
import { conformanceWallets } from "../src/conformance/ledgerScenario.js";
import { testTokenAbi, testTokenBytecode } from "../src/ledgers/evm/generated/TestToken.js";
import { type Anvil, startAnvil } from "./anvil.js";
import { deploy, send } from "./evmTestUtils.js";

type ConformanceParty = keyof ReturnType<typeof conformanceWallets>;

/** What {@link startConformanceChain} started: stop `anvil` when done. */
export interface ConformanceChain {
  readonly anvil: Anvil;
  /** anvil's first dev account: deploys the token and the ledger's contracts. */
  readonly deployer: HDNodeWallet;
  /** The funded conformance parties, connected to anvil, in the order asked for. */
  readonly parties: Wallet[];
  /** The settlement test token (EURT, 6 decimals), connected to the deployer. */
  readonly token: Contract;
}

/**
 * The EVM tests' common start: anvil at 2024-12-01 (before every conformance scenario), the
 * given conformance parties with 100 ETH each for gas, and the test token with `mint` base
 * units minted to each party named there.
 */
export async function startConformanceChain(
  funded: readonly ConformanceParty[],
  mint: Partial<Record<ConformanceParty, bigint>>,
): Promise<ConformanceChain> {
  const anvil = await startAnvil({ args: ["--timestamp", String(Date.UTC(2024, 11, 1) / 1000)] });
  try {
    const deployer = anvil.wallets[0] as HDNodeWallet;
    const w = conformanceWallets();
    const parties = funded.map((name) => w[name].connect(anvil.provider));
    for (const p of parties) {
      await anvil.provider.send("anvil_setBalance", [
        p.address,
        `0x${parseEther("100").toString(16)}`,
      ]);
    }
    const token = (await deploy(
      deployer,
      testTokenAbi,
      testTokenBytecode,
      "Euro Test",
      "EURT",
      6,
    )) as Contract;
    for (const [name, amount] of Object.entries(mint) as [ConformanceParty, bigint][]) {
      await send(token, deployer, "mint", w[name].address, amount);
    }
    return { anvil, deployer, parties, token };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}
