import type { Currency, LedgerBackend, LedgerClock } from "@maaskit/settlement";
import { anvilMnemonic, startAnvil } from "@maaskit/settlement/anvil";
import { evmLedger, testTokenAbi, testTokenBytecode } from "@maaskit/settlement/evm";
import { ContractFactory, HDNodeWallet, JsonRpcProvider, Mnemonic, type Signer } from "ethers";

/** An EVM ledger for the gateway: the parties' addresses and the settlement token. */
export interface GatewayEvm {
  readonly ledger: LedgerBackend;
  readonly rpcUrl: string;
  readonly parties: {
    readonly customer: string;
    readonly provider: string;
    readonly arbiter: string;
  };
  readonly currency: Currency;
  stop(): Promise<void>;
}

/**
 * The `evm` ledger choice: starts a local anvil (from the npm package, on 127.0.0.1 and a
 * free port) unless `rpcUrl` names a node, deploys the maaskit contracts and a test ERC-20
 * (EURT, 2 decimals) and mints it to the customer. Anvil's default accounts play customer,
 * provider and arbiter; on a real chain these would be the parties' own signers.
 */
export async function startEvmLedger(p: {
  rpcUrl?: string;
  clock: LedgerClock;
  agreementCurrency?: Currency;
}): Promise<GatewayEvm> {
  const anvil = p.rpcUrl === undefined ? await startAnvil() : undefined;
  const provider =
    anvil?.provider ??
    new JsonRpcProvider(p.rpcUrl, undefined, {
      staticNetwork: true,
      cacheTimeout: -1,
      batchMaxCount: 1,
      pollingInterval: 20,
    });
  const wallets: Signer[] =
    anvil?.wallets.slice(0, 4) ??
    // anvil's default accounts are m/44'/60'/0'/0/i of its mnemonic (`Wallet.fromPhrase(…)
    // .deriveChild(i)` would be m/…/0/0/i: unfunded accounts, and every deployment fails).
    [0, 1, 2, 3].map((i) =>
      HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(anvilMnemonic), `m/44'/60'/0'/0/${i}`).connect(
        provider,
      ),
    );
  const [deployer, customer, provider_, arbiter] = wallets as [Signer, Signer, Signer, Signer];
  const factory = new ContractFactory(testTokenAbi, testTokenBytecode, deployer);
  const token = await factory.deploy("Euro Test", "EURT", 2);
  await token.waitForDeployment();
  const tokenAddress = await token.getAddress();
  const mint = await (
    token.connect(deployer) as unknown as {
      mint(to: string, amount: bigint): Promise<{ wait(): Promise<unknown> }>;
    }
  ).mint(await customer.getAddress(), 10n ** 9n);
  await mint.wait();
  const ledger = await evmLedger({
    provider,
    signer: deployer,
    parties: [customer, provider_, arbiter],
    deploy: true,
    clock: p.clock,
  });
  return {
    ledger,
    rpcUrl: anvil?.rpcUrl ?? p.rpcUrl!,
    parties: {
      customer: await customer.getAddress(),
      provider: await provider_.getAddress(),
      arbiter: await arbiter.getAddress(),
    },
    currency: { symbol: "EURT", decimals: 2, address: tokenAddress },
    async stop() {
      await anvil?.stop();
    },
  };
}
