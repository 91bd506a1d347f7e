import { Wallet } from "ethers";
import { describe, expect, it } from "vitest";
import { runCli } from "../runCli.js";
import { type LogEntry, signLogEntry } from "./signedLog.js";

const key = new Wallet("0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318");

async function history(): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  let head: LogEntry | undefined;
  for (const [i, type] of ["serviceRequest", "workOrder.paid", "service.performed"].entries()) {
    head = await signLogEntry(
      {
        logId: "maintenance/c1",
        type,
        at: new Date(Date.UTC(2026, 0, 1 + i)),
        payload: { i },
        head,
      },
      key,
    );
    out.push(head);
  }
  return out;
}

async function cli(text: string, ...args: string[]) {
  let stdout = "";
  const code = await runCli(["verify", "history.jsonl", ...args], {
    stdout: (t) => {
      stdout += t;
    },
    stderr: () => {},
    readFile: async () => text,
  });
  return { code, stdout };
}

describe("maaskit verify on a maintenance history", () => {
  it("default: a valid history exits 0", async () => {
    const text = (await history()).map((e) => JSON.stringify(e)).join("\n");
    const { code, stdout } = await cli(text, "--signer", key.address);
    expect(code).toBe(0);
    expect(stdout).toContain("3 lines, 3 valid, 0 invalid");
  });

  it("error: a tampered entry is named by its seq and reason", async () => {
    const entries = await history();
    const text = entries
      .map((e, i) => JSON.stringify(i === 1 ? { ...e, payload: { i: 99 } } : e))
      .join("\n");
    const { code, stdout } = await cli(text, "--json");
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as {
      results: { seq: number; valid: boolean; reasons: string[] }[];
    };
    // The changed entry fails its signature; the next one no longer links to its new digest.
    expect(report.results.filter((r) => !r.valid)).toEqual([
      expect.objectContaining({ seq: 1, reasons: ["metering.log.badSignature"] }),
      expect.objectContaining({ seq: 2, reasons: ["metering.log.brokenChain"] }),
    ]);
  });
});
