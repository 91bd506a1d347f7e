import { Wallet } from "ethers";
import { describe, expect, test } from "vitest";
import { buildPeriodStatement } from "./records/buildPeriodStatement.js";
import { meterRecordToJson } from "./records/meterRecord.js";
import { periodStatementToJson } from "./records/periodStatementJson.js";
import {
  OTHER_TEST_KEY,
  sampleChain,
  TEST_BINDING,
  TEST_KEY,
} from "./records/sampleMeterRecords.js";
import { signPeriodStatement } from "./records/signPeriodStatement.js";
import { runCli } from "./runCli.js";

// The auditor's findings against `maaskit verify` (issue 13), one test each, written
// against runCli's oldest interface so they ran (and failed) on the code before the fix.

const SIGNER = new Wallet(TEST_KEY).address;
const records = await sampleChain(6);
const lines = records.map((r) => JSON.stringify(meterRecordToJson(r)));

async function verify(file: string | Uint8Array, ...args: string[]): Promise<number> {
  return runCli(["verify", "f.jsonl", ...args], {
    stdout: () => {},
    stderr: () => {},
    readFile: async () => file as string,
  });
}
const jsonl = (ls: readonly string[]) => `${ls.join("\n")}\n`;

describe("audit of maaskit verify (issue 13)", () => {
  test("error: without --signer, a file signed by an attacker's own key is not called valid (exit ≠ 0)", async () => {
    const forged = (await sampleChain(6, { key: OTHER_TEST_KEY })).map((r) =>
      JSON.stringify(meterRecordToJson(r)),
    );
    expect(await verify(jsonl(forged))).not.toBe(0);
  });

  test("error: a record of another agreement inserted into the file fails without --agreement", async () => {
    const [other] = await sampleChain(1, {
      binding: { ...TEST_BINDING, agreementId: "agr-other" },
    });
    const file = jsonl([
      lines[0]!,
      lines[1]!,
      JSON.stringify(meterRecordToJson(other!)),
      lines[2]!,
    ]);
    expect(await verify(file, "--signer", SIGNER)).toBe(1);
  });

  test("error: deleting the first records fails", async () => {
    expect(await verify(jsonl(lines.slice(2)), "--signer", SIGNER)).toBe(1);
  });

  test("error: deleting the last record fails against the statement that covers it", async () => {
    const statement = await signPeriodStatement(buildPeriodStatement(records), {
      signer: new Wallet(TEST_KEY),
    });
    const code = await runCli(["verify", "f.jsonl", "--signer", SIGNER, "--statement", "st.json"], {
      stdout: () => {},
      stderr: () => {},
      readFile: async (p) =>
        p === "st.json"
          ? JSON.stringify(periodStatementToJson(statement))
          : jsonl(lines.slice(0, 5)),
    });
    expect(code).toBe(1);
  });

  test("error: a statement whose records are not in the file fails, even with its total inflated ×1000", async () => {
    const honest = buildPeriodStatement(records);
    const inflated = await signPeriodStatement(
      { ...honest, total: { ...honest.total, value: honest.total.value.times(1000) } },
      { signer: new Wallet(TEST_KEY) },
    );
    expect(
      await verify(jsonl([JSON.stringify(periodStatementToJson(inflated))]), "--signer", SIGNER),
    ).toBe(1);
  });

  test("error: non-canonical quantities, unsigned extra fields, duplicate keys and invalid UTF-8 fail", async () => {
    const j = JSON.parse(lines[1]!) as Record<string, Record<string, string>>;
    const v = j.quantity!.value!;
    const [int, frac = ""] = v.split(".");
    const bad = [
      JSON.stringify({ ...j, quantity: { ...j.quantity, value: frac ? `${v}0` : `${v}.00` } }),
      JSON.stringify({ ...j, quantity: { ...j.quantity, value: `${int}${frac}e-${frac.length}` } }),
      JSON.stringify({ ...j, invoiceNote: "paid in full" }),
      lines[1]!.replace("{", '{"quarantined":0,'),
    ];
    for (const line of bad) {
      expect(await verify(jsonl([lines[0]!, line, lines[2]!]), "--signer", SIGNER)).toBe(1);
    }
    const bytes = new TextEncoder().encode(
      jsonl([lines[0]!, lines[1]!.replace("{", '{"x":"ZQ",'), lines[2]!]),
    );
    const at = bytes.findIndex((b, i) => b === 0x5a && bytes[i + 1] === 0x51);
    bytes[at] = 0xc3; // a lone UTF-8 lead byte
    expect(await verify(bytes, "--signer", SIGNER)).toBe(1);
  });
});
