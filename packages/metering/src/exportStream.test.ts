import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fc, test as fcTest } from "@fast-check/vitest";
import { Wallet } from "ethers";
import { afterAll, describe, expect, test } from "vitest";
import { EXIT, type LineVerdict } from "./exportReport.js";
import { meterRecordToJson } from "./records/meterRecord.js";
import { OTHER_TEST_KEY, sampleChain, TEST_KEY } from "./records/sampleMeterRecords.js";
import { runCli } from "./runCli.js";
import { verifyExportReport, verifyExportStream } from "./verifyExport.js";

// `maaskit verify` streams: the file arrives in chunks of any size, records are checked and
// forgotten, and the result is counts, the first problems and one summary per agreement and
// signer. These tests pin that the stream gives exactly the verdicts of the whole-file
// verifier however the bytes are cut, and that what it keeps does not grow with the file.

const SIGNER = new Wallet(TEST_KEY).address;
const ATTACKER = new Wallet(OTHER_TEST_KEY).address;
const records = await sampleChain(8);
const lines = records.map((r) => JSON.stringify(meterRecordToJson(r)));
const attacker = (await sampleChain(2, { key: OTHER_TEST_KEY })).map((r) =>
  JSON.stringify(meterRecordToJson(r)),
);
const fixture = (name: string) =>
  readFileSync(new URL(`../test/fixtures/exports/${name}`, import.meta.url), "utf8").trimEnd();
// Lines of every kind, valid and not: records, a statement, a maintenance history, a stranger's
// record, bad JSON, an unknown kind, a duplicate member, invalid UTF-8, blank and CRLF lines.
const pool: (string | Uint8Array)[] = [
  ...lines,
  ...fixture("records-and-statement.v1.jsonl").split("\n"),
  ...fixture("maintenance-history.v1.jsonl").split("\n"),
  ...attacker,
  "{not json",
  '{"kind":"somethingElse"}',
  lines[1]!.replace("{", '{"seq":1,'),
  new Uint8Array([0x7b, 0xff, 0x7d]),
  "",
  `${lines[2]}\r`,
];
const encoder = new TextEncoder();
const bytesOf = (parts: readonly (string | Uint8Array)[]): Uint8Array => {
  const chunks = parts.flatMap((p) => [typeof p === "string" ? encoder.encode(p) : p, [10]]);
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
};

async function streamed(
  bytes: Uint8Array,
  cuts: readonly number[],
  options: Parameters<typeof verifyExportStream>[1] = {},
) {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    chunks.push(bytes.subarray(from, c));
    from = c;
  }
  const verdicts: LineVerdict[] = [];
  const summary = await verifyExportStream(chunks, {
    retainRecords: true,
    ...options,
    onVerdict: (v) => verdicts.push(v),
  });
  return { verdicts, summary };
}

describe("verifyExportStream", () => {
  fcTest.prop(
    [
      fc.array(fc.integer({ min: 0, max: pool.length - 1 }), { maxLength: 14 }),
      fc.array(fc.nat(), { maxLength: 12 }),
      fc.boolean(),
    ],
    { numRuns: 25 },
  )(
    "behavior: the stream gives the whole-file verifier's verdicts and exit status, however the bytes are cut",
    async (picks, cuts, allowMultiple) => {
      const bytes = bytesOf(picks.map((i) => pool[i]!));
      const whole = verifyExportReport(bytes, { allowMultiple });
      const { verdicts, summary } = await streamed(bytes, cuts, { allowMultiple });
      expect(verdicts).toEqual(whole.verdicts);
      expect(summary.exitCode).toBe(whole.exitCode);
      expect(summary.chains).toEqual(whole.chains);
      expect(summary.anchors).toEqual(whole.anchors);
      expect(summary.signers).toEqual(whole.signers);
      expect(summary.lines).toBe(whole.verdicts.length);
      expect(summary.invalidLines).toBe(whole.verdicts.filter((v) => !v.valid).length);
    },
    // Signature checks of ~25 small files: seconds on a loaded machine, not a timing claim.
    60_000,
  );

  test("behavior: a text stream cut inside lines gives the same verdicts as the bytes", async () => {
    const text = `${lines.join("\r\n")}\n`;
    const verdicts: LineVerdict[] = [];
    const summary = await verifyExportStream(text.match(/[\s\S]{1,37}/g)!, {
      signers: [SIGNER],
      onVerdict: (v) => verdicts.push(v),
    });
    expect(verdicts).toEqual(
      verifyExportReport(encoder.encode(text), { signers: [SIGNER] }).verdicts,
    );
    expect(summary.exitCode).toBe(EXIT.valid);
  });

  test("behavior: the summary counts every line but keeps only the first problems, one summary per agreement and signer", async () => {
    // Every other record deleted (lines 2–4 each follow a gap), then a stranger's two records.
    const file = bytesOf([lines[0]!, lines[2]!, lines[4]!, lines[6]!, ...attacker]);
    const { summary } = await streamed(file, [], { maxProblems: 2, allowMultiple: true });
    expect(summary.lines).toBe(6);
    expect(summary.problemsNotKept + 2).toBe(summary.invalidLines);
    // Line 5 (the stranger's seq 0) is a duplicate seq; line 6 follows it link by link.
    expect(summary.invalidLines).toBe(4);
    expect(summary.problems.map((p) => p.line)).toEqual([2, 3]);
    expect(summary.problemsNotKept).toBe(summary.invalidLines - 2);
    expect(summary.problems[0]!.reasons).toContain("metering.record.seqGap");
    expect(summary.bySigner).toEqual([
      { signer: SIGNER, valid: 1, invalid: 3 },
      { signer: ATTACKER, valid: 1, invalid: 1 },
    ]);
    expect(summary.chains).toHaveLength(1);
    expect(summary.chains[0]).toMatchObject({ records: 6, firstSeq: 0 });
  });

  test("error: a statement line is checked against its records only if they are kept — otherwise it is invalid, never passed on its signature", async () => {
    const file = encoder.encode(`${fixture("records-and-statement.v1.jsonl")}\n`);
    const kept = await verifyExportStream([file], { signers: [SIGNER], retainRecords: true });
    expect(kept.exitCode).toBe(EXIT.valid);
    const forgotten = await verifyExportStream([file], { signers: [SIGNER] });
    expect(forgotten.exitCode).toBe(EXIT.invalid);
    expect(forgotten.problems.map((p) => p.reasons)).toEqual([
      ["metering.statement.recordsMissing"],
    ]);
  });

  test("behavior: an empty stream is not a valid export", async () => {
    const summary = await verifyExportStream([]);
    expect(summary).toMatchObject({ lines: 0, valid: false, exitCode: EXIT.invalid });
  });
});

describe("maaskit verify reads the file as a stream", () => {
  const dir = mkdtempSync(join(tmpdir(), "maaskit-verify-stream-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const run = async (args: string[]) => {
    let stdout = "";
    let stderr = "";
    const code = await runCli(["verify", ...args], {
      stdout: (t) => {
        stdout += t;
      },
      stderr: (t) => {
        stderr += t;
      },
    });
    return { code, stdout, stderr };
  };

  test("behavior: a file on disk with records, a statement and a history verifies; --json streams its results", async () => {
    const file = join(dir, "all.jsonl");
    writeFileSync(
      file,
      `${fixture("records-and-statement.v1.jsonl")}\n${fixture("maintenance-history.v1.jsonl")}\n`,
    );
    const out = await run([file, "--signer", SIGNER, "--allow-multiple"]);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(EXIT.valid);
    expect(out.stdout).toContain("line 7  statement 0..5  valid");
    const json = await run([file, "--signer", SIGNER, "--allow-multiple", "--json"]);
    const report = JSON.parse(json.stdout);
    expect(report.results).toHaveLength(11);
    expect(report.summary).toEqual({ lines: 11, valid: 11, invalid: 0 });
    // Log entries name their signer inside the entry, not in the verdict: records and statement.
    expect(report.bySigner).toEqual([{ signer: SIGNER, valid: 7, invalid: 0 }]);
  });

  test("error: a tampered file on disk exits 1 naming the line; a missing file exits 2", async () => {
    const file = join(dir, "cut.jsonl");
    writeFileSync(file, `${[lines[0], ...lines.slice(2)].join("\n")}\n`);
    const out = await run([file, "--signer", SIGNER, "--quiet"]);
    expect(out.code).toBe(EXIT.invalid);
    expect(out.stdout).toContain("line 2  seq 2  INVALID  metering.record.seqGap");
    expect((await run([join(dir, "nope.jsonl"), "--signer", SIGNER])).code).toBe(EXIT.usage);
  });
});
