import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { anvilBinary, anvilMnemonic } from "@maaskit/settlement/anvil";

/** An anvil node the harness can stop, restart on the same port and pause. */
export interface AnvilNode {
  readonly rpcUrl: string;
  readonly port: number;
  readonly running: boolean;
  /** SIGTERM: anvil writes its state file on the way out. */
  stop(): Promise<void>;
  /** Starts it again on the same port from the state file. */
  start(): Promise<void>;
  /** SIGSTOP / SIGCONT: the node hangs (connections open, nothing answered). */
  pause(): void;
  resume(): void;
}

/** A free TCP port on 127.0.0.1 (bound and released by the OS). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Runs the anvil binary from npm on 127.0.0.1 with `--state <file>`: state and block
 * environment are loaded at start and dumped on exit, so a stopped and restarted node keeps
 * every contract, balance and record — a real outage of the same chain, not a new one.
 */
export async function startAnvilNode(stateFile: string): Promise<AnvilNode> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  const start = async () => {
    const c = spawn(
      anvilBinary(),
      [
        "--host",
        "127.0.0.1",
        "--port",
        String(port),
        "--mnemonic",
        anvilMnemonic,
        "--state",
        stateFile,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    child = c;
    exited = new Promise((r) => c.once("exit", () => r()));
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error(`anvil did not start: ${out}`)), 15_000);
      c.stdout!.setEncoding("utf8");
      c.stdout!.on("data", (d: string) => {
        out += d;
        if (out.includes(`Listening on 127.0.0.1:${port}`)) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.stderr!.on("data", (d: Buffer) => {
        out += d.toString();
      });
      c.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`anvil exited with ${code}: ${out}`));
      });
    });
    c.stdout!.resume();
    c.stderr!.resume();
  };
  await start();
  return {
    rpcUrl: `http://127.0.0.1:${port}`,
    port,
    get running() {
      return child !== undefined && child.exitCode === null && child.signalCode === null;
    },
    async stop() {
      const c = child;
      if (c && c.exitCode === null && c.signalCode === null) {
        c.kill("SIGCONT");
        c.kill("SIGTERM");
      }
      await exited;
    },
    start,
    pause: () => child?.kill("SIGSTOP"),
    resume: () => child?.kill("SIGCONT"),
  };
}
