import { type ChildProcess, spawn } from "node:child_process";

/** One JSON log line of the gateway child. */
export interface ChildEvent {
  readonly event: string;
  readonly [key: string]: unknown;
}

/** A running gateway child process and what it has printed so far. */
export interface GatewayProcess {
  readonly child: ChildProcess;
  /** Every complete JSON line printed on stdout so far. */
  readonly events: ChildEvent[];
  /** stderr so far (non-JSON output, stack traces). */
  stderr(): string;
  /** Resolves with the first event (already printed or future) that matches. */
  waitFor(match: (e: ChildEvent) => boolean, timeoutMs?: number): Promise<ChildEvent>;
  /** Resolves when the process has exited and its pipes are drained. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: boolean;
}

/**
 * Starts `node <script> ...args` (optionally under a wrapper such as `prlimit --fsize=…`)
 * and collects its JSON log lines. A line cut short by a SIGKILL is simply not an event.
 */
export function spawnGateway(
  script: string,
  args: readonly string[],
  options: { wrapper?: readonly string[]; env?: NodeJS.ProcessEnv } = {},
): GatewayProcess {
  const argv = [...(options.wrapper ?? []), process.execPath, script, ...args];
  const child = spawn(argv[0]!, argv.slice(1), {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, ...options.env },
  });
  const events: ChildEvent[] = [];
  let partial = "";
  let err = "";
  const waiters = new Set<{
    match: (e: ChildEvent) => boolean;
    resolve: (e: ChildEvent) => void;
  }>();
  child.stdout!.setEncoding("utf8");
  child.stdout!.on("data", (d: string) => {
    const lines = (partial + d).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      let e: ChildEvent;
      try {
        e = JSON.parse(line) as ChildEvent;
      } catch {
        continue;
      }
      if (typeof e !== "object" || e === null || typeof e.event !== "string") continue;
      events.push(e);
      for (const w of waiters) {
        if (w.match(e)) {
          waiters.delete(w);
          w.resolve(e);
        }
      }
    }
  });
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (d: string) => {
    err += d;
  });
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    let status: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let closed = false;
    const done = () => {
      if (status && closed) resolve(status);
    };
    child.once("exit", (code, signal) => {
      running = false;
      status = { code, signal };
      done();
    });
    child.stdout!.once("close", () => {
      closed = true;
      done();
    });
  });
  return {
    child,
    events,
    stderr: () => err,
    get running() {
      return running;
    },
    exited,
    waitFor(match, timeoutMs = 60_000) {
      const hit = events.find(match);
      if (hit) return Promise.resolve(hit);
      return new Promise<ChildEvent>((resolve, reject) => {
        const w = {
          match,
          resolve: (e: ChildEvent) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(w);
          reject(
            new Error(
              `gateway child: no matching event within ${timeoutMs} ms; last events ${JSON.stringify(events.slice(-5))}; stderr ${err.slice(-2000)}`,
            ),
          );
        }, timeoutMs);
        waiters.add(w);
        void exited.then(() => {
          if (!waiters.has(w)) return;
          waiters.delete(w);
          clearTimeout(timer);
          reject(
            new Error(
              `gateway child exited before a matching event; last events ${JSON.stringify(events.slice(-5))}; stderr ${err.slice(-2000)}`,
            ),
          );
        });
      });
    },
  };
}

/** Small seeded PRNG (mulberry32), so a failing run can be replayed from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
