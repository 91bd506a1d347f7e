import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { LedgerBackend } from "@maaskit/settlement";
import { untilDelivered } from "./fleet.js";

// `maaskit-ledger serve` as a child process, for the tests that kill it or its database.

const pkg = fileURLToPath(new URL("..", import.meta.url));
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/**
 * `maaskit-ledger serve` from source as a child process on a ledger (`--data-dir <dir>` or
 * `--database-url <url>`); resolves once it listens.
 */
export function serve(
  ledgerArgs: readonly string[],
  tokens: string,
  port: number,
): Promise<ChildProcess> {
  const child = spawn(
    process.execPath,
    [
      "--conditions",
      "source",
      "--import",
      "tsx",
      join(pkg, "src/cli.ts"),
      "serve",
      "--port",
      String(port),
      ...ledgerArgs,
      "--auth",
      tokens,
      "--rate",
      "100000",
    ],
    { cwd: pkg, stdio: ["ignore", "pipe", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout?.on("data", (d) => {
      out += String(d);
      if (out.includes("listening on")) resolve(child);
    });
    child.stderr?.on("data", (d) => {
      err += String(d);
    });
    child.once("exit", (code) => reject(new Error(`the service exited (${code}): ${err}`)));
  });
}

/** SIGKILLs the child and resolves once it is gone (at once if it already exited or was killed). */
export function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** The ledger with every call retried while it is unavailable (as a gateway's delivery loop). */
export function retryingLedger<L extends LedgerBackend>(ledger: L): LedgerBackend {
  return new Proxy(ledger, {
    get: (target, prop) => {
      const v = (target as unknown as Record<string | symbol, unknown>)[prop];
      return typeof v === "function"
        ? (...a: unknown[]) =>
            untilDelivered(() => (v as (...x: unknown[]) => Promise<unknown>).apply(target, a))
        : v;
    },
  }) as LedgerBackend;
}
