import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { MaaskitError } from "@maaskit/metering";
import type { Currency, LedgerBackend, LedgerClock } from "@maaskit/settlement";
import { startAnvil } from "@maaskit/settlement/anvil";
import {
  type EvmLedgerAddresses,
  evmLedger,
  testTokenAbi,
  testTokenBytecode,
} from "@maaskit/settlement/evm";
import { ContractFactory, JsonRpcProvider, type Signer, Wallet } from "ethers";
import type { EvmKeySource, EvmKeys } from "./config.js";

/** A party's key from its key file or environment variable (a `0x…` 32-byte hex key). */
export function loadEvmKey(source: EvmKeySource): Wallet {
  const raw =
    "keyFile" in source ? readFileSync(source.keyFile, "utf8").trim() : process.env[source.env];
  const where = "keyFile" in source ? source.keyFile : `$${source.env}`;
  if (raw === undefined || !/^0x[0-9a-fA-F]{64}$/.test(raw)) {
    throw new MaaskitError(
      "example.config.invalid",
      `No private key (0x + 64 hex digits) in ${where}`,
      {
        details: { source: where },
      },
    );
  }
  return new Wallet(raw);
}

/** An EVM ledger for the gateway: the parties' addresses and the settlement token. */
export interface GatewayEvm {
  readonly ledger: LedgerBackend;
  /** The maaskit contracts the ledger runs on. */
  readonly addresses: EvmLedgerAddresses;
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
 *
 * With `rpcUrl` and `stateFile`, the contracts' and the token's addresses are kept in that
 * JSON file: a restarted gateway reuses them (the ledger rebuilds its state from the chain)
 * instead of deploying fresh ones. The file is ignored when it names another chain.
 */
export async function startEvmLedger(p: {
  rpcUrl?: string;
  /** Required with `rpcUrl`: the relayer's and the parties' keys (key files or env variables). */
  keys?: EvmKeys;
  clock: LedgerClock;
  agreementCurrency?: Currency;
  stateFile?: string;
}): Promise<GatewayEvm> {
  if (p.rpcUrl !== undefined && p.keys === undefined) {
    throw new MaaskitError(
      "example.config.invalid",
      "With rpcUrl the gateway needs the parties' keys (ledger.keys: key files or env variables); it never signs with anvil's public dev mnemonic on a node it did not start",
      { details: { rpcUrl: p.rpcUrl } },
    );
  }
  const anvil = p.rpcUrl === undefined ? await startAnvil() : undefined;
  const provider =
    anvil?.provider ??
    new JsonRpcProvider(p.rpcUrl, undefined, {
      staticNetwork: true,
      cacheTimeout: -1,
      batchMaxCount: 1,
      pollingInterval: 20,
    });
  // The anvil this function started may keep its dev accounts; any other node gets only the
  // keys the config names.
  const wallets: Signer[] =
    anvil?.wallets.slice(0, 4) ??
    [p.keys!.relayer, p.keys!.customer, p.keys!.provider, p.keys!.arbiter].map((k) =>
      loadEvmKey(k).connect(provider),
    );
  const [deployer, customer, provider_, arbiter] = wallets as [Signer, Signer, Signer, Signer];
  const chainId = (await provider.getNetwork()).chainId.toString();
  const stateFile = anvil === undefined ? p.stateFile : undefined;
  const saved = stateFile === undefined ? undefined : readState(stateFile, chainId);
  if (saved !== undefined) {
    const ledger = await evmLedger({
      provider,
      signer: deployer,
      parties: [customer, provider_, arbiter],
      addresses: saved.addresses,
      fromBlock: saved.fromBlock,
      clock: p.clock,
    });
    return {
      ledger,
      addresses: saved.addresses,
      rpcUrl: p.rpcUrl!,
      parties: {
        customer: await customer.getAddress(),
        provider: await provider_.getAddress(),
        arbiter: await arbiter.getAddress(),
      },
      currency: { symbol: "EURT", decimals: 2, address: saved.token },
      async stop() {},
    };
  }
  const fromBlock = await provider.getBlockNumber();
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
  if (stateFile !== undefined) {
    const state: EvmState = {
      chainId,
      addresses: ledger.addresses,
      token: tokenAddress,
      fromBlock,
    };
    mkdirSync(dirname(stateFile), { recursive: true });
    writeFileSync(stateFile, `${JSON.stringify(state, null, 2)}\n`);
  }
  return {
    ledger,
    addresses: ledger.addresses,
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

/** What `stateFile` keeps: where the gateway's contracts and token live. */
interface EvmState {
  readonly chainId: string;
  readonly addresses: EvmLedgerAddresses;
  readonly token: string;
  readonly fromBlock: number;
}

function readState(file: string, chainId: string): EvmState | undefined {
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, "utf8")) as EvmState;
  return state.chainId === chainId ? state : undefined;
}
