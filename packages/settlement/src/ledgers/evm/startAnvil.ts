import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { MaaskitError } from "@maaskit/metering";
import { HDNodeWallet, JsonRpcProvider, Mnemonic } from "ethers";

/** anvil's well-known development mnemonic (its default accounts are funded with 10,000 ETH). */
export const anvilMnemonic = "test test test test test test test test test test test junk";

/** A running anvil node. `stop()` kills it and waits for the process to exit. */
export interface Anvil {
  readonly rpcUrl: string;
  readonly port: number;
  readonly chainId: bigint;
  /** A provider configured as maaskit recommends against a local node (no response cache). */
  readonly provider: JsonRpcProvider;
  /** The first ten default accounts, connected to `provider`. */
  readonly wallets: readonly HDNodeWallet[];
  /** Advances the node's clock by `seconds` and mines a block. */
  increaseTime(seconds: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The path of the anvil binary shipped in the optional dependency of `@foundry-rs/anvil`.
 * Spawned directly: stopping the npm wrapper (`bin.mjs`) leaves its child running.
 */
export function anvilBinary(): string {
  const arch = process.arch === "x64" ? "amd64" : process.arch;
  const pkg = `@foundry-rs/anvil-${process.platform}-${arch}`;
  const wrapper = resolveOptional("@foundry-rs/anvil", import.meta.url);
  const pkgJson = resolveOptional(pkg, wrapper);
  return join(dirname(pkgJson), "bin", process.platform === "win32" ? "anvil.exe" : "anvil");
}

/** The package.json of an optional peer, or `maaskit.dependency.missing` naming it. */
function resolveOptional(name: string, from: string): string {
  try {
    return createRequire(from).resolve(`${name}/package.json`);
  } catch (err) {
    throw new MaaskitError(
      "maaskit.dependency.missing",
      `@maaskit/settlement/anvil needs the package "${name}", an optional peer dependency that is not installed: npm install @foundry-rs/anvil`,
      { details: { package: name, entry: "@maaskit/settlement/anvil" }, cause: err },
    );
  }
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * Starts anvil on 127.0.0.1 on a free port chosen by the OS (`--port 0`; the port is read
 * from its "Listening on" line, so there is no race between picking and binding a port),
 * and resolves once the node answers `eth_chainId`.
 *
 * @example
 * ```ts
 * const anvil = await startAnvil();
 * try { … anvil.provider … } finally { await anvil.stop(); }
 * ```
 */
export async function startAnvil(options: { args?: readonly string[] } = {}): Promise<Anvil> {
  const child = spawn(
    anvilBinary(),
    ["--host", "127.0.0.1", "--port", "0", "--mnemonic", anvilMnemonic, ...(options.args ?? [])],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    // Last resort if a test run dies before its teardown: never leave a node behind.
    process.once("exit", () => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  exited.then(() => live.delete(child));

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };

  let port: number;
  try {
    port = await new Promise<number>((resolve, reject) => {
      let out = "";
      let err = "";
      const timer = setTimeout(
        () => reject(new Error(`anvil did not start:\n${out}${err}`)),
        15_000,
      );
      child.stdout?.setEncoding("utf8");
      child.stderr?.setEncoding("utf8");
      child.stderr?.on("data", (d: string) => {
        err += d;
      });
      child.stdout?.on("data", (d: string) => {
        out += d;
        const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(out);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`anvil exited with ${code}:\n${out}${err}`));
      });
      child.once("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    // Keep draining the pipes so a chatty node never blocks on a full buffer.
    child.stdout?.resume();
    child.stderr?.resume();
  } catch (e) {
    await stop();
    throw e;
  }

  const rpcUrl = `http://127.0.0.1:${port}`;
  const provider = new JsonRpcProvider(rpcUrl, undefined, {
    staticNetwork: true,
    cacheTimeout: -1,
    batchMaxCount: 1,
    pollingInterval: 20,
  });
  let chainId: bigint;
  try {
    chainId = BigInt(await provider.send("eth_chainId", []));
  } catch (e) {
    provider.destroy();
    await stop();
    throw e;
  }
  const mnemonic = Mnemonic.fromPhrase(anvilMnemonic);
  const wallets = Array.from({ length: 10 }, (_, i) =>
    HDNodeWallet.fromMnemonic(mnemonic, `m/44'/60'/0'/0/${i}`).connect(provider),
  );
  return {
    rpcUrl,
    port,
    chainId,
    provider,
    wallets,
    async increaseTime(seconds: number) {
      await provider.send("evm_increaseTime", [seconds]);
      await provider.send("evm_mine", []);
    },
    async stop() {
      provider.destroy();
      await stop();
    },
  };
}
