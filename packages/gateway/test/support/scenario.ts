// The new-user scenario, run against a given `maaskit-gateway` command: init, a gateway that
// starts before its OPC UA server, a server restart mid-run, and a bill that must equal the
// simulator's ground truth exactly (computed from an independent model with the same seed).
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { compressorModel } from "@maaskit/metering";
import { Decimal } from "decimal.js";
import { expect } from "vitest";

export interface Command {
  readonly exe: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
}

export interface Proc {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  stderr(): string;
  stdout(): string;
  readonly exited: Promise<number>;
}

export function start(cmd: Command, args: readonly string[]): Proc {
  const child = spawn(cmd.exe, [...cmd.args, ...args], {
    cwd: cmd.cwd,
    // A stranger's shell (the packaging test) replaces the environment; else it is extended.
    env: cmd.env ?? process.env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  let buf = "";
  let err = "";
  let out = "";
  child.stdout!.on("data", (d: Buffer) => {
    out += d.toString("utf8");
    buf += d.toString("utf8");
    let i = buf.indexOf("\n");
    while (i >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith("{")) {
        try {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // a log line of a dependency
        }
      }
      i = buf.indexOf("\n");
    }
  });
  child.stderr!.on("data", (d: Buffer) => {
    err += d.toString("utf8");
  });
  const exited = new Promise<number>((ok) =>
    child.on("exit", (code, signal) => ok(code ?? (signal ? 128 : 1))),
  );
  return { child, lines, stderr: () => err, stdout: () => out, exited };
}

export async function runToEnd(cmd: Command, args: readonly string[]) {
  const p = start(cmd, args);
  const code = await p.exited;
  return { code, lines: p.lines, stderr: p.stderr(), stdout: p.stdout() };
}

export async function waitFor(
  p: Proc,
  pred: (l: Record<string, unknown>) => boolean,
  timeoutMs = 90_000,
) {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const hit = p.lines.find(pred);
    if (hit) return hit;
    if (p.child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `no matching line; last: ${JSON.stringify(p.lines.slice(-5))}; stderr: ${p.stderr().slice(-2000)}`,
  );
}

export function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => ok(port));
    });
  });
}

/**
 * The whole scenario. `lateMs`: how long after the gateway the server starts, in real
 * (wall-clock) time — the gateway is already running and retrying its connect meanwhile.
 * `until`: the run's `--until` (machine time after the agreement start; default 30h).
 */
export async function newUserScenario(
  cmd: Command,
  dir: string,
  o: {
    lateMs: number;
    accelerate: number;
    until?: string;
    /** Edits the config `init` wrote (e.g. its `ledger`) before the run starts. */
    configure?: (config: Record<string, unknown>) => void | Promise<void>;
  },
) {
  const port = await freePort();
  const init = await runToEnd(cmd, [
    "init",
    dir,
    "--endpoint",
    `opc.tcp://127.0.0.1:${port}/UA/Compressor`,
  ]);
  expect(init.code, init.stderr).toBe(0);
  expect(statSync(join(dir, "gateway.key")).mode & 0o777).toBe(0o600);
  // A second init refuses to replace the key.
  const again = await runToEnd(cmd, ["init", dir]);
  expect(again.code).toBe(3);
  expect(again.stderr).toContain("gateway.init.keyExists");

  const config = join(dir, "gateway.json");
  // Accelerated machine time: retry the connection at least every 2 s of real time.
  const json = JSON.parse(readFileSync(config, "utf8")) as Record<string, unknown>;
  json.opcua = { reconnect: { initialDelayMs: 250, maxDelayMs: 2000 } };
  await o.configure?.(json);
  writeFileSync(config, JSON.stringify(json, null, 2));
  const run = start(cmd, ["run", "--config", config, "--until", o.until ?? "30h"]);
  await new Promise((r) => setTimeout(r, o.lateMs));
  const sim = start(cmd, [
    "simulate",
    "--port",
    String(port),
    "--accelerate",
    String(o.accelerate),
    "--seed",
    "42",
    "--restart-downtime",
    "1s",
    // The vendor provisions trust: the gateway accepts only certificates in its trust list.
    "--trust",
    join(dir, "data", "pki"),
  ]);
  try {
    const started = await waitFor(sim, (l) => l.event === "simulator.started");
    // Restart the server once the gateway is metering.
    await waitFor(run, (l) => l.event === "progress" && Number(l.records) >= 3);
    sim.child.kill("SIGHUP");
    await waitFor(sim, (l) => l.event === "simulator.restarted");
    const code = await run.exited;
    expect(code, run.stderr().slice(-3000)).toBe(0);
    const summary = run.lines.find((l) => l.event === "run.summary") as {
      records: number;
      journaled: number;
      billedVolume: string;
      firstReading: { at: string; register: string };
      lastReading: { at: string; register: string };
      invoices: { period: string; usage: string }[];
      unacknowledged: number;
      maintenanceAdvisories: Record<string, number>;
      verification: { invalid: number; valid: number };
    };
    expect(summary).toBeDefined();
    // The gateway had to wait for the server, and lived through its restart.
    expect(run.lines.some((l) => l.event === "opcua.retrying")).toBe(true);
    // Ground truth from an independent model with the simulator's seed and start.
    const model = compressorModel({ startTime: new Date(String(started.startTime)), seed: 42 });
    const last = new Date(summary.lastReading.at);
    model.advanceTo(last);
    const truth = model
      .groundTruthVolumeAt(last)
      .minus(model.groundTruthVolumeAt(new Date(summary.firstReading.at)));
    expect(truth.gt(0)).toBe(true);
    expect(
      new Decimal(summary.billedVolume).eq(truth),
      `billed ${summary.billedVolume} vs truth ${truth}`,
    ).toBe(true);
    expect(summary.invoices.length).toBeGreaterThanOrEqual(1);
    // Each invoice bills exactly the signed records of its period (the exported journal).
    const records = readFileSync(join(dir, "out", "records.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map(
        (l) =>
          JSON.parse(l) as { periodStart: string; periodEnd: string; quantity: { value: string } },
      );
    expect(
      records.reduce((s, r) => s.plus(r.quantity.value), new Decimal(0)).eq(truth),
      "the records' total is the ground truth",
    ).toBe(true);
    for (const inv of summary.invoices) {
      const [from, to] = inv.period.split("/").map((t) => Date.parse(t));
      const inPeriod = records.filter(
        (r) => Date.parse(r.periodStart) >= from! && Date.parse(r.periodEnd) <= to!,
      );
      expect(inPeriod.length).toBeGreaterThan(0);
      const sum = inPeriod.reduce((s, r) => s.plus(r.quantity.value), new Decimal(0));
      expect(new Decimal(inv.usage).eq(sum), `invoice ${inv.period}: ${inv.usage} vs ${sum}`).toBe(
        true,
      );
    }
    expect(summary.unacknowledged).toBe(0);
    // The compressor profile's maintenance triggers ran over the readings (counts by severity).
    expect(summary.maintenanceAdvisories).toBeTypeOf("object");
    expect(summary.verification.invalid).toBe(0);

    const status = await runToEnd(cmd, ["status", "--config", config]);
    expect(status.code, status.stderr).toBe(0);
    const st = JSON.parse(status.stdout) as {
      unacknowledged: number;
      lastSettledPeriod: unknown;
      ledger: unknown;
    };
    expect(st).toMatchObject({ unacknowledged: 0, ledger: "ok" });
    expect(st.lastSettledPeriod).not.toBeNull();
    const verify = await runToEnd(cmd, ["verify", "--config", config]);
    expect(verify.code, verify.stderr).toBe(0);
    return { summary, truth, status: st };
  } finally {
    sim.child.kill("SIGTERM");
    await sim.exited;
    if (run.child.exitCode === null) {
      run.child.kill("SIGKILL");
      await run.exited;
    }
  }
}
