import { readFileSync } from "node:fs";
import { Wallet } from "ethers";
import { describe, expect, test } from "vitest";
import { EXIT, type LineKindVerifier } from "./exportReport.js";
import { buildPeriodStatement } from "./records/buildPeriodStatement.js";
import { meterRecordDigest } from "./records/encodeMeterRecord.js";
import { type MeterRecord, meterRecordToJson } from "./records/meterRecord.js";
import type { PeriodStatement } from "./records/periodStatement.js";
import { periodStatementToJson } from "./records/periodStatementJson.js";
import {
  OTHER_TEST_KEY,
  sampleChain,
  TEST_BINDING,
  TEST_KEY,
} from "./records/sampleMeterRecords.js";
import { signPeriodStatement } from "./records/signPeriodStatement.js";
import { runCli } from "./runCli.js";
import { lineKinds, verifyExportReport } from "./verifyExport.js";

const records = await sampleChain(6);
const SIGNER = new Wallet(TEST_KEY).address;
const ATTACKER = new Wallet(OTHER_TEST_KEY).address;
const lines = records.map((r) => JSON.stringify(meterRecordToJson(r)));
const attackerLines = (await sampleChain(6, { key: OTHER_TEST_KEY })).map((r) =>
  JSON.stringify(meterRecordToJson(r)),
);
const otherAgreement = (
  await sampleChain(3, { binding: { ...TEST_BINDING, agreementId: "agr-other" } })
).map((r) => JSON.stringify(meterRecordToJson(r)));
const wallet = new Wallet(TEST_KEY);

async function statementOf(rs: readonly MeterRecord[], change: Partial<PeriodStatement> = {}) {
  const st = await signPeriodStatement(buildPeriodStatement(rs), { signer: wallet });
  if (Object.keys(change).length === 0) return st;
  return signPeriodStatement({ ...st, ...change }, { signer: wallet });
}

type FileContent = string | Uint8Array;

async function cli(
  argv: string[],
  file: FileContent,
  kinds?: ReadonlyMap<string, LineKindVerifier>,
  others: Record<string, FileContent> = {},
) {
  let stdout = "";
  let stderr = "";
  const files: Record<string, FileContent> = { "export.jsonl": file, ...others };
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
        const content = files[p];
        if (content === undefined) throw new Error("ENOENT");
        return content;
      },
    },
    kinds === undefined ? {} : { kinds },
  );
  return { code, stdout, stderr, json: () => JSON.parse(stdout) as Report };
}

interface Report {
  valid: boolean;
  exitCode: number;
  signers: string[];
  summary: { lines: number; valid: number; invalid: number };
  anchors: { anchor: string; valid: boolean; reasons: string[] }[];
  results: { line: number; seq?: number; valid: boolean; reasons: string[] }[];
}

const reasonsOf = (r: Report) =>
  r.results.filter((x) => !x.valid).map((x) => [x.line, x.reasons] as const);
const jsonl = (ls: readonly string[]) => `${ls.join("\n")}\n`;

describe("runCli verify", () => {
  test("args: --capacity — a record above capacity × its duration is invalid", async () => {
    // The sample windows are 15 minutes of 12–17 m³: within 2 m³/min (30), not within 1 (15).
    const file = `${lines.join("\n")}\n`;
    const ok = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--capacity", "2/min"],
      file,
    );
    expect(ok.code).toBe(EXIT.valid);
    const tight = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--capacity", "1/min", "--json"],
      file,
    );
    expect(tight.code).toBe(EXIT.invalid);
    const results = JSON.parse(tight.stdout).results as { valid: boolean; reasons: string[] }[];
    const over = records.map((r) => r.quantity.value.gt(15));
    expect(over).toContain(true);
    expect(results.map((r) => !r.valid)).toEqual(over);
    for (const r of results.filter((x) => !x.valid)) {
      expect(r.reasons).toEqual(["metering.record.exceedsCapacity"]);
    }
    const bad = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--capacity", "12.5"],
      file,
    );
    expect(bad.code).toBe(EXIT.usage);
    expect(bad.stderr).toMatch(/--capacity must be <value>\/<s\|min\|h>/);
  });

  test("default: every record valid and signed by the expected key exits 0", async () => {
    const { code, stdout } = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER],
      jsonl(lines),
    );
    expect(code).toBe(EXIT.valid);
    const out = stdout.trim().split("\n");
    expect(out.slice(0, 7)).toEqual([
      "line 1  seq 0  valid",
      "line 2  seq 1  valid",
      "line 3  seq 2  valid",
      "line 4  seq 3  valid",
      "line 5  seq 4  valid",
      "line 6  seq 5  valid",
      "export.jsonl: 6 lines, 6 valid, 0 invalid",
    ]);
    expect(stdout).toContain(`signed by ${SIGNER} (expected)`);
    expect(stdout).toContain("agreement agr-compressor-7 (chain 0, contract 0x");
  });

  test("error: an attacker's own key is never called valid without --signer (exit 3, names the key)", async () => {
    const unpinned = await cli(["verify", "export.jsonl"], jsonl(attackerLines));
    expect(unpinned.code).toBe(EXIT.unpinned);
    expect(unpinned.stdout).toContain(`signed by ${ATTACKER}`);
    expect(unpinned.stdout).toContain("NOT checked against an expected signer: pass --signer");
    const pinned = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--json"],
      jsonl(attackerLines),
    );
    expect(pinned.code).toBe(EXIT.invalid);
    expect(
      pinned.json().results.every((r) => r.reasons.includes("metering.record.wrongSigner")),
    ).toBe(true);
  });

  test("error: a second signer in one file is invalid unless --allow-multiple", async () => {
    // Two complete chains of two agreements, signed by two keys.
    const otherKeyChain = (
      await sampleChain(2, {
        key: OTHER_TEST_KEY,
        binding: { ...TEST_BINDING, agreementId: "agr-b" },
      })
    ).map((r) => JSON.stringify(meterRecordToJson(r)));
    const file = jsonl([...lines, ...otherKeyChain]);
    const strict = await cli(["verify", "export.jsonl", "--json"], file);
    expect(strict.code).toBe(EXIT.invalid);
    expect(reasonsOf(strict.json())).toEqual([
      [7, ["metering.cli.multipleAgreements", "metering.cli.multipleSigners"]],
      [8, ["metering.cli.multipleAgreements", "metering.cli.multipleSigners"]],
    ]);
    // A statement of the second agreement, with its records, is named too.
    const otherRecords = await sampleChain(2, {
      key: OTHER_TEST_KEY,
      binding: { ...TEST_BINDING, agreementId: "agr-b" },
    });
    const otherStatement = await signPeriodStatement(buildPeriodStatement(otherRecords), {
      signer: new Wallet(OTHER_TEST_KEY),
    });
    const withStatement = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--signer", ATTACKER, "--json"],
      jsonl([...lines, ...otherKeyChain, JSON.stringify(periodStatementToJson(otherStatement))]),
    );
    expect(reasonsOf(withStatement.json())).toEqual([
      [7, ["metering.cli.multipleAgreements"]],
      [8, ["metering.cli.multipleAgreements"]],
      [9, ["metering.cli.multipleAgreements"]],
    ]);
    const allowed = await cli(["verify", "export.jsonl", "--allow-multiple", "--json"], file);
    expect(allowed.code).toBe(EXIT.unpinned);
    expect(allowed.json().signers).toEqual([SIGNER, ATTACKER]);
    const bothPinned = await cli(
      ["verify", "export.jsonl", "--allow-multiple", "--signer", SIGNER, "--signer", ATTACKER],
      file,
    );
    expect(bothPinned.code).toBe(EXIT.valid);
  });

  test("error: a record of another agreement inserted into the file is invalid without --agreement", async () => {
    const file = jsonl([lines[0]!, lines[1]!, otherAgreement[0]!, lines[2]!]);
    const { code, json } = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--json"],
      file,
    );
    expect(code).toBe(EXIT.invalid);
    expect(reasonsOf(json())).toEqual([[3, ["metering.cli.multipleAgreements"]]]);
    const expected = await cli(
      [
        "verify",
        "export.jsonl",
        "--signer",
        SIGNER,
        "--agreement",
        TEST_BINDING.agreementId,
        "--json",
      ],
      file,
    );
    expect(reasonsOf(expected.json())[0]![1]).toContain("metering.record.wrongAgreement");
  });

  test("error: deleting the first records is detected; --after <hash> anchors a later start", async () => {
    const file = jsonl(lines.slice(2));
    const { code, json } = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--json"],
      file,
    );
    expect(code).toBe(EXIT.invalid);
    expect(reasonsOf(json())).toEqual([
      [1, ["metering.record.seqGap", "metering.record.brokenChain"]],
    ]);
    const after = meterRecordDigest(records[1]!);
    const anchored = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--after", after],
      file,
    );
    expect(anchored.code).toBe(EXIT.valid);
    const wrongAnchor = meterRecordDigest(records[0]!);
    const wrong = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--after", wrongAnchor, "--json"],
      file,
    );
    expect(wrong.code).toBe(EXIT.invalid);
    expect(reasonsOf(wrong.json())).toEqual([[1, ["metering.record.brokenChain"]]]);
  });

  test("error: deleting the last record is detected against --head, --statement or --invoice (and said otherwise)", async () => {
    const cut = jsonl(lines.slice(0, 5));
    const alone = await cli(["verify", "export.jsonl", "--signer", SIGNER], cut);
    expect(alone.code).toBe(EXIT.valid);
    expect(alone.stdout).toContain(
      "end not anchored: a deleted last record is detectable only against --head",
    );
    const head = meterRecordDigest(records[5]!);
    const byHead = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--head", head, "--json"],
      cut,
    );
    expect(byHead.code).toBe(EXIT.invalid);
    expect(byHead.json().anchors).toEqual([
      {
        anchor: "head",
        valid: false,
        reasons: ["metering.cli.anchorNotMet"],
        messages: expect.any(Array),
      },
    ]);
    const statement = JSON.stringify(periodStatementToJson(await statementOf(records)));
    const byStatement = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--statement", "st.json", "--json"],
      cut,
      undefined,
      { "st.json": statement },
    );
    expect(byStatement.code).toBe(EXIT.invalid);
    expect(byStatement.json().anchors[0]!.reasons).toContain("metering.cli.anchorNotMet");
    const full = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--statement", "st.json", "--head", head],
      jsonl(lines),
      undefined,
      { "st.json": statement },
    );
    expect(full.code).toBe(EXIT.valid);
    expect(full.stdout).toContain("anchor --statement  met");
  });

  test("error: a statement whose records are not in the file is invalid, even validly signed (total ×1000)", async () => {
    const inflated = await statementOf(records, {
      total: {
        ...(await statementOf(records)).total,
        value: (await statementOf(records)).total.value.times(1000),
      },
    });
    const { code, json } = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--json"],
      jsonl([JSON.stringify(periodStatementToJson(inflated))]),
    );
    expect(code).toBe(EXIT.invalid);
    expect(reasonsOf(json())).toEqual([[1, ["metering.statement.recordsMissing"]]]);
    // Beside its records the inflated total is named.
    const beside = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--json"],
      jsonl([...lines, JSON.stringify(periodStatementToJson(inflated))]),
    );
    expect(reasonsOf(beside.json())).toEqual([[7, ["metering.statement.mismatch"]]]);
    // A statement with only some of its records in the file is invalid too.
    const partial = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--json"],
      jsonl([
        ...lines.slice(0, 3),
        JSON.stringify(periodStatementToJson(await statementOf(records))),
      ]),
    );
    expect(reasonsOf(partial.json())).toEqual([[4, ["metering.statement.recordsMissing"]]]);
  });

  test("behavior: a period statement line is checked against the file's records", async () => {
    const good = JSON.stringify(periodStatementToJson(await statementOf(records)));
    const ok = await cli(["verify", "export.jsonl", "--signer", SIGNER], jsonl([...lines, good]));
    expect(ok.code).toBe(EXIT.valid);
    expect(ok.stdout).toContain("line 7  statement 0..5  valid");
  });

  test("error: non-canonical decimals, unknown members, duplicate keys and non-canonical numbers are malformed", async () => {
    const j = JSON.parse(lines[1]!) as Record<string, { value: string }>;
    const v = j.quantity!.value;
    const padded = v.includes(".") ? `${v}0` : `${v}.0`;
    const variants: [string, string][] = [
      [
        JSON.stringify({ ...j, quantity: { ...j.quantity, value: padded } }),
        "metering.record.malformed",
      ],
      [
        JSON.stringify({
          ...j,
          quantity: {
            ...j.quantity,
            value: `${v.replace(".", "")}e-${v.split(".")[1]?.length ?? 0}`,
          },
        }),
        "metering.record.malformed",
      ],
      [JSON.stringify({ ...j, note: "unsigned" }), "metering.record.malformed"],
      [
        JSON.stringify({ ...j, quantity: { ...j.quantity, comment: "x" } }),
        "metering.record.malformed",
      ],
      [lines[1]!.replace("{", '{"seq":99,'), "metering.json.duplicateKey"],
      [lines[1]!.replace('"seq":1,', '"seq":1.0,'), "metering.json.nonCanonicalNumber"],
    ];
    for (const [line, reason] of variants) {
      const { code, json } = await cli(
        ["verify", "export.jsonl", "--signer", SIGNER, "--json"],
        jsonl([lines[0]!, line, lines[2]!]),
      );
      expect(code).toBe(EXIT.invalid);
      expect(reasonsOf(json())[0]).toEqual([2, [reason]]);
    }
  });

  test("error: invalid UTF-8 makes its line invalid (the file is read as bytes)", async () => {
    const enc = new TextEncoder();
    const bad = lines[1]!.replace("{", '{"x":"__",');
    const bytes = enc.encode(jsonl([lines[0]!, bad, lines[2]!]));
    const at = bytes.indexOf(0x5f); // the first "_"
    bytes[at] = 0xff;
    bytes[at + 1] = 0xfe;
    const { code, json } = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--json"],
      bytes,
    );
    expect(code).toBe(EXIT.invalid);
    expect(reasonsOf(json())[0]).toEqual([2, ["metering.cli.notUtf8"]]);
  });

  test("error: a deleted record names the next seq and its reasons, exit 1", async () => {
    const { code, stdout } = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER],
      [lines[0], lines[1], lines[3]].join("\n"),
    );
    expect(code).toBe(EXIT.invalid);
    expect(stdout).toContain(
      "line 3  seq 3  INVALID  metering.record.seqGap: seq 3: expected seq 2",
    );
    expect(stdout).toContain("line 3  seq 3  INVALID  metering.record.brokenChain:");
  });

  test("args: --json reports reasons per line; --quiet only the invalid ones", async () => {
    const dup = [lines[0], lines[1], lines[1]].join("\n");
    const { code, json } = await cli(["verify", "export.jsonl", "--json"], dup);
    expect(code).toBe(EXIT.invalid);
    const report = json();
    expect(report.summary).toEqual({ lines: 3, valid: 2, invalid: 1 });
    expect(report.results[2]!.seq).toBe(1);
    expect(report.results[2]!.reasons).toContain("metering.record.seqDuplicate");
    const quiet = await cli(["verify", "export.jsonl", "--quiet"], dup);
    expect(quiet.stdout).not.toContain("  valid\n");
    expect(quiet.stdout).toContain("line 3  seq 1  INVALID");
  });

  test("args: --agreement makes records of another agreement invalid", async () => {
    const { code, json } = await cli(
      ["verify", "export.jsonl", "--agreement", "agr-other", "--json"],
      lines[0]!,
    );
    expect(code).toBe(EXIT.invalid);
    expect(json().results[0]!.reasons).toEqual(["metering.record.wrongAgreement"]);
  });

  test("behavior: malformed, non-JSON and unknown-kind lines are invalid, blank lines ignored", async () => {
    const bad = JSON.stringify({
      ...JSON.parse(lines[1]!),
      quantity: { value: "1e", unit: "MTQ" },
    });
    const file = [lines[0], "", "not json", bad, JSON.stringify({ kind: "mystery" })].join("\n");
    const { code, json } = await cli(["verify", "export.jsonl", "--json"], file);
    expect(code).toBe(EXIT.invalid);
    expect(json().results.map((r) => [r.line, r.reasons])).toEqual([
      [1, []],
      [3, ["metering.cli.badLine"]],
      [4, ["metering.record.malformed"]],
      [5, ["metering.cli.unknownKind"]],
    ]);
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
    expect((await cli(["verify", "export.jsonl", "--signer", SIGNER], file, kinds)).code).toBe(
      EXIT.valid,
    );
  });

  test("error: an empty file is not a valid export", async () => {
    const { code, stdout } = await cli(["verify", "export.jsonl"], "\n");
    expect(code).toBe(EXIT.invalid);
    expect(stdout).toContain("no records");
  });

  test("error: usage problems exit 2", async () => {
    expect((await cli([], "")).code).toBe(EXIT.usage);
    expect((await cli(["frobnicate"], "")).code).toBe(EXIT.usage);
    expect((await cli(["verify"], "")).code).toBe(EXIT.usage);
    expect((await cli(["verify", "export.jsonl", "--bogus"], "")).code).toBe(EXIT.usage);
    expect((await cli(["verify", "missing.jsonl"], "")).code).toBe(EXIT.usage);
    expect((await cli(["verify", "export.jsonl", "--after", "0x12"], "")).code).toBe(EXIT.usage);
    expect((await cli(["verify", "export.jsonl", "--signer", "bob"], "")).code).toBe(EXIT.usage);
    expect((await cli(["verify", "export.jsonl", "--statement", "none.json"], "")).code).toBe(
      EXIT.usage,
    );
    expect(
      (
        await cli(["verify", "export.jsonl", "--invoice", "inv.json"], "", undefined, {
          "inv.json": "{}",
        })
      ).code,
    ).toBe(EXIT.usage);
    expect((await cli(["--help"], "")).code).toBe(EXIT.valid);
  });
});

// Files exported by main before the strict verifier (test/fixtures/exports/README.md).
const fixture = (name: string) =>
  readFileSync(new URL(`../test/fixtures/exports/${name}`, import.meta.url));

describe("today's exports keep verifying", () => {
  test("behavior: records with their statement, a maintenance history, and both anchors", async () => {
    const all = fixture("records-and-statement.v1.jsonl");
    expect((await cli(["verify", "export.jsonl", "--signer", SIGNER], all)).code).toBe(EXIT.valid);
    const history = fixture("maintenance-history.v1.jsonl");
    expect((await cli(["verify", "export.jsonl", "--signer", SIGNER], history)).code).toBe(
      EXIT.valid,
    );
    const recordsOnly = new TextDecoder()
      .decode(all)
      .split("\n")
      .filter((l) => l.includes('"kind":"meterRecord"'));
    const anchors = {
      "st.json": fixture("statement.v1.jsonl"),
      "inv.json": fixture("invoice.v1.jsonl"),
    };
    const anchored = await cli(
      [
        "verify",
        "export.jsonl",
        "--signer",
        SIGNER,
        "--statement",
        "st.json",
        "--invoice",
        "inv.json",
      ],
      jsonl(recordsOnly),
      undefined,
      anchors,
    );
    expect(anchored.code).toBe(EXIT.valid);
    expect(anchored.stdout).toContain("anchor --invoice  met");
    const cut = await cli(
      ["verify", "export.jsonl", "--signer", SIGNER, "--invoice", "inv.json", "--json"],
      jsonl(recordsOnly.slice(0, -1)),
      undefined,
      anchors,
    );
    expect(cut.code).toBe(EXIT.invalid);
    expect(cut.json().anchors[0]!.reasons).toEqual(["metering.cli.anchorNotMet"]);
  });

  test("behavior: the report names chains, signers and the exit status without the CLI", () => {
    const report = verifyExportReport(fixture("records-and-statement.v1.jsonl"));
    expect(report.exitCode).toBe(EXIT.unpinned);
    expect(report.signers).toEqual([SIGNER]);
    expect(report.chains).toEqual([
      expect.objectContaining({
        agreementId: "agr-compressor-7",
        records: 6,
        firstSeq: 0,
        lastSeq: 5,
        endAnchor: "none",
      }),
    ]);
  });
});
