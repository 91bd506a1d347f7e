import { execFile } from "node:child_process";
import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { build } from "tsup";
import { afterAll, beforeAll, describe, expect, test } from "vitest";

// Smoke test of the real bin: bundle src/cli.ts with tsup into a temp dir and run it as a
// child process with node, exactly as `npx maaskit verify` would.

const run = promisify(execFile);
const pkg = fileURLToPath(new URL("..", import.meta.url));
const vectorsFile = fileURLToPath(
  new URL("../../../docs/meter-record.vectors.json", import.meta.url),
);
let dir: string;
let cli: string;
let recordsFile: string;
let tamperedFile: string;
let signer: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "maaskit-cli-"));
  await build({
    entry: { cli: join(pkg, "src/cli.ts") },
    outDir: dir,
    format: ["esm"],
    platform: "node",
    target: "node20",
    config: false,
    dts: false,
    silent: true,
    splitting: false,
    noExternal: [/.*/],
    outExtension: () => ({ js: ".mjs" }),
  });
  cli = join(dir, "cli.mjs");
  // tiny-secp256k1 loads libsecp256k1 from secp256k1.wasm beside its module: a bundle
  // must ship that file next to it (package README, "Bundling").
  const wasm = join(
    createRequire(import.meta.url).resolve("tiny-secp256k1"),
    "../../secp256k1.wasm",
  );
  await copyFile(wasm, join(dir, "secp256k1.wasm"));
  const { vectors } = JSON.parse(await readFile(vectorsFile, "utf8")) as {
    vectors: { valid: boolean; record?: Record<string, unknown>; signer: string }[];
  };
  const records = vectors.filter(
    (v) => v.valid && v.record !== undefined && v.record.agreementId === "agr-compressor-7",
  );
  signer = records[0]!.signer;
  recordsFile = join(dir, "records.jsonl");
  await writeFile(recordsFile, `${records.map((v) => JSON.stringify(v.record)).join("\n")}\n`);
  const tampered = records.map((v) => ({ ...v.record }));
  tampered[1]!.quarantined = (tampered[1]!.quarantined as number) + 1;
  tamperedFile = join(dir, "tampered.jsonl");
  await writeFile(tamperedFile, `${tampered.map((r) => JSON.stringify(r)).join("\n")}\n`);
  const lines = records.map((v) => JSON.stringify(v.record));
  await writeFile(join(dir, "first-cut.jsonl"), `${lines.slice(1).join("\n")}\n`);
  const bytes = new TextEncoder().encode(`${lines[0]!.replace("{", '{"x":"ZQ",')}\n`);
  bytes[bytes.findIndex((b, i) => b === 0x5a && bytes[i + 1] === 0x51)] = 0xc3;
  await writeFile(join(dir, "not-utf8.jsonl"), bytes);
  await writeFile(join(dir, "duplicate-key.jsonl"), `${lines[0]!.replace("{", '{"seq":7,')}\n`);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function maaskit(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [cli, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("maaskit verify (child process)", () => {
  test("default: a valid export exits 0", async () => {
    const { code, stdout } = await maaskit("verify", recordsFile, "--signer", signer);
    expect(code).toBe(0);
    expect(stdout).toContain("line 1  seq 0  valid");
    expect(stdout).toContain("2 lines, 2 valid, 0 invalid");
  });

  test("error: without --signer a valid file exits 3 and names its signer", async () => {
    const { code, stdout } = await maaskit("verify", recordsFile);
    expect(code).toBe(3);
    expect(stdout).toContain(`signed by ${signer}`);
    expect(stdout).toContain("NOT checked against an expected signer");
  });

  test("error: a file cut at the start, invalid UTF-8 and a duplicate key exit 1", async () => {
    for (const [name, reason] of [
      ["first-cut.jsonl", "metering.record.seqGap"],
      ["not-utf8.jsonl", "metering.cli.notUtf8"],
      ["duplicate-key.jsonl", "metering.json.duplicateKey"],
    ] as const) {
      const { code, stdout } = await maaskit("verify", join(dir, name), "--signer", signer);
      expect(code).toBe(1);
      expect(stdout).toContain(reason);
    }
  });

  test("error: a tampered record exits 1 and is named by seq and reason", async () => {
    const { code, stdout } = await maaskit("verify", tamperedFile, "--json");
    expect(code).toBe(1);
    const report = JSON.parse(stdout) as {
      valid: boolean;
      results: { seq: number; reasons: string[] }[];
    };
    expect(report.valid).toBe(false);
    expect(report.results.map((r) => [r.seq, r.reasons])).toEqual([
      [0, []],
      [1, ["metering.record.badSignature"]],
    ]);
  });

  test("error: a missing file exits 2", async () => {
    const { code, stderr } = await maaskit("verify", join(dir, "missing.jsonl"));
    expect(code).toBe(2);
    expect(stderr).toContain("Cannot read");
  });
});
