import { Wallet } from "ethers";
import { describe, expect, test } from "vitest";
import { meterRecordToJson } from "./records/meterRecord.js";
import {
  buildPeriodStatement,
  periodStatementToJson,
  signPeriodStatement,
} from "./records/periodStatement.js";
import { sampleChain, TEST_KEY } from "./records/sampleMeterRecords.js";
import { type LineKindVerifier, lineKinds, runCli } from "./runCli.js";

const records = await sampleChain(4);
const SIGNER = new Wallet(TEST_KEY).address;
const lines = records.map((r) => JSON.stringify(meterRecordToJson(r)));

async function cli(argv: string[], file: string, kinds?: ReadonlyMap<string, LineKindVerifier>) {
  let stdout = "";
  let stderr = "";
  const code = await runCli(
    argv,
    {
      stdout: (t) => {
        stdout += t;
      },
      stderr: (t) => {
        stderr += t;
      },
      readFile: async (p) => {
        if (p !== "export.jsonl") throw new Error("ENOENT");
        return file;
      },
    },
    kinds === undefined ? {} : { kinds },
  );
  return { code, stdout, stderr };
}

describe("runCli verify", () => {
  test("args: --capacity — a record above capacity × its duration is invalid", async () => {
    // The sample windows are 15 minutes of 12–17 m³: within 2 m³/min (30), not within 1 (15).
    const file = `${lines.join("\n")}\n`;
    expect((await cli(["verify", "export.jsonl", "--capacity", "2/min"], file)).code).toBe(0);
    const tight = await cli(["verify", "export.jsonl", "--capacity", "1/min", "--json"], file);
    expect(tight.code).toBe(1);
    const results = JSON.parse(tight.stdout).results as { valid: boolean; reasons: string[] }[];
    const over = records.map((r) => r.quantity.value.gt(15));
    expect(over).toContain(true);
    expect(results.map((r) => !r.valid)).toEqual(over);
    for (const r of results.filter((x) => !x.valid)) {
      expect(r.reasons).toEqual(["metering.record.exceedsCapacity"]);
    }
    const bad = await cli(["verify", "export.jsonl", "--capacity", "12.5"], file);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--capacity must be <value>\/<s\|min\|h>/);
  });

  test("default: every record valid exits 0 with one line per record", async () => {
    const { code, stdout } = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER],
      `${lines.join("\n")}\n`,
    );
    expect(code).toBe(0);
    expect(stdout.trim().split("\n")).toEqual([
      "line 1  seq 0  valid",
      "line 2  seq 1  valid",
      "line 3  seq 2  valid",
      "line 4  seq 3  valid",
      "export.jsonl: 4 lines, 4 valid, 0 invalid",
    ]);
  });

  test("error: a deleted record names the next seq and its reasons, exit 1", async () => {
    const { code, stdout } = await cli(
      ["verify", "export.jsonl"],
      [lines[0], lines[1], lines[3]].join("\n"),
    );
    expect(code).toBe(1);
    expect(stdout).toContain(
      "line 3  seq 3  INVALID  metering.record.seqGap: seq 3: expected seq 2",
    );
    expect(stdout).toContain("line 3  seq 3  INVALID  metering.record.brokenChain:");
  });

  test("args: --json reports reasons per line", async () => {
    const dup = [lines[0], lines[1], lines[1]].join("\n");
    const { code, stdout } = await cli(["verify", "export.jsonl", "--json"], dup);
    expect(code).toBe(1);
    const report = JSON.parse(stdout);
    expect(report.summary).toEqual({ lines: 3, valid: 2, invalid: 1 });
    expect(report.results[2].seq).toBe(1);
    expect(report.results[2].reasons).toContain("metering.record.seqDuplicate");
  });

  test("args: --agreement makes records of another agreement invalid", async () => {
    const { code, stdout } = await cli(
      ["verify", "export.jsonl", "--agreement", "agr-other", "--json"],
      lines[0]!,
    );
    expect(code).toBe(1);
    expect(JSON.parse(stdout).results[0].reasons).toEqual(["metering.record.wrongAgreement"]);
  });

  test("behavior: malformed, non-JSON and unknown-kind lines are invalid, blank lines ignored", async () => {
    const bad = JSON.stringify({
      ...JSON.parse(lines[1]!),
      quantity: { value: "1e", unit: "MTQ" },
    });
    const file = [lines[0], "", "not json", bad, JSON.stringify({ kind: "mystery" })].join("\n");
    const { code, stdout } = await cli(["verify", "export.jsonl", "--json"], file);
    expect(code).toBe(1);
    const results = JSON.parse(stdout).results as { line: number; reasons: string[] }[];
    expect(results.map((r) => [r.line, r.reasons])).toEqual([
      [1, []],
      [3, ["metering.cli.badLine"]],
      [4, ["metering.record.malformed"]],
      [5, ["metering.cli.unknownKind"]],
    ]);
  });

  test("behavior: a period statement line is checked against the file's records", async () => {
    const statement = await signPeriodStatement(buildPeriodStatement(records), {
      signer: new Wallet(TEST_KEY),
    });
    const good = JSON.stringify(periodStatementToJson(statement));
    const wrongTotal = JSON.stringify(
      periodStatementToJson(
        await signPeriodStatement(
          { ...statement, total: { ...statement.total, value: statement.total.value.plus(1) } },
          { signer: new Wallet(TEST_KEY) },
        ),
      ),
    );
    const ok = await cli(["verify", "export.jsonl"], [...lines, good].join("\n"));
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("line 5  statement 0..3  valid");
    const bad = await cli(["verify", "export.jsonl", "--json"], [...lines, wrongTotal].join("\n"));
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).results[4].reasons).toEqual(["metering.statement.mismatch"]);
  });

  test("behavior: more line kinds can be registered (e.g. maintenance history)", async () => {
    const kinds = new Map(lineKinds);
    kinds.set("note", (ls) =>
      ls.map((l) => ({
        line: l.line,
        kind: "note",
        label: "note",
        valid: l.json.ok === true,
        reasons: [],
        messages: [],
      })),
    );
    const file = [lines[0], JSON.stringify({ kind: "note", ok: true })].join("\n");
    expect((await cli(["verify", "export.jsonl"], file, kinds)).code).toBe(0);
  });

  test("error: an empty file is not a valid export", async () => {
    const { code, stdout } = await cli(["verify", "export.jsonl"], "\n");
    expect(code).toBe(1);
    expect(stdout).toContain("no records");
  });

  test("error: usage problems exit 2", async () => {
    expect((await cli([], "")).code).toBe(2);
    expect((await cli(["frobnicate"], "")).code).toBe(2);
    expect((await cli(["verify"], "")).code).toBe(2);
    expect((await cli(["verify", "export.jsonl", "--bogus"], "")).code).toBe(2);
    expect((await cli(["verify", "missing.jsonl"], "")).code).toBe(2);
    expect((await cli(["--help"], "")).code).toBe(0);
  });
});
