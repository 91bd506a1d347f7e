// The `evm` ledger choice: the maaskit contracts on an EVM chain — a local anvil the gateway
// starts (dev accounts play the parties), or a node named by `rpcUrl` with the parties' own keys.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import type { Currency, LedgerBackend, LedgerClock } from "@maaskit/settlement";
import type { EvmLedgerAddresses } from "@maaskit/settlement/evm";
import { ContractFactory, JsonRpcProvider, type Signer, Wallet } from "ethers";
import { GatewayError } from "../errors.js";

/**
 * Where an EVM party's private key comes from: a key file (one `0x…` hex key, mode 0600),
 * or an environment variable holding it. Never a public mnemonic.
 */
export type EvmKeySource = { readonly keyFile: string } | { readonly env: string };

/** The keys the gateway acts with on a node it did not start (`rpcUrl`). */
export interface EvmKeys {
  /** Deploys the contracts and relays records and statements. */
  readonly relayer: EvmKeySource;
  readonly customer: EvmKeySource;
  readonly provider: EvmKeySource;
  readonly arbiter: EvmKeySource;
}

/** A party's key from its key file or environment variable (a `0x…` 32-byte hex key). */
export function loadEvmKey(source: EvmKeySource): Wallet {
  const where = "keyFile" in source ? source.keyFile : `$${source.env}`;
  let raw: string | undefined;
  try {
    raw =
      "keyFile" in source ? readFileSync(source.keyFile, "utf8").trim() : process.env[source.env];
  } catch (err) {
    throw new GatewayError(
      "gateway.config.unreadable",
      `cannot read key file ${where}`,
      { source: where },
      err,
    );
  }
  if (raw === undefined || !/^0x[0-9a-fA-F]{64}$/.test(raw)) {
    throw new GatewayError(
      "gateway.config.invalid",
      `No private key (0x + 64 hex digits) in ${where}`,
      { source: where },
    );
  }
  return new Wallet(raw);
}

/** An EVM ledger for the gateway: the parties' addresses and the settlement token. */
export interface GatewayEvmLedger {
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
  /** Stops the anvil this call started (nothing on a node named by `rpcUrl`). */
  stop(): Promise<void>;
}

/**
 * Starts a local anvil (npm `@foundry-rs/anvil`, an optional peer: missing, it fails with
 * `maaskit.dependency.missing`) on 127.0.0.1 unless `rpcUrl` names a node, deploys the maaskit
 * contracts and a test ERC-20 (EURT, 2 decimals) and mints it to the customer. On anvil its dev
 * accounts play relayer, customer, provider and arbiter; on a node named by `rpcUrl` only the
 * `keys` given are used (without them: `gateway.config.invalid` — never anvil's public mnemonic
 * on a node the gateway did not start).
 *
 * With `rpcUrl` and `stateFile`, the contracts' and the token's addresses are kept in that JSON
 * file: a restarted gateway reuses them (the ledger rebuilds its state from the chain). The file
 * is ignored when it names another chain.
 */
export async function startEvmLedger(p: {
  readonly rpcUrl?: string;
  readonly keys?: EvmKeys;
  readonly clock: LedgerClock;
  readonly stateFile?: string;
}): Promise<GatewayEvmLedger> {
  if (p.rpcUrl !== undefined && p.keys === undefined) {
    throw new GatewayError(
      "gateway.config.invalid",
      "With rpcUrl the gateway needs the parties' keys (ledger.keys: key files or env variables); it never signs with anvil's public dev mnemonic on a node it did not start",
      { rpcUrl: p.rpcUrl },
    );
  }
  const { evmLedger, testTokenAbi, testTokenBytecode } = await import("@maaskit/settlement/evm");
  const anvil =
    p.rpcUrl === undefined
      ? await (await import("@maaskit/settlement/anvil")).startAnvil()
      : undefined;
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
    [p.keys!.relayer, p.keys!.customer, p.keys!.provider, p.keys!.arbiter].map((k) =>
      loadEvmKey(k).connect(provider),
    );
  const [relayer, customer, provider_, arbiter] = wallets as [Signer, Signer, Signer, Signer];
  const parties = {
    customer: await customer.getAddress(),
    provider: await provider_.getAddress(),
    arbiter: await arbiter.getAddress(),
  };
  const chainId = (await provider.getNetwork()).chainId.toString();
  const stateFile = anvil === undefined ? p.stateFile : undefined;
  const saved = stateFile === undefined ? undefined : readState(stateFile, chainId);
  if (saved !== undefined) {
    const ledger = await evmLedger({
      provider,
      signer: relayer,
      parties: [customer, provider_, arbiter],
      addresses: saved.addresses,
      fromBlock: saved.fromBlock,
      clock: p.clock,
    });
    return {
      ledger,
      addresses: saved.addresses,
      rpcUrl: p.rpcUrl!,
      parties,
      currency: { symbol: "EURT", decimals: 2, address: saved.token },
      async stop() {},
    };
  }
  const fromBlock = await provider.getBlockNumber();
  const token = await new ContractFactory(testTokenAbi, testTokenBytecode, relayer).deploy(
    "Euro Test",
    "EURT",
    2,
  );
  await token.waitForDeployment();
  const tokenAddress = await token.getAddress();
  const mint = await (
    token as unknown as {
      mint(to: string, amount: bigint): Promise<{ wait(): Promise<unknown> }>;
    }
  ).mint(parties.customer, 10n ** 9n);
  await mint.wait();
  const ledger = await evmLedger({
    provider,
    signer: relayer,
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
    parties,
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
