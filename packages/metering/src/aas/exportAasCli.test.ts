import { Wallet } from "ethers";
import { beforeAll, describe, expect, test } from "vitest";
import { dec } from "../quantity.js";
import { meterRecordToJson } from "../records/meterRecord.js";
import { sampleChain, TEST_KEY } from "../records/sampleMeterRecords.js";
import { runCli } from "../runCli.js";
import { verifyAasEnvironment } from "./exportAas.js";

const files = new Map<string, string>();
const signer = new Wallet(TEST_KEY).address;

async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    readFile: async (p) => {
      const f = files.get(p);
      if (f === undefined) throw new Error("no such file");
      return f;
    },
  });
  return { code, out: out.join(""), err: err.join("") };
}

beforeAll(async () => {
  const records = await sampleChain(8);
  files.set(
    "records.jsonl",
    `${records.map((r) => JSON.stringify(meterRecordToJson(r))).join("\n")}\n`,
  );
  const usage = records.slice(0, 4).reduce((a, r) => a.plus(r.quantity.value), dec(0));
  const invoice = (value: string) =>
    JSON.stringify({
      version: 1,
      period: { start: "2025-01-01T00:00:00.000Z", end: "2025-01-01T01:00:00.000Z" },
      usage: { value, unit: "MTQ", basis: "ISO1217-FAD" },
    });
  files.set("invoice.json", invoice(usage.toFixed()));
  files.set("inflated.json", invoice(usage.plus(1).toFixed()));
  files.set(
    "nameplate.json",
    JSON.stringify({
      uriOfTheProduct: "urn:example:compressor:SN-7",
      manufacturerName: "Example Kompressoren GmbH",
      manufacturerProductDesignation: "Screw compressor",
      serialNumber: "SN-7",
    }),
  );
  const lines = files.get("records.jsonl")!.trimEnd().split("\n");
  const tampered = JSON.parse(lines[2]!);
  tampered.quantity.value = "99";
  lines[2] = JSON.stringify(tampered);
  files.set("tampered.jsonl", `${lines.join("\n")}\n`);
});

const base = ["export", "aas", "--nameplate", "nameplate.json", "--id", "urn:example:twin:7"];

describe("maaskit export aas", () => {
  test("default: writes a verified environment; the segment total is the invoice's usage", async () => {
    const r = await cli(
      ...base,
      "--records",
      "records.jsonl",
      "--invoice",
      "invoice.json",
      "--signer",
      signer,
    );
    expect(r.code).toBe(0);
    expect(verifyAasEnvironment(JSON.parse(r.out))).toEqual([]);
    expect(r.err).toMatch(/Segment001 .*: 4 records, [0-9.]+ = invoice usage/);
    expect(r.err).not.toContain("NOT checked");
  });

  test("without --signer the output says the signer was not checked", async () => {
    const r = await cli(...base, "--records", "records.jsonl");
    expect(r.code).toBe(0);
    expect(r.err).toContain(`signed by ${signer}: NOT checked against an expected signer`);
  });

  test("error: a tampered record is not exported (exit 1, the line named)", async () => {
    const r = await cli(...base, "--records", "tampered.jsonl", "--signer", signer);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toContain("tampered.jsonl: line 3 seq 2: metering.record.badSignature");
  });

  test("error: an invoice whose usage differs from the records is not exported", async () => {
    const r = await cli(
      ...base,
      "--records",
      "records.jsonl",
      "--invoice",
      "inflated.json",
      "--signer",
      signer,
    );
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toContain("≠ invoice usage");
  });

  test("usage: missing options or an unknown format exit 2", async () => {
    expect((await cli("export", "aas", "--records", "records.jsonl")).code).toBe(2);
    expect((await cli("export", "xml")).code).toBe(2);
    expect((await cli(...base, "--records", "missing.jsonl")).code).toBe(2);
  });
});
